// The schema: migrations of an existing file, and every file that is not ours (or not whole)
// refused at start with a clear error, never a crash, and never changed.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "qw/aggregator/store/store.h"

using qw::aggregator::Hub;
using qw::aggregator::Store;

namespace {

struct TempDb {
  std::string path;
  TempDb() {
    char tmpl[] = "/tmp/qw-schema-XXXXXX";
    path = std::string(mkdtemp(tmpl)) + "/agg.db";
  }
  ~TempDb() { std::filesystem::remove_all(std::filesystem::path(path).parent_path()); }
};

// The error of opening `path` and loading it: the constructor's exception or load()'s message,
// "" when both succeed.
std::string startError(const std::string& path) {
  try {
    Store s({path});
    Hub hub;
    if (auto e = s.load(&hub)) return *e;
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void sqlite(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

int64_t value(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

std::string bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

}  // namespace

TEST_CASE("schema: random bytes behind an SQLite header are refused") {
  TempDb t;
  {
    std::ofstream f(t.path, std::ios::binary);
    f.write("SQLite format 3", 16);  // with its NUL
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>((i * 2654435761u) >> 13));
  }
  std::string before = bytes(t.path);
  std::string err = startError(t.path);
  INFO(err);
  CHECK(err.find(t.path) != std::string::npos);
  CHECK(err.find("new --db") != std::string::npos);
  CHECK(bytes(t.path) == before);
}

TEST_CASE("schema: another program's empty database (its application_id) is refused untouched") {
  TempDb t;
  sqlite(t.path, "PRAGMA application_id = 0x0f0f0f0f; CREATE TABLE x(a); DROP TABLE x;");
  std::string before = bytes(t.path);
  std::string err = startError(t.path);
  INFO(err);
  CHECK(err.find("is not quorumwatch's") != std::string::npos);
  CHECK(err.find("application_id is 0x0f0f0f0f") != std::string::npos);
  CHECK(bytes(t.path) == before);  // not even its journal mode changed
}

TEST_CASE("schema: another program's tables are refused untouched, schema_version or not") {
  TempDb t;
  SECTION("no schema_version") {
    sqlite(t.path, "CREATE TABLE users(name TEXT); INSERT INTO users VALUES('bob');");
    std::string before = bytes(t.path);
    std::string err = startError(t.path);
    INFO(err);
    CHECK(err.find("it has tables (users, ...)") != std::string::npos);
    CHECK(bytes(t.path) == before);
  }
  SECTION("a schema_version of its own") {
    sqlite(t.path, "CREATE TABLE schema_version(v TEXT); CREATE TABLE users(name TEXT);");
    std::string err = startError(t.path);
    INFO(err);
    CHECK(err.find("schema_version table is not ours") != std::string::npos);
    CHECK(value(t.path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 2);
  }
  SECTION("a schema_version like ours, without our tables") {
    sqlite(t.path,
           "CREATE TABLE schema_version(version INTEGER, applied_ms INTEGER); INSERT INTO "
           "schema_version VALUES(2, 0); CREATE TABLE users(name TEXT);");
    std::string err = startError(t.path);
    INFO(err);
    CHECK(err.find("says 2 but it has no table") != std::string::npos);
    CHECK(value(t.path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 2);
  }
}

TEST_CASE("schema: a schema version newer than this build is refused") {
  TempDb t;
  { Store s({t.path}); }
  sqlite(t.path, "INSERT INTO schema_version VALUES(99, 0)");
  std::string err = startError(t.path);
  INFO(err);
  CHECK(err.find("schema version 99 is newer than this aggregator understands (" +
                 std::to_string(Store::kSchemaVersion) + ")") != std::string::npos);
}

TEST_CASE("schema: a truncated file is refused, never a crash") {
  TempDb t;
  {
    Store::Options o{t.path};
    o.background_checkpoint = false;
    Store s(o);
    REQUIRE_FALSE(s.recordAgent("inst", "n1", "c", "v", "boot", "", 1));
    // Enough rows for several pages in several tables.
    std::vector<qw::aggregator::Event> ev;
    for (int i = 0; i < 2000; ++i)
      ev.push_back({i, "K", "n1", "INFO", std::string(100, static_cast<char>('a' + i % 26))});
    REQUIRE_FALSE(s.addEvents(ev));
    std::map<uint64_t, qw::aggregator::MemberInfo> m;
    for (uint64_t i = 1; i <= 300; ++i) m[i] = {i, "m" + std::to_string(i), false, {}, {}};
    REQUIRE_FALSE(s.saveMembers(m, 5));
    REQUIRE(sqlite3_exec(s.db(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) ==
            SQLITE_OK);
  }
  auto size = std::filesystem::file_size(t.path);
  REQUIRE(size > 16 * 4096);
  SECTION("to a third") { std::filesystem::resize_file(t.path, size / 3); }
  SECTION("to its header page") { std::filesystem::resize_file(t.path, 4096); }
  SECTION("inside the header") { std::filesystem::resize_file(t.path, 50); }
  std::string err = startError(t.path);
  INFO(err);
  CHECK(err.find(t.path) != std::string::npos);
  CHECK(err.find("new --db") != std::string::npos);
}

TEST_CASE("schema: a version 3 file migrates, its members kept as current") {
  TempDb t;
  {
    Store s({t.path});
    REQUIRE_FALSE(s.recordAgent("inst", "n1", "c", "v", "boot", "", 1));
  }
  // Back to version 3 as an older aggregator left it: members without history, no registry
  // tables of versions 5 and 6, no application_id.
  sqlite(t.path,
         "DROP TABLE cluster_ids; DROP TABLE member_applied; DROP TABLE node_flavors; ALTER TABLE "
         "members DROP COLUMN "
         "removed_ms; ALTER TABLE members DROP COLUMN last_seen_ms; ALTER TABLE members DROP "
         "COLUMN first_seen_ms; ALTER TABLE events DROP COLUMN code; ALTER TABLE events DROP "
         "COLUMN member; DELETE FROM schema_version WHERE version > 3; PRAGMA "
         "application_id = 0; INSERT INTO members VALUES('42', 'm1', 0, 'http://a:2380', '', 7);");
  Store s({t.path});
  CHECK(s.schemaVersion() == Store::kSchemaVersion);
  CHECK(value(t.path, "PRAGMA application_id") == 0x51574154);
  Hub hub;
  REQUIRE_FALSE(s.load(&hub));
  REQUIRE(hub.members().size() == 1);
  CHECK(hub.members().at(42).name == "m1");
  std::vector<Store::MemberRecord> h;
  REQUIRE_FALSE(s.memberHistory(&h));
  REQUIRE(h.size() == 1);
  CHECK(h[0].first_seen_ms == 7);
  CHECK(h[0].last_seen_ms == 7);
  CHECK_FALSE(h[0].removed_ms);
  std::map<uint64_t, Store::AppliedIndex> a;
  CHECK_FALSE(s.lastApplied(&a));
  CHECK(a.empty());
}
