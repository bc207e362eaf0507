#include "qw/aggregator/view/cluster_view.h"

#include <algorithm>
#include <map>

#include "qw/fs_util.h"
#include "qw/time_util.h"

namespace qw::aggregator {

bool nodeFresh(const NodeState& n, const ViewConfig& cfg, int64_t now_steady_ms) {
  return n.has_sample && n.last_seen_steady_ms >= 0 &&
         now_steady_ms - n.last_seen_steady_ms <= cfg.stale_after_ms;
}

qw::api::ClusterView computeClusterView(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                                        int64_t now_steady_ms) {
  qw::api::ClusterView v;
  v.set_cluster_name(cfg.cluster_name);
  v.set_updated_at(rfc3339(now_wall_ms));
  v.set_horizon_seconds(cfg.horizon_seconds);

  // member id -> node reporting it (the hub keeps the mapping even when the member is down).
  std::map<uint64_t, const NodeState*> by_member;
  for (const auto& [name, n] : hub.nodes())
    if (n.member_id != 0) by_member[n.member_id] = &n;
  // A member whose etcd never answered its agent: match the agent's endpoint to a client URL.
  for (const auto& [id, mi] : hub.members()) {
    if (by_member.count(id)) continue;
    for (const auto& [name, n] : hub.nodes())
      if (n.member_id == 0 && !n.etcd_endpoint.empty() &&
          std::find(mi.client_urls.begin(), mi.client_urls.end(), n.etcd_endpoint) !=
              mi.client_urls.end())
        by_member[id] = &n;
  }

  // The leader: what fresh, reachable members report (majority vote; ties go to the higher term).
  std::map<uint64_t, int> votes;
  uint64_t leader_applied = 0;
  for (const auto& [name, n] : hub.nodes()) {
    if (!nodeFresh(n, cfg, now_steady_ms)) continue;
    const auto& e = n.latest.etcd();
    if (e.reachable() && e.has_leader()) votes[e.leader_id()]++;
  }
  uint64_t leader = 0;
  int best = 0;
  for (auto [id, c] : votes)
    if (c > best) {
      leader = id;
      best = c;
    }
  if (auto it = by_member.find(leader);
      leader != 0 && it != by_member.end() && nodeFresh(*it->second, cfg, now_steady_ms))
    leader_applied = it->second->latest.etcd().raft_applied_index();
  else
    for (const auto& [name, n] : hub.nodes())
      if (nodeFresh(n, cfg, now_steady_ms) && n.latest.etcd().reachable())
        leader_applied = std::max<uint64_t>(leader_applied, n.latest.etcd().raft_applied_index());

  // Cluster-wide alarms (any fresh member's view of the alarm list).
  bool nospace = false;
  std::map<uint64_t, bool> corrupt;
  for (const auto& [name, n] : hub.nodes()) {
    if (!nodeFresh(n, cfg, now_steady_ms)) continue;
    for (const auto& a : n.latest.etcd().alarms()) {
      if (a.alarm() == "NOSPACE") nospace = true;
      if (a.alarm() == "CORRUPT") corrupt[a.member_id()] = true;
    }
  }

  int voting = 0, healthy = 0, fresh_voting = 0;
  std::vector<std::string> unhealthy;
  for (const auto& [id, mi] : hub.members()) {
    auto* m = v.add_members();
    const NodeState* n = by_member.count(id) ? by_member[id] : nullptr;
    m->set_name(mi.name.empty() ? (n ? n->name : "") : mi.name);
    m->set_member_id(hex64(id));
    m->set_node(n ? n->name : "");
    m->set_failure_domain(n ? n->failure_domain : "");
    m->set_is_learner(mi.is_learner);
    m->set_is_leader(id == leader && leader != 0);
    bool ok = true;
    if (mi.is_learner && mi.name.empty()) m->add_reasons("learner not started yet");
    if (!n) {
      ok = false;
      m->add_reasons("no agent reports for this member");
    } else if (!nodeFresh(*n, cfg, now_steady_ms)) {
      ok = false;
      if (n->last_seen_steady_ms < 0)
        m->add_reasons("no sample from agent on " + n->name + " since the aggregator started");
      else
        m->add_reasons("agent on " + n->name + " silent for " +
                       std::to_string((now_steady_ms - n->last_seen_steady_ms) / 1000) + " s");
    } else {
      const auto& e = n->latest.etcd();
      m->set_raft_index(static_cast<double>(e.raft_index()));
      m->set_raft_applied_index(static_cast<double>(e.raft_applied_index()));
      bool same_member = e.member_id() == id || e.member_id() == 0;
      if (!e.reachable()) {
        ok = false;
        m->add_reasons("etcd unreachable: " + e.error());
      } else if (!same_member) {
        ok = false;
        m->add_reasons("node " + n->name + " now runs member " + hex64(e.member_id()));
      } else {
        m->set_reachable(true);
        if (!e.has_leader()) {
          ok = false;
          std::string why = "sees no leader";
          for (const auto& s : e.status_errors()) why += " (" + s + ")";
          m->add_reasons(why);
        } else if (leader_applied > e.raft_applied_index() &&
                   leader_applied - e.raft_applied_index() > cfg.max_apply_lag) {
          ok = false;
          m->add_reasons("applied index " + std::to_string(e.raft_applied_index()) + " is " +
                         std::to_string(leader_applied - e.raft_applied_index()) +
                         " entries behind the leader");
        }
      }
    }
    if (corrupt.count(id)) {
      ok = false;
      m->add_reasons("CORRUPT alarm raised on this member: its data cannot be trusted");
    }
    m->set_healthy(ok);
    if (!mi.is_learner) {
      ++voting;
      if (n && nodeFresh(*n, cfg, now_steady_ms)) ++fresh_voting;
      if (ok)
        ++healthy;
      else
        unhealthy.push_back(m->name() + " (" + (m->reasons_size() ? m->reasons(0) : "") + ")");
    }
  }
  if (leader != 0 && hub.members().count(leader)) v.set_leader(hub.members().at(leader).name);

  int quorum = voting / 2 + 1;
  int tolerance = healthy - quorum;
  v.set_voting_members(voting);
  v.set_quorum_size(voting ? quorum : 0);
  v.set_healthy_members(healthy);
  v.set_failure_tolerance(voting ? tolerance : 0);

  if (nospace) {
    auto* w = v.add_warnings();
    w->set_code("NOSPACE");
    w->set_severity("CRITICAL");
    w->set_message("NOSPACE alarm: etcd refuses writes cluster-wide (database reached its quota)");
    w->set_action(
        "compact the keyspace, defragment each member, then disarm the alarm (etcdctl alarm "
        "disarm), in that order; never raise the quota blindly");
  }

  using S = qw::api::ClusterView;
  if (voting == 0) {
    v.set_state(S::UNKNOWN);
    v.add_reasons("no etcd member list received yet");
  } else if (fresh_voting < quorum) {
    v.set_state(S::UNKNOWN);
    v.add_reasons("only " + std::to_string(fresh_voting) + " of " + std::to_string(voting) +
                  " voting members have fresh data; a quorum needs " + std::to_string(quorum));
  } else if (tolerance < 0) {
    v.set_state(S::QUORUM_LOST);
    v.add_reasons(std::to_string(healthy) + " of " + std::to_string(voting) +
                  " voting members healthy, quorum needs " + std::to_string(quorum));
  } else if (tolerance == 0 || nospace || !corrupt.empty()) {
    v.set_state(S::CRITICAL);
    if (tolerance == 0)
      v.add_reasons("failure tolerance 0: losing one more voting member loses quorum");
    if (nospace) v.add_reasons("NOSPACE alarm raised: writes are refused");
    if (!corrupt.empty()) v.add_reasons("CORRUPT alarm raised");
  } else if (!unhealthy.empty() || v.warnings_size() > 0) {
    v.set_state(S::DEGRADED);
  } else {
    v.set_state(S::HEALTHY);
  }
  for (const auto& u : unhealthy) v.add_reasons("unhealthy: " + u);
  return v;
}

}  // namespace qw::aggregator
