#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "qw/aggregator/store.h"

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
  s.load(&hub);
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
