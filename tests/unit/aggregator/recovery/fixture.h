#pragma once
// The recovery planner's unit tests' cluster: N plain etcd voters m1..mN on nodes n1..nN.
#include <string>

#include "qw/aggregator/recovery/planner.h"

namespace qw::test::recovery {

using namespace qw::aggregator;
using State = qw::api::ClusterView;

// A cluster of `n` voters m1..mN on nodes n1..nN, all healthy, plain etcd processes.
inline PlannerInput cluster(int n) {
  PlannerInput in;
  in.now_ms = 1'764'758'848'000;
  in.view.set_state(State::HEALTHY);
  in.view.set_voting_members(n);
  in.view.set_quorum_size(n / 2 + 1);
  in.view.set_healthy_members(n);
  in.view.set_failure_tolerance(n - (n / 2 + 1));
  for (int i = 1; i <= n; ++i) {
    auto* m = in.view.add_members();
    m->set_name("m" + std::to_string(i));
    m->set_node("n" + std::to_string(i));
    m->set_healthy(true);
    m->set_is_leader(i == 1);
    m->set_member_id("a" + std::to_string(i));
    in.peer_urls["m" + std::to_string(i)] = {"http://127.0.0.1:" + std::to_string(2380 + 10 * i)};
    PlannerNode pn;
    pn.name = "n" + std::to_string(i);
    pn.agent_connected = true;
    pn.flavor = "etcd";
    pn.etcd_endpoint = "http://127.0.0.1:" + std::to_string(2379 + 10 * i);
    qw::wire::EtcdConfig c;
    c.set_exe("/usr/bin/etcd");
    c.set_cwd("/var/lib");
    c.add_args("etcd");
    c.add_args("--name");
    c.add_args("m" + std::to_string(i));
    c.add_args("--data-dir=/var/lib/etcd-m" + std::to_string(i));
    c.add_args("--initial-cluster-state");
    c.add_args("new");
    c.add_env("ETCD_HEARTBEAT_INTERVAL=200");
    c.set_data_dir("/var/lib/etcd-m" + std::to_string(i));
    c.set_name("m" + std::to_string(i));
    pn.config = c;
    pn.etcd_version = "3.5.16";
    pn.etcd_reachable = true;
    pn.revision = 1000;
    pn.revision_wall_ms = in.now_ms - 2000;
    in.nodes.push_back(pn);
  }
  return in;
}

inline void down(PlannerInput& in, int i, bool node_down = false) {
  auto* m = in.view.mutable_members(i - 1);
  m->set_healthy(false);
  m->add_reasons("etcd unreachable: connection refused");
  in.view.set_healthy_members(in.view.healthy_members() - 1);
  in.view.set_failure_tolerance(in.view.healthy_members() - in.view.quorum_size());
  in.view.set_state(in.view.failure_tolerance() < 0 ? State::QUORUM_LOST : State::CRITICAL);
  in.nodes[static_cast<size_t>(i - 1)].etcd_reachable = false;
  if (node_down) in.nodes[static_cast<size_t>(i - 1)].agent_connected = false;
}

// The index of the first step whose command holds `part` (-1: none).
inline int stepWith(const qw::api::RecoveryPlan& p, const std::string& part, int from = 0) {
  for (int i = from; i < p.steps_size(); ++i)
    if (p.steps(i).command().find(part) != std::string::npos) return i;
  return -1;
}

inline bool anyStepHas(const qw::api::RecoveryPlan& p, const std::string& part) {
  for (const auto& s : p.steps())
    if (s.command().find(part) != std::string::npos) return true;
  return false;
}

}  // namespace qw::test::recovery
