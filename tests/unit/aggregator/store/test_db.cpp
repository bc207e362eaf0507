// The statement/transaction wrapper: every error path says what failed and where.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "qw/aggregator/store/db.h"

using qw::aggregator::sql::Blob;
using qw::aggregator::sql::Db;
using qw::aggregator::sql::Error;
using qw::aggregator::sql::Stmt;
using qw::aggregator::sql::Tx;

namespace {

struct TempDir {
  std::string dir;
  TempDir() {
    char tmpl[] = "/tmp/qw-db-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(dir); }
  std::string file(const char* name) const { return dir + "/" + name; }
};

constexpr int kRw = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

int64_t count(Db& db, const char* table) {
  Stmt s(db, std::string("SELECT count(*) FROM ") + table);
  REQUIRE(s.next());
  return s.int64(0);
}

}  // namespace

TEST_CASE("db: binds and reads every type, and resets on reuse") {
  TempDir t;
  Db db(t.file("a.db"), kRw);
  db.exec("CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, n)");
  Stmt ins(db, "INSERT INTO t VALUES(?,?,?,?,?)", true);
  const char bytes[] = {'\0', 'x', '\xff'};
  std::optional<int64_t> none, some = 5;
  ins.bind(1, int64_t{1} << 40)
      .bind(2, 2.5)
      .bind(3, std::string("text"))
      .bind(4, Blob{bytes, 3})
      .bind(5, none);
  CHECK(ins.run() == 1);
  // Reuse: binding after a step resets the statement (and its bindings) first.
  ins.bind(1, 2).bind(2, -1.0).bind(3, "").bind(4, Blob{nullptr, 0}).bind(5, some);
  CHECK(ins.run() == 1);
  Stmt sel(db, "SELECT i, r, s, b, n FROM t ORDER BY i DESC");
  REQUIRE(sel.next());
  CHECK(sel.int64(0) == int64_t{1} << 40);
  CHECK(sel.real(1) == 2.5);
  CHECK(sel.text(2) == "text");
  CHECK(sel.blob(3) == std::string_view(bytes, 3));
  CHECK(sel.isNull(4));
  REQUIRE(sel.next());
  CHECK(sel.int64(0) == 2);
  CHECK(sel.text(2).empty());
  CHECK_FALSE(sel.isNull(3));  // an empty blob is not NULL
  CHECK(sel.blob(3).empty());
  CHECK(sel.int64(4) == 5);
  CHECK_FALSE(sel.next());
  // Stepping again after the end runs the query again.
  CHECK(sel.next());
  sel.reset();
  CHECK(sel.next());
}

TEST_CASE("db: bad SQL names the statement and SQLite's message") {
  TempDir t;
  Db db(t.file("a.db"), kRw);
  try {
    Stmt s(db, "SELEC nothing FROM nowhere");
    FAIL("prepared");
  } catch (const Error& e) {
    CHECK(e.code() == SQLITE_ERROR);
    CHECK(std::string(e.what()).find("syntax error") != std::string::npos);
    CHECK(std::string(e.what()).find("SELEC nothing FROM nowhere") != std::string::npos);
  }
  try {
    Stmt s(db, "SELECT * FROM missing_table");
    FAIL("prepared");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("no such table: missing_table") != std::string::npos);
  }
  try {
    db.exec("CREATE TABLE x(a); CREATE TABLE x(a)");
    FAIL("executed");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("already exists") != std::string::npos);
    CHECK(std::string(e.what()).find("CREATE TABLE x(a)") != std::string::npos);
  }
  // Two statements in one Stmt are refused (the second would be silently ignored).
  CHECK_THROWS_AS(Stmt(db, "SELECT 1; SELECT 2"), Error);
  CHECK_NOTHROW(Stmt(db, "SELECT 1;"));
  // A bind index out of range.
  Stmt one(db, "SELECT ?");
  try {
    one.bind(2, 1);
    FAIL("bound");
  } catch (const Error& e) {
    CHECK(e.code() == SQLITE_RANGE);
    CHECK(std::string(e.what()).find("SELECT ?") != std::string::npos);
  }
}

TEST_CASE("db: a constraint violation is a step error the caller can tell apart") {
  TempDir t;
  Db db(t.file("a.db"), kRw);
  db.exec("CREATE TABLE u(k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)");
  Stmt ins(db, "INSERT INTO u(v) VALUES(?)");
  CHECK(ins.bind(1, "a").step() == Stmt::Step::kDone);
  CHECK(ins.bind(1, "a").step() == Stmt::Step::kError);
  CHECK(ins.errorCode() == SQLITE_CONSTRAINT);
  CHECK(ins.extendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE);
  CHECK(ins.errorMessage().find("UNIQUE constraint failed: u.v") != std::string::npos);
  CHECK(ins.errorMessage().find("INSERT INTO u(v)") != std::string::npos);
  // run() throws the same; the statement stays usable.
  try {
    ins.bind(1, "a").run();
    FAIL("inserted");
  } catch (const Error& e) {
    CHECK(e.extendedCode() == SQLITE_CONSTRAINT_UNIQUE);
  }
  CHECK_THROWS_AS(ins.bind(1, nullptr).run(), Error);  // NOT NULL
  CHECK(ins.bind(1, "b").run() == 1);
  CHECK(count(db, "u") == 2);
}

TEST_CASE("db: a transaction rolls back on destruction unless committed") {
  TempDir t;
  Db db(t.file("a.db"), kRw);
  db.exec("CREATE TABLE t(a)");
  {
    Tx tx(db);
    db.exec("INSERT INTO t VALUES(1)");
    CHECK(tx.active());
  }  // no commit
  CHECK(count(db, "t") == 0);
  try {
    Tx tx(db);
    db.exec("INSERT INTO t VALUES(2)");
    throw std::runtime_error("something failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(count(db, "t") == 0);
  CHECK(sqlite3_get_autocommit(db.handle()));  // nothing left open
  {
    Tx tx(db);
    db.exec("INSERT INTO t VALUES(3)");
    tx.commit();
    CHECK_FALSE(tx.active());
    CHECK_THROWS_AS(tx.commit(), Error);  // once
  }
  CHECK(count(db, "t") == 1);
  // A nested BEGIN is an error naming the statement, and the outer transaction survives.
  Tx outer(db);
  try {
    Tx inner(db);
    FAIL("nested");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("BEGIN IMMEDIATE") != std::string::npos);
  }
  CHECK(outer.active());
  CHECK_FALSE(sqlite3_get_autocommit(db.handle()));
}

TEST_CASE("db: a busy database is an error after the busy timeout, not a hang") {
  TempDir t;
  Db a(t.file("a.db"), kRw), b(t.file("a.db"), kRw);
  a.exec("PRAGMA journal_mode=WAL");
  a.exec("CREATE TABLE t(x)");
  b.busyTimeout(50);
  Tx hold(a);
  a.exec("INSERT INTO t VALUES(1)");
  try {
    Tx other(b);
    FAIL("began");
  } catch (const Error& e) {
    CHECK(e.code() == SQLITE_BUSY);
    CHECK(std::string(e.what()).find("locked") != std::string::npos);
  }
  // Readers still read (WAL) what was committed before.
  CHECK(count(b, "t") == 0);
  hold.commit();
  Tx other(b);
  other.commit();
  CHECK(count(b, "t") == 1);
}

TEST_CASE("db: opening a path that cannot be opened names it") {
  TempDir t;
  try {
    Db db(t.file("no/such/dir/x.db"), kRw);
    FAIL("opened");
  } catch (const Error& e) {
    CHECK(e.code() == SQLITE_CANTOPEN);
    CHECK(std::string(e.what()).find("no/such/dir/x.db") != std::string::npos);
  }
}

TEST_CASE("db: a file of random bytes fails at its first statement with SQLITE_NOTADB") {
  TempDir t;
  {
    FILE* f = fopen(t.file("r.db").c_str(), "wb");
    REQUIRE(f);
    for (int i = 0; i < 4096; ++i) fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
  }
  Db db(t.file("r.db"), kRw);  // SQLite reads nothing at open
  try {
    Stmt s(db, "SELECT count(*) FROM sqlite_master");
    s.next();
    FAIL("read");
  } catch (const Error& e) {
    CHECK(e.code() == SQLITE_NOTADB);
  }
}
