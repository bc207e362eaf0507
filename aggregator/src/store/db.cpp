#include "qw/aggregator/store/db.h"

#include <utility>

#include "qw/log.h"

namespace qw::aggregator::sql {

namespace {

std::string quoted(std::string_view sql) {
  // Statements can be long (migrations): the start names them well enough.
  constexpr size_t kMax = 160;
  std::string s(sql.substr(0, kMax));
  for (auto& c : s)
    if (c == '\n') c = ' ';
  if (sql.size() > kMax) s += "...";
  return s;
}

}  // namespace

Db::Db(const std::string& path, int flags) : path_(path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    int ext = db_ ? sqlite3_extended_errcode(db_) : rc;
    sqlite3_close(db_);  // a failed open still allocates a handle; closing it cannot fail
    db_ = nullptr;
    throw Error(ext, "cannot open database '" + path + "': " + msg);
  }
  // Extended codes in errors (SQLITE_CONSTRAINT_UNIQUE, SQLITE_IOERR_SHORT_READ, ...).
  rc = sqlite3_extended_result_codes(db_, 1);
  if (rc != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(rc, "database '" + path + "': " + sqlite3_errstr(rc));
  }
}

Db::~Db() {
  if (!db_) return;
  // Statements are finalized by their owners first; a refusal here is a bug worth a log line.
  if (int rc = sqlite3_close(db_); rc != SQLITE_OK) {
    qw::logger("store")->error("closing database '{}': {}", path_, sqlite3_errmsg(db_));
    sqlite3_close_v2(db_);  // closes once the last statement is finalized
  }
}

Db::Db(Db&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)) {}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    Db old(std::move(*this));
    db_ = std::exchange(o.db_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}

void Db::close() {
  if (!db_) return;
  if (int rc = sqlite3_close(db_); rc != SQLITE_OK)
    throw Error(rc, "closing database '" + path_ + "': " + sqlite3_errmsg(db_));
  db_ = nullptr;
}

std::string Db::describe(int rc, std::string_view sql) const {
  std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  // sqlite3_errmsg tells the connection's last error; a code of another call gets its own text.
  if (db_ && (sqlite3_extended_errcode(db_) & 0xff) != (rc & 0xff)) msg = sqlite3_errstr(rc);
  return msg + " (in: " + quoted(sql) + ")";
}

void Db::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    int ext = sqlite3_extended_errcode(db_);
    if ((ext & 0xff) != (rc & 0xff)) ext = rc;
    throw Error(ext, msg + " (in: " + quoted(sql) + ")");
  }
}

void Db::busyTimeout(int ms) {
  if (int rc = sqlite3_busy_timeout(db_, ms); rc != SQLITE_OK)
    throw Error(rc, "busy timeout: " + std::string(sqlite3_errstr(rc)));
}

Stmt::Stmt(const Db& db, std::string_view sql, bool persistent) : sql_(sql) {
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db.handle(), sql_.c_str(), static_cast<int>(sql_.size() + 1),
                              persistent ? SQLITE_PREPARE_PERSISTENT : 0, &s_, &tail);
  if (rc != SQLITE_OK) {
    std::string msg = db.describe(rc, sql_);
    int ext = sqlite3_extended_errcode(db.handle());
    sqlite3_finalize(s_);  // NULL on failure; finalizing NULL is a no-op
    s_ = nullptr;
    throw Error((ext & 0xff) == (rc & 0xff) ? ext : rc, msg);
  }
  if (!s_) throw Error(SQLITE_MISUSE, "empty statement (in: " + quoted(sql_) + ")");
  for (; tail && *tail; ++tail)
    if (*tail != ' ' && *tail != '\n' && *tail != '\t' && *tail != ';') {
      sqlite3_finalize(s_);
      s_ = nullptr;
      throw Error(SQLITE_MISUSE, "more than one statement (in: " + quoted(sql_) + ")");
    }
}

Stmt::~Stmt() {
  // sqlite3_finalize repeats the last step's error, which step() already reported.
  if (s_) (void)sqlite3_finalize(s_);
}

Stmt::Stmt(Stmt&& o) noexcept
    : s_(std::exchange(o.s_, nullptr)),
      sql_(std::move(o.sql_)),
      stepped_(o.stepped_),
      ended_(o.ended_),
      err_(o.err_),
      err_msg_(std::move(o.err_msg_)) {}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) (void)sqlite3_finalize(s_);
    s_ = std::exchange(o.s_, nullptr);
    sql_ = std::move(o.sql_);
    stepped_ = o.stepped_;
    ended_ = o.ended_;
    err_ = o.err_;
    err_msg_ = std::move(o.err_msg_);
  }
  return *this;
}

void Stmt::fail(int rc, const char* what) {
  sqlite3* db = sqlite3_db_handle(s_);
  std::string msg = std::string(what) + ": " + sqlite3_errstr(rc);
  if ((sqlite3_extended_errcode(db) & 0xff) == (rc & 0xff))
    msg = what + (": " + std::string(sqlite3_errmsg(db)));
  throw Error(rc, msg + " (in: " + quoted(sql_) + ")");
}

void Stmt::reset() {
  // sqlite3_reset repeats the last step's error (already reported by step());
  // sqlite3_clear_bindings always succeeds.
  (void)sqlite3_reset(s_);
  (void)sqlite3_clear_bindings(s_);
  stepped_ = ended_ = false;
}

void Stmt::beforeBind() {
  if (stepped_) reset();
}

Stmt& Stmt::bind(int i, int64_t v) {
  beforeBind();
  if (int rc = sqlite3_bind_int64(s_, i, v); rc != SQLITE_OK) fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int i, double v) {
  beforeBind();
  if (int rc = sqlite3_bind_double(s_, i, v); rc != SQLITE_OK) fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
  beforeBind();
  if (int rc = sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      rc != SQLITE_OK)
    fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int i, Blob v) {
  beforeBind();
  // A zero-length blob is a blob, not NULL (sqlite3_bind_blob64 binds NULL for a null pointer).
  static const char kEmpty = 0;
  if (int rc = sqlite3_bind_blob64(s_, i, v.size ? v.data : &kEmpty, v.size, SQLITE_TRANSIENT);
      rc != SQLITE_OK)
    fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int i, std::nullptr_t) {
  beforeBind();
  if (int rc = sqlite3_bind_null(s_, i); rc != SQLITE_OK) fail(rc, "bind");
  return *this;
}

Stmt::Step Stmt::step() {
  if (ended_) {
    // Reuse after the end: run again with the same bindings.
    (void)sqlite3_reset(s_);
    ended_ = false;
  }
  stepped_ = true;
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return Step::kRow;
  ended_ = true;
  if (rc == SQLITE_DONE) return Step::kDone;
  sqlite3* db = sqlite3_db_handle(s_);
  err_ = sqlite3_extended_errcode(db);
  if ((err_ & 0xff) != (rc & 0xff)) err_ = rc;
  err_msg_ = std::string(sqlite3_errmsg(db)) + " (in: " + quoted(sql_) + ")";
  return Step::kError;
}

bool Stmt::next() {
  switch (step()) {
    case Step::kRow:
      return true;
    case Step::kDone:
      return false;
    case Step::kError:
      break;
  }
  throw error();
}

int64_t Stmt::run() {
  Step r;
  while ((r = step()) == Step::kRow) {
  }
  if (r == Step::kError) throw error();
  return sqlite3_changes64(sqlite3_db_handle(s_));
}

std::string Stmt::text(int i) const {
  const unsigned char* t = sqlite3_column_text(s_, i);
  if (!t) return {};
  return std::string(reinterpret_cast<const char*>(t),
                     static_cast<size_t>(sqlite3_column_bytes(s_, i)));
}

std::string_view Stmt::blob(int i) const {
  const void* b = sqlite3_column_blob(s_, i);
  if (!b) return {};
  return {static_cast<const char*>(b), static_cast<size_t>(sqlite3_column_bytes(s_, i))};
}

Tx::Tx(Db& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
  active_ = true;
}

Tx::~Tx() { rollback(); }

void Tx::commit() {
  if (!active_) throw Error(SQLITE_MISUSE, "commit without a transaction");
  try {
    db_.exec("COMMIT");
  } catch (...) {
    rollback();
    throw;
  }
  active_ = false;
}

void Tx::rollback() {
  if (!active_) return;
  active_ = false;
  // SQLite may have rolled back already (SQLITE_FULL, SQLITE_IOERR): nothing left to undo.
  if (sqlite3_get_autocommit(db_.handle())) return;
  char* err = nullptr;
  if (int rc = sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, &err); rc != SQLITE_OK) {
    qw::logger("store")->error("rollback on '{}': {}", db_.path(), err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
  }
}

}  // namespace qw::aggregator::sql
