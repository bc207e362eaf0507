// Planned maintenance windows (model/maintenance.h): GET /api/v1/maintenance lists them,
// POST /api/v1/maintenance/{node}?for=30m&reason=... opens one (token required), DELETE ends it.
#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/params.h"
#include "qw/log.h"
#include "qw/options.h"
#include "qw/time_util.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

namespace {

qw::api::Maintenance toApi(const MaintenanceWindow& w, int64_t now_ms) {
  qw::api::Maintenance m;
  m.set_node(w.node);
  m.set_started_at(rfc3339(w.started_wall_ms));
  m.set_until(rfc3339(w.until_wall_ms));
  m.set_reason(w.reason);
  m.set_remaining_seconds(std::max<int64_t>(0, w.until_wall_ms - now_ms) / 1000.0);
  return m;
}

}  // namespace

void addMaintenanceRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/api/v1/maintenance", [&s](const Request& req, const PathParams&) {
    qw::api::MaintenanceList l;
    int64_t now = s.clock.wallMs();
    if (s.maintenance)
      for (const auto& w : s.maintenance->active(now)) *l.add_windows() = toApi(w, now);
    return jsonResponse(req, http::status::ok, toJson(l));
  });
  r.add(http::verb::post, "/api/v1/maintenance/{node}",
        [&s](const Request& req, const PathParams& p) {
          if (auto refused = refuseUnauthorized(req, s)) return *refused;
          const std::string& node = p.at("node");
          if (!s.hub.findNode(node))
            return errorResponse(req, http::status::not_found, "not_found",
                                 "no node '" + node + "'");
          auto q = queryParams(req.target());
          auto it = q.find("for");
          if (it == q.end() || it->second.empty())
            return errorResponse(req, http::status::bad_request, "bad_request",
                                 "for is required: how long the node will be stopped (30m, 2h)");
          auto d = qw::parseDuration(it->second);
          if (!d || d->count() <= 0 || d->count() > MaintenanceBook::kMaxDurationMs)
            return errorResponse(req, http::status::bad_request, "bad_request",
                                 "for must be a duration from 1s to 24h, like 30m or 2h");
          std::string reason = q.count("reason") ? q.at("reason") : "";
          if (reason.size() > 200) reason.resize(200);
          int64_t now = s.clock.wallMs();
          auto w = s.maintenance->start(node, now, d->count(), reason);
          qw::logger("api")->info("planned maintenance of {} until {}{}", node,
                                  rfc3339(w.until_wall_ms), reason.empty() ? "" : ": " + reason);
          s.watch.evaluate();  // the event and the expected warnings now, not in a second
          return jsonResponse(req, http::status::ok, toJson(toApi(w, now)));
        });
  r.add(http::verb::delete_, "/api/v1/maintenance/{node}",
        [&s](const Request& req, const PathParams& p) {
          if (auto refused = refuseUnauthorized(req, s)) return *refused;
          const std::string& node = p.at("node");
          if (!s.maintenance->end(node))
            return errorResponse(req, http::status::not_found, "not_found",
                                 "node '" + node + "' is not in planned maintenance");
          qw::logger("api")->info("planned maintenance of {} ended early", node);
          s.watch.evaluate();
          qw::api::MaintenanceList l;
          return jsonResponse(req, http::status::ok, toJson(l));
        });
}

}  // namespace qw::aggregator
