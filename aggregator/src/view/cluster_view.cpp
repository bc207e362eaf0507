#include "qw/aggregator/view/cluster_view.h"

#include <algorithm>
#include <map>

#include "qw/aggregator/risk/warnings.h"
#include "qw/fs_util.h"
#include "qw/time_util.h"

namespace qw::aggregator {

bool nodeFresh(const NodeState& n, const ViewConfig& cfg, int64_t now_steady_ms) {
  return n.has_sample && n.last_seen_steady_ms >= 0 && n.disconnected_steady_ms < 0 &&
         now_steady_ms - n.last_seen_steady_ms <= cfg.stale_after_ms;
}

AlarmSet clusterAlarms(const std::vector<NodeInput>& nodes) {
  AlarmSet from_leader, from_all;
  bool leader_answered = false;
  for (const auto& n : nodes) {
    if (!n.fresh || !n.etcd.reachable() || !n.etcd.alarms_ok()) continue;
    bool leader = authoritativeAlarmList(n.etcd);
    leader_answered = leader_answered || leader;
    for (const auto& a : n.etcd.alarms()) {
      from_all.insert({a.member_id(), a.alarm()});
      if (leader) from_leader.insert({a.member_id(), a.alarm()});
    }
  }
  return leader_answered ? from_leader : from_all;
}

namespace {

// etcd's live timing from the agent's EtcdConfig. A value no flag, ETCD_* variable or config file
// sets is etcd's compiled default (100 ms / 1000 ms / 100000 in 3.4 and 3.5), but only when the
// agent read the whole command line and environment and no config file replaces them; k3s's
// built-in values come from the agent ("k3s-default").
void applyTiming(const qw::wire::EtcdConfig& c, NodeInput* ni) {
  auto source = [&](const std::string& field) -> std::string {
    for (const auto& s : c.sources())
      if (s.rfind(field + "=", 0) == 0) return s.substr(field.size() + 1);
    return "";
  };
  bool defaults_known =
      !c.args().empty() && c.env_known() && c.config_file().empty() && c.flavor() != "k3s";
  if (c.has_heartbeat_interval_ms()) {
    ni->heartbeat_seconds = c.heartbeat_interval_ms() / 1000.0;
    ni->timing_source = source("heartbeat_interval_ms");
  } else if (defaults_known) {
    ni->heartbeat_seconds = 0.1;
    ni->timing_source = "etcd-default";
  }
  if (c.has_election_timeout_ms())
    ni->election_seconds = c.election_timeout_ms() / 1000.0;
  else if (defaults_known)
    ni->election_seconds = 1.0;
  if (c.has_snapshot_count())
    ni->snapshot_count = static_cast<double>(c.snapshot_count());
  else if (defaults_known)
    ni->snapshot_count = 100000;
}

}  // namespace

ClusterInput clusterInput(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                          int64_t now_steady_ms) {
  ClusterInput in;
  in.cluster_name = cfg.cluster_name;
  in.max_apply_lag = cfg.max_apply_lag;
  in.risk_table = cfg.risk_table;
  in.now_wall_ms = now_wall_ms;
  for (const auto& [id, mi] : hub.members()) in.members.push_back(mi);
  for (const auto& [name, n] : hub.nodes()) {
    NodeInput ni;
    ni.name = name;
    ni.failure_domain = n.failure_domain;
    ni.etcd_endpoint = n.etcd_endpoint;
    ni.member_id = n.member_id;
    ni.fresh = nodeFresh(n, cfg, now_steady_ms);
    ni.silent_ms = n.last_seen_steady_ms < 0 ? -1 : now_steady_ms - n.last_seen_steady_ms;
    if (n.disconnected_steady_ms >= 0)
      ni.disconnected_ms = now_steady_ms - n.disconnected_steady_ms;
    ni.last_seen_wall_ms = n.last_seen_wall_ms;
    ni.etcd_data_dir = n.etcd_data_dir;
    ni.flavor = n.etcd_flavor;
    if (n.etcd_config) applyTiming(*n.etcd_config, &ni);
    if (n.has_sample) {
      ni.clock_synced = n.latest.clock_synced();
      ni.etcd = n.latest.etcd();
      ni.etcd.clear_members();  // the view reads the hub's member list, not each node's copy
    }
    ni.signals =
        deriveSignals(n.has_sample ? &n.latest : nullptr, n.has_metrics ? &n.metrics : nullptr);
    in.nodes.push_back(std::move(ni));
  }
  in.alarms = clusterAlarms(in.nodes);
  in.cluster_id = hub.identity().current();
  const auto& prev = hub.identity().previous();
  in.previous_cluster_ids.assign(prev.begin(), prev.end());
  return in;
}

qw::api::ClusterView computeClusterView(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                                        int64_t now_steady_ms) {
  return computeClusterView(clusterInput(hub, cfg, now_wall_ms, now_steady_ms));
}

namespace {

std::string percent(double p) {
  char buf[32];
  if (p >= 0.01)
    std::snprintf(buf, sizeof buf, "%.1f%%", p * 100);
  else
    std::snprintf(buf, sizeof buf, "%.2g%%", p * 100);
  return buf;
}

// The risk engine's answer into the view; AT_RISK when a probability reaches the table's
// threshold or a CRITICAL warning is active on a cluster that is otherwise HEALTHY or DEGRADED.
void applyRisk(const ClusterInput& in, const risk::Table& table, qw::api::ClusterView* v) {
  auto a = risk::assess(in, *v, table);
  v->set_risk_model_version(a.model_version);
  for (const auto& d : a.breaking_domains) {
    v->add_breaking_failure_domains(d);
    v->add_reasons("losing failure domain " + d + " alone loses quorum");
  }
  if (a.probability) {
    v->set_quorum_loss_probability(*a.probability);
    v->set_horizon_seconds(a.horizon_seconds);
  }
  using S = qw::api::ClusterView;
  bool critical_warning = false;
  for (const auto& w : v->warnings())
    critical_warning |= w.severity() == qw::api::CRITICAL && !w.expected();  // not a planned stop
  bool risky = a.probability && *a.probability >= table.at_risk_probability;
  if ((v->state() == S::HEALTHY || v->state() == S::DEGRADED) && (risky || critical_warning)) {
    v->set_state(S::AT_RISK);
    if (risky) {
      std::string why = "quorum-loss probability " + percent(*a.probability) + " within " +
                        std::to_string(a.horizon_seconds / 3600) + " h (AT_RISK from " +
                        percent(table.at_risk_probability) + ")";
      if (!a.factors.empty())
        why += "; strongest factor: " +
               (a.factors[0].member().empty() ? "" : a.factors[0].member() + ": ") +
               a.factors[0].explanation();
      v->add_reasons(why);
    }
  }
  for (auto& f : a.factors) *v->add_factors() = std::move(f);
}

}  // namespace

qw::api::ClusterView computeClusterView(const ClusterInput& in) {
  qw::api::ClusterView v;
  v.set_cluster_name(in.cluster_name);
  if (in.cluster_id != 0) v.set_cluster_id(hex64(in.cluster_id));
  for (uint64_t id : in.previous_cluster_ids) v.add_previous_cluster_ids(hex64(id));
  // quorum_loss_probability and horizon_seconds: from the risk engine (applyRisk), absent
  // without a risk table or when the view cannot tell.

  // member id -> node reporting it (the hub keeps the mapping even when the member is down).
  std::map<uint64_t, const NodeInput*> by_member;
  for (const auto& n : in.nodes)
    if (n.member_id != 0) by_member[n.member_id] = &n;
  // A member whose etcd never answered its agent: match the agent's endpoint to a client URL.
  for (const auto& mi : in.members) {
    if (by_member.count(mi.id)) continue;
    for (const auto& n : in.nodes)
      if (n.member_id == 0 && !n.etcd_endpoint.empty() &&
          std::find(mi.client_urls.begin(), mi.client_urls.end(), n.etcd_endpoint) !=
              mi.client_urls.end())
        by_member[mi.id] = &n;
  }
  std::map<uint64_t, const MemberInfo*> members;
  for (const auto& mi : in.members) members[mi.id] = &mi;

  // The leader: what fresh, reachable members report (majority vote; ties go to the lower id).
  std::map<uint64_t, int> votes;
  uint64_t leader_applied = 0;
  for (const auto& n : in.nodes)
    if (n.fresh && n.etcd.reachable() && n.etcd.has_leader()) votes[n.etcd.leader_id()]++;
  uint64_t leader = 0;
  int best = 0;
  for (auto [id, c] : votes)
    if (c > best) {
      leader = id;
      best = c;
    }
  if (auto it = by_member.find(leader); leader != 0 && it != by_member.end() && it->second->fresh)
    leader_applied = it->second->etcd.raft_applied_index();
  else
    for (const auto& n : in.nodes)
      if (n.fresh && n.etcd.reachable())
        leader_applied = std::max<uint64_t>(leader_applied, n.etcd.raft_applied_index());

  // Cluster-wide alarms: the one alarm rule (clusterAlarms).
  bool nospace = false;
  std::map<uint64_t, bool> corrupt;
  for (const auto& [member, alarm] : in.alarms) {
    if (alarm == "NOSPACE") nospace = true;
    if (alarm == "CORRUPT") corrupt[member] = true;
    auto* a = v.add_alarms();
    a->set_alarm(alarm);
    a->set_member_id(hex64(member));
  }

  // The data's time: the oldest newest-sample among the fresh voting members' nodes.
  int64_t oldest_fresh = 0;
  int voting = 0, healthy = 0, fresh_voting = 0;
  std::vector<std::string> unhealthy;
  for (const auto& mi : in.members) {
    const uint64_t id = mi.id;
    auto* m = v.add_members();
    const NodeInput* n = by_member.count(id) ? by_member[id] : nullptr;
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
    } else if (!n->fresh) {
      ok = false;  // reachable, raft_index and raft_applied_index stay absent: not known
      if (n->disconnected_ms >= 0)
        m->add_reasons("agent on " + n->name + " disconnected " +
                       std::to_string(n->disconnected_ms / 1000) + " s ago");
      else if (n->silent_ms < 0)
        m->add_reasons("no sample from agent on " + n->name + " since the aggregator started");
      else
        m->add_reasons("agent on " + n->name + " silent for " +
                       std::to_string(n->silent_ms / 1000) + " s");
    } else {
      const auto& e = n->etcd;
      bool same_member = e.member_id() == id || e.member_id() == 0;
      if (!e.reachable()) {
        ok = false;
        m->set_reachable(false);
        m->add_reasons("etcd unreachable: " + e.error());
      } else if (!same_member) {
        ok = false;
        m->add_reasons("node " + n->name + " now runs member " + hex64(e.member_id()));
      } else {
        m->set_reachable(true);
        if (e.raft_index()) {  // 0: the answer carried no index
          m->set_raft_index(static_cast<double>(e.raft_index()));
          m->set_raft_applied_index(static_cast<double>(e.raft_applied_index()));
        }
        if (!e.has_leader()) {
          ok = false;
          std::string why = "sees no leader";
          for (const auto& s : e.status_errors()) why += " (" + s + ")";
          m->add_reasons(why);
        } else if (leader_applied > e.raft_applied_index() &&
                   leader_applied - e.raft_applied_index() > in.max_apply_lag) {
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
      if (n && n->fresh) {
        ++fresh_voting;
        if (oldest_fresh == 0 || n->last_seen_wall_ms < oldest_fresh)
          oldest_fresh = n->last_seen_wall_ms;
      }
      if (ok)
        ++healthy;
      else
        unhealthy.push_back(m->name() + " (" + (m->reasons_size() ? m->reasons(0) : "") + ")");
    }
  }
  if (leader != 0 && members.count(leader)) v.set_leader(members.at(leader)->name);
  if (oldest_fresh > 0) v.set_updated_at(rfc3339(oldest_fresh));

  int quorum = voting / 2 + 1;
  int tolerance = healthy - quorum;
  v.set_voting_members(voting);
  v.set_quorum_size(voting ? quorum : 0);
  v.set_healthy_members(healthy);
  v.set_failure_tolerance(voting ? tolerance : 0);

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
  } else if (!unhealthy.empty()) {
    v.set_state(S::DEGRADED);
  } else {
    v.set_state(S::HEALTHY);
  }
  for (const auto& u : unhealthy) v.add_reasons("unhealthy: " + u);

  // Warnings: the watch's (after hysteresis), else the conditions holding now. A WARNING or
  // CRITICAL one makes a HEALTHY cluster DEGRADED; INFO advisories never change the state.
  const auto& table = in.risk_table ? *in.risk_table : risk::defaultTable();
  auto warnings = in.warnings ? *in.warnings : risk::warningConditions(in, v, table);
  // A node in planned maintenance: its warnings are expected (the stop causes them), they do not
  // make a HEALTHY cluster DEGRADED, and its member says why it is down. The quorum arithmetic
  // stays as it is: a planned stop still lowers the tolerance.
  for (const auto& mw : in.maintenance) {
    auto* m = v.add_maintenance();
    m->set_node(mw.node);
    m->set_started_at(rfc3339(mw.started_wall_ms));
    m->set_until(rfc3339(mw.until_wall_ms));
    m->set_reason(mw.reason);
    m->set_remaining_seconds(std::max<int64_t>(0, mw.until_wall_ms - in.now_wall_ms) / 1000.0);
    std::string line = "node " + mw.node + " is in planned maintenance until " +
                       rfc3339(mw.until_wall_ms) +
                       (mw.reason.empty() ? "" : " (" + mw.reason + ")");
    v.add_reasons(line);
    for (auto& mv : *v.mutable_members())
      if (mv.node() == mw.node)
        mv.add_reasons("planned maintenance until " + rfc3339(mw.until_wall_ms));
  }
  for (auto& w : warnings) {
    if (!w.node().empty() && findWindow(in.maintenance, w.node())) w.set_expected(true);
    if (w.severity() >= qw::api::WARNING && !w.expected() &&
        !risk::isRecoverabilityWarning(w.code()) &&
        (v.state() == S::HEALTHY || v.state() == S::DEGRADED)) {
      v.set_state(S::DEGRADED);
      // A member's own health is already a reason ("unhealthy: ...").
      if (w.code() != qw::api::Warning::MEMBER_DOWN) v.add_reasons("warning: " + w.message());
    }
    *v.add_warnings() = std::move(w);
  }
  if (in.risk_table) applyRisk(in, *in.risk_table, &v);
  return v;
}

}  // namespace qw::aggregator
