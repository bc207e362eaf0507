#pragma once
// Prometheus text exposition (format 0.0.4) of the cluster view, per-node signals and the
// aggregator's own health.
#include <cstdint>
#include <string>

#include "api.pb.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/view/cluster_view.h"

namespace qw::aggregator {

struct SelfStats {
  uint64_t batches_stored = 0;
  uint64_t batches_duplicate = 0;
  uint64_t samples_stored = 0;
  uint64_t commit_errors = 0;
  uint64_t bad_frames = 0;
  uint64_t auth_failures = 0;
  uint64_t transactions = 0;
  uint64_t connected_agents = 0;
  uint64_t tls_failures = 0;
  uint64_t points_stored = 0;
  uint64_t points_conflicts = 0;
  uint64_t db_full_errors = 0;
  uint64_t events_stored = 0;
  uint64_t rows_pruned = 0;
  uint64_t db_size_bytes = 0;
  uint64_t cluster_refusals = 0;  // batches refused: their etcd reports another cluster id
  // --notify-webhook (notify/webhook.h); left out of /metrics when off.
  bool webhook = false;
  uint64_t webhook_queued = 0, webhook_delivered = 0, webhook_rejected = 0, webhook_dropped = 0,
           webhook_failed_attempts = 0;
};

// Per-node values of a node whose newest sample is stale (nodeFresh) are left out: a dead
// node's last readings must not look live. Its agent_connected, spool and
// seconds-since-seen series stay.
std::string renderMetrics(const qw::api::ClusterView& view, const Hub& hub, const SelfStats& self,
                          const ViewConfig& cfg, int64_t now_steady_ms);
// The snapshot and drill gauges (snapshots/keeper.h); a value that is not known is left out.
std::string renderSnapshotMetrics(const std::string& cluster, const qw::api::SnapshotList& l,
                                  const qw::api::DrillList& d);
// Escapes a label value: backslash, double quote and newline.
std::string escapeLabel(const std::string& v);

}  // namespace qw::aggregator
