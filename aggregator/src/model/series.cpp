#include "qw/aggregator/model/series.h"

#include <algorithm>

#include "qw/aggregator/model/signals.h"

namespace qw::aggregator {

namespace {

using K = MetricKind;

// The series are the stored signals of model/signals (one name per quantity) plus the three
// histograms whose quantiles those signals are. Order matters only inside one process (ids are the
// index); the database keys series by name.
struct Catalog {
  std::vector<MetricDef> defs;
  std::vector<int> metric_of_signal;  // signalTable() index -> metric id, -1: not stored
  int fsync = -1, commit = -1, rtt = -1;
};

const Catalog& catalog() {
  static const Catalog built = [] {
    Catalog c;
    for (const auto& sig : signalTable()) {
      if (!sig.stored) {
        c.metric_of_signal.push_back(-1);
        continue;
      }
      c.metric_of_signal.push_back(static_cast<int>(c.defs.size()));
      c.defs.push_back(
          {sig.name, sig.kind == SignalKind::kDelta ? K::kCounter : K::kGauge, sig.unit, sig.help});
    }
    c.fsync = static_cast<int>(c.defs.size());
    c.defs.push_back({"wal_fsync_seconds", K::kHistogram, "seconds", "WAL fsync duration"});
    c.commit = static_cast<int>(c.defs.size());
    c.defs.push_back(
        {"backend_commit_seconds", K::kHistogram, "seconds", "backend commit duration"});
    c.rtt = static_cast<int>(c.defs.size());
    c.defs.push_back({"peer_rtt_seconds", K::kHistogram, "seconds",
                      "round-trip time to peers (all peers merged)"});
    return c;
  }();
  return built;
}

struct Alias {
  const char* name;
  const char* target;
  const char* agg;
};
// The quantile signals name a quantile of a stored histogram. (peer_rtt_p99_seconds is not one:
// it is the slowest peer's p99, a series of its own; peer_rtt_seconds merges all peers.)
const Alias kAliases[] = {
    {"wal_fsync_p99_seconds", "wal_fsync_seconds", "p99"},
    {"wal_fsync_p90_seconds", "wal_fsync_seconds", "p90"},
    {"wal_fsync_p50_seconds", "wal_fsync_seconds", "p50"},
    {"backend_commit_p99_seconds", "backend_commit_seconds", "p99"},
    {"backend_commit_p90_seconds", "backend_commit_seconds", "p90"},
    {"backend_commit_p50_seconds", "backend_commit_seconds", "p50"},
};

int id(std::string_view name) {
  const auto& defs = catalog().defs;
  for (size_t i = 0; i < defs.size(); ++i)
    if (name == defs[i].name) return static_cast<int>(i);
  return -1;
}

}  // namespace

const std::vector<MetricDef>& metricCatalog() { return catalog().defs; }

int findMetric(std::string_view name, std::string* fixed_agg) {
  if (int i = id(name); i >= 0) return i;
  for (const auto& a : kAliases)
    if (name == a.name) {
      if (fixed_agg) *fixed_agg = a.agg;
      return id(a.target);
    }
  return -1;
}

const char* defaultAgg(MetricKind k) {
  switch (k) {
    case K::kGauge:
      return "avg";
    case K::kCounter:
      return "sum";
    case K::kHistogram:
      return "p99";
  }
  return "avg";
}

bool mergeHistogram(qw::wire::Histogram* a, const qw::wire::Histogram& b) {
  if (a->upper_bounds_size() == 0 && a->counts_size() == 0) {
    *a = b;
    return true;
  }
  if (a->upper_bounds_size() != b.upper_bounds_size() || a->counts_size() != b.counts_size())
    return false;
  for (int i = 0; i < a->upper_bounds_size(); ++i)
    if (a->upper_bounds(i) != b.upper_bounds(i)) return false;
  for (int i = 0; i < a->counts_size(); ++i) a->set_counts(i, a->counts(i) + b.counts(i));
  a->set_sum(a->sum() + b.sum());
  a->set_count(a->count() + b.count());
  return true;
}

void extractPoints(const qw::wire::NodeSample& s, std::vector<GaugePoint>* g,
                   std::vector<HistPoint>* h) {
  const Catalog& c = catalog();
  MemberSignals sig = deriveSignals(&s);
  const auto& table = signalTable();
  for (size_t i = 0; i < table.size(); ++i)
    if (c.metric_of_signal[i] >= 0)
      if (const auto& v = sig.*table[i].field) g->push_back({c.metric_of_signal[i], *v});
  // The histograms behind the quantile signals, stored whenever those are known (same rule).
  if (!h || !s.has_metrics()) return;
  const auto& m = s.metrics();
  if (m.interval_ms() <= 0 || m.counters_reset()) return;
  if (m.wal_fsync().counts_size() > 0) h->push_back({c.fsync, m.wal_fsync()});
  if (m.backend_commit().counts_size() > 0) h->push_back({c.commit, m.backend_commit()});
  if (m.peer_rtt_size() > 0) {
    HistPoint p{c.rtt, {}};
    for (const auto& peer : m.peer_rtt()) mergeHistogram(&p.hist, peer.rtt());
    h->push_back(std::move(p));
  }
}

}  // namespace qw::aggregator
