#pragma once
// The cluster's quorum view (DESIGN.md sections 6 and 7.1): membership arithmetic with reasons.
// A pure function of the hub's contents and `now`, so it is unit-tested without I/O or real time.
#include <cstdint>
#include <string>

#include "api.pb.h"
#include "qw/aggregator/model/hub.h"

namespace qw::aggregator {

struct ViewConfig {
  std::string cluster_name = "default";
  int64_t stale_after_ms = 5000;  // an agent silent this long has no fresh data
  uint64_t max_apply_lag = 5000;  // applied-index distance to the leader still "healthy"
  uint32_t horizon_seconds = 86400;
};

// The node's newest sample is recent enough to stand for its present state (one rule for the view
// and /metrics): received by this process within stale_after_ms.
bool nodeFresh(const NodeState& n, const ViewConfig& cfg, int64_t now_steady_ms);

qw::api::ClusterView computeClusterView(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                                        int64_t now_steady_ms);

}  // namespace qw::aggregator
