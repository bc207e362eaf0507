// Which node is asked to take a snapshot (snapshots/scheduler.h): healthy voters with a snapshot
// dir, never k3s, followers first, then the most free disk; and why none can.
#include <catch2/catch.hpp>

#include "qw/aggregator/snapshots/scheduler.h"

using namespace qw::aggregator;

namespace {

struct Fixture {
  qw::api::ClusterView view;
  qw::api::SnapshotList list;
  std::map<std::string, NodeState> nodes;

  void add(const std::string& name, bool leader, double free_bytes,
           const std::string& flavor = "etcd", bool dirs = true) {
    auto& n = nodes[name];
    n.name = name;
    n.connected = true;
    n.etcd_flavor = flavor;
    n.has_sample = true;
    n.latest.mutable_disk()->set_fs_avail_bytes(static_cast<uint64_t>(free_bytes));
    auto* m = view.add_members();
    m->set_name("m-" + name);
    m->set_node(name);
    m->set_healthy(true);
    m->set_is_leader(leader);
    auto* sn = list.add_nodes();
    sn->set_node(name);
    if (dirs) sn->add_dirs("/var/backups/etcd");
  }
  qw::api::MemberView& member(const std::string& node) {
    for (auto& m : *view.mutable_members())
      if (m.node() == node) return m;
    throw std::runtime_error("no member " + node);
  }
};

}  // namespace

TEST_CASE("snapshot candidates: followers first, then the most free disk", "[snapshot-schedule]") {
  Fixture f;
  f.add("a", true, 9e9);
  f.add("b", false, 1e9);
  f.add("c", false, 5e9);
  std::string why;
  auto c = snapshotCandidates(f.view, f.list, f.nodes, &why);
  CHECK(c == std::vector<std::string>{"c", "b", "a"});
  CHECK(why.empty());
}

TEST_CASE("snapshot candidates leave out what cannot take one and say why", "[snapshot-schedule]") {
  Fixture f;
  f.add("k", false, 9e9, "k3s");
  f.add("nodir", false, 9e9, "etcd", false);
  f.add("sick", false, 9e9);
  f.member("sick").set_healthy(false);
  f.add("learner", false, 9e9);
  f.member("learner").set_is_learner(true);
  f.add("gone", false, 9e9);
  f.nodes["gone"].connected = false;
  std::string why;
  auto c = snapshotCandidates(f.view, f.list, f.nodes, &why);
  CHECK(c.empty());
  INFO(why);
  CHECK(why.find("k: k3s takes its own snapshots") != std::string::npos);
  CHECK(why.find("nodir: its agent has no --snapshot-dir") != std::string::npos);
  CHECK(why.find("sick: its member is not healthy") != std::string::npos);
  CHECK(why.find("learner: its member is a learner") != std::string::npos);
  CHECK(why.find("gone: its agent is not connected") != std::string::npos);

  // A catalogue the aggregator could not get, and no catalogue yet.
  Fixture g;
  g.add("x", false, 1e9);
  g.list.mutable_nodes(0)->set_error("no answer");
  g.nodes["y"].name = "y";
  g.nodes["y"].connected = true;
  auto none = snapshotCandidates(g.view, g.list, g.nodes, &why);
  CHECK(none.empty());
  CHECK(why.find("x: no catalogue: no answer") != std::string::npos);
  CHECK(why.find("y: no catalogue yet") != std::string::npos);

  // The leader alone still takes one (a one-member cluster).
  Fixture one;
  one.add("solo", true, 1e9);
  CHECK(snapshotCandidates(one.view, one.list, one.nodes, &why) ==
        std::vector<std::string>{"solo"});
  // An unknown free space sorts last among followers.
  Fixture u;
  u.add("p", false, 1e9);
  u.add("q", false, 2e9);
  u.nodes["q"].latest.clear_disk();
  CHECK(snapshotCandidates(u.view, u.list, u.nodes, &why) == std::vector<std::string>{"p", "q"});
}
