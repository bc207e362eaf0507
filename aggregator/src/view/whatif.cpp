#include "qw/aggregator/view/whatif.h"

#include <algorithm>
#include <map>
#include <set>

#include "qw/aggregator/view/cluster_view.h"
#include "qw/fs_util.h"
#include "qw/time_util.h"

namespace qw::aggregator {

qw::api::WhatIf whatIf(const ClusterInput& in, const std::vector<std::string>& down_nodes) {
  using W = qw::api::WhatIf;
  W out;
  const std::set<std::string> down(down_nodes.begin(), down_nodes.end());
  for (const auto& d : down) out.add_down(d);
  const auto now = computeClusterView(in);
  out.set_failure_tolerance_now(now.failure_tolerance());

  // A node in planned maintenance is counted as down whether or not it has stopped yet: the
  // operator said it will be.
  std::set<std::string> planned;
  std::vector<std::string> advice;
  for (const auto& w : in.maintenance)
    if (!down.count(w.node)) {
      planned.insert(w.node);
      advice.push_back(w.node + " is in planned maintenance until " + rfc3339(w.until_wall_ms) +
                       ": counted as down");
    }
  ClusterInput after_in = in;
  for (auto& n : after_in.nodes)
    if (down.count(n.name) || planned.count(n.name)) {
      n.etcd.set_reachable(false);
      n.etcd.set_error("stopped (what-if)");
    }
  const auto after = computeClusterView(after_in);
  out.set_failure_tolerance_after(after.failure_tolerance());
  out.set_state_after(after.state());
  if (after.has_quorum_loss_probability())
    out.set_quorum_loss_probability_after(after.quorum_loss_probability());

  std::vector<std::string> unknown, unsafe;
  std::map<std::string, const NodeInput*> nodes;
  for (const auto& n : in.nodes) nodes[n.name] = &n;
  for (const auto& d : down) {
    auto it = nodes.find(d);
    if (it == nodes.end() || !it->second->fresh)
      unknown.push_back("no fresh data from " + d + ": its agent is silent");
  }
  if (now.state() == qw::api::ClusterView::UNKNOWN)
    for (const auto& r : now.reasons()) unknown.push_back("the cluster view cannot tell: " + r);

  // The members of the nodes to stop, and the others.
  uint64_t leader_applied = 0;
  for (const auto& m : now.members())
    if (m.is_leader() && m.has_raft_applied_index())
      leader_applied = static_cast<uint64_t>(m.raft_applied_index());
  bool stops_voter = false;
  std::string leader_follower;  // a healthy follower that is not stopped (for move-leader)
  for (const auto& m : now.members()) {
    bool stopped = down.count(m.node()) > 0;
    if (stopped) {
      stops_voter |= !m.is_learner();
      if (m.is_learner())
        advice.push_back(m.name() + " is a learner: stopping it does not change quorum");
      continue;
    }
    if (planned.count(m.node()) && m.healthy()) continue;  // counted in `after`
    if (m.is_learner()) {
      unsafe.push_back("learner " + m.name() + " is joining: promote it (etcdctl member promote " +
                       m.member_id() + ") or remove it before stopping a voting member");
      continue;
    }
    if (!m.healthy()) {
      unsafe.push_back("member " + m.name() + " is already unhealthy (" +
                       (m.reasons_size() ? m.reasons(0) : std::string("no reason")) + ")" +
                       (planned.count(m.node()) ? " and in planned maintenance" : "") +
                       ": bring it back first");
    } else if (m.has_raft_applied_index() && leader_applied > 0 &&
               leader_applied >
                   static_cast<uint64_t>(m.raft_applied_index()) + kCatchingUpEntries) {
      unsafe.push_back(
          "member " + m.name() + " is still catching up (" +
          std::to_string(leader_applied - static_cast<uint64_t>(m.raft_applied_index())) +
          " entries behind the leader): wait until it has caught up");
    } else if (!m.is_leader() && leader_follower.empty()) {
      leader_follower = m.member_id();
    }
  }
  if (!stops_voter) unsafe.clear();  // stopping only learners never touches quorum
  if (stops_voter) {
    for (const auto& a : now.alarms())
      unsafe.push_back("alarm " + a.alarm() + " is raised on member " + a.member_id() +
                       ": resolve it before any planned stop");
    if (after.failure_tolerance() < 0)
      unsafe.push_back("stopping " + std::to_string(down.size()) + " node(s) leaves " +
                       std::to_string(after.healthy_members()) + " of " +
                       std::to_string(after.voting_members()) +
                       " voting members healthy; quorum needs " +
                       std::to_string(after.quorum_size()));
    else if (after.failure_tolerance() == 0)
      advice.push_back(
          "afterwards the cluster tolerates no further failure: bring the node back "
          "and wait for it to be healthy before stopping another");
    for (const auto& m : now.members()) {
      if (!down.count(m.node()) || m.is_learner()) continue;
      if (m.is_leader())
        advice.push_back(m.name() + " is the leader: move leadership first (etcdctl move-leader " +
                         (leader_follower.empty() ? std::string("<id of a healthy follower>")
                                                  : leader_follower) +
                         "), so the cluster does not wait an election timeout");
      if (!m.failure_domain().empty())
        for (const auto& o : now.members())
          if (&o != &m && !o.is_learner() && !down.count(o.node()) && !planned.count(o.node()) &&
              o.failure_domain() == m.failure_domain())
            advice.push_back(m.name() + " shares failure domain " + m.failure_domain() + " with " +
                             o.name() + ": a fault of that domain meanwhile takes both");
    }
  }
  if (!unknown.empty()) {
    out.set_verdict(W::UNKNOWN);
    for (const auto& r : unknown) out.add_reasons(r);
  } else if (!unsafe.empty()) {
    out.set_verdict(W::UNSAFE);
    for (const auto& r : unsafe) out.add_reasons(r);
  } else {
    out.set_verdict(W::SAFE);
    out.set_safe(true);
  }
  for (const auto& a : advice) out.add_advice(a);
  return out;
}

}  // namespace qw::aggregator
