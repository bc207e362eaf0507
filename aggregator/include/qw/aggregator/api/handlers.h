#pragma once
// The API's routes (README, "API"), one file per group: handlers_cluster.cpp (/healthz,
// /api/v1/cluster, /metrics, the page), handlers_nodes.cpp (/api/v1/nodes, a node, its config),
// handlers_history.cpp (/api/v1/metrics, a node's series, /api/v1/events), handlers_snapshots.cpp
// (/api/v1/snapshots), handlers_recovery.cpp (/api/v1/recovery/*), handlers_maintenance.cpp
// (/api/v1/maintenance).
#include <chrono>
#include <cstddef>
#include <functional>

#include "qw/aggregator/api/prometheus.h"
#include "qw/aggregator/api/router.h"
#include "qw/aggregator/ingest/ingest_service.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/model/maintenance.h"
#include "qw/aggregator/store/store.h"
#include "qw/aggregator/view/cluster_view.h"
#include "qw/aggregator/view/cluster_watch.h"
#include "qw/time_util.h"

namespace qw::aggregator {

class SnapshotCatalog;
class SnapshotKeeper;
class SnapshotScheduler;

// What the handlers read; owned by the Server, alive as long as its router.
struct ApiContext {
  Hub& hub;
  Store& store;
  IngestService& ingest;
  ClusterWatch& watch;
  const Clock& clock;
  ViewConfig view;
  size_t max_series_points = 11000;
  std::chrono::milliseconds command_timeout{5000};
  std::function<SelfStats()> stats;  // the aggregator's own counters (for /metrics)
  SnapshotCatalog* snapshots = nullptr;
  SnapshotKeeper* keeper = nullptr;
  std::string token;  // a mutating request (POST /api/v1/drills) must present it
  SnapshotScheduler* scheduler = nullptr;
  MaintenanceBook* maintenance = nullptr;  // planned stops (POST /api/v1/maintenance/{node})
};

// A request that changes something must carry the token, on loopback too; without a configured
// token nothing may change it. nullopt: allowed.
std::optional<Response> refuseUnauthorized(const Request& req, const ApiContext& s);

// The cluster view now (ClusterWatch::view: recent history and warnings included).
qw::api::ClusterView clusterView(ApiContext& ctx);

void addClusterRoutes(Router& r, ApiContext& ctx);
void addNodeRoutes(Router& r, ApiContext& ctx);
void addHistoryRoutes(Router& r, ApiContext& ctx);
void addSnapshotRoutes(Router& r, ApiContext& ctx);
void addRecoveryRoutes(Router& r, ApiContext& ctx);
void addMaintenanceRoutes(Router& r, ApiContext& ctx);

}  // namespace qw::aggregator
