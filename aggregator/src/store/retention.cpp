#include "parts.h"
#include "qw/log.h"

namespace qw::aggregator::storage {

Retention::Retention(sql::Db& db, const Store::Options& opts)
    : db_(db),
      raw_ms_(opts.raw_retention_ms),
      rollup_ms_(opts.rollup_retention_ms),
      sample_ms_(opts.sample_retention_ms) {}

// Trims history only: points, histogram deltas, rollups, raw samples, batches (the newest per
// agent instance stays: it is the resume point) and events. The registry tables (ingest cursors,
// nodes, members, applied indexes, flavors) are never trimmed.
Store::PruneResult Retention::step(int64_t now_ms) {
  Store::PruneResult res;
  try {
    stepIn(now_ms, &res);
  } catch (const sql::Error& e) {
    res.deleted = 0;  // rolled back
    if (!failing_) qw::logger("store")->warn("retention step failed: {}", e.what());
    failing_ = true;
    return res;
  }
  failing_ = false;
  return res;
}

void Retention::stepIn(int64_t now_ms, Store::PruneResult* out) {
  Store::PruneResult& res = *out;
  const int64_t raw_cut = now_ms - raw_ms_;
  const int64_t roll_cut = now_ms - rollup_ms_;
  const int64_t sample_cut = now_ms - sample_ms_;
  constexpr int64_t kRawChunk = 3600'000;    // one hour of one series: <= 3600 rows
  constexpr int64_t kRollChunk = 86400'000;  // one day of rollups: <= 1440 rows
  sql::Tx tx(db_);
  auto run = [&](sql::Stmt& st) { res.deleted += st.run(); };
  if (queue_.empty() && misc_ == 0) {
    sql::Stmt st(db_, "SELECT id FROM series ORDER BY id DESC");
    while (st.next()) queue_.push_back(st.int64(0));
    misc_ = 1;
  }
  if (!queue_.empty()) {
    int64_t id = queue_.back();
    queue_.pop_back();  // a failed step moves on too: a bad series never stalls the round
    // Bounded by the oldest row of the series: one chunk per step, never a full scan.
    run(sql::Stmt(db_,
                  "DELETE FROM points WHERE series_id = ?1 AND ts_ms < min(?2, (SELECT "
                  "min(ts_ms) FROM points WHERE series_id = ?1) + ?3)")
            .bind(1, id)
            .bind(2, raw_cut)
            .bind(3, kRawChunk));
    run(sql::Stmt(db_,
                  "DELETE FROM hist_points WHERE series_id = ?1 AND ts_ms < min(?2, "
                  "(SELECT min(ts_ms) FROM hist_points WHERE series_id = ?1) + ?3)")
            .bind(1, id)
            .bind(2, raw_cut)
            .bind(3, kRawChunk));
    run(sql::Stmt(db_,
                  "DELETE FROM rollups WHERE series_id = ?1 AND minute_ms < min(?2, "
                  "(SELECT min(minute_ms) FROM rollups WHERE series_id = ?1) + ?3)")
            .bind(1, id)
            .bind(2, roll_cut)
            .bind(3, kRollChunk));
    run(sql::Stmt(db_,
                  "DELETE FROM hist_rollups WHERE series_id = ?1 AND minute_ms < min(?2, "
                  "(SELECT min(minute_ms) FROM hist_rollups WHERE series_id = ?1) + ?3)")
            .bind(1, id)
            .bind(2, roll_cut)
            .bind(3, kRollChunk));
  } else {
    // Samples per node and batches per agent instance, events by time.
    std::vector<std::string> nodes, instances;
    {
      sql::Stmt st(db_, "SELECT name FROM nodes");
      while (st.next()) nodes.push_back(st.text(0));
      sql::Stmt si(db_, "SELECT instance_id FROM ingest_cursors");
      while (si.next()) instances.push_back(si.text(0));
    }
    sql::Stmt samples(db_,
                      "DELETE FROM samples WHERE node = ?1 AND recv_ms < min(?2, (SELECT "
                      "min(recv_ms) FROM samples WHERE node = ?1) + ?3)");
    for (const auto& n : nodes)
      res.deleted += samples.bind(1, n).bind(2, sample_cut).bind(3, kRawChunk).run();
    sql::Stmt batches(db_,
                      "DELETE FROM batches WHERE instance_id = ?1 AND recv_ms < ?2 AND seq < "
                      "min((SELECT max(seq) FROM batches WHERE instance_id = ?1), (SELECT "
                      "min(seq) FROM batches WHERE instance_id = ?1) + 5000)");
    for (const auto& i : instances) res.deleted += batches.bind(1, i).bind(2, raw_cut).run();
    run(sql::Stmt(db_,
                  "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts_ms < "
                  "?1 ORDER BY ts_ms LIMIT 5000)")
            .bind(1, roll_cut));
    misc_ = 0;
    res.wrapped = true;
  }
  tx.commit();
}

}  // namespace qw::aggregator::storage
