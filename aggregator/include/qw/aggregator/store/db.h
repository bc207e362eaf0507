#pragma once
// The one SQLite idiom of the store: Db owns a connection, Stmt a prepared statement, Tx a
// transaction. Every SQLite return code is checked; a failure throws sql::Error carrying
// sqlite3_errmsg and the statement's text, except Stmt::step(), which reports kError (the caller
// decides: a unique-constraint violation is an answer to the store, not a failure).
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace qw::aggregator::sql {

class Error : public std::runtime_error {
 public:
  Error(int extended_code, const std::string& what)
      : std::runtime_error(what), extended_(extended_code) {}
  int code() const { return extended_ & 0xff; }  // primary result code (SQLITE_FULL, ...)
  int extendedCode() const { return extended_; }

 private:
  int extended_;
};

// Bytes to bind as a BLOB (a std::string_view binds as TEXT).
struct Blob {
  const void* data;
  size_t size;
};

class Db {
 public:
  Db() = default;
  // Opens (flags: SQLITE_OPEN_*); throws Error naming the path.
  Db(const std::string& path, int flags);
  ~Db();
  Db(Db&& o) noexcept;
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  explicit operator bool() const { return db_ != nullptr; }

  // Runs one or more statements without results; throws Error naming the SQL.
  void exec(std::string_view sql);
  void busyTimeout(int ms);
  int64_t changes() const { return sqlite3_changes64(db_); }
  int64_t lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  std::string errmsg() const { return db_ ? sqlite3_errmsg(db_) : "no connection"; }
  int extendedErrcode() const { return db_ ? sqlite3_extended_errcode(db_) : SQLITE_MISUSE; }
  // Closes now (statements must be finalized first); throws Error when SQLite refuses.
  void close();

  // The text of an Error for `rc` on this connection: "<errmsg> (in: <sql>)".
  std::string describe(int rc, std::string_view sql) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

class Stmt {
 public:
  enum class Step { kRow, kDone, kError };

  Stmt() = default;
  // Prepares `sql` (one statement; trailing text is refused); throws Error naming the SQL.
  // persistent: kept for the connection's lifetime (SQLITE_PREPARE_PERSISTENT).
  Stmt(const Db& db, std::string_view sql, bool persistent = false);
  ~Stmt();
  Stmt(Stmt&& o) noexcept;
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  explicit operator bool() const { return s_ != nullptr; }
  const std::string& sql() const { return sql_; }

  // Binding (1-based index) after a step resets the statement first (reset on reuse).
  // Throws Error (index out of range, too big, no memory).
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, uint64_t v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);  // TEXT, copied
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, Blob v);  // copied
  Stmt& bind(int i, std::nullptr_t);
  template <typename T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, nullptr);
  }

  // One step. kError: error() tells what; the statement is reset at its next use.
  Step step();
  // step() that throws Error unless a row (true) or the end (false) comes.
  bool next();
  // Runs to completion (a statement without rows); throws Error otherwise. Returns changes().
  int64_t run();

  // Columns of the current row (0-based). text: "" for NULL (a damaged row must not crash).
  bool isNull(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  int64_t int64(int i) const { return sqlite3_column_int64(s_, i); }
  double real(int i) const { return sqlite3_column_double(s_, i); }
  std::string text(int i) const;
  std::string_view blob(int i) const;

  // The last step's failure.
  int errorCode() const { return err_ & 0xff; }
  int extendedErrorCode() const { return err_; }
  const std::string& errorMessage() const { return err_msg_; }
  Error error() const { return Error(err_, err_msg_); }

  // Back to the start, bindings cleared (also done by the next bind or step after a step).
  void reset();

 private:
  void beforeBind();
  [[noreturn]] void fail(int rc, const char* what);

  sqlite3_stmt* s_ = nullptr;
  std::string sql_;
  bool stepped_ = false;  // stepped since the last reset
  bool ended_ = false;    // the last step returned done or an error
  int err_ = SQLITE_OK;
  std::string err_msg_;
};

// BEGIN IMMEDIATE now; ROLLBACK on destruction unless commit() succeeded.
class Tx {
 public:
  explicit Tx(Db& db);  // throws Error (busy after the busy timeout, ...)
  ~Tx();
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  void commit();    // throws Error; the transaction is rolled back then
  void rollback();  // explicit; never throws
  bool active() const { return active_; }

 private:
  Db& db_;
  bool active_ = false;
};

}  // namespace qw::aggregator::sql
