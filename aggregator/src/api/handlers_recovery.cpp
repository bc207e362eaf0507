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

namespace qw::aggregator {

namespace http = boost::beast::http;

void addRecoveryRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/api/v1/recovery/plan", [&s](const Request& req, const PathParams&) {
    auto q = queryParams(req.target());
    PlannerInput p;
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
          p.lost.push_back(name);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    auto in = s.watch.input();
    p.view = computeClusterView(in);
    p.restarts_10m = in.recent.etcd_restarts_10m;
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
      p.nodes.push_back(std::move(pn));
    }
    for (const auto& [id, m] : s.hub.members())
      if (!m.name.empty()) p.peer_urls[m.name] = m.peer_urls;
    if (s.snapshots) {
      auto list = s.snapshots->list(p.now_ms);
      if (s.keeper) s.keeper->fill(&list);
      p.newest_verified = list.newest_verified();
      p.newest_drilled = list.newest_drilled();
    }
    return jsonResponse(req, http::status::ok, toJson(planRecovery(p)));
  });
}

}  // namespace qw::aggregator
