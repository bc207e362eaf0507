// The registry: member history across membership changes, each member's last applied index and
// each node's etcd flavor, kept across retention passes and reopening.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "qw/aggregator/store/store.h"

using qw::aggregator::Hub;
using qw::aggregator::MemberInfo;
using qw::aggregator::Store;

namespace {

struct TempDb {
  std::string path;
  TempDb() {
    char tmpl[] = "/tmp/qw-reg-XXXXXX";
    path = std::string(mkdtemp(tmpl)) + "/agg.db";
  }
  ~TempDb() { std::filesystem::remove_all(std::filesystem::path(path).parent_path()); }
};

MemberInfo member(uint64_t id, const std::string& name) {
  return {id, name, false, {"http://10.0.0." + std::to_string(id) + ":2380"}, {}};
}

// A batch of one sample per (member, applied index) at `ts`.
qw::wire::Batch batch(uint64_t seq, int64_t ts, uint64_t member, uint64_t applied) {
  qw::wire::Batch b;
  b.set_seq(seq);
  auto* s = b.add_samples();
  s->set_ts_unix_ms(ts);
  s->set_clock_synced(true);
  s->mutable_etcd()->set_reachable(true);
  s->mutable_etcd()->set_member_id(member);
  s->mutable_etcd()->set_raft_applied_index(applied);
  return b;
}

int64_t rows(Store& s, const char* sql) {
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(s.db(), sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

}  // namespace

TEST_CASE("registry: every member is kept, with when it was seen and when it left") {
  TempDb t;
  {
    Store s({t.path});
    REQUIRE_FALSE(s.saveMembers({{1, member(1, "a")}, {2, member(2, "b")}}, 1000));
    // b is replaced by c; a stays.
    REQUIRE_FALSE(s.saveMembers({{1, member(1, "a")}, {3, member(3, "c")}}, 2000));
    std::vector<Store::MemberRecord> h;
    REQUIRE_FALSE(s.memberHistory(&h));
    REQUIRE(h.size() == 3);
    std::map<uint64_t, Store::MemberRecord> by;
    for (auto& r : h) by[r.info.id] = r;
    CHECK(by[1].first_seen_ms == 1000);
    CHECK(by[1].last_seen_ms == 2000);
    CHECK_FALSE(by[1].removed_ms);
    CHECK(by[2].first_seen_ms == 1000);
    CHECK(by[2].last_seen_ms == 1000);
    CHECK(by[2].removed_ms == int64_t{2000});
    CHECK(by[2].info.name == "b");
    CHECK(by[3].first_seen_ms == 2000);
    CHECK_FALSE(by[3].removed_ms);
  }
  // Loading at start gets the current members only.
  Store s({t.path});
  Hub hub;
  REQUIRE_FALSE(s.load(&hub));
  REQUIRE(hub.members().size() == 2);
  CHECK(hub.members().count(1));
  CHECK(hub.members().count(3));
  // A member that comes back is current again; its first sighting stays.
  REQUIRE_FALSE(s.saveMembers({{2, member(2, "b")}}, 3000));
  std::vector<Store::MemberRecord> h;
  REQUIRE_FALSE(s.memberHistory(&h));
  REQUIRE(h.size() == 3);
  for (const auto& r : h) {
    if (r.info.id == 2) {
      CHECK(r.first_seen_ms == 1000);
      CHECK(r.last_seen_ms == 3000);
      CHECK_FALSE(r.removed_ms);
    } else {
      CHECK(r.removed_ms == int64_t{3000});
    }
  }
  Hub again;
  REQUIRE_FALSE(s.load(&again));
  REQUIRE(again.members().size() == 1);
  CHECK(again.members().count(2));
  // An empty list: everybody left, nobody is forgotten.
  REQUIRE_FALSE(s.saveMembers({}, 4000));
  CHECK(rows(s, "SELECT count(*) FROM members") == 3);
  CHECK(rows(s, "SELECT count(*) FROM members WHERE removed_ms IS NULL") == 0);
}

TEST_CASE("registry: the last applied index and the flavor survive retention and a reopen") {
  TempDb t;
  constexpr int64_t kT0 = 1'700'000'000'000;
  Store::Options o{t.path};
  o.raw_retention_ms = o.rollup_retention_ms = o.sample_retention_ms = 60'000;
  {
    Store s(o);
    REQUIRE_FALSE(s.recordAgent("i1", "n1", "c", "v", "boot", "", kT0));
    REQUIRE_FALSE(s.recordAgent("i2", "n2", "c", "v", "boot", "", kT0));
    REQUIRE_FALSE(s.recordFlavor("n1", "k3s", kT0));
    REQUIRE_FALSE(s.recordFlavor("n2", "", kT0));  // an agent that does not say: nothing stored
    auto b1 = batch(1, kT0, 11, 100), b2 = batch(1, kT0, 22, 90), b3 = batch(2, kT0 + 500, 11, 105);
    std::vector<Store::Item> items{{"i1", "n1", &b1, kT0}, {"i2", "n2", &b2, kT0}};
    REQUIRE_FALSE(s.commit(items));
    std::vector<Store::Item> more{{"i1", "n1", &b3, kT0 + 500}};
    REQUIRE_FALSE(s.commit(more));
    std::map<uint64_t, Store::AppliedIndex> a;
    REQUIRE_FALSE(s.lastApplied(&a));
    REQUIRE(a.size() == 2);
    CHECK(a[11].applied_index == 105);  // changed: written within the second
    CHECK(a[11].ts_ms == kT0 + 500);
    CHECK(a[11].node == "n1");
    CHECK(a[22].applied_index == 90);
    // Unchanged within a second: not rewritten; an older replayed sample never wins.
    auto b4 = batch(3, kT0 + 800, 11, 105), old = batch(3, kT0 - 5000, 22, 10);
    std::vector<Store::Item> same{{"i1", "n1", &b4, kT0 + 800}, {"i2", "n2", &old, kT0 + 800}};
    REQUIRE_FALSE(s.commit(same));
    REQUIRE_FALSE(s.lastApplied(&a));
    CHECK(a[11].ts_ms == kT0 + 500);
    CHECK(a[22].applied_index == 90);
    auto b5 = batch(4, kT0 + 1600, 11, 105);
    std::vector<Store::Item> later{{"i1", "n1", &b5, kT0 + 1600}};
    REQUIRE_FALSE(s.commit(later));
    REQUIRE_FALSE(s.lastApplied(&a));
    CHECK(a[11].ts_ms == kT0 + 1600);  // a second later: the time is refreshed
    // The flavor is written when it changes.
    REQUIRE_FALSE(s.recordFlavor("n1", "k3s", kT0 + 10));
    REQUIRE_FALSE(s.recordFlavor("n2", "kubeadm", kT0 + 10));
    // Retention a day later removes every sample, point and batch it may, not the registry.
    for (int i = 0; i < 200; ++i)
      if (s.pruneStep(kT0 + 86'400'000).wrapped) break;
    for (int i = 0; i < 200; ++i)
      if (s.pruneStep(kT0 + 86'400'000).wrapped) break;
    CHECK(rows(s, "SELECT count(*) FROM points") == 0);
    CHECK(rows(s, "SELECT count(*) FROM samples") == 0);
  }
  Store s(o);
  std::map<uint64_t, Store::AppliedIndex> a;
  REQUIRE_FALSE(s.lastApplied(&a));
  REQUIRE(a.size() == 2);
  CHECK(a[11].applied_index == 105);
  CHECK(a[11].ts_ms == kT0 + 1600);
  CHECK(a[22].applied_index == 90);
  CHECK(a[22].node == "n2");
  std::map<std::string, std::string> f;
  REQUIRE_FALSE(s.nodeFlavors(&f));
  CHECK(f == std::map<std::string, std::string>{{"n1", "k3s"}, {"n2", "kubeadm"}});
  CHECK(rows(s, "SELECT first_seen_ms FROM node_flavors WHERE node = 'n1'") == kT0);
  CHECK(rows(s, "SELECT updated_ms FROM node_flavors WHERE node = 'n1'") == kT0);
}

TEST_CASE("registry: a failed commit writes no applied index and forgets nothing it had") {
  TempDb t;
  constexpr int64_t kT0 = 1'700'000'000'000;
  Store s({t.path});
  REQUIRE_FALSE(s.recordAgent("i1", "n1", "c", "v", "boot", "", kT0));
  auto b1 = batch(1, kT0, 11, 100);
  std::vector<Store::Item> items{{"i1", "n1", &b1, kT0}};
  REQUIRE_FALSE(s.commit(items));
  // Make the next commit fail at its end (events cannot be inserted).
  REQUIRE(sqlite3_exec(s.db(),
                       "CREATE TRIGGER no_applied BEFORE UPDATE ON member_applied BEGIN SELECT "
                       "RAISE(ABORT, 'refused'); END",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  auto b2 = batch(2, kT0 + 2000, 11, 200);
  std::vector<Store::Item> fail{{"i1", "n1", &b2, kT0 + 2000}};
  auto err = s.commit(fail);
  REQUIRE(err);
  CHECK(err->find("refused") != std::string::npos);
  CHECK_FALSE(fail[0].stored);
  REQUIRE(sqlite3_exec(s.db(), "DROP TRIGGER no_applied", nullptr, nullptr, nullptr) == SQLITE_OK);
  // The resend writes it (the cache did not take the failed write for done).
  REQUIRE_FALSE(s.commit(fail));
  std::map<uint64_t, Store::AppliedIndex> a;
  REQUIRE_FALSE(s.lastApplied(&a));
  CHECK(a[11].applied_index == 200);
}
