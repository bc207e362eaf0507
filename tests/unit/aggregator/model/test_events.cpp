// Change events (model/events.h): membership, version, configuration and defragmentation, and
// which of them are mixed changes (made during an incident and not part of its recovery).
#include <catch2/catch.hpp>

#include "qw/aggregator/model/events.h"

using namespace qw::aggregator;

namespace {

// A sample of node nI whose etcd (member I) is the leader when `leader`, with members `ids`.
qw::wire::NodeSample sample(int i, const std::vector<int>& ids, bool leader = false,
                            const std::vector<int>& learners = {}) {
  qw::wire::NodeSample s;
  auto* e = s.mutable_etcd();
  e->set_reachable(true);
  e->set_health(true);
  e->set_member_id(static_cast<uint64_t>(i));
  e->set_cluster_id(99);
  e->set_has_leader(true);
  e->set_is_leader(leader);
  e->set_leader_id(1);
  e->set_raft_term(2);
  e->set_version("3.5.16");
  e->set_members_ok(true);
  e->set_alarms_ok(true);
  for (int id : ids) {
    auto* m = e->add_members();
    m->set_id(static_cast<uint64_t>(id));
    bool learner = std::find(learners.begin(), learners.end(), id) != learners.end();
    m->set_is_learner(learner);
    if (!learner) m->set_name("m" + std::to_string(id));
    m->add_peer_urls("http://127.0.0.1:" + std::to_string(2380 + 10 * id));
  }
  s.mutable_host()->set_etcd_start_unix_ms(1000 + i);
  return s;
}

qw::wire::NodeSample unreachable() {
  qw::wire::NodeSample s;
  s.mutable_etcd()->set_reachable(false);
  s.mutable_etcd()->set_error("connection refused");
  return s;
}

std::vector<Event> only(const std::vector<Event>& all, const std::string& kind) {
  std::vector<Event> out;
  for (const auto& e : all)
    if (e.kind == kind) out.push_back(e);
  return out;
}

}  // namespace

TEST_CASE("events: membership changes, and the replacement of a down member is no mixed change",
          "[events]") {
  EventDeriver d;
  std::vector<Event> out;
  for (int i = 1; i <= 3; ++i)
    d.onSample("n" + std::to_string(i), sample(i, {1, 2, 3}, i == 1), 0, &out);
  CHECK(out.empty());
  // A healthy cluster gains a member: INFO.
  d.onSample("n1", sample(1, {1, 2, 3, 4}, true, {4}), 1, &out);
  auto added = only(out, "MEMBER_ADDED");
  REQUIRE(added.size() == 1);
  CHECK(added[0].severity == "INFO");
  CHECK(added[0].message.find("added as a learner") != std::string::npos);
  d.onSample("n1", sample(1, {1, 2, 3}, true), 2, &out);  // and loses it again
  out.clear();

  // n3's etcd goes down; its member is removed, added back (unnamed, by its peer URL),
  // promoted, and its command line changes: all of it is n3's recovery.
  d.onSample("n3", unreachable(), 3, &out);
  d.onSample("n1", sample(1, {1, 2}, true), 4, &out);
  auto learner = sample(1, {1, 2, 7}, true, {7});
  learner.mutable_etcd()->mutable_members(2)->set_peer_urls(0, "http://127.0.0.1:2410");
  d.onSample("n1", learner, 5, &out);
  auto joined = sample(1, {1, 2, 7}, true);
  joined.mutable_etcd()->mutable_members(2)->set_peer_urls(0, "http://127.0.0.1:2410");
  joined.mutable_etcd()->mutable_members(2)->set_name("m3");
  d.onSample("n1", joined, 6, &out);
  REQUIRE(only(out, "MEMBER_REMOVED").size() == 1);
  REQUIRE(only(out, "MEMBER_ADDED").size() == 1);
  REQUIRE(only(out, "MEMBER_PROMOTED").size() == 1);
  for (const auto& e : out) {
    INFO(e.kind << ": " << e.message);
    if (e.kind != "MEMBER_UNREACHABLE") CHECK(e.severity == "INFO");
  }
  out.clear();

  // Meanwhile n2 is removed too (it is up): that is another change, mixed with the recovery.
  d.onSample("n2", sample(2, {1, 2, 7}), 7, &out);
  d.onSample("n1", sample(1, {1, 7}, true), 8, &out);
  auto removed = only(out, "MEMBER_REMOVED");
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].severity == "WARNING");
  CHECK(removed[0].message.find("while etcd on n3 is down: a change mixed with a recovery") !=
        std::string::npos);

  // A new cluster id (a restore) is a new baseline, not a change.
  out.clear();
  auto restored = sample(1, {11, 12, 13}, true);
  restored.mutable_etcd()->set_cluster_id(100);
  d.onSample("n1", restored, 9, &out);
  CHECK(only(out, "MEMBER_ADDED").empty());
  CHECK(only(out, "MEMBER_REMOVED").empty());
}

TEST_CASE("events: version, configuration and defragmentation changes during an incident",
          "[events]") {
  EventDeriver d;
  std::vector<Event> out;
  auto withConfig = [](qw::wire::NodeSample s, const std::string& flag) {
    s.mutable_etcd_config()->add_args("etcd");
    s.mutable_etcd_config()->add_args(flag);
    return s;
  };
  auto withDb = [](qw::wire::NodeSample s, int64_t mib) {
    s.mutable_etcd()->set_db_size_bytes(mib << 20);
    return s;
  };
  d.onSample("n1", withDb(withConfig(sample(1, {1, 2, 3}, true), "--snapshot-count=10000"), 20), 0,
             &out);
  d.onSample("n3", withConfig(sample(3, {1, 2, 3}), "--name=m3"), 0, &out);
  // Healthy: a defragmentation and a flag change are INFO.
  d.onSample("n1", withDb(withConfig(sample(1, {1, 2, 3}, true), "--snapshot-count=5000"), 5), 1,
             &out);
  REQUIRE(only(out, "DEFRAGMENTED").size() == 1);
  CHECK(only(out, "DEFRAGMENTED")[0].severity == "INFO");
  CHECK(only(out, "DEFRAGMENTED")[0].message.find("from 20 MiB to 5 MiB") != std::string::npos);
  REQUIRE(only(out, "ETCD_CONFIG_CHANGED").size() == 1);
  CHECK(only(out, "ETCD_CONFIG_CHANGED")[0].severity == "INFO");
  out.clear();

  // n3 down: n1's upgrade, flag change and defragmentation are mixed changes.
  d.onSample("n3", unreachable(), 2, &out);
  auto up = withDb(withConfig(sample(1, {1, 2, 3}, true), "--snapshot-count=100"), 30);
  d.onSample("n1", up, 3, &out);
  up = withDb(withConfig(sample(1, {1, 2, 3}, true), "--snapshot-count=100"), 4);
  up.mutable_etcd()->set_version("3.5.17");
  d.onSample("n1", up, 4, &out);
  for (const char* kind : {"ETCD_VERSION_CHANGED", "ETCD_CONFIG_CHANGED", "DEFRAGMENTED"}) {
    INFO(kind);
    auto ev = only(out, kind);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].severity == "WARNING");
    CHECK(ev[0].node == "n1");
  }
  CHECK(only(out, "ETCD_VERSION_CHANGED")[0].message.find("from 3.5.16 to 3.5.17") !=
        std::string::npos);
  out.clear();

  // n3's own new command line is its recovery, unless it forces a new cluster.
  d.onSample("n3", withConfig(sample(3, {1, 2, 3}), "--name=m3b"), 5, &out);
  REQUIRE(only(out, "ETCD_CONFIG_CHANGED").size() == 1);
  CHECK(only(out, "ETCD_CONFIG_CHANGED")[0].severity == "INFO");
  out.clear();
  d.onSample("n3", unreachable(), 6, &out);
  d.onSample("n3", withConfig(sample(3, {1, 2, 3}), "--force-new-cluster"), 7, &out);
  REQUIRE(only(out, "ETCD_CONFIG_CHANGED").size() == 1);
  CHECK(only(out, "ETCD_CONFIG_CHANGED")[0].severity == "WARNING");
  CHECK(only(out, "ETCD_CONFIG_CHANGED")[0].message.find("--force-new-cluster") !=
        std::string::npos);

  // A defragmentation during NOSPACE is that alarm's fix.
  out.clear();
  auto full = withDb(sample(2, {1, 2, 3}, true), 16);
  full.mutable_etcd()->set_leader_id(2);
  auto* a = full.mutable_etcd()->add_alarms();
  a->set_alarm("NOSPACE");
  a->set_member_id(2);
  d.onSample("n2", full, 8, &out);
  auto freed = withDb(sample(2, {1, 2, 3}, true), 2);
  *freed.mutable_etcd()->add_alarms() = *a;
  d.onSample("n2", freed, 9, &out);
  REQUIRE(only(out, "DEFRAGMENTED").size() == 1);
  CHECK(only(out, "DEFRAGMENTED")[0].severity == "INFO");
}
