#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "parts.h"

namespace qw::aggregator::storage {

namespace {

// Migrations by version; applying N takes the schema from N-1 to N. Never edit an applied one.
const char* const kMigrations[] = {
    // 1: ingest cursors, batches, raw samples, nodes, members.
    R"sql(
CREATE TABLE ingest_cursors(
  instance_id TEXT PRIMARY KEY, node TEXT NOT NULL, cluster_name TEXT NOT NULL DEFAULT '',
  agent_version TEXT NOT NULL DEFAULT '', boot_id TEXT NOT NULL DEFAULT '',
  last_seq INTEGER NOT NULL DEFAULT 0, first_seen_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE batches(
  instance_id TEXT NOT NULL, seq INTEGER NOT NULL, node TEXT NOT NULL, recv_ms INTEGER NOT NULL,
  n_samples INTEGER NOT NULL, dropped_total INTEGER NOT NULL, backlog INTEGER NOT NULL,
  PRIMARY KEY(instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE samples(
  node TEXT NOT NULL, recv_ms INTEGER NOT NULL, instance_id TEXT NOT NULL, seq INTEGER NOT NULL,
  idx INTEGER NOT NULL, agent_ms INTEGER NOT NULL, clock_synced INTEGER NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY(node, recv_ms, instance_id, seq, idx)
) WITHOUT ROWID;
CREATE TABLE nodes(
  name TEXT PRIMARY KEY, cluster_name TEXT NOT NULL DEFAULT '', member_id TEXT NOT NULL DEFAULT '',
  failure_domain TEXT NOT NULL DEFAULT '', first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE members(
  member_id TEXT PRIMARY KEY, name TEXT NOT NULL, is_learner INTEGER NOT NULL,
  peer_urls TEXT NOT NULL, client_urls TEXT NOT NULL, updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: history. Series by (node, metric name); raw points and histogram bucket deltas keyed by
    // (series, time) for range scans; per-minute rollups built at ingest; events; the boot id a
    // node last reported (a change is a reboot).
    R"sql(
CREATE TABLE series(
  id INTEGER PRIMARY KEY, node TEXT NOT NULL, metric TEXT NOT NULL, UNIQUE(node, metric)
);
CREATE TABLE points(
  series_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value REAL NOT NULL,
  PRIMARY KEY(series_id, ts_ms)
) WITHOUT ROWID;
CREATE TABLE hist_points(
  series_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, hist BLOB NOT NULL,
  PRIMARY KEY(series_id, ts_ms)
) WITHOUT ROWID;
CREATE TABLE rollups(
  series_id INTEGER NOT NULL, minute_ms INTEGER NOT NULL, n INTEGER NOT NULL, sum REAL NOT NULL,
  vmin REAL NOT NULL, vmax REAL NOT NULL, last_ts INTEGER NOT NULL, last REAL NOT NULL,
  PRIMARY KEY(series_id, minute_ms)
) WITHOUT ROWID;
CREATE TABLE hist_rollups(
  series_id INTEGER NOT NULL, minute_ms INTEGER NOT NULL, hist BLOB NOT NULL,
  PRIMARY KEY(series_id, minute_ms)
) WITHOUT ROWID;
CREATE TABLE events(
  id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, kind TEXT NOT NULL, node TEXT NOT NULL,
  severity TEXT NOT NULL, message TEXT NOT NULL
);
CREATE INDEX events_by_ts ON events(ts_ms);
ALTER TABLE nodes ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
)sql",
    // 3: where each sample sits on the history's time axis (placement.h). One sample per node
    // and millisecond: a placement that would collide is moved and counted (Store::commit).
    // Rows stored before this version have none (NULL never collides).
    R"sql(
ALTER TABLE samples ADD COLUMN ts_ms INTEGER;
CREATE UNIQUE INDEX samples_by_ts ON samples(node, ts_ms);
)sql",
    // 4: member history. A member is never deleted: first_seen_ms/last_seen_ms bound when the
    // member list had it, removed_ms is set when it leaves (NULL: a current member). Rows from
    // before this version count as seen once, at their updated_ms.
    R"sql(
ALTER TABLE members ADD COLUMN first_seen_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN removed_ms INTEGER;
UPDATE members SET first_seen_ms = updated_ms, last_seen_ms = updated_ms;
)sql",
    // 5: what the recovery planner needs after an outage longer than the samples' retention
    // (registry tables, never trimmed): each member's last known raft applied index and the
    // sample time it was seen at, and each node's etcd flavor from its agent's Hello.
    R"sql(
CREATE TABLE member_applied(
  member_id TEXT PRIMARY KEY, node TEXT NOT NULL, applied_index INTEGER NOT NULL,
  ts_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE node_flavors(
  node TEXT PRIMARY KEY, flavor TEXT NOT NULL, first_seen_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 6: the etcd cluster ids this cluster has had (model/cluster_identity.h): the current one
    // has replaced_ms NULL; a restore's new id replaces the old one, which stays as history.
    R"sql(
CREATE TABLE cluster_ids(
  cluster_id TEXT PRIMARY KEY, first_seen_ms INTEGER NOT NULL, replaced_ms INTEGER,
  replaced_by TEXT
) WITHOUT ROWID;
)sql",
    // 7: an event's warning code and member (WARNING_RAISED/CLEARED, risk/warnings.h); empty for
    // the kinds before them.
    R"sql(
ALTER TABLE events ADD COLUMN code TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN member TEXT NOT NULL DEFAULT '';
)sql",
};

static_assert(std::size(kMigrations) == Store::kSchemaVersion, "a migration per version");

// The tables each version brought (a file claiming a version without them is not ours).
struct Table {
  int version;
  const char* name;
};
const Table kTables[] = {{1, "ingest_cursors"}, {1, "batches"},     {1, "samples"},
                         {1, "nodes"},          {1, "members"},     {2, "series"},
                         {2, "points"},         {2, "hist_points"}, {2, "rollups"},
                         {2, "hist_rollups"},   {2, "events"},      {5, "member_applied"},
                         {5, "node_flavors"},   {6, "cluster_ids"}};

std::string refuse(const sql::Db& db, const std::string& why) {
  return "database '" + db.path() + "' is not quorumwatch's: " + why +
         "; refusing to change it (point --db at a new file)";
}

}  // namespace

std::string hintFor(int rc) {
  const bool short_read = rc == SQLITE_IOERR_SHORT_READ;
  rc &= 0xff;
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT || short_read)
    return " (not an SQLite database, or a damaged one: move it aside and start with a new --db; "
           "agents resend what their spools still hold)";
  return "";
}

int knownSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

int schemaVersion(const sql::Db& db) {
  sql::Stmt s(db, "SELECT max(version) FROM schema_version");
  if (!s.next() || s.isNull(0)) return 0;
  return static_cast<int>(s.int64(0));
}

void refuseForeign(sql::Db& db) {
  // Another program's file may say so in its header (SQLite's application_id).
  {
    sql::Stmt s(db, "PRAGMA application_id");
    int64_t id = s.next() ? s.int64(0) : 0;
    if (id != 0 && id != kApplicationId) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%08llx", static_cast<unsigned long long>(id & 0xffffffff));
      throw std::runtime_error(refuse(db, std::string("its application_id is ") + hex));
    }
  }
  // A file with tables but no schema_version is somebody else's database: never add ours to it.
  sql::Stmt s(db,
              "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
              "ORDER BY name = 'schema_version' DESC, name");
  if (s.next() && s.text(0) != "schema_version")
    throw std::runtime_error(
        refuse(db, "it has tables (" + s.text(0) + ", ...) and no schema_version"));
}

void migrate(sql::Db& db) {
  refuseForeign(db);
  std::vector<std::string> tables;
  {
    sql::Stmt s(db,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    while (s.next()) tables.push_back(s.text(0));
  }
  db.exec(
      "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL, applied_ms INTEGER)");
  int have = 0;
  try {
    have = schemaVersion(db);
  } catch (const sql::Error& e) {
    if (e.code() == SQLITE_CORRUPT || e.code() == SQLITE_NOTADB || e.code() == SQLITE_IOERR)
      throw;  // damaged, not foreign
    throw std::runtime_error(
        refuse(db, std::string("its schema_version table is not ours (") + e.what() + ")"));
  }
  int want = knownSchemaVersion();
  if (have > want)
    throw std::runtime_error("database '" + db.path() + "': schema version " +
                             std::to_string(have) + " is newer than this aggregator understands (" +
                             std::to_string(want) +
                             "): run the newer aggregator, or point --db at a new file");
  for (const auto& t : kTables)
    if (t.version <= have && std::find(tables.begin(), tables.end(), t.name) == tables.end())
      throw std::runtime_error(refuse(db, "its schema_version says " + std::to_string(have) +
                                              " but it has no table " + t.name));
  for (int v = have + 1; v <= want; ++v) {
    sql::Tx tx(db);
    db.exec(kMigrations[v - 1]);
    sql::Stmt(db,
              "INSERT INTO schema_version VALUES(?, CAST(strftime('%s','now') AS INTEGER) * 1000)")
        .bind(1, v)
        .run();
    tx.commit();
  }
  // Says whose file this is (SQLite's header; files from before version 5 get it now).
  sql::Stmt s(db, "PRAGMA application_id");
  if (!s.next() || s.int64(0) != kApplicationId) {
    s.reset();
    db.exec("PRAGMA application_id=" + std::to_string(kApplicationId));
  }
}

}  // namespace qw::aggregator::storage
