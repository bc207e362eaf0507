#include "qw/aggregator/model/events.h"

#include "api.pb.h"
#include "qw/aggregator/model/alarms.h"
#include "qw/fs_util.h"
#include "qw/time_util.h"

namespace qw::aggregator {

namespace {

// Event kinds and severities are the API's enums (a typo fails to compile); stored by name.
std::string name(qw::api::Event::Kind k) { return qw::api::Event::Kind_Name(k); }
std::string name(qw::api::Severity s) { return qw::api::Severity_Name(s); }

std::string alarmAdvice(const std::string& alarm) {
  if (alarm == "NOSPACE")
    return "; compact, defragment, then disarm (etcdctl alarm disarm); do not raise the quota "
           "blindly";
  if (alarm == "CORRUPT")
    return "; stop writes, find the corrupt member by its hash and replace it from a verified "
           "snapshot";
  return "";
}

}  // namespace

std::string EventDeriver::memberLabel(uint64_t id) const {
  auto it = member_nodes_.find(id);
  if (it == member_nodes_.end() || it->second.empty()) return "member " + hex64(id);
  return "member " + hex64(id) + " (" + it->second + ")";
}

std::string EventDeriver::incident() const {
  for (const auto& [node, t] : nodes_)
    if (t.seen && !t.up) return "etcd on " + node + " is down";
  for (const auto& a : alarms_) return a.second + " alarm on " + memberLabel(a.first);
  return "";
}

void EventDeriver::change(int kind, const std::string& node, const std::string& what, bool related,
                          int64_t ts, std::vector<Event>* out) {
  Event ev{ts, name(static_cast<qw::api::Event::Kind>(kind)), node, name(qw::api::INFO), what};
  if (!during_.empty() && !related) {
    ev.severity = name(qw::api::WARNING);
    ev.message += " while " + during_ + ": a change mixed with a recovery";
  }
  out->push_back(std::move(ev));
}

bool EventDeriver::recovering(const MemberTrack& m) const {
  if (!m.name.empty() && recovering_names_.count(m.name)) return true;
  for (const auto& u : m.peers)
    if (recovering_peers_.count(u)) return true;
  return false;
}

void EventDeriver::membershipChanges(const qw::wire::EtcdSample& e, int64_t ts,
                                     std::vector<Event>* out) {
  // The list of a member that sees a leader, the newest term; a new cluster id (a restore) is a
  // new baseline, not a change.
  if (!e.reachable() || !e.members_ok() || !e.has_leader() || e.raft_term() < members_term_) return;
  std::map<uint64_t, MemberTrack> now;
  for (const auto& m : e.members())
    now[m.id()] = {m.name(), m.is_learner(), {m.peer_urls().begin(), m.peer_urls().end()}};
  if (members_known_ && e.cluster_id() == cluster_id_) {
    for (const auto& [id, m] : now) {
      auto it = members_.find(id);
      const std::string label = "member " + (m.name.empty() ? hex64(id) : m.name);
      if (it == members_.end())
        change(qw::api::Event::MEMBER_ADDED, "",
               label + " (" + hex64(id) + ") added" + (m.learner ? " as a learner" : ""),
               recovering(m), ts, out);
      else if (it->second.learner && !m.learner)
        change(qw::api::Event::MEMBER_PROMOTED, "", label + " promoted to a voter", recovering(m),
               ts, out);
    }
    for (const auto& [id, m] : members_)
      if (!now.count(id)) {
        auto nd = member_nodes_.find(id);
        bool down =
            nd != member_nodes_.end() && nodes_.count(nd->second) && !nodes_.at(nd->second).up;
        bool corrupt = false;
        for (const auto& a : alarms_) corrupt |= a.first == id && a.second == "CORRUPT";
        // Removing the down (or corrupt) member is its recovery; anyone else is another change.
        change(qw::api::Event::MEMBER_REMOVED, "",
               "member " + (m.name.empty() ? hex64(id) : m.name) + " (" + hex64(id) + ") removed",
               down || corrupt || recovering(m), ts, out);
        if (!during_.empty()) {
          if (!m.name.empty()) recovering_names_.insert(m.name);
          recovering_peers_.insert(m.peers.begin(), m.peers.end());
          if (nd != member_nodes_.end()) recovering_nodes_.insert(nd->second);
        }
      }
  }
  members_ = std::move(now);
  members_known_ = true;
  members_term_ = e.raft_term();
  cluster_id_ = e.cluster_id();
}

void EventDeriver::onSample(const std::string& node, const qw::wire::NodeSample& s, int64_t ts,
                            std::vector<Event>* out) {
  const auto& e = s.etcd();
  const std::string before = incident();
  auto& t = nodes_[node];
  if (e.reachable() && e.member_id()) member_nodes_[e.member_id()] = node;

  // Member reachability and health (etcd's /health false counts as down).
  bool up = e.reachable() && (!e.has_health() || e.health());
  std::string why = !e.reachable()              ? "not reachable: " + e.error()
                    : e.health_reason().empty() ? "unhealthy"
                                                : "unhealthy: " + e.health_reason();
  if (t.seen && t.up && !up)
    out->push_back({ts, name(qw::api::Event::MEMBER_UNREACHABLE), node, name(qw::api::WARNING),
                    "etcd on " + node + " " + why});
  else if (t.seen && !t.up && up)
    out->push_back({ts, name(qw::api::Event::MEMBER_RECOVERED), node, name(qw::api::INFO),
                    "etcd on " + node + " is healthy again (was " + t.why_down + ")"});
  if (!up) t.why_down = why;
  t.up = up;
  // The incident a change is measured against: the one before this sample, else the one it
  // starts (a node back with new flags changed them while it was down).
  during_ = incident();
  if (during_.empty()) during_ = before;
  for (const auto& [n, nt] : nodes_)
    if (nt.seen && !nt.up) {
      recovering_nodes_.insert(n);
      for (const auto& [id, mn] : member_nodes_)
        if (mn == n && members_.count(id)) {
          const auto& mt = members_.at(id);
          if (!mt.name.empty()) recovering_names_.insert(mt.name);
          recovering_peers_.insert(mt.peers.begin(), mt.peers.end());
        }
    }

  // Leader: a higher term with a leader is an election; the first term seen is the baseline.
  if (e.reachable() && e.has_leader() && e.leader_id() && e.raft_term() > leader_term_) {
    if (leader_term_ != 0 && e.leader_id() != leader_id_)
      out->push_back({ts, name(qw::api::Event::LEADER_CHANGE), "", name(qw::api::WARNING),
                      "leader is now " + memberLabel(e.leader_id()) + " in term " +
                          std::to_string(e.raft_term()) +
                          (leader_id_ ? " (was " + memberLabel(leader_id_) + ")" : "")});
    leader_term_ = e.raft_term();
    leader_id_ = e.leader_id();
  }

  // Alarms: the one alarm rule (model/alarms.h), the leader's list.
  if (authoritativeAlarmList(e)) {
    std::set<std::pair<uint64_t, std::string>> now;
    for (const auto& a : e.alarms()) now.insert({a.member_id(), a.alarm()});
    for (const auto& a : now)
      if (!alarms_.count(a))
        out->push_back(
            {ts, name(qw::api::Event::ALARM_RAISED), "", name(qw::api::CRITICAL),
             a.second + " alarm raised on " + memberLabel(a.first) + alarmAdvice(a.second)});
    if (alarms_known_)
      for (const auto& a : alarms_)
        if (!now.count(a))
          out->push_back({ts, name(qw::api::Event::ALARM_CLEARED), "", name(qw::api::INFO),
                          a.second + " alarm cleared on " + memberLabel(a.first)});
    alarms_ = std::move(now);
    alarms_known_ = true;
  }
  // NOSPACE during this incident: defragmentations until it ends are its fix (the last one may
  // be seen after the disarm).
  for (const auto& a : alarms_) nospace_in_incident_ |= a.second == "NOSPACE";

  membershipChanges(e, ts, out);

  // etcd process restarts: its start time changed.
  if (s.has_host() && s.host().has_etcd_start_unix_ms() && s.host().etcd_start_unix_ms() > 0) {
    int64_t start = s.host().etcd_start_unix_ms();
    if (t.seen && t.etcd_start_ms && start != t.etcd_start_ms) {
      out->push_back({ts, name(qw::api::Event::ETCD_RESTART), node, name(qw::api::WARNING),
                      "etcd on " + node + " restarted at " + rfc3339(start) + " (pid " +
                          std::to_string(s.host().etcd_pid()) + ")"});
      t.db_size = -1;  // another process: its db is another file
    }
    t.etcd_start_ms = start;
  }

  // Version and configuration: a change of either during an incident is a mixed change, except
  // on a node being recovered; --force-new-cluster appearing is never part of a safe recovery.
  if (e.reachable() && !e.version().empty()) {
    if (!t.version.empty() && e.version() != t.version)
      change(qw::api::Event::ETCD_VERSION_CHANGED, node,
             "etcd on " + node + " changed version from " + t.version + " to " + e.version(), false,
             ts, out);
    t.version = e.version();
  }
  if (s.has_etcd_config() && (s.etcd_config().args_size() > 0 || s.etcd_config().env_size() > 0)) {
    std::string sig, force;
    for (const auto& a : s.etcd_config().args()) {
      sig += a + '\0';
      if (a.find("force-new-cluster") != std::string::npos) force = a;
    }
    sig += '\1';
    for (const auto& v : s.etcd_config().env()) {
      sig += v + '\0';
      if (v.rfind("ETCD_FORCE_NEW_CLUSTER=", 0) == 0) force = v;
    }
    if (!t.config_sig.empty() && sig != t.config_sig)
      change(qw::api::Event::ETCD_CONFIG_CHANGED, node,
             "etcd on " + node + " runs with another configuration" +
                 (force.empty() ? "" : " (" + force + ")"),
             force.empty() && recovering_nodes_.count(node) > 0, ts, out);
    t.config_sig = sig;
  }

  // Defragmentation: the same process's db file shrank by a tenth and a MiB at least (only a
  // defragmentation shrinks it). During a NOSPACE alarm it is that alarm's fix.
  if (e.reachable() && e.db_size_bytes() > 0) {
    int64_t db = e.db_size_bytes();
    if (t.db_size > 0 && db < t.db_size - t.db_size / 10 && t.db_size - db >= (1 << 20)) {
      change(qw::api::Event::DEFRAGMENTED, node,
             "etcd on " + node + " was defragmented: its db shrank from " +
                 std::to_string(t.db_size >> 20) + " MiB to " + std::to_string(db >> 20) + " MiB",
             nospace_in_incident_, ts, out);
    }
    t.db_size = db;
  }

  // Raspberry Pi firmware flags: onsets are events, so is the end of them.
  if (s.has_host() && s.host().has_throttled()) {
    const auto& th = s.host().throttled();
    if (th.under_voltage() && !t.under_voltage)
      out->push_back({ts, name(qw::api::Event::UNDER_VOLTAGE), node, name(qw::api::WARNING),
                      node + " is under-voltage: a weak power supply corrupts SD cards; replace "
                             "it before anything else"});
    if (th.throttled() && !t.throttled)
      out->push_back({ts, name(qw::api::Event::THROTTLED), node, name(qw::api::WARNING),
                      node + " is throttled by the firmware (heat or power): fsyncs and "
                             "heartbeats slow down"});
    if (!th.under_voltage() && t.under_voltage)
      out->push_back({ts, name(qw::api::Event::UNDER_VOLTAGE_CLEARED), node, name(qw::api::INFO),
                      node + " is no longer under-voltage"});
    if (!th.throttled() && t.throttled)
      out->push_back({ts, name(qw::api::Event::THROTTLED_CLEARED), node, name(qw::api::INFO),
                      node + " is no longer throttled"});
    t.under_voltage = th.under_voltage();
    t.throttled = th.throttled();
  }
  t.seen = true;
  if (incident().empty()) {  // the incident is over: nothing is being recovered
    recovering_names_.clear();
    recovering_peers_.clear();
    recovering_nodes_.clear();
    nospace_in_incident_ = false;
  }
}

}  // namespace qw::aggregator
