#pragma once
// The store's parts, one job each, behind the Store facade (store.h). All use one connection
// (sql::Db) and throw sql::Error or std::runtime_error; the facade turns errors into messages.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/store/db.h"
#include "qw/aggregator/store/store.h"

namespace qw::aggregator::storage {

constexpr int64_t kMinute = 60'000;

inline int64_t floorTo(int64_t ts, int64_t step) {
  int64_t r = ts % step;
  return r < 0 ? ts - r - step : ts - r;
}

// What to do about a file SQLite cannot read (appended to start-up errors).
std::string hintFor(int rc);

// schema.cpp: the schema_version table and the migrations.
int knownSchemaVersion();
int schemaVersion(const sql::Db& db);  // 0: none
// SQLite's application_id of our files ("QWAT").
constexpr int64_t kApplicationId = 0x51574154;
// Refuses (std::runtime_error) a file another program's (its application_id, or tables and no
// schema_version): called before anything writes to the file.
void refuseForeign(sql::Db& db);
// Refuses (std::runtime_error) a file that is not quorumwatch's or is newer than this build;
// otherwise applies the missing migrations, each in its own transaction.
void migrate(sql::Db& db);

// checkpointer.cpp: WAL checkpoints from a thread and a connection of its own.
class Checkpointer {
 public:
  Checkpointer(sql::Db& db, const std::string& path);  // installs the WAL hook on `db`
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  uint64_t count() const { return checkpoints_.load(); }

 private:
  void loop();
  sql::Db& db_;
  std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wanted_ = false;
  std::atomic<uint64_t> checkpoints_{0};
  std::thread thread_;
};

// event_log.cpp: the events table.
class EventLog {
 public:
  explicit EventLog(sql::Db& db);
  void insert(const Event& e);                 // inside the caller's transaction
  void add(const std::vector<Event>& events);  // a transaction of its own
  std::vector<Store::StoredEvent> query(int64_t since_ms, const std::string& kind,
                                        const std::string& node, int limit);
  std::vector<Store::EventCount> counts(int64_t since_ms);

 private:
  sql::Db& db_;
  sql::Stmt ins_;
};

// registry.cpp: agents (ingest cursors), nodes, members; never trimmed by retention.
class Registry {
 public:
  explicit Registry(sql::Db& db);
  void recordAgent(const std::string& instance_id, const std::string& node,
                   const std::string& cluster, const std::string& version,
                   const std::string& boot_id, const std::string& domain, int64_t now_ms,
                   std::string* previous_boot_id);
  void saveMembers(const std::map<uint64_t, MemberInfo>& members, int64_t now_ms);
  std::optional<std::string> load(Hub* hub);  // an error names the unreadable row
  std::optional<uint64_t> lastSeq(const std::string& instance_id);
  // Inside the ingest transaction.
  void advanceCursor(const std::string& instance_id, uint64_t seq, int64_t recv_ms);
  void touchNode(const std::string& node, int64_t recv_ms, uint64_t member);
  // The newest applied index of each member in a commit: written when it changed since the last
  // write, else at most once a second of sample time (older samples, a replayed backlog, never
  // overwrite newer ones). appliedCommitted() once the transaction committed.
  struct Applied {
    std::string node;
    uint64_t index = 0;
    int64_t ts_ms = 0;
  };
  void writeApplied(const std::map<uint64_t, Applied>& newest, std::vector<uint64_t>* written);
  void appliedCommitted(const std::map<uint64_t, Applied>& newest,
                        const std::vector<uint64_t>& written);
  std::map<uint64_t, Store::AppliedIndex> lastApplied();
  void recordFlavor(const std::string& node, const std::string& flavor, int64_t now_ms);
  std::map<std::string, std::string> nodeFlavors();
  std::vector<Store::MemberRecord> memberHistory();
  void recordClusterId(uint64_t id, uint64_t replaces, int64_t now_ms);
  std::vector<Store::ClusterIdRecord> clusterHistory();

 private:
  sql::Db& db_;
  sql::Stmt upd_cursor_, sel_cursor_, upd_node_, ups_applied_;
  std::map<uint64_t, Applied> applied_;  // as last written (committed)
};

// ingest_writer.cpp: batches, raw samples, points, histogram deltas, rollups, derived events.
class IngestWriter {
 public:
  struct Result {
    uint64_t points = 0, conflicts = 0, events = 0;
    std::optional<std::string> first_conflict;
  };
  IngestWriter(sql::Db& db, Registry& registry, EventLog& events);
  // One transaction. Throws sql::Error (with what failed) after rolling back; the caller
  // restores what it keeps outside the database.
  Result commit(std::vector<Store::Item>& items, EventDeriver* deriver);
  // The id of (node, metric); 0 when the series does not exist (never creates it).
  int64_t findSeries(const std::string& node, int metric);

 private:
  int64_t seriesId(const std::string& node, int metric,
                   std::vector<std::pair<std::string, int>>* created);

  sql::Db& db_;
  Registry& registry_;
  EventLog& events_;
  std::map<std::string, std::vector<int64_t>> series_ids_;  // node -> id by metric (0: none yet)
  sql::Stmt ins_batch_, ins_sample_, sel_series_, ins_series_, ins_point_, ins_hist_, ups_rollup_,
      sel_hrollup_, put_hrollup_;
};

// series_query.cpp: aggregates per step from raw points or rollups.
class SeriesQuery {
 public:
  explicit SeriesQuery(sql::Db& db);
  std::optional<std::string> query(const std::string& node, int metric, int64_t from_ms,
                                   int64_t to_ms, int64_t step_ms, const std::string& agg,
                                   std::vector<Store::SeriesPoint>* out);

 private:
  sql::Stmt sel_series_, rollups_, points_, hist_rollups_, hist_points_;
};

// retention.cpp: bounded deletion steps.
class Retention {
 public:
  Retention(sql::Db& db, const Store::Options& opts);
  // Errors are logged (once per streak) and the step counts as deleting nothing.
  Store::PruneResult step(int64_t now_ms);

 private:
  void stepIn(int64_t now_ms, Store::PruneResult* res);  // throws sql::Error (rolled back)
  sql::Db& db_;
  bool failing_ = false;
  int64_t raw_ms_, rollup_ms_, sample_ms_;
  std::vector<int64_t> queue_;
  int misc_ = 0;
};

}  // namespace qw::aggregator::storage
