#include "qw/aggregator/store/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <unordered_map>
#include <variant>

#include "qw/aggregator/ingest/placement.h"
#include "qw/aggregator/model/quantile.h"
#include "qw/log.h"

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

// A text column ("" for NULL: a damaged row must not crash the reader).
std::string columnText(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

// What to do about a file SQLite cannot read.
std::string hintFor(int rc) {
  rc &= 0xff;
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
    return " (not an SQLite database, or a damaged one: move it aside and start with a new --db; "
           "agents resend what their spools still hold)";
  return "";
}

}  // namespace

Store::Store(const Options& opts) : opts_(opts) {
  try {
    open();
  } catch (...) {
    release();  // no destructor runs after a throwing constructor
    throw;
  }
}

void Store::open() {
  int rc =
      sqlite3_open_v2(opts_.path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open database '" + opts_.path + "': " + msg);
  }
  ::chmod(opts_.path.c_str(), 0640);
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  if (opts_.synchronous != "NORMAL" && opts_.synchronous != "FULL")
    throw std::runtime_error("synchronous must be NORMAL or FULL");
  exec(("PRAGMA synchronous=" + opts_.synchronous).c_str());
  exec("PRAGMA foreign_keys=ON");
  // Ingest touches the newest leaf of every series in each transaction; SQLite's default 2 MiB
  // page cache is smaller than that working set with a few hundred series.
  exec(("PRAGMA cache_size=-" + std::to_string(std::max<int64_t>(1024, opts_.cache_bytes / 1024)))
           .c_str());
  migrate();
  if (opts_.max_db_bytes > 0) {
    int64_t page = 4096;
    sqlite3_stmt* ps = nullptr;
    if (sqlite3_prepare_v2(db_, "PRAGMA page_size", -1, &ps, nullptr) == SQLITE_OK &&
        sqlite3_step(ps) == SQLITE_ROW)
      page = sqlite3_column_int64(ps, 0);
    sqlite3_finalize(ps);
    exec(
        ("PRAGMA max_page_count=" + std::to_string(std::max<int64_t>(1, opts_.max_db_bytes / page)))
            .c_str());
  }
  ins_batch_ = prepare(
      "INSERT OR IGNORE INTO batches(instance_id, seq, node, recv_ms, n_samples, dropped_total, "
      "backlog) VALUES(?,?,?,?,?,?,?)");
  ins_sample_ = prepare(
      "INSERT INTO samples(node, recv_ms, instance_id, seq, idx, agent_ms, clock_synced, "
      "payload, ts_ms) VALUES(?,?,?,?,?,?,?,?,?)");
  upd_cursor_ = prepare(
      "UPDATE ingest_cursors SET last_seq = max(last_seq, ?), updated_ms = ? WHERE instance_id = "
      "?");
  sel_cursor_ = prepare("SELECT max(seq) FROM batches WHERE instance_id = ?");
  upd_node_ = prepare(
      "UPDATE nodes SET last_seen_ms = ?, member_id = CASE WHEN ? = '' THEN member_id ELSE ? END "
      "WHERE name = ?");
  sel_series_ = prepare("SELECT id FROM series WHERE node = ? AND metric = ?");
  ins_series_ = prepare("INSERT INTO series(node, metric) VALUES(?, ?)");
  // No OR IGNORE: a point that collides is counted and logged (commit()), never dropped unseen.
  ins_point_ = prepare("INSERT INTO points(series_id, ts_ms, value) VALUES(?,?,?)");
  ins_hist_ = prepare("INSERT INTO hist_points(series_id, ts_ms, hist) VALUES(?,?,?)");
  ups_rollup_ = prepare(
      "INSERT INTO rollups(series_id, minute_ms, n, sum, vmin, vmax, last_ts, last) "
      "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(series_id, minute_ms) DO UPDATE SET "
      "n = n + excluded.n, sum = sum + excluded.sum, vmin = min(vmin, excluded.vmin), "
      "vmax = max(vmax, excluded.vmax), "
      "last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END, "
      "last_ts = max(last_ts, excluded.last_ts)");
  sel_hrollup_ = prepare("SELECT hist FROM hist_rollups WHERE series_id = ? AND minute_ms = ?");
  put_hrollup_ =
      prepare("INSERT OR REPLACE INTO hist_rollups(series_id, minute_ms, hist) VALUES(?,?,?)");
  ins_event_ =
      prepare("INSERT INTO events(ts_ms, kind, node, severity, message) VALUES(?,?,?,?,?)");
  if (opts_.background_checkpoint) {
    exec("PRAGMA wal_autocheckpoint=0");
    sqlite3_wal_hook(
        db_,
        [](void* self, sqlite3*, const char*, int pages) {
          auto* st = static_cast<Store*>(self);
          if (pages >= 1000) {  // SQLite's own threshold (4 MiB of 4 KiB pages)
            std::lock_guard<std::mutex> l(st->ck_mu_);
            st->ck_wanted_ = true;
            st->ck_cv_.notify_one();
          }
          return SQLITE_OK;
        },
        this);
    checkpointer_ = std::thread([this] { checkpointLoop(); });
  }
}

void Store::checkpointLoop() {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(opts_.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return;
  }
  sqlite3_busy_timeout(db, 1000);
  std::unique_lock<std::mutex> l(ck_mu_);
  while (!ck_stop_) {
    // Wanted after a commit left 1000+ pages in the WAL; otherwise once a second.
    ck_cv_.wait_for(l, std::chrono::seconds(1), [this] { return ck_stop_ || ck_wanted_; });
    if (ck_stop_) break;
    ck_wanted_ = false;
    l.unlock();
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
            SQLITE_OK &&
        done > 0)
      ++checkpoints_;
    l.lock();
  }
  sqlite3_close(db);
}

Store::~Store() { release(); }

void Store::release() {
  if (checkpointer_.joinable()) {
    {
      std::lock_guard<std::mutex> l(ck_mu_);
      ck_stop_ = true;
    }
    ck_cv_.notify_one();
    checkpointer_.join();
  }
  for (auto* s :
       {ins_batch_, ins_sample_, upd_cursor_, sel_cursor_, upd_node_, sel_series_, ins_series_,
        ins_point_, ins_hist_, ups_rollup_, sel_hrollup_, put_hrollup_, ins_event_})
    sqlite3_finalize(s);
  if (db_) sqlite3_close(db_);
  db_ = nullptr;
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw std::runtime_error("database '" + opts_.path + "': " + msg + hintFor(rc));
  }
}

sqlite3_stmt* Store::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      rc != SQLITE_OK)
    throw std::runtime_error("database '" + opts_.path + "': " + sqlite3_errmsg(db_) + hintFor(rc));
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
  // A file with tables but no schema_version is somebody else's database: never add ours to it.
  {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_,
                                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                                "LIKE 'sqlite_%' ORDER BY name = 'schema_version' DESC, name",
                                -1, &s, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db_);
      sqlite3_finalize(s);
      throw std::runtime_error("database '" + opts_.path + "': " + msg + hintFor(rc));
    }
    std::string first;
    if (sqlite3_step(s) == SQLITE_ROW) first = columnText(s, 0);
    sqlite3_finalize(s);
    if (!first.empty() && first != "schema_version")
      throw std::runtime_error("database '" + opts_.path +
                               "' is not quorumwatch's: it has tables (" + first +
                               ", ...) and no schema_version; refusing to change it (point --db "
                               "at a new file)");
  }
  exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL, applied_ms INTEGER)");
  int have = schemaVersion();
  int want = static_cast<int>(std::size(kMigrations));
  if (have > want)
    throw std::runtime_error("database schema version " + std::to_string(have) +
                             " is newer than this aggregator understands (" + std::to_string(want) +
                             ")");
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

int64_t Store::seriesId(const std::string& node, int metric) {
  auto& ids = series_ids_[node];
  if (ids.empty()) ids.assign(metricCatalog().size(), 0);
  if (ids[static_cast<size_t>(metric)]) return ids[static_cast<size_t>(metric)];
  const char* name = metricCatalog()[static_cast<size_t>(metric)].name;
  int64_t id = 0;
  {
    Reset r{sel_series_};
    bindText(sel_series_, 1, node);
    sqlite3_bind_text(sel_series_, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(sel_series_) == SQLITE_ROW) id = sqlite3_column_int64(sel_series_, 0);
  }
  if (!id) {
    Reset r{ins_series_};
    bindText(ins_series_, 1, node);
    sqlite3_bind_text(ins_series_, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(ins_series_) != SQLITE_DONE) return 0;
    id = sqlite3_last_insert_rowid(db_);
    // Created inside the caller's transaction: remembered only once that commits (see commit()).
    return -id;
  }
  ids[static_cast<size_t>(metric)] = id;
  return id;
}

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

constexpr int64_t kMinute = 60'000;
// How far (ms) a colliding sample may move before it is stored without points.
constexpr int kMaxPlacementMoves = 1000;

int64_t floorTo(int64_t ts, int64_t step) {
  int64_t r = ts % step;
  return r < 0 ? ts - r - step : ts - r;
}

}  // namespace

std::optional<std::string> Store::commit(std::vector<Item>& items, EventDeriver* deriver) {
  if (items.empty()) return std::nullopt;
  last_rc_ = SQLITE_OK;
  if (int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    last_rc_ = rc;
    return std::string("begin: ") + sqlite3_errmsg(db_);
  }
  std::optional<EventDeriver> saved;
  if (deriver) saved = *deriver;
  std::vector<std::pair<std::string, int>> new_series;  // remembered once committed
  auto fail = [&](const char* what) -> std::optional<std::string> {
    last_rc_ = sqlite3_extended_errcode(db_) & 0xff;
    std::string msg = std::string(what) + ": " + sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    for (auto& it : items) it.stored = false;
    if (deriver) *deriver = *saved;
    for (const auto& [node, metric] : new_series)
      series_ids_[node][static_cast<size_t>(metric)] = 0;
    return msg;
  };
  std::unordered_map<std::pair<int64_t, int64_t>, Acc, KeyHash> rollups;
  std::map<std::pair<int64_t, int64_t>, qw::wire::Histogram> hrollups;
  std::vector<GaugePoint> gauges;
  std::vector<HistPoint> hists;
  std::vector<Event> events;
  uint64_t points = 0, conflicts = 0;
  std::optional<std::string> first_conflict;
  std::string payload;
  auto sid = [&](const std::string& node, int metric) -> int64_t {
    int64_t id = seriesId(node, metric);
    if (id < 0) {
      series_ids_[node][static_cast<size_t>(metric)] = -id;
      new_series.emplace_back(node, metric);
      id = -id;
    }
    return id;
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
      // One sample per node and millisecond (the samples_by_ts index): a placement that is taken
      // moves to the next free millisecond, and its points are counted as conflicts.
      // The raw sample at `ts` (nullopt: NULL); returns sqlite3_step's result.
      auto insertSample = [&](std::optional<int64_t> ts) {
        Reset r{ins_sample_};
        bindText(ins_sample_, 1, it.node);
        sqlite3_bind_int64(ins_sample_, 2, it.recv_ms);
        bindText(ins_sample_, 3, it.instance_id);
        sqlite3_bind_int64(ins_sample_, 4, static_cast<int64_t>(b.seq()));
        sqlite3_bind_int(ins_sample_, 5, i);
        sqlite3_bind_int64(ins_sample_, 6, s.ts_unix_ms());
        sqlite3_bind_int(ins_sample_, 7, s.clock_synced() ? 1 : 0);
        sqlite3_bind_blob(ins_sample_, 8, payload.data(), static_cast<int>(payload.size()),
                          SQLITE_STATIC);
        if (ts)
          sqlite3_bind_int64(ins_sample_, 9, *ts);
        else
          sqlite3_bind_null(ins_sample_, 9);
        return sqlite3_step(ins_sample_);
      };
      int64_t ts = at.ts_ms;
      bool placed_ok = false;
      for (int attempt = 0; attempt < kMaxPlacementMoves; ++attempt, ++ts) {
        if (insertSample(ts) == SQLITE_DONE) {
          placed_ok = true;
          break;
        }
        if (sqlite3_extended_errcode(db_) != SQLITE_CONSTRAINT_UNIQUE) return fail("insert sample");
      }
      if (ts != at.ts_ms) {
        conflicts += sample_points;
        if (!first_conflict)
          first_conflict = it.node + " sample at " + std::to_string(at.ts_ms) + " (" +
                           timeSourceName(at.source) + ") " +
                           (placed_ok ? "moved by " + std::to_string(ts - at.ts_ms) + " ms"
                                      : "has no free millisecond: stored without its points");
      }
      if (!placed_ok) {
        // Kept as received (ts_ms NULL), but no points: none can be placed without a collision.
        if (insertSample(std::nullopt) != SQLITE_DONE) return fail("insert sample");
        continue;
      }
      // A point can still collide with one whose sample row retention removed (samples are kept
      // a day, points a week): it is refused, counted and logged.
      auto pointRefused = [&](const char* what) {
        ++conflicts;
        if (!first_conflict)
          first_conflict = it.node + " " + what + " at " + std::to_string(ts) +
                           " already stored (older than the samples' retention): not stored";
      };
      for (const auto& g : gauges) {
        int64_t id = sid(it.node, g.metric);
        if (!id) return fail("insert series");
        Reset r{ins_point_};
        sqlite3_bind_int64(ins_point_, 1, id);
        sqlite3_bind_int64(ins_point_, 2, ts);
        sqlite3_bind_double(ins_point_, 3, g.value);
        if (int rc = sqlite3_step(ins_point_); rc != SQLITE_DONE) {
          if ((sqlite3_extended_errcode(db_) & 0xff) != SQLITE_CONSTRAINT)
            return fail("insert point");
          pointRefused("point");
          continue;
        }
        rollups[{id, floorTo(ts, kMinute)}].add(ts, g.value);
        ++points;
      }
      for (const auto& h : hists) {
        int64_t id = sid(it.node, h.metric);
        if (!id) return fail("insert series");
        payload.clear();
        h.hist.SerializeToString(&payload);
        Reset r{ins_hist_};
        sqlite3_bind_int64(ins_hist_, 1, id);
        sqlite3_bind_int64(ins_hist_, 2, ts);
        sqlite3_bind_blob(ins_hist_, 3, payload.data(), static_cast<int>(payload.size()),
                          SQLITE_STATIC);
        if (int rc = sqlite3_step(ins_hist_); rc != SQLITE_DONE) {
          if ((sqlite3_extended_errcode(db_) & 0xff) != SQLITE_CONSTRAINT)
            return fail("insert histogram");
          pointRefused("histogram");
          continue;
        }
        auto& hr = hrollups[{id, floorTo(ts, kMinute)}];
        if (!mergeHistogram(&hr, h.hist)) hr = h.hist;  // bounds changed: the newest win
        ++points;
      }
      if (deriver) deriver->onSample(it.node, s, ts, &events);
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
  for (const auto& [key, a] : rollups) {
    Reset r{ups_rollup_};
    sqlite3_bind_int64(ups_rollup_, 1, key.first);
    sqlite3_bind_int64(ups_rollup_, 2, key.second);
    sqlite3_bind_int64(ups_rollup_, 3, a.n);
    sqlite3_bind_double(ups_rollup_, 4, a.sum);
    sqlite3_bind_double(ups_rollup_, 5, a.vmin);
    sqlite3_bind_double(ups_rollup_, 6, a.vmax);
    sqlite3_bind_int64(ups_rollup_, 7, a.last_ts);
    sqlite3_bind_double(ups_rollup_, 8, a.last);
    if (sqlite3_step(ups_rollup_) != SQLITE_DONE) return fail("update rollup");
  }
  for (auto& [key, h] : hrollups) {
    {
      Reset r{sel_hrollup_};
      sqlite3_bind_int64(sel_hrollup_, 1, key.first);
      sqlite3_bind_int64(sel_hrollup_, 2, key.second);
      if (sqlite3_step(sel_hrollup_) == SQLITE_ROW) {
        qw::wire::Histogram old;
        if (old.ParseFromArray(sqlite3_column_blob(sel_hrollup_, 0),
                               sqlite3_column_bytes(sel_hrollup_, 0)))
          mergeHistogram(&h, old);
      }
    }
    payload.clear();
    h.SerializeToString(&payload);
    Reset r{put_hrollup_};
    sqlite3_bind_int64(put_hrollup_, 1, key.first);
    sqlite3_bind_int64(put_hrollup_, 2, key.second);
    sqlite3_bind_blob(put_hrollup_, 3, payload.data(), static_cast<int>(payload.size()),
                      SQLITE_STATIC);
    if (sqlite3_step(put_hrollup_) != SQLITE_DONE) return fail("update histogram rollup");
  }
  for (const auto& e : events)
    if (!insertEvent(e)) return fail("insert event");
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("commit");
  points_stored_ += points;
  events_stored_ += events.size();
  if (conflicts) {
    points_conflicts_ += conflicts;
    qw::logger("store")->warn(
        "{} points of this commit collided with stored ones ({} since start); first: {}", conflicts,
        points_conflicts_, *first_conflict);
  }
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
                                              const std::string& boot_id, const std::string& domain,
                                              int64_t now_ms, std::string* previous_boot_id) {
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
  if (previous_boot_id) {
    previous_boot_id->clear();
    if (sqlite3_prepare_v2(db_, "SELECT boot_id FROM nodes WHERE name = ?", -1, &s, nullptr) ==
        SQLITE_OK) {
      bindText(s, 1, node);
      if (sqlite3_step(s) == SQLITE_ROW)
        *previous_boot_id = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
  }
  const char* nsql =
      "INSERT INTO nodes(name, cluster_name, failure_domain, first_seen_ms, last_seen_ms, boot_id) "
      "VALUES(?1,?2,?3,?4,?4,?5) ON CONFLICT(name) DO UPDATE SET cluster_name = ?2, "
      "failure_domain = ?3, boot_id = CASE WHEN ?5 = '' THEN boot_id ELSE ?5 END";
  if (sqlite3_prepare_v2(db_, nsql, -1, &s, nullptr) != SQLITE_OK)
    return std::string(sqlite3_errmsg(db_));
  bindText(s, 1, node);
  bindText(s, 2, cluster);
  bindText(s, 3, domain);
  sqlite3_bind_int64(s, 4, now_ms);
  bindText(s, 5, boot_id);
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

std::optional<std::string> Store::load(Hub* hub) {
  auto bad = [&](const std::string& what) {
    return "database '" + opts_.path + "': " + what +
           "; the file is damaged or not quorumwatch's (move it aside and start with a new --db)";
  };
  auto id = [](const std::string& text, uint64_t* out) {
    if (text.empty() || text.size() > 20 ||
        text.find_first_not_of("0123456789") != std::string::npos)
      return false;
    errno = 0;
    *out = std::strtoull(text.c_str(), nullptr, 10);
    return errno == 0;
  };
  auto query = [&](const char* sql, sqlite3_stmt** s) -> std::optional<std::string> {
    if (sqlite3_prepare_v2(db_, sql, -1, s, nullptr) != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db_);
      sqlite3_finalize(*s);
      *s = nullptr;
      return bad(msg);
    }
    return std::nullopt;
  };
  sqlite3_stmt* s = nullptr;
  if (auto e = query(
          "SELECT name, cluster_name, member_id, failure_domain, last_seen_ms FROM nodes", &s))
    return e;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::string name = columnText(s, 0), mid = columnText(s, 2);
    uint64_t member = 0;
    if (name.empty() || (!mid.empty() && !id(mid, &member))) {
      sqlite3_finalize(s);
      return bad("node '" + name + "' has member id '" + mid + "'");
    }
    auto& n = hub->node(name);
    n.cluster_name = columnText(s, 1);
    n.member_id = member;
    n.failure_domain = columnText(s, 3);
    n.last_seen_wall_ms = sqlite3_column_int64(s, 4);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return bad(std::string("reading nodes: ") + sqlite3_errmsg(db_));
  // The newest sample per node, for the API (it is shown as stale until the agent reports again).
  if (auto e = query("SELECT payload FROM samples WHERE node = ? ORDER BY recv_ms DESC, seq DESC, "
                     "idx DESC LIMIT 1",
                     &s))
    return e;
  for (auto& [name, n] : hub->nodes()) {
    (void)n;
    bindText(s, 1, name);
    if (sqlite3_step(s) == SQLITE_ROW) {
      auto& ns = hub->node(name);
      ns.has_sample =
          ns.latest.ParseFromArray(sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0));
    }
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  std::map<uint64_t, MemberInfo> members;
  if (auto e = query("SELECT member_id, name, is_learner, peer_urls, client_urls FROM members", &s))
    return e;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    MemberInfo m;
    std::string mid = columnText(s, 0);
    if (!id(mid, &m.id)) {
      sqlite3_finalize(s);
      return bad("member id '" + mid + "' is not a number");
    }
    m.name = columnText(s, 1);
    m.is_learner = sqlite3_column_int(s, 2) != 0;
    m.peer_urls = split(columnText(s, 3));
    m.client_urls = split(columnText(s, 4));
    members[m.id] = std::move(m);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return bad(std::string("reading members: ") + sqlite3_errmsg(db_));
  hub->setMembers(std::move(members));
  return std::nullopt;
}

bool Store::insertEvent(const Event& e) {
  Reset r{ins_event_};
  sqlite3_bind_int64(ins_event_, 1, e.ts_ms);
  bindText(ins_event_, 2, e.kind);
  bindText(ins_event_, 3, e.node);
  bindText(ins_event_, 4, e.severity);
  bindText(ins_event_, 5, e.message);
  return sqlite3_step(ins_event_) == SQLITE_DONE;
}

std::optional<std::string> Store::addEvents(const std::vector<Event>& events) {
  if (events.empty()) return std::nullopt;
  if (int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    last_rc_ = rc;
    return std::string(sqlite3_errmsg(db_));
  }
  for (const auto& e : events) {
    if (!insertEvent(e)) {
      last_rc_ = sqlite3_extended_errcode(db_) & 0xff;
      std::string msg = sqlite3_errmsg(db_);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return msg;
    }
  }
  if (int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    last_rc_ = rc;
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return msg;
  }
  events_stored_ += events.size();
  return std::nullopt;
}

namespace {

struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
};

double quantileOf(const std::string& agg) {
  if (agg == "p50") return 0.5;
  if (agg == "p90") return 0.9;
  if (agg == "p99") return 0.99;
  return -1;
}

}  // namespace

std::optional<std::string> Store::querySeries(const std::string& node, int metric, int64_t from,
                                              int64_t to, int64_t step, const std::string& agg,
                                              std::vector<SeriesPoint>* out) {
  out->clear();
  if (metric < 0 || static_cast<size_t>(metric) >= metricCatalog().size())
    return std::string("unknown metric");
  if (step <= 0 || to < from) return std::string("empty range");
  const auto& def = metricCatalog()[static_cast<size_t>(metric)];
  int64_t series = 0;
  {
    Reset r{sel_series_};
    bindText(sel_series_, 1, node);
    sqlite3_bind_text(sel_series_, 2, def.name, -1, SQLITE_STATIC);
    if (sqlite3_step(sel_series_) == SQLITE_ROW) series = sqlite3_column_int64(sel_series_, 0);
  }
  if (!series) return std::nullopt;  // a known metric this node never reported: no points
  int64_t lo = floorTo(from, step);
  bool minutes = step % kMinute == 0;
  if (def.kind == MetricKind::kHistogram) {
    double q = quantileOf(agg);
    if (q < 0) return std::string("histogram metrics aggregate with p50, p90 or p99");
    Stmt st(db_, minutes ? "SELECT minute_ms, hist FROM hist_rollups WHERE series_id = ?1 AND "
                           "minute_ms >= ?2 AND minute_ms <= ?3"
                         : "SELECT ts_ms, hist FROM hist_points WHERE series_id = ?1 AND "
                           "ts_ms >= ?2 AND ts_ms <= ?3");
    if (!st.s) return std::string(sqlite3_errmsg(db_));
    sqlite3_bind_int64(st.s, 1, series);
    sqlite3_bind_int64(st.s, 2, lo);
    sqlite3_bind_int64(st.s, 3, to);
    int64_t bucket = INT64_MIN;
    qw::wire::Histogram acc, one;
    auto emit = [&] {
      if (bucket == INT64_MIN) return;
      if (auto v = histogramQuantile(q, acc)) out->push_back({bucket, *v});
      acc.Clear();
    };
    while (sqlite3_step(st.s) == SQLITE_ROW) {
      int64_t b = floorTo(sqlite3_column_int64(st.s, 0), step);
      if (b != bucket) {
        emit();
        bucket = b;
      }
      if (one.ParseFromArray(sqlite3_column_blob(st.s, 1), sqlite3_column_bytes(st.s, 1)) &&
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
  Stmt st(db_, minutes ? "SELECT minute_ms, n, sum, vmin, vmax, last_ts, last FROM rollups WHERE "
                         "series_id = ?1 AND minute_ms >= ?2 AND minute_ms <= ?3"
                       : "SELECT ts_ms, 1, value, value, value, ts_ms, value FROM points WHERE "
                         "series_id = ?1 AND ts_ms >= ?2 AND ts_ms <= ?3");
  if (!st.s) return std::string(sqlite3_errmsg(db_));
  sqlite3_bind_int64(st.s, 1, series);
  sqlite3_bind_int64(st.s, 2, lo);
  sqlite3_bind_int64(st.s, 3, to);
  int64_t bucket = INT64_MIN;
  Acc acc;
  auto emit = [&] {
    if (bucket == INT64_MIN || acc.n == 0) return;
    double v = mode == kAvg   ? acc.sum / static_cast<double>(acc.n)
               : mode == kMin ? acc.vmin
               : mode == kMax ? acc.vmax
               : mode == kSum ? acc.sum
                              : acc.last;
    out->push_back({bucket, v});
    acc = Acc{};
  };
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    int64_t b = floorTo(sqlite3_column_int64(st.s, 0), step);
    if (b != bucket) {
      emit();
      bucket = b;
    }
    int64_t n = sqlite3_column_int64(st.s, 1);
    double sum = sqlite3_column_double(st.s, 2), mn = sqlite3_column_double(st.s, 3),
           mx = sqlite3_column_double(st.s, 4), last = sqlite3_column_double(st.s, 6);
    int64_t last_ts = sqlite3_column_int64(st.s, 5);
    if (acc.n == 0) {
      acc.vmin = mn;
      acc.vmax = mx;
    } else {
      acc.vmin = std::min(acc.vmin, mn);
      acc.vmax = std::max(acc.vmax, mx);
    }
    if (acc.n == 0 || last_ts >= acc.last_ts) {
      acc.last_ts = last_ts;
      acc.last = last;
    }
    acc.n += n;
    acc.sum += sum;
  }
  emit();
  return std::nullopt;
}

std::vector<Store::StoredEvent> Store::events(int64_t since_ms, const std::string& kind,
                                              const std::string& node, int limit) {
  std::vector<StoredEvent> out;
  Stmt st(db_,
          "SELECT id, ts_ms, kind, node, severity, message FROM events WHERE ts_ms >= ?1 AND "
          "(?2 = '' OR kind = ?2) AND (?3 = '' OR node = ?3) ORDER BY ts_ms, id LIMIT ?4");
  if (!st.s) return out;
  sqlite3_bind_int64(st.s, 1, since_ms);
  bindText(st.s, 2, kind);
  bindText(st.s, 3, node);
  sqlite3_bind_int(st.s, 4, limit);
  auto text = [&](int i) {
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st.s, i)));
  };
  while (sqlite3_step(st.s) == SQLITE_ROW)
    out.push_back({sqlite3_column_int64(st.s, 0),
                   {sqlite3_column_int64(st.s, 1), text(2), text(3), text(4), text(5)}});
  return out;
}

int64_t Store::dbSizeBytes() {
  Stmt a(db_, "PRAGMA page_count"), b(db_, "PRAGMA page_size");
  if (!a.s || !b.s || sqlite3_step(a.s) != SQLITE_ROW || sqlite3_step(b.s) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(a.s, 0) * sqlite3_column_int64(b.s, 0);
}

Store::PruneResult Store::pruneStep(int64_t now_ms) {
  PruneResult res;
  int64_t raw_cut = now_ms - opts_.raw_retention_ms;
  int64_t roll_cut = now_ms - opts_.rollup_retention_ms;
  int64_t sample_cut = now_ms - opts_.sample_retention_ms;
  auto run = [&](const char* sql, const std::vector<std::variant<int64_t, std::string>>& args) {
    Stmt st(db_, sql);
    if (!st.s) return;
    for (size_t i = 0; i < args.size(); ++i) {
      if (auto* v = std::get_if<int64_t>(&args[i]))
        sqlite3_bind_int64(st.s, static_cast<int>(i + 1), *v);
      else
        bindText(st.s, static_cast<int>(i + 1), std::get<std::string>(args[i]));
    }
    if (sqlite3_step(st.s) == SQLITE_DONE) res.deleted += sqlite3_changes(db_);
  };
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return res;
  constexpr int64_t kRawChunk = 3600'000;    // one hour of one series: <= 3600 rows
  constexpr int64_t kRollChunk = 86400'000;  // one day of rollups: <= 1440 rows
  if (prune_queue_.empty() && prune_misc_ == 0) {
    Stmt st(db_, "SELECT id FROM series ORDER BY id DESC");
    while (st.s && sqlite3_step(st.s) == SQLITE_ROW)
      prune_queue_.push_back(sqlite3_column_int64(st.s, 0));
    prune_misc_ = 1;
  }
  if (!prune_queue_.empty()) {
    int64_t id = prune_queue_.back();
    prune_queue_.pop_back();
    // Bounded by the oldest row of the series: one chunk per step, never a full scan.
    run("DELETE FROM points WHERE series_id = ?1 AND ts_ms < min(?2, (SELECT min(ts_ms) FROM "
        "points WHERE series_id = ?1) + ?3)",
        {id, raw_cut, kRawChunk});
    run("DELETE FROM hist_points WHERE series_id = ?1 AND ts_ms < min(?2, (SELECT min(ts_ms) FROM "
        "hist_points WHERE series_id = ?1) + ?3)",
        {id, raw_cut, kRawChunk});
    run("DELETE FROM rollups WHERE series_id = ?1 AND minute_ms < min(?2, (SELECT min(minute_ms) "
        "FROM rollups WHERE series_id = ?1) + ?3)",
        {id, roll_cut, kRollChunk});
    run("DELETE FROM hist_rollups WHERE series_id = ?1 AND minute_ms < min(?2, (SELECT "
        "min(minute_ms) FROM hist_rollups WHERE series_id = ?1) + ?3)",
        {id, roll_cut, kRollChunk});
  } else {
    // Samples per node and batches per agent instance (the newest batch of each instance stays:
    // it is the resume point), events by time.
    std::vector<std::string> nodes, instances;
    {
      Stmt st(db_, "SELECT name FROM nodes");
      while (st.s && sqlite3_step(st.s) == SQLITE_ROW)
        nodes.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0)));
      Stmt si(db_, "SELECT instance_id FROM ingest_cursors");
      while (si.s && sqlite3_step(si.s) == SQLITE_ROW)
        instances.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(si.s, 0)));
    }
    for (const auto& n : nodes)
      run("DELETE FROM samples WHERE node = ?1 AND recv_ms < min(?2, (SELECT min(recv_ms) FROM "
          "samples WHERE node = ?1) + ?3)",
          {n, sample_cut, kRawChunk});
    for (const auto& i : instances)
      run("DELETE FROM batches WHERE instance_id = ?1 AND recv_ms < ?2 AND seq < min((SELECT "
          "max(seq) FROM batches WHERE instance_id = ?1), (SELECT min(seq) FROM batches WHERE "
          "instance_id = ?1) + 5000)",
          {i, raw_cut});
    run("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts_ms < ?1 ORDER BY ts_ms "
        "LIMIT 5000)",
        {roll_cut});
    prune_misc_ = 0;
    res.wrapped = true;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    res.deleted = 0;
    return res;
  }
  rows_pruned_ += static_cast<uint64_t>(res.deleted);
  return res;
}

}  // namespace qw::aggregator
