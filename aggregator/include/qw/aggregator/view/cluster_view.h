#pragma once
// The cluster's quorum view (DESIGN.md sections 6 and 7.1): membership arithmetic with reasons.
// A pure function of plain data (ClusterInput), built from the hub at one instant, so it is
// unit-tested without I/O or real time, and "pretend node X is down" (what-if, the risk engine)
// is a change to the input, not to the hub.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/alarms.h"
#include "qw/aggregator/model/cluster_input.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/model/signals.h"
#include "qw/aggregator/risk/engine.h"

namespace qw::aggregator {

struct ViewConfig {
  std::string cluster_name = "default";
  int64_t stale_after_ms = 5000;  // an agent silent this long has no fresh data
  uint64_t max_apply_lag = 5000;  // applied-index distance to the leader still "healthy"
  // The risk model (risk/table.h); null: the view is membership arithmetic only, without a
  // probability or factors (the aggregator always sets one).
  std::shared_ptr<const risk::Table> risk_table;
};

// The node's newest sample is recent enough to stand for its present state (one rule for the view
// and /metrics): received by this process within stale_after_ms, from an agent whose session has
// not ended since (a closed session is news at once; a silent one after stale_after_ms).
bool nodeFresh(const NodeState& n, const ViewConfig& cfg, int64_t now_steady_ms);

// The alarms raised now, by the one alarm rule (model/alarms.h) over the fresh nodes.
AlarmSet clusterAlarms(const std::vector<NodeInput>& nodes);

ClusterInput clusterInput(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                          int64_t now_steady_ms);
qw::api::ClusterView computeClusterView(const ClusterInput& in);

// clusterInput + computeClusterView.
qw::api::ClusterView computeClusterView(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                                        int64_t now_steady_ms);

}  // namespace qw::aggregator
