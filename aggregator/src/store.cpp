#include "qw/aggregator/store.h"

#include <sys/stat.h>

#include <stdexcept>

namespace qw::aggregator {

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
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b < s.size()) {
    auto e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

void bindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

}  // namespace

Store::Store(const Options& opts) {
  int rc = sqlite3_open_v2(opts.path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open database '" + opts.path + "': " + msg);
  }
  ::chmod(opts.path.c_str(), 0640);
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  if (opts.synchronous != "NORMAL" && opts.synchronous != "FULL")
    throw std::runtime_error("synchronous must be NORMAL or FULL");
  exec(("PRAGMA synchronous=" + opts.synchronous).c_str());
  exec("PRAGMA foreign_keys=ON");
  migrate();
  ins_batch_ = prepare(
      "INSERT OR IGNORE INTO batches(instance_id, seq, node, recv_ms, n_samples, dropped_total, "
      "backlog) VALUES(?,?,?,?,?,?,?)");
  ins_sample_ = prepare(
      "INSERT OR IGNORE INTO samples(node, recv_ms, instance_id, seq, idx, agent_ms, clock_synced, "
      "payload) VALUES(?,?,?,?,?,?,?,?)");
  upd_cursor_ = prepare(
      "UPDATE ingest_cursors SET last_seq = max(last_seq, ?), updated_ms = ? WHERE instance_id = ?");
  sel_cursor_ = prepare("SELECT max(seq) FROM batches WHERE instance_id = ?");
  upd_node_ = prepare(
      "UPDATE nodes SET last_seen_ms = ?, member_id = CASE WHEN ? = '' THEN member_id ELSE ? END "
      "WHERE name = ?");
}

Store::~Store() {
  for (auto* s : {ins_batch_, ins_sample_, upd_cursor_, sel_cursor_, upd_node_}) sqlite3_finalize(s);
  if (db_) sqlite3_close(db_);
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(std::string("database: ") + msg);
  }
}

sqlite3_stmt* Store::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("database: ") + sqlite3_errmsg(db_));
  return s;
}

int Store::schemaVersion() const {
  sqlite3_stmt* s = nullptr;
  int v = 0;
  if (sqlite3_prepare_v2(db_, "SELECT max(version) FROM schema_version", -1, &s, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return v;
}

void Store::migrate() {
  exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL, applied_ms INTEGER)");
  int have = schemaVersion();
  int want = static_cast<int>(std::size(kMigrations));
  if (have > want)
    throw std::runtime_error("database schema version " + std::to_string(have) +
                             " is newer than this aggregator understands (" +
                             std::to_string(want) + ")");
  for (int v = have + 1; v <= want; ++v) {
    exec("BEGIN IMMEDIATE");
    try {
      exec(kMigrations[v - 1]);
      exec(("INSERT INTO schema_version VALUES(" + std::to_string(v) +
            ", CAST(strftime('%s','now') AS INTEGER) * 1000)")
               .c_str());
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
}

std::optional<std::string> Store::commit(std::vector<Item>& items) {
  if (items.empty()) return std::nullopt;
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return std::string("begin: ") + sqlite3_errmsg(db_);
  auto fail = [&](const char* what) -> std::optional<std::string> {
    std::string msg = std::string(what) + ": " + sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    for (auto& it : items) it.stored = false;
    return msg;
  };
  for (auto& it : items) {
    const auto& b = *it.batch;
    {
      Reset r{ins_batch_};
      bindText(ins_batch_, 1, it.instance_id);
      sqlite3_bind_int64(ins_batch_, 2, static_cast<int64_t>(b.seq()));
      bindText(ins_batch_, 3, it.node);
      sqlite3_bind_int64(ins_batch_, 4, it.recv_ms);
      sqlite3_bind_int(ins_batch_, 5, b.samples_size());
      sqlite3_bind_int64(ins_batch_, 6, static_cast<int64_t>(b.dropped_total()));
      sqlite3_bind_int64(ins_batch_, 7, b.backlog());
      if (sqlite3_step(ins_batch_) != SQLITE_DONE) return fail("insert batch");
    }
    it.stored = sqlite3_changes(db_) == 1;
    if (!it.stored) continue;  // already stored: idempotent on (instance, seq)
    std::string payload;
    uint64_t member = 0;
    for (int i = 0; i < b.samples_size(); ++i) {
      const auto& s = b.samples(i);
      if (s.etcd().reachable()) member = s.etcd().member_id();
      payload.clear();
      s.SerializeToString(&payload);
      Reset r{ins_sample_};
      bindText(ins_sample_, 1, it.node);
      sqlite3_bind_int64(ins_sample_, 2, it.recv_ms);
      bindText(ins_sample_, 3, it.instance_id);
      sqlite3_bind_int64(ins_sample_, 4, static_cast<int64_t>(b.seq()));
      sqlite3_bind_int(ins_sample_, 5, i);
      sqlite3_bind_int64(ins_sample_, 6, s.ts_unix_ms());
      sqlite3_bind_int(ins_sample_, 7, s.clock_synced() ? 1 : 0);
      sqlite3_bind_blob(ins_sample_, 8, payload.data(), static_cast<int>(payload.size()),
                        SQLITE_TRANSIENT);
      if (sqlite3_step(ins_sample_) != SQLITE_DONE) return fail("insert sample");
    }
    {
      Reset r{upd_cursor_};
      sqlite3_bind_int64(upd_cursor_, 1, static_cast<int64_t>(b.seq()));
      sqlite3_bind_int64(upd_cursor_, 2, it.recv_ms);
      bindText(upd_cursor_, 3, it.instance_id);
      if (sqlite3_step(upd_cursor_) != SQLITE_DONE) return fail("update cursor");
    }
    {
      Reset r{upd_node_};
      std::string mid = member ? std::to_string(member) : "";
      sqlite3_bind_int64(upd_node_, 1, it.recv_ms);
      bindText(upd_node_, 2, mid);
      bindText(upd_node_, 3, mid);
      bindText(upd_node_, 4, it.node);
      if (sqlite3_step(upd_node_) != SQLITE_DONE) return fail("update node");
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("commit");
  return std::nullopt;
}

std::optional<uint64_t> Store::lastSeq(const std::string& instance_id) {
  Reset r{sel_cursor_};
  bindText(sel_cursor_, 1, instance_id);
  if (sqlite3_step(sel_cursor_) == SQLITE_ROW && sqlite3_column_type(sel_cursor_, 0) != SQLITE_NULL)
    return static_cast<uint64_t>(sqlite3_column_int64(sel_cursor_, 0));
  return std::nullopt;
}

std::optional<std::string> Store::recordAgent(const std::string& instance_id,
                                              const std::string& node, const std::string& cluster,
                                              const std::string& version,
                                              const std::string& boot_id,
                                              const std::string& domain, int64_t now_ms) {
  sqlite3_stmt* s = nullptr;
  const char* sql =
      "INSERT INTO ingest_cursors(instance_id, node, cluster_name, agent_version, boot_id, "
      "first_seen_ms, updated_ms) VALUES(?1,?2,?3,?4,?5,?6,?6) ON CONFLICT(instance_id) DO UPDATE "
      "SET updated_ms = ?6;"
      "";
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
    return std::string(sqlite3_errmsg(db_));
  bindText(s, 1, instance_id);
  bindText(s, 2, node);
  bindText(s, 3, cluster);
  bindText(s, 4, version);
  bindText(s, 5, boot_id);
  sqlite3_bind_int64(s, 6, now_ms);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return std::string(sqlite3_errmsg(db_));
  const char* nsql =
      "INSERT INTO nodes(name, cluster_name, failure_domain, first_seen_ms, last_seen_ms) "
      "VALUES(?1,?2,?3,?4,?4) ON CONFLICT(name) DO UPDATE SET cluster_name = ?2, "
      "failure_domain = ?3";
  if (sqlite3_prepare_v2(db_, nsql, -1, &s, nullptr) != SQLITE_OK)
    return std::string(sqlite3_errmsg(db_));
  bindText(s, 1, node);
  bindText(s, 2, cluster);
  bindText(s, 3, domain);
  sqlite3_bind_int64(s, 4, now_ms);
  rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return std::string(sqlite3_errmsg(db_));
  return std::nullopt;
}

std::optional<std::string> Store::saveMembers(const std::map<uint64_t, MemberInfo>& members,
                                              int64_t now_ms) {
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE; DELETE FROM members;", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    std::string e = sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_,
                     "INSERT INTO members(member_id, name, is_learner, peer_urls, client_urls, "
                     "updated_ms) VALUES(?,?,?,?,?,?)",
                     -1, &s, nullptr);
  for (const auto& [id, m] : members) {
    bindText(s, 1, std::to_string(id));
    bindText(s, 2, m.name);
    sqlite3_bind_int(s, 3, m.is_learner);
    bindText(s, 4, join(m.peer_urls));
    bindText(s, 5, join(m.client_urls));
    sqlite3_bind_int64(s, 6, now_ms);
    if (sqlite3_step(s) != SQLITE_DONE) {
      std::string e = sqlite3_errmsg(db_);
      sqlite3_finalize(s);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return e;
    }
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::string e = sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return std::nullopt;
}

void Store::load(Hub* hub) {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_,
                     "SELECT name, cluster_name, member_id, failure_domain, last_seen_ms FROM nodes",
                     -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) {
    auto& n = hub->node(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    n.cluster_name = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    std::string mid = reinterpret_cast<const char*>(sqlite3_column_text(s, 2));
    n.member_id = mid.empty() ? 0 : std::stoull(mid);
    n.failure_domain = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
    n.last_seen_wall_ms = sqlite3_column_int64(s, 4);
  }
  sqlite3_finalize(s);
  // The newest sample per node, for the API (it is shown as stale until the agent reports again).
  sqlite3_prepare_v2(db_,
                     "SELECT payload FROM samples WHERE node = ? ORDER BY recv_ms DESC, seq DESC, "
                     "idx DESC LIMIT 1",
                     -1, &s, nullptr);
  for (auto& [name, n] : hub->nodes()) {
    (void)n;
    bindText(s, 1, name);
    if (sqlite3_step(s) == SQLITE_ROW) {
      auto& ns = hub->node(name);
      ns.has_sample = ns.latest.ParseFromArray(sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0));
    }
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  std::map<uint64_t, MemberInfo> members;
  sqlite3_prepare_v2(db_, "SELECT member_id, name, is_learner, peer_urls, client_urls FROM members",
                     -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) {
    MemberInfo m;
    m.id = std::stoull(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    m.name = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    m.is_learner = sqlite3_column_int(s, 2) != 0;
    m.peer_urls = split(reinterpret_cast<const char*>(sqlite3_column_text(s, 3)));
    m.client_urls = split(reinterpret_cast<const char*>(sqlite3_column_text(s, 4)));
    members[m.id] = std::move(m);
  }
  sqlite3_finalize(s);
  hub->setMembers(std::move(members));
}

}  // namespace qw::aggregator
