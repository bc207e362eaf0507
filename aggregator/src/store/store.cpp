// The Store facade: opens the connection, applies the migrations, and hands each call to the
// part that does that job (parts.h). Errors become messages here, with lastErrorCode().
#include "qw/aggregator/store/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <stdexcept>

#include "parts.h"
#include "qw/log.h"

namespace qw::aggregator {

Store::Store(const Options& opts) : opts_(opts) {
  if (opts_.synchronous != "NORMAL" && opts_.synchronous != "FULL")
    throw std::runtime_error("synchronous must be NORMAL or FULL");
  try {
    db_ = sql::Db(opts_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
    // Best effort like before: a file we may not chmod (not ours) still opens if readable.
    (void)::chmod(opts_.path.c_str(), 0640);
    db_.busyTimeout(5000);
    storage::refuseForeign(db_);  // before the journal mode changes the file
    db_.exec("PRAGMA journal_mode=WAL");
    db_.exec("PRAGMA synchronous=" + opts_.synchronous);
    db_.exec("PRAGMA foreign_keys=ON");
    // Ingest touches the newest leaf of every series in each transaction; SQLite's default
    // 2 MiB page cache is smaller than that working set with a few hundred series.
    db_.exec("PRAGMA cache_size=-" +
             std::to_string(std::max<int64_t>(1024, opts_.cache_bytes / 1024)));
    storage::migrate(db_);
    if (opts_.max_db_bytes > 0) {
      sql::Stmt ps(db_, "PRAGMA page_size");
      int64_t page = ps.next() ? ps.int64(0) : 4096;
      db_.exec("PRAGMA max_page_count=" + std::to_string(std::max<int64_t>(
                                              1, opts_.max_db_bytes / std::max<int64_t>(1, page))));
    }
    registry_ = std::make_unique<storage::Registry>(db_);
    events_ = std::make_unique<storage::EventLog>(db_);
    ingest_ = std::make_unique<storage::IngestWriter>(db_, *registry_, *events_);
    series_ = std::make_unique<storage::SeriesQuery>(db_);
    retention_ = std::make_unique<storage::Retention>(db_, opts_);
    if (opts_.background_checkpoint)
      checkpointer_ = std::make_unique<storage::Checkpointer>(db_, opts_.path);
  } catch (const sql::Error& e) {
    // Members built so far are destroyed in reverse order (statements before the connection).
    std::string what = e.what();
    if (what.rfind("cannot open", 0) == 0) throw std::runtime_error(what);
    throw std::runtime_error("database '" + opts_.path + "': " + what +
                             storage::hintFor(e.extendedCode()));
  }
}

Store::~Store() = default;

std::optional<std::string> Store::failed(const std::exception& e) {
  if (const auto* s = dynamic_cast<const sql::Error*>(&e))
    last_rc_ = s->code();
  else
    last_rc_ = SQLITE_ERROR;
  return std::string(e.what());
}

int Store::schemaVersion() const {
  try {
    return storage::schemaVersion(db_);
  } catch (const sql::Error&) {
    return 0;
  }
}

uint64_t Store::checkpoints() const { return checkpointer_ ? checkpointer_->count() : 0; }

std::optional<std::string> Store::commit(std::vector<Item>& items, EventDeriver* deriver) {
  if (items.empty()) return std::nullopt;
  last_rc_ = SQLITE_OK;
  storage::IngestWriter::Result r;
  try {
    r = ingest_->commit(items, deriver);
  } catch (const std::exception& e) {
    return failed(e);
  }
  points_stored_ += r.points;
  events_stored_ += r.events;
  if (r.conflicts) {
    points_conflicts_ += r.conflicts;
    qw::logger("store")->warn(
        "{} points of this commit collided with stored ones ({} since start); first: {}",
        r.conflicts, points_conflicts_, *r.first_conflict);
  }
  return std::nullopt;
}

std::optional<std::string> Store::addEvents(const std::vector<Event>& events) {
  if (events.empty()) return std::nullopt;
  try {
    events_->add(events);
  } catch (const std::exception& e) {
    return failed(e);
  }
  events_stored_ += events.size();
  return std::nullopt;
}

std::optional<std::string> Store::querySeries(const std::string& node, int metric, int64_t from_ms,
                                              int64_t to_ms, int64_t step_ms,
                                              const std::string& agg,
                                              std::vector<SeriesPoint>* out) {
  try {
    return series_->query(node, metric, from_ms, to_ms, step_ms, agg, out);
  } catch (const std::exception& e) {
    out->clear();
    return std::string(e.what());
  }
}

std::optional<std::string> Store::eventCounts(int64_t since_ms, std::vector<EventCount>* out) {
  try {
    *out = events_->counts(since_ms);
  } catch (const std::exception& e) {
    out->clear();
    return failed(e);
  }
  return std::nullopt;
}

std::vector<Store::StoredEvent> Store::events(int64_t since_ms, const std::string& kind,
                                              const std::string& node, int limit) {
  try {
    return events_->query(since_ms, kind, node, limit);
  } catch (const std::exception& e) {
    qw::logger("store")->warn("reading events: {}", e.what());
    return {};
  }
}

Store::PruneResult Store::pruneStep(int64_t now_ms) {
  PruneResult r = retention_->step(now_ms);
  rows_pruned_ += static_cast<uint64_t>(r.deleted);
  return r;
}

int64_t Store::dbSizeBytes() {
  try {
    sql::Stmt a(db_, "PRAGMA page_count"), b(db_, "PRAGMA page_size");
    if (!a.next() || !b.next()) return 0;
    return a.int64(0) * b.int64(0);
  } catch (const sql::Error&) {
    return 0;
  }
}

std::optional<uint64_t> Store::lastSeq(const std::string& instance_id) {
  try {
    return registry_->lastSeq(instance_id);
  } catch (const std::exception& e) {
    qw::logger("store")->warn("reading the resume point of {}: {}", instance_id, e.what());
    return std::nullopt;
  }
}

std::optional<std::string> Store::recordAgent(const std::string& instance_id,
                                              const std::string& node, const std::string& cluster,
                                              const std::string& version,
                                              const std::string& boot_id, const std::string& domain,
                                              int64_t now_ms, std::string* previous_boot_id) {
  try {
    registry_->recordAgent(instance_id, node, cluster, version, boot_id, domain, now_ms,
                           previous_boot_id);
  } catch (const std::exception& e) {
    return failed(e);
  }
  return std::nullopt;
}

std::optional<std::string> Store::saveMembers(const std::map<uint64_t, MemberInfo>& members,
                                              int64_t now_ms) {
  try {
    registry_->saveMembers(members, now_ms);
  } catch (const std::exception& e) {
    return failed(e);
  }
  return std::nullopt;
}

std::optional<std::string> Store::load(Hub* hub) { return registry_->load(hub); }

std::optional<std::string> Store::memberHistory(std::vector<MemberRecord>* out) {
  try {
    *out = registry_->memberHistory();
  } catch (const std::exception& e) {
    out->clear();
    return failed(e);
  }
  return std::nullopt;
}

std::optional<std::string> Store::recordClusterId(uint64_t id, uint64_t replaces, int64_t now_ms) {
  try {
    registry_->recordClusterId(id, replaces, now_ms);
  } catch (const std::exception& e) {
    return failed(e);
  }
  return std::nullopt;
}

std::optional<std::string> Store::clusterHistory(std::vector<ClusterIdRecord>* out) {
  try {
    *out = registry_->clusterHistory();
  } catch (const std::exception& e) {
    out->clear();
    return failed(e);
  }
  return std::nullopt;
}

std::optional<std::string> Store::lastApplied(std::map<uint64_t, AppliedIndex>* out) {
  try {
    *out = registry_->lastApplied();
  } catch (const std::exception& e) {
    out->clear();
    return failed(e);
  }
  return std::nullopt;
}

std::optional<std::string> Store::recordFlavor(const std::string& node, const std::string& flavor,
                                               int64_t now_ms) {
  try {
    registry_->recordFlavor(node, flavor, now_ms);
  } catch (const std::exception& e) {
    return failed(e);
  }
  return std::nullopt;
}

std::optional<std::string> Store::nodeFlavors(std::map<std::string, std::string>* out) {
  try {
    *out = registry_->nodeFlavors();
  } catch (const std::exception& e) {
    out->clear();
    return failed(e);
  }
  return std::nullopt;
}

}  // namespace qw::aggregator
