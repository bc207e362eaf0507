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
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/model/signals.h"

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

// One node as the view needs it.
struct NodeInput {
  std::string name;
  std::string failure_domain;
  std::string etcd_endpoint;
  uint64_t member_id = 0;  // the member this node runs (hub's mapping; 0: not known)
  bool fresh = false;
  int64_t silent_ms = -1;         // since its newest sample; -1: none since the aggregator started
  int64_t last_seen_wall_ms = 0;  // receive time of its newest sample
  qw::wire::EtcdSample etcd;      // its newest etcd answer (meaningful when fresh)
  MemberSignals signals;
};

using AlarmSet = std::set<std::pair<uint64_t, std::string>>;  // (member id, alarm)

struct ClusterInput {
  std::string cluster_name;
  uint64_t max_apply_lag = 5000;
  std::vector<MemberInfo> members;  // etcd's member list, voters and learners
  std::vector<NodeInput> nodes;
  AlarmSet alarms;          // clusterAlarms() of the fresh nodes
  uint64_t cluster_id = 0;  // etcd's cluster id watched (model/cluster_identity.h); 0: none yet
  std::vector<uint64_t> previous_cluster_ids;
  int64_t now_wall_ms = 0;
};

// The alarms raised now, by the one alarm rule (model/alarms.h) over the fresh nodes.
AlarmSet clusterAlarms(const std::vector<NodeInput>& nodes);

ClusterInput clusterInput(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                          int64_t now_steady_ms);
qw::api::ClusterView computeClusterView(const ClusterInput& in);

// clusterInput + computeClusterView.
qw::api::ClusterView computeClusterView(const Hub& hub, const ViewConfig& cfg, int64_t now_wall_ms,
                                        int64_t now_steady_ms);

}  // namespace qw::aggregator
