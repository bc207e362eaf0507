#pragma once
// The cluster as the API and the warnings see it, now: the hub's state at this instant with the
// risk engine's window of recent history (the event log's last hour, read at most once a second)
// and the warnings after hysteresis. evaluate() runs on every group commit of ingest and once a
// second besides (net/server.cpp), so a warning follows the sample that raised it, and a node
// that goes silent is noticed without a sample; every raise and clear becomes an event.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/cluster_input.h"
#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/model/maintenance.h"
#include "qw/aggregator/risk/warnings.h"
#include "qw/aggregator/store/store.h"
#include "qw/aggregator/view/cluster_view.h"
#include "qw/time_util.h"

namespace qw::aggregator {

class ClusterWatch {
 public:
  using Record = std::function<void(const std::vector<Event>&)>;
  ClusterWatch(const Hub& hub, const ViewConfig& cfg, Store& store, const Clock& clock,
               Record record);

  // The input of the view now: hub, recent history, the raised warnings.
  ClusterInput input();
  qw::api::ClusterView view() { return computeClusterView(input()); }
  // The conditions now through the hysteresis; raises and clears are recorded as events.
  void evaluate();
  std::vector<qw::api::Warning> active() const { return tracker_.active(); }
  uint64_t evaluations() const { return evaluations_; }
  // Where the snapshot state comes from (snapshots/keeper.h); unset: not known.
  void setSnapshotHealth(std::function<SnapshotHealth()> f) { snapshot_health_ = std::move(f); }
  // Planned stops (model/maintenance.h); unset: none. A window's start and end become events.
  void setMaintenance(MaintenanceBook* book) { maintenance_ = book; }
  // Called with each warning raised or cleared and each change of the state (notify/webhook.h).
  using Notify = std::function<void(qw::api::Notification)>;
  void setNotify(Notify n) { notify_ = std::move(n); }

 private:
  const RecentHistory& recent(int64_t now_wall_ms, int64_t now_steady_ms);
  // The view after these transitions: each one, and a changed state, to notify_.
  void notifyChanges(ClusterInput in, std::shared_ptr<const risk::Table> table,
                     const std::vector<risk::WarningTracker::Transition>& changes, int64_t wall);

  const Hub& hub_;
  const ViewConfig& cfg_;
  Store& store_;
  const Clock& clock_;
  Record record_;
  risk::WarningTracker tracker_;
  RecentHistory recent_;
  int64_t recent_read_steady_ms_ = -1;
  uint64_t evaluations_ = 0;
  std::function<SnapshotHealth()> snapshot_health_;
  MaintenanceBook* maintenance_ = nullptr;
  Notify notify_;
  std::optional<qw::api::ClusterView::State> last_state_;  // as last notified
  std::vector<MaintenanceWindow> last_maintenance_;        // as evaluate() last saw them
};

}  // namespace qw::aggregator
