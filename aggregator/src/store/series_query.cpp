#include <algorithm>
#include <climits>

#include "parts.h"
#include "qw/aggregator/model/quantile.h"
#include "qw/aggregator/model/series.h"

namespace qw::aggregator::storage {

namespace {

double quantileOf(const std::string& agg) {
  if (agg == "p50") return 0.5;
  if (agg == "p90") return 0.9;
  if (agg == "p99") return 0.99;
  return -1;
}

}  // namespace

SeriesQuery::SeriesQuery(sql::Db& db)
    : sel_series_(db, "SELECT id FROM series WHERE node = ? AND metric = ?", true),
      rollups_(db,
               "SELECT minute_ms, n, sum, vmin, vmax, last_ts, last FROM rollups WHERE "
               "series_id = ?1 AND minute_ms >= ?2 AND minute_ms <= ?3",
               true),
      points_(db,
              "SELECT ts_ms, 1, value, value, value, ts_ms, value FROM points WHERE "
              "series_id = ?1 AND ts_ms >= ?2 AND ts_ms <= ?3",
              true),
      hist_rollups_(db,
                    "SELECT minute_ms, hist FROM hist_rollups WHERE series_id = ?1 AND "
                    "minute_ms >= ?2 AND minute_ms <= ?3",
                    true),
      hist_points_(db,
                   "SELECT ts_ms, hist FROM hist_points WHERE series_id = ?1 AND ts_ms >= ?2 AND "
                   "ts_ms <= ?3",
                   true) {}

std::optional<std::string> SeriesQuery::query(const std::string& node, int metric, int64_t from,
                                              int64_t to, int64_t step, const std::string& agg,
                                              std::vector<Store::SeriesPoint>* out) {
  out->clear();
  if (metric < 0 || static_cast<size_t>(metric) >= metricCatalog().size())
    return std::string("unknown metric");
  if (step <= 0 || to < from) return std::string("empty range");
  const auto& def = metricCatalog()[static_cast<size_t>(metric)];
  sel_series_.bind(1, node).bind(2, def.name);
  int64_t series = sel_series_.next() ? sel_series_.int64(0) : 0;
  sel_series_.reset();
  if (!series) return std::nullopt;  // a known metric this node never reported: no points
  int64_t lo = floorTo(from, step);
  bool minutes = step % kMinute == 0;
  if (def.kind == MetricKind::kHistogram) {
    double q = quantileOf(agg);
    if (q < 0) return std::string("histogram metrics aggregate with p50, p90 or p99");
    sql::Stmt& st = minutes ? hist_rollups_ : hist_points_;
    st.bind(1, series).bind(2, lo).bind(3, to);
    int64_t bucket = INT64_MIN;
    qw::wire::Histogram acc, one;
    auto emit = [&] {
      if (bucket == INT64_MIN) return;
      if (auto v = histogramQuantile(q, acc)) out->push_back({bucket, *v});
      acc.Clear();
    };
    while (st.next()) {
      int64_t b = floorTo(st.int64(0), step);
      if (b != bucket) {
        emit();
        bucket = b;
      }
      auto blob = st.blob(1);
      if (one.ParseFromArray(blob.data(), static_cast<int>(blob.size())) &&
          !mergeHistogram(&acc, one))
        acc = one;
    }
    emit();
    return std::nullopt;
  }
  enum { kAvg, kMin, kMax, kLast, kSum } mode;
  if (agg == "avg")
    mode = kAvg;
  else if (agg == "min")
    mode = kMin;
  else if (agg == "max")
    mode = kMax;
  else if (agg == "last")
    mode = kLast;
  else if (agg == "sum")
    mode = kSum;
  else
    return std::string("agg must be avg, min, max, last or sum for ") + def.name;
  sql::Stmt& st = minutes ? rollups_ : points_;
  st.bind(1, series).bind(2, lo).bind(3, to);
  int64_t bucket = INT64_MIN;
  int64_t n_acc = 0, last_ts_acc = 0;
  double sum_acc = 0, min_acc = 0, max_acc = 0, last_acc = 0;
  auto emit = [&] {
    if (bucket == INT64_MIN || n_acc == 0) return;
    double v = mode == kAvg   ? sum_acc / static_cast<double>(n_acc)
               : mode == kMin ? min_acc
               : mode == kMax ? max_acc
               : mode == kSum ? sum_acc
                              : last_acc;
    out->push_back({bucket, v});
    n_acc = last_ts_acc = 0;
    sum_acc = min_acc = max_acc = last_acc = 0;
  };
  while (st.next()) {
    int64_t b = floorTo(st.int64(0), step);
    if (b != bucket) {
      emit();
      bucket = b;
    }
    int64_t n = st.int64(1);
    double sum = st.real(2), mn = st.real(3), mx = st.real(4), last = st.real(6);
    int64_t last_ts = st.int64(5);
    if (n_acc == 0) {
      min_acc = mn;
      max_acc = mx;
    } else {
      min_acc = std::min(min_acc, mn);
      max_acc = std::max(max_acc, mx);
    }
    if (n_acc == 0 || last_ts >= last_ts_acc) {
      last_ts_acc = last_ts;
      last_acc = last;
    }
    n_acc += n;
    sum_acc += sum;
  }
  emit();
  return std::nullopt;
}

}  // namespace qw::aggregator::storage
