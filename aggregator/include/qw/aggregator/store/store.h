#pragma once
// SQLite store (DESIGN.md s5): WAL, prepared statements, schema version table with migrations,
// group commit (many batches per transaction), idempotent on (agent instance, seq).
// The facade over the store's parts (aggregator/src/store/): schema, ingest_writer, series_query,
// event_log, registry, retention, checkpointer, all on the one idiom of db.h.
#include <sqlite3.h>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qw/aggregator/ingest/placement.h"
#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/model/series.h"
#include "qw/aggregator/store/db.h"
#include "wire.pb.h"

namespace qw::aggregator {

namespace storage {
class Registry;
class EventLog;
class IngestWriter;
class SeriesQuery;
class Retention;
class Checkpointer;
}  // namespace storage

class Store {
 public:
  struct Options {
    std::string path;
    std::string synchronous = "NORMAL";             // NORMAL (WAL: durable at checkpoint) or FULL
    int64_t raw_retention_ms = 7LL * 86400 * 1000;  // points and histogram deltas
    int64_t rollup_retention_ms = 90LL * 86400 * 1000;  // per-minute rollups and events
    int64_t sample_retention_ms = 1LL * 86400 * 1000;   // samples exactly as received
    int64_t max_db_bytes = 0;        // 0: no cap; beyond it commits fail with SQLITE_FULL
    int64_t cache_bytes = 16 << 20;  // SQLite page cache
    // Checkpoint the WAL from a thread of its own (its fsync never stalls ingest or the API);
    // false: SQLite's automatic checkpoint inside the committing call.
    bool background_checkpoint = true;
  };
  struct SeriesPoint {
    int64_t ts_ms;
    double value;
  };
  struct StoredEvent {
    int64_t id;
    Event e;
  };
  struct PruneResult {
    int64_t deleted = 0;
    bool wrapped = false;  // a full round over every series and table is complete
  };
  struct Item {
    std::string instance_id;
    std::string node;
    const qw::wire::Batch* batch = nullptr;
    int64_t recv_ms = 0;
    bool stored = false;        // out: false when (instance, seq) was already stored
    uint64_t boot_key = 0;      // qw::bootKey of the session Hello's boot id (placement.h)
    int64_t place_recv_ms = 0;  // receive time for placement (BootClockOffset); 0: recv_ms
    TimeSource time_source = TimeSource::kReceiveTime;  // out: how the last sample was placed
  };

  explicit Store(const Options& opts);  // throws std::runtime_error (start-up)
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int kSchemaVersion = 7;
  int schemaVersion() const;

  // One transaction for all items: batches, raw samples, points, histogram deltas, per-minute
  // rollups and the events `deriver` derives from the stored samples. Returns an error message
  // (nothing committed, the deriver as it was) or nullopt. lastErrorCode() tells SQLITE_FULL.
  std::optional<std::string> commit(std::vector<Item>& items, EventDeriver* deriver = nullptr);
  int lastErrorCode() const { return last_rc_; }
  uint64_t pointsStored() const { return points_stored_; }
  // Points not placed exactly where their sample's placement put them: moved to a free
  // millisecond, or refused because one was already stored there (each logged).
  uint64_t pointsConflicts() const { return points_conflicts_; }
  uint64_t eventsStored() const { return events_stored_; }
  uint64_t rowsPruned() const { return rows_pruned_; }
  std::optional<std::string> addEvents(const std::vector<Event>& events);

  // Series on the plotting axis of placement.h.
  // Aggregates per step: avg, min, max, last, sum for gauges and counters, p50/p90/p99 for
  // histograms. Steps that are whole minutes read the rollups, others the raw points.
  std::optional<std::string> querySeries(const std::string& node, int metric, int64_t from_ms,
                                         int64_t to_ms, int64_t step_ms, const std::string& agg,
                                         std::vector<SeriesPoint>* out);
  std::vector<StoredEvent> events(int64_t since_ms, const std::string& kind,
                                  const std::string& node, int limit);
  // Events since `since_ms` per (kind, node) (events_by_ts: the last hour is a short range scan).
  struct EventCount {
    std::string kind, node;
    int count = 0;
  };
  std::optional<std::string> eventCounts(int64_t since_ms, std::vector<EventCount>* out);
  // One bounded retention step (one series' raw points and rollups, or the samples, batches and
  // events tables): a few thousand rows at most, so it never stalls ingest.
  PruneResult pruneStep(int64_t now_ms);
  int64_t dbSizeBytes();
  uint64_t checkpoints() const;
  // Highest stored seq of an agent instance; nullopt when none.
  std::optional<uint64_t> lastSeq(const std::string& instance_id);

  // Agent identity (upserted on Hello).
  std::optional<std::string> recordAgent(const std::string& instance_id, const std::string& node,
                                         const std::string& cluster, const std::string& version,
                                         const std::string& boot_id, const std::string& domain,
                                         int64_t now_ms, std::string* previous_boot_id = nullptr);
  std::optional<std::string> saveMembers(const std::map<uint64_t, MemberInfo>& members,
                                         int64_t now_ms);
  // Every member the cluster has had (saveMembers keeps them): when the member list first and
  // last had it, and when it left (nullopt: a current member).
  struct MemberRecord {
    MemberInfo info;
    int64_t first_seen_ms = 0;
    int64_t last_seen_ms = 0;
    std::optional<int64_t> removed_ms;
  };
  std::optional<std::string> memberHistory(std::vector<MemberRecord>* out);
  // A member's last known raft applied index and the time of the sample that carried it,
  // written at ingest (inside the commit, when it changed, else at most once a second) and never
  // trimmed by retention: what the recovery planner reads after a long outage.
  struct AppliedIndex {
    std::string node;
    uint64_t applied_index = 0;
    int64_t ts_ms = 0;
  };
  std::optional<std::string> lastApplied(std::map<uint64_t, AppliedIndex>* out);
  // The etcd flavor ("etcd", "k3s", "kubeadm") a node's agent reported in its Hello; written
  // only when it changed ("" is ignored: an agent that does not say). Call it where Hello is
  // handled, next to recordAgent.
  std::optional<std::string> recordFlavor(const std::string& node, const std::string& flavor,
                                          int64_t now_ms);
  std::optional<std::string> nodeFlavors(std::map<std::string, std::string>* out);
  // The etcd cluster ids this cluster has had, oldest first (model/cluster_identity.h).
  // recordClusterId makes `id` current; `replaces` (0: none) is marked replaced by it.
  struct ClusterIdRecord {
    uint64_t id = 0;
    int64_t first_seen_ms = 0;
    std::optional<int64_t> replaced_ms;  // nullopt: the current id
    uint64_t replaced_by = 0;
  };
  std::optional<std::string> recordClusterId(uint64_t id, uint64_t replaces, int64_t now_ms);
  std::optional<std::string> clusterHistory(std::vector<ClusterIdRecord>* out);
  // Restores nodes (with their newest sample and member id) and membership after a restart.
  // An error names what in the file is unreadable (a damaged or foreign database).
  std::optional<std::string> load(Hub* hub);

  sqlite3* db() { return db_.handle(); }

 private:
  std::optional<std::string> failed(const std::exception& e);  // sets last_rc_

  Options opts_;
  int last_rc_ = SQLITE_OK;
  uint64_t points_stored_ = 0, events_stored_ = 0, rows_pruned_ = 0, points_conflicts_ = 0;
  // Declared in dependency order: destroyed (statements finalized) before the connection.
  sql::Db db_;
  std::unique_ptr<storage::Registry> registry_;
  std::unique_ptr<storage::EventLog> events_;
  std::unique_ptr<storage::IngestWriter> ingest_;
  std::unique_ptr<storage::SeriesQuery> series_;
  std::unique_ptr<storage::Retention> retention_;
  std::unique_ptr<storage::Checkpointer> checkpointer_;
};

}  // namespace qw::aggregator
