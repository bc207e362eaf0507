#pragma once
// A plain ClusterInput for the view, what-if and risk engine tests: n voting members m1..mn (ids
// 1..n) on nodes n1..nn, then `learners` learners, all fresh and healthy, m1 leading, every
// applied index at 5000. No risk table: a test that wants the engine sets one.
#include <string>

#include "qw/aggregator/model/cluster_input.h"

inline qw::aggregator::ClusterInput plainCluster(int n, int learners = 0) {
  qw::aggregator::ClusterInput in;
  in.now_wall_ms = 1'700'000'000'000;
  for (int i = 1; i <= n + learners; ++i) {
    qw::aggregator::MemberInfo mi;
    mi.id = static_cast<uint64_t>(i);
    mi.name = "m" + std::to_string(i);
    mi.is_learner = i > n;
    in.members.push_back(mi);
    qw::aggregator::NodeInput ni;
    ni.name = "n" + std::to_string(i);
    ni.member_id = mi.id;
    ni.fresh = true;
    ni.silent_ms = 100;
    ni.last_seen_wall_ms = in.now_wall_ms;
    ni.etcd.set_reachable(true);
    ni.etcd.set_member_id(mi.id);
    ni.etcd.set_has_leader(true);
    ni.etcd.set_leader_id(1);
    ni.etcd.set_raft_index(5000);
    ni.etcd.set_raft_applied_index(5000);
    ni.etcd.set_alarms_ok(true);
    ni.signals.etcd_reachable = 1;
    in.nodes.push_back(ni);
  }
  return in;
}
