#include "qw/aggregator/view/cluster_watch.h"

#include <algorithm>

#include "api.pb.h"
#include "qw/log.h"
#include "qw/time_util.h"

namespace qw::aggregator {

ClusterWatch::ClusterWatch(const Hub& hub, const ViewConfig& cfg, Store& store, const Clock& clock,
                           Record record)
    : hub_(hub), cfg_(cfg), store_(store), clock_(clock), record_(std::move(record)) {}

const RecentHistory& ClusterWatch::recent(int64_t now_wall_ms, int64_t now_steady_ms) {
  if (recent_read_steady_ms_ >= 0 && now_steady_ms - recent_read_steady_ms_ < 1000) return recent_;
  recent_read_steady_ms_ = now_steady_ms;
  RecentHistory r;
  std::vector<Store::EventCount> counts, quarter, ten;
  auto err = store_.eventCounts(now_wall_ms - 3600'000, &counts);
  if (!err) err = store_.eventCounts(now_wall_ms - 900'000, &quarter);
  if (!err) err = store_.eventCounts(now_wall_ms - 600'000, &ten);
  if (err) {
    // Unreadable: left unknown (the engine and the warnings then leave those out), logged.
    qw::logger("view")->warn("cannot read the last hour of events for the risk model: {}", *err);
  } else {
    r.known = true;
    using K = qw::api::Event;
    for (const auto& c : counts) {
      if (c.kind == K::Kind_Name(K::LEADER_CHANGE)) r.leader_changes += c.count;
      if (c.kind == K::Kind_Name(K::ETCD_RESTART)) r.etcd_restarts[c.node] += c.count;
      if (c.kind == K::Kind_Name(K::NODE_REBOOT)) r.node_reboots[c.node] += c.count;
    }
    for (const auto& c : quarter)
      if (c.kind == K::Kind_Name(K::LEADER_CHANGE)) r.leader_changes_15m += c.count;
    for (const auto& c : ten)
      if (c.kind == K::Kind_Name(K::ETCD_RESTART)) r.etcd_restarts_10m[c.node] += c.count;
    // Changes are rare: the log is read for them only when the last hour holds one.
    for (auto k : {K::MEMBER_ADDED, K::MEMBER_REMOVED, K::MEMBER_PROMOTED, K::ETCD_VERSION_CHANGED,
                   K::ETCD_CONFIG_CHANGED, K::DEFRAGMENTED}) {
      bool any = false;
      for (const auto& c : counts) any |= c.kind == K::Kind_Name(k);
      if (!any) continue;
      for (const auto& ev : store_.events(now_wall_ms - 1800'000, K::Kind_Name(k), "", 20))
        if (ev.e.severity == qw::api::Severity_Name(qw::api::WARNING))
          r.mixed_changes.push_back(rfc3339(ev.e.ts_ms) + " " + ev.e.message);
    }
    std::sort(r.mixed_changes.rbegin(), r.mixed_changes.rend());
  }
  recent_ = std::move(r);
  return recent_;
}

ClusterInput ClusterWatch::input() {
  int64_t wall = clock_.wallMs(), steady = clock_.steadyMs();
  auto in = clusterInput(hub_, cfg_, wall, steady);
  in.recent = recent(wall, steady);
  in.warnings = tracker_.active();
  if (snapshot_health_) in.snapshots = snapshot_health_();
  if (maintenance_) in.maintenance = maintenance_->active(wall);
  return in;
}

void ClusterWatch::notifyChanges(ClusterInput in, std::shared_ptr<const risk::Table> table,
                                 const std::vector<risk::WarningTracker::Transition>& changes,
                                 int64_t wall) {
  in.risk_table = std::move(table);
  in.warnings = tracker_.active();
  const auto v = computeClusterView(in);
  using N = qw::api::Notification;
  auto base = [&](N::Kind kind) {
    N n;
    n.set_kind(kind);
    n.set_cluster_name(v.cluster_name());
    n.set_at(rfc3339(wall));
    n.set_state(v.state());
    n.set_failure_tolerance(v.failure_tolerance());
    return n;
  };
  for (const auto& t : changes) {
    N n = base(t.raised ? N::WARNING_RAISED : N::WARNING_CLEARED);
    *n.mutable_warning() = t.warning;
    bool expected = !t.warning.node().empty() && findWindow(in.maintenance, t.warning.node());
    n.mutable_warning()->set_expected(expected);
    n.set_summary(qw::api::Warning::Code_Name(t.warning.code()) +
                  (t.raised ? " raised: " : " cleared: ") + t.warning.message() +
                  (expected ? " (expected: planned maintenance)" : ""));
    notify_(std::move(n));
  }
  if (last_state_ && *last_state_ != v.state()) {
    N n = base(N::STATE_CHANGED);
    n.set_previous_state(*last_state_);
    for (const auto& r : v.reasons()) n.add_reasons(r);
    n.set_summary("cluster " + v.cluster_name() + " is " +
                  qw::api::ClusterView::State_Name(v.state()) + " (was " +
                  qw::api::ClusterView::State_Name(*last_state_) + "), failure tolerance " +
                  std::to_string(v.failure_tolerance()));
    notify_(std::move(n));
  }
  last_state_ = v.state();
}

void ClusterWatch::evaluate() {
  ++evaluations_;
  int64_t wall = clock_.wallMs(), steady = clock_.steadyMs();
  auto in = clusterInput(hub_, cfg_, wall, steady);
  in.recent = recent(wall, steady);
  if (snapshot_health_) in.snapshots = snapshot_health_();
  if (maintenance_) in.maintenance = maintenance_->active(wall);
  std::vector<Event> events;
  using K = qw::api::Event;
  for (const auto& w : in.maintenance) {
    const auto* before = findWindow(last_maintenance_, w.node);
    if (before && before->started_wall_ms == w.started_wall_ms &&
        before->until_wall_ms == w.until_wall_ms)
      continue;
    events.push_back({wall, K::Kind_Name(K::MAINTENANCE_STARTED), w.node,
                      qw::api::Severity_Name(qw::api::INFO),
                      "planned maintenance of " + w.node + " until " + rfc3339(w.until_wall_ms) +
                          (w.reason.empty() ? "" : ": " + w.reason),
                      "", ""});
  }
  for (const auto& w : last_maintenance_)
    if (!findWindow(in.maintenance, w.node))
      events.push_back({wall, K::Kind_Name(K::MAINTENANCE_ENDED), w.node,
                        qw::api::Severity_Name(qw::api::INFO),
                        "planned maintenance of " + w.node +
                            (w.until_wall_ms <= wall ? " ended at its time" : " ended early"),
                        "", ""});
  last_maintenance_ = in.maintenance;
  // The membership arithmetic alone (no engine, no warnings): what the conditions read.
  in.warnings.emplace();
  auto risk_table = std::move(in.risk_table);
  auto base = computeClusterView(in);
  const auto& table = risk_table ? *risk_table : risk::defaultTable();
  auto changes = tracker_.update(risk::warningConditions(in, base, table), steady, wall, table);
  if (notify_) notifyChanges(in, risk_table, changes, wall);
  if (changes.empty() && events.empty()) return;
  for (const auto& t : changes) {
    const auto& w = t.warning;
    std::string code = qw::api::Warning::Code_Name(w.code());
    // Caused by a planned stop: recorded, but as INFO and saying so.
    bool expected = !w.node().empty() && findWindow(in.maintenance, w.node());
    events.push_back(
        {wall, K::Kind_Name(t.raised ? K::WARNING_RAISED : K::WARNING_CLEARED), w.node(),
         qw::api::Severity_Name(t.raised && !expected ? w.severity() : qw::api::INFO),
         (t.raised ? code + " raised: " + w.message()
                   : code + " cleared" + (w.member().empty() ? "" : " on " + w.member()) +
                         " (it was: " + w.message() + ")") +
             (expected ? " (expected: " + w.node() + " is in planned maintenance)" : ""),
         code, w.member()});
    qw::logger("view")->info("{}", events.back().message);
  }
  if (record_) record_(events);
}

}  // namespace qw::aggregator
