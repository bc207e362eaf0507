#include <algorithm>
#include <unordered_map>

#include "parts.h"
#include "qw/aggregator/ingest/placement.h"
#include "qw/aggregator/model/quantile.h"
#include "qw/aggregator/model/series.h"

namespace qw::aggregator::storage {

namespace {

struct Acc {
  int64_t n = 0;
  double sum = 0, vmin = 0, vmax = 0, last = 0;
  int64_t last_ts = 0;
  void add(int64_t ts, double v) {
    if (n == 0) {
      vmin = vmax = v;
    } else {
      vmin = std::min(vmin, v);
      vmax = std::max(vmax, v);
    }
    ++n;
    sum += v;
    if (n == 1 || ts >= last_ts) {
      last_ts = ts;
      last = v;
    }
  }
};

struct KeyHash {
  size_t operator()(const std::pair<int64_t, int64_t>& k) const {
    return std::hash<int64_t>()(k.first * 1000003 ^ k.second);
  }
};

// How far (ms) a colliding sample may move before it is stored without points.
constexpr int kMaxPlacementMoves = 1000;

sql::Blob blobOf(const std::string& s) { return {s.data(), s.size()}; }

}  // namespace

IngestWriter::IngestWriter(sql::Db& db, Registry& registry, EventLog& events)
    : db_(db),
      registry_(registry),
      events_(events),
      ins_batch_(db,
                 "INSERT OR IGNORE INTO batches(instance_id, seq, node, recv_ms, n_samples, "
                 "dropped_total, backlog) VALUES(?,?,?,?,?,?,?)",
                 true),
      ins_sample_(db,
                  "INSERT INTO samples(node, recv_ms, instance_id, seq, idx, agent_ms, "
                  "clock_synced, payload, ts_ms) VALUES(?,?,?,?,?,?,?,?,?)",
                  true),
      sel_series_(db, "SELECT id FROM series WHERE node = ? AND metric = ?", true),
      ins_series_(db, "INSERT INTO series(node, metric) VALUES(?, ?)", true),
      // No OR IGNORE: a point that collides is counted and logged, never dropped unseen.
      ins_point_(db, "INSERT INTO points(series_id, ts_ms, value) VALUES(?,?,?)", true),
      ins_hist_(db, "INSERT INTO hist_points(series_id, ts_ms, hist) VALUES(?,?,?)", true),
      ups_rollup_(db,
                  "INSERT INTO rollups(series_id, minute_ms, n, sum, vmin, vmax, last_ts, last) "
                  "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(series_id, minute_ms) DO UPDATE SET "
                  "n = n + excluded.n, sum = sum + excluded.sum, vmin = min(vmin, excluded.vmin), "
                  "vmax = max(vmax, excluded.vmax), "
                  "last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END, "
                  "last_ts = max(last_ts, excluded.last_ts)",
                  true),
      sel_hrollup_(db, "SELECT hist FROM hist_rollups WHERE series_id = ? AND minute_ms = ?", true),
      put_hrollup_(db,
                   "INSERT OR REPLACE INTO hist_rollups(series_id, minute_ms, hist) VALUES(?,?,?)",
                   true) {}

int64_t IngestWriter::findSeries(const std::string& node, int metric) {
  sel_series_.bind(1, node).bind(2, metricCatalog()[static_cast<size_t>(metric)].name);
  int64_t id = sel_series_.next() ? sel_series_.int64(0) : 0;
  sel_series_.reset();
  return id;
}

int64_t IngestWriter::seriesId(const std::string& node, int metric,
                               std::vector<std::pair<std::string, int>>* created) {
  auto& ids = series_ids_[node];
  if (ids.empty()) ids.assign(metricCatalog().size(), 0);
  auto& slot = ids[static_cast<size_t>(metric)];
  if (slot) return slot;
  int64_t id = findSeries(node, metric);
  if (!id) {
    ins_series_.bind(1, node).bind(2, metricCatalog()[static_cast<size_t>(metric)].name).run();
    id = db_.lastInsertRowid();
    // Created inside the caller's transaction: forgotten again if that rolls back.
    created->emplace_back(node, metric);
  }
  slot = id;
  return id;
}

IngestWriter::Result IngestWriter::commit(std::vector<Store::Item>& items, EventDeriver* deriver) {
  std::optional<EventDeriver> saved;
  if (deriver) saved = *deriver;
  std::vector<std::pair<std::string, int>> new_series;
  try {
    sql::Tx tx(db_);
    Result res;
    std::unordered_map<std::pair<int64_t, int64_t>, Acc, KeyHash> rollups;
    std::map<std::pair<int64_t, int64_t>, qw::wire::Histogram> hrollups;
    std::vector<GaugePoint> gauges;
    std::vector<HistPoint> hists;
    std::vector<Event> events;
    std::string payload;
    std::map<uint64_t, Registry::Applied> applied;  // newest per member in this commit
    for (auto& it : items) {
      const auto& b = *it.batch;
      ins_batch_.bind(1, it.instance_id)
          .bind(2, b.seq())
          .bind(3, it.node)
          .bind(4, it.recv_ms)
          .bind(5, b.samples_size())
          .bind(6, b.dropped_total())
          .bind(7, int64_t{b.backlog()});
      it.stored = ins_batch_.run() == 1;
      if (!it.stored) continue;  // already stored: idempotent on (instance, seq)
      uint64_t member = 0;
      const auto placed =
          placeBatch(b, it.place_recv_ms ? it.place_recv_ms : it.recv_ms, it.boot_key);
      for (int i = 0; i < b.samples_size(); ++i) {
        const auto& s = b.samples(i);
        if (s.etcd().reachable()) member = s.etcd().member_id();
        payload.clear();
        s.SerializeToString(&payload);
        const Placement& at = placed[static_cast<size_t>(i)];
        it.time_source = at.source;
        gauges.clear();
        hists.clear();
        extractPoints(s, &gauges, &hists);
        const uint64_t sample_points = gauges.size() + hists.size();
        // One sample per node and millisecond (the samples_by_ts index): a placement that is
        // taken moves to the next free millisecond, and its points are counted as conflicts.
        // The raw sample at `ts` (nullopt: NULL).
        auto insertSample = [&](std::optional<int64_t> ts) {
          ins_sample_.bind(1, it.node)
              .bind(2, it.recv_ms)
              .bind(3, it.instance_id)
              .bind(4, b.seq())
              .bind(5, i)
              .bind(6, s.ts_unix_ms())
              .bind(7, s.clock_synced() ? 1 : 0)
              .bind(8, blobOf(payload))
              .bind(9, ts);
          return ins_sample_.step();
        };
        int64_t ts = at.ts_ms;
        bool placed_ok = false;
        for (int attempt = 0; attempt < kMaxPlacementMoves; ++attempt, ++ts) {
          auto r = insertSample(ts);
          if (r == sql::Stmt::Step::kDone) {
            placed_ok = true;
            break;
          }
          if (r == sql::Stmt::Step::kRow ||
              ins_sample_.extendedErrorCode() != SQLITE_CONSTRAINT_UNIQUE)
            throw ins_sample_.error();
        }
        if (ts != at.ts_ms) {
          res.conflicts += sample_points;
          if (!res.first_conflict)
            res.first_conflict = it.node + " sample at " + std::to_string(at.ts_ms) + " (" +
                                 timeSourceName(at.source) + ") " +
                                 (placed_ok ? "moved by " + std::to_string(ts - at.ts_ms) + " ms"
                                            : "has no free millisecond: stored without its points");
        }
        if (!placed_ok) {
          // Kept as received (ts_ms NULL), but no points: none can be placed without a collision.
          if (insertSample(std::nullopt) != sql::Stmt::Step::kDone) throw ins_sample_.error();
          continue;
        }
        // A point can still collide with one whose sample row retention removed (samples are
        // kept a day, points a week): it is refused, counted and logged.
        auto inserted = [&](sql::Stmt& st, const char* what) {
          auto r = st.step();
          if (r == sql::Stmt::Step::kDone) return true;
          if (r == sql::Stmt::Step::kRow || st.errorCode() != SQLITE_CONSTRAINT) throw st.error();
          ++res.conflicts;
          if (!res.first_conflict)
            res.first_conflict = it.node + " " + what + " at " + std::to_string(ts) +
                                 " already stored (older than the samples' retention): not stored";
          return false;
        };
        for (const auto& g : gauges) {
          int64_t id = seriesId(it.node, g.metric, &new_series);
          ins_point_.bind(1, id).bind(2, ts).bind(3, g.value);
          if (!inserted(ins_point_, "point")) continue;
          rollups[{id, floorTo(ts, kMinute)}].add(ts, g.value);
          ++res.points;
        }
        for (const auto& h : hists) {
          int64_t id = seriesId(it.node, h.metric, &new_series);
          payload.clear();
          h.hist.SerializeToString(&payload);
          ins_hist_.bind(1, id).bind(2, ts).bind(3, blobOf(payload));
          if (!inserted(ins_hist_, "histogram")) continue;
          auto& hr = hrollups[{id, floorTo(ts, kMinute)}];
          if (!mergeHistogram(&hr, h.hist)) hr = h.hist;  // bounds changed: the newest win
          ++res.points;
        }
        if (deriver) deriver->onSample(it.node, s, ts, &events);
        if (s.etcd().reachable() && s.etcd().member_id()) {
          auto& a = applied[s.etcd().member_id()];
          if (a.node.empty() || ts >= a.ts_ms) a = {it.node, s.etcd().raft_applied_index(), ts};
        }
      }
      registry_.advanceCursor(it.instance_id, b.seq(), it.recv_ms);
      registry_.touchNode(it.node, it.recv_ms, member);
    }
    for (const auto& [key, a] : rollups) {
      ups_rollup_.bind(1, key.first)
          .bind(2, key.second)
          .bind(3, a.n)
          .bind(4, a.sum)
          .bind(5, a.vmin)
          .bind(6, a.vmax)
          .bind(7, a.last_ts)
          .bind(8, a.last)
          .run();
    }
    for (auto& [key, h] : hrollups) {
      sel_hrollup_.bind(1, key.first).bind(2, key.second);
      if (sel_hrollup_.next()) {
        qw::wire::Histogram old;
        auto blob = sel_hrollup_.blob(0);
        if (old.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) mergeHistogram(&h, old);
      }
      sel_hrollup_.reset();
      payload.clear();
      h.SerializeToString(&payload);
      put_hrollup_.bind(1, key.first).bind(2, key.second).bind(3, blobOf(payload)).run();
    }
    for (const auto& e : events) events_.insert(e);
    std::vector<uint64_t> applied_written;
    registry_.writeApplied(applied, &applied_written);
    tx.commit();
    registry_.appliedCommitted(applied, applied_written);
    res.events = events.size();
    return res;
  } catch (...) {
    for (auto& it : items) it.stored = false;
    if (deriver) *deriver = *saved;
    for (const auto& [node, metric] : new_series)
      series_ids_[node][static_cast<size_t>(metric)] = 0;
    throw;
  }
}

}  // namespace qw::aggregator::storage
