// GET /api/v1/recovery/plan[?lost=NODE,...]: the recovery plan for the cluster as it is now
// (recovery/planner.h), from the view, what the agents reported and the snapshot catalogue.
#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/params.h"
#include "qw/aggregator/recovery/planner.h"
#include "qw/aggregator/risk/table.h"
#include "qw/aggregator/snapshots/catalog.h"
#include "qw/aggregator/snapshots/keeper.h"
#include "qw/aggregator/view/node_view.h"
#include "qw/time_util.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

namespace {

// What the planner reads: the view, each node as its agent reported it, the snapshot catalogue.
PlannerInput plannerInput(ApiContext& s) {
  PlannerInput p;
  auto in = s.watch.input();
  p.view = computeClusterView(in);
  p.restarts_10m = in.recent.etcd_restarts_10m;
  p.mixed_changes = in.recent.mixed_changes;
  const auto& table = in.risk_table ? *in.risk_table : risk::defaultTable();
  if (const auto* w = table.warning(qw::api::Warning::BLIND_RESTARTS))
    p.blind_restarts = static_cast<int>(w->threshold);
  p.now_ms = s.clock.wallMs();
  for (const auto& [name, n] : s.hub.nodes()) {
    PlannerNode pn;
    pn.name = name;
    pn.agent_connected = n.connected;
    pn.flavor = n.etcd_flavor;
    pn.unit = n.etcd_unit;
    pn.etcd_endpoint = n.etcd_endpoint;
    pn.config = n.etcd_config;
    pn.revision = n.last_revision;
    pn.revision_wall_ms = n.last_revision_wall_ms;
    pn.disk_write_peak_bps = n.disk_write_peak_bps;
    auto v = buildNodeView(n, p.now_ms);
    pn.etcd_version = n.last_etcd_version;
    pn.etcd_reachable = n.connected && n.has_sample && n.latest.etcd().reachable();
    pn.etcd_pid = static_cast<int64_t>(v.etcd_pid());
    if (v.has_db_size_bytes()) pn.db_size = v.db_size_bytes();
    if (v.has_db_size_in_use_bytes()) pn.db_in_use = v.db_size_in_use_bytes();
    if (v.has_fs_avail_bytes()) pn.fs_avail = v.fs_avail_bytes();
    if (v.has_quota_backend_bytes()) pn.quota = v.quota_backend_bytes();
    p.nodes.push_back(std::move(pn));
  }
  for (const auto& [id, m] : s.hub.members())
    if (!m.name.empty()) p.peer_urls[m.name] = m.peer_urls;
  if (s.snapshots) {
    auto list = s.snapshots->list(p.now_ms);
    if (s.keeper) s.keeper->fill(&list);
    p.newest_verified = list.newest_verified();
    p.newest_drilled = list.newest_drilled();
    // Newest first: the first drilled one, else the first verified one.
    for (int pass = 0; pass < 2 && !p.restore_snapshot; ++pass)
      for (const auto& sn : list.snapshots()) {
        if (!sn.verified() || (pass == 0 && !sn.drilled())) continue;
        SnapshotRef r;
        r.node = sn.node();
        r.path = sn.path();
        r.sha256 = sn.sha256();
        if (sn.has_revision()) r.revision = static_cast<int64_t>(sn.revision());
        r.mtime_ms = qw::parseTimeArg(sn.mtime()).value_or(0);
        r.drilled = sn.drilled();
        for (const auto& c : list.copies())
          if (c.source_node() == sn.node() && c.source_path() == sn.path()) r.copy = c.file();
        p.restore_snapshot = r;
        break;
      }
  }
  return p;
}

}  // namespace

void addRecoveryRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/api/v1/recovery/plan", [&s](const Request& req, const PathParams&) {
    auto q = queryParams(req.target());
    std::vector<std::string> lost;
    if (auto it = q.find("lost"); it != q.end() && !it->second.empty()) {
      std::string list = it->second;
      size_t start = 0;
      while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string name =
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!name.empty()) {
          if (!s.hub.findNode(name))
            return errorResponse(req, http::status::bad_request, "bad_request",
                                 "lost: no node '" + name + "' (GET /api/v1/nodes lists them)");
          lost.push_back(name);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    PlannerInput p = plannerInput(s);
    p.lost = std::move(lost);
    return jsonResponse(req, http::status::ok, toJson(planRecovery(p)));
  });
  r.add(http::verb::get, "/api/v1/recovery/defrag", [&s](const Request& req, const PathParams&) {
    auto q = queryParams(req.target());
    PlannerInput p = plannerInput(s);
    if (auto it = q.find("pause"); it != q.end()) {
      auto ms = stepParam(it->second);
      if (!ms || *ms < 0 || *ms > 3600'000)
        return errorResponse(req, http::status::bad_request, "bad_request",
                             "pause: seconds or a duration from 0s to 1h, e.g. 10s");
      p.defrag_pause_seconds = static_cast<double>(*ms) / 1000.0;
    }
    return jsonResponse(req, http::status::ok, toJson(planDefrag(p)));
  });
}

}  // namespace qw::aggregator
