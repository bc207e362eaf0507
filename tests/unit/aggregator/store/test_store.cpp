#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "qw/aggregator/store/store.h"

using qw::aggregator::Store;

namespace {
struct TempDb {
  std::string path;
  TempDb() {
    char tmpl[] = "/tmp/qw-store-XXXXXX";
    path = std::string(mkdtemp(tmpl)) + "/agg.db";
  }
  ~TempDb() { std::filesystem::remove_all(std::filesystem::path(path).parent_path()); }
};
qw::wire::Batch batch(uint64_t seq, uint64_t member = 7) {
  qw::wire::Batch b;
  b.set_seq(seq);
  auto* s = b.add_samples();
  s->set_ts_unix_ms(static_cast<int64_t>(seq) * 1000);
  s->mutable_etcd()->set_reachable(true);
  s->mutable_etcd()->set_member_id(member);
  return b;
}
}  // namespace

TEST_CASE("schema is versioned and the file is 0640") {
  TempDb t;
  Store s({t.path});
  CHECK(s.schemaVersion() == Store::kSchemaVersion);
  CHECK((std::filesystem::status(t.path).permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);
  Store again({t.path});  // reopening does not migrate twice
  CHECK(again.schemaVersion() == Store::kSchemaVersion);
}

TEST_CASE("ingest is idempotent on (instance, seq) and the cursor resumes") {
  TempDb t;
  Store s({t.path});
  REQUIRE_FALSE(s.recordAgent("inst", "n1", "c", "v", "boot", "", 1));
  CHECK_FALSE(s.lastSeq("inst"));
  auto b1 = batch(1), b2 = batch(2), b2again = batch(2);
  std::vector<Store::Item> items{
      {"inst", "n1", &b1, 10}, {"inst", "n1", &b2, 10}, {"inst", "n1", &b2again, 11}};
  REQUIRE_FALSE(s.commit(items));
  CHECK(items[0].stored);
  CHECK(items[1].stored);
  CHECK_FALSE(items[2].stored);
  CHECK(s.lastSeq("inst") == uint64_t{2});
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(s.db(), "SELECT count(*) FROM samples", -1, &st, nullptr);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 2);
  sqlite3_finalize(st);
}

TEST_CASE("nodes, member ids and membership survive a restart") {
  TempDb t;
  {
    Store s({t.path});
    REQUIRE_FALSE(s.recordAgent("inst", "n1", "c", "v", "boot", "rack-a", 1));
    auto b = batch(1, 42);
    std::vector<Store::Item> items{{"inst", "n1", &b, 10}};
    REQUIRE_FALSE(s.commit(items));
    std::map<uint64_t, qw::aggregator::MemberInfo> m;
    m[42] = {42, "m1", false, {"http://127.0.0.1:2380"}, {"http://127.0.0.1:2379"}};
    m[43] = {43, "", true, {"http://127.0.0.1:2480"}, {}};
    REQUIRE_FALSE(s.saveMembers(m, 5));
  }
  Store s({t.path});
  qw::aggregator::Hub hub;
  REQUIRE_FALSE(s.load(&hub));
  const auto* n = hub.findNode("n1");
  REQUIRE(n);
  CHECK(n->member_id == 42);
  CHECK(n->failure_domain == "rack-a");
  CHECK(n->has_sample);
  CHECK(n->last_seen_steady_ms < 0);  // loaded data is never fresh
  REQUIRE(hub.members().size() == 2);
  CHECK(hub.members().at(43).is_learner);
  CHECK(hub.members().at(42).peer_urls == std::vector<std::string>{"http://127.0.0.1:2380"});
}

namespace {
// The text of the exception Store's constructor throws for `path`, "" when it opens.
std::string openError(const std::string& path) {
  try {
    Store s({path});
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

int tableCount(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", -1, &st,
                             nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}
}  // namespace

TEST_CASE("a file that is not an SQLite database is refused at start with a clear error") {
  TempDb t;
  {
    std::ofstream f(t.path, std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
  }
  std::string err = openError(t.path);
  INFO(err);
  CHECK(err.find(t.path) != std::string::npos);
  CHECK(err.find("not an SQLite database") != std::string::npos);
  CHECK(err.find("new --db") != std::string::npos);
}

TEST_CASE("somebody else's SQLite database is refused and left untouched") {
  TempDb t;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(t.path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "CREATE TABLE users(name TEXT); INSERT INTO users VALUES('bob');",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  std::string err = openError(t.path);
  INFO(err);
  CHECK(err.find("is not quorumwatch's") != std::string::npos);
  CHECK(err.find("users") != std::string::npos);
  CHECK(tableCount(t.path) == 1);  // no schema_version, none of our tables added
}

TEST_CASE("damaged rows are reported by load, never a crash") {
  TempDb t;
  {
    Store s({t.path});
    REQUIRE(sqlite3_exec(s.db(),
                         "INSERT INTO members(member_id, name, is_learner, peer_urls, "
                         "client_urls, updated_ms) VALUES('not-a-number', 'm1', 0, '', '', 0)",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  Store s({t.path});
  qw::aggregator::Hub hub;
  auto err = s.load(&hub);
  REQUIRE(err);
  CHECK(err->find("member id 'not-a-number'") != std::string::npos);
  CHECK(hub.members().empty());
}
