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
  return in;
}

void ClusterWatch::evaluate() {
  ++evaluations_;
  int64_t wall = clock_.wallMs(), steady = clock_.steadyMs();
  auto in = clusterInput(hub_, cfg_, wall, steady);
  in.recent = recent(wall, steady);
  if (snapshot_health_) in.snapshots = snapshot_health_();
  // The membership arithmetic alone (no engine, no warnings): what the conditions read.
  in.warnings.emplace();
  auto risk_table = std::move(in.risk_table);
  auto base = computeClusterView(in);
  const auto& table = risk_table ? *risk_table : risk::defaultTable();
  auto changes = tracker_.update(risk::warningConditions(in, base, table), steady, wall, table);
  if (changes.empty()) return;
  std::vector<Event> events;
  using K = qw::api::Event;
  for (const auto& t : changes) {
    const auto& w = t.warning;
    std::string code = qw::api::Warning::Code_Name(w.code());
    events.push_back({wall, K::Kind_Name(t.raised ? K::WARNING_RAISED : K::WARNING_CLEARED),
                      w.node(), qw::api::Severity_Name(t.raised ? w.severity() : qw::api::INFO),
                      t.raised
                          ? code + " raised: " + w.message()
                          : code + " cleared" + (w.member().empty() ? "" : " on " + w.member()) +
                                " (it was: " + w.message() + ")",
                      code, w.member()});
    qw::logger("view")->info("{}", events.back().message);
  }
  if (record_) record_(events);
}

}  // namespace qw::aggregator
