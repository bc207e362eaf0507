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

void EventDeriver::onSample(const std::string& node, const qw::wire::NodeSample& s, int64_t ts,
                            std::vector<Event>* out) {
  const auto& e = s.etcd();
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

  // etcd process restarts: its start time changed.
  if (s.has_host() && s.host().has_etcd_start_unix_ms() && s.host().etcd_start_unix_ms() > 0) {
    int64_t start = s.host().etcd_start_unix_ms();
    if (t.seen && t.etcd_start_ms && start != t.etcd_start_ms)
      out->push_back({ts, name(qw::api::Event::ETCD_RESTART), node, name(qw::api::WARNING),
                      "etcd on " + node + " restarted at " + rfc3339(start) + " (pid " +
                          std::to_string(s.host().etcd_pid()) + ")"});
    t.etcd_start_ms = start;
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
}

}  // namespace qw::aggregator
