// GET /api/v1/snapshots: the cluster's snapshot catalogue (snapshots/catalog.h) with the
// aggregator's own copies (snapshots/keeper.h) and the snapshots it has agents take
// (snapshots/scheduler.h); POST /api/v1/snapshots takes one now; GET and POST /api/v1/drills:
// restore drills.
#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/snapshots/catalog.h"
#include "qw/aggregator/snapshots/keeper.h"
#include "qw/aggregator/snapshots/scheduler.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

std::optional<Response> refuseUnauthorized(const Request& req, const ApiContext& s) {
  if (s.token.empty())
    return errorResponse(req, http::status::forbidden, "forbidden",
                         "this aggregator has no --token-file: requests that start work are "
                         "refused until one is configured");
  if (!bearerMatches(req, s.token))
    return errorResponse(req, http::status::unauthorized, "unauthorized",
                         "a valid 'Authorization: Bearer <token>' header is required");
  return std::nullopt;
}

void addSnapshotRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/api/v1/snapshots", [&s](const Request& req, const PathParams&) {
    qw::api::SnapshotList list;
    if (s.snapshots) list = s.snapshots->list(s.clock.wallMs());
    if (s.keeper) s.keeper->fill(&list);
    if (s.scheduler) s.scheduler->fill(&list);
    return jsonResponse(req, http::status::ok, toJson(list));
  });
  r.add(http::verb::post, "/api/v1/snapshots", [&s](const Request& req, const PathParams&) {
    if (auto refused = refuseUnauthorized(req, s)) return *refused;
    if (!s.scheduler)
      return errorResponse(req, http::status::conflict, "no_scheduler", "no snapshot scheduler");
    qw::api::SnapshotTake t;
    if (auto err = s.scheduler->startNow(&t))
      return errorResponse(req, http::status::conflict, "snapshot_not_started", *err);
    return jsonResponse(req, http::status::accepted, toJson(t));
  });
  r.add(http::verb::get, "/api/v1/drills", [&s](const Request& req, const PathParams&) {
    qw::api::DrillList list;
    if (s.keeper) list = s.keeper->drills();
    return jsonResponse(req, http::status::ok, toJson(list));
  });
  r.add(http::verb::post, "/api/v1/drills", [&s](const Request& req, const PathParams&) {
    if (auto refused = refuseUnauthorized(req, s)) return *refused;
    if (!s.keeper)
      return errorResponse(req, http::status::conflict, "no_drills", "no snapshot keeper");
    qw::api::Drill d;
    if (auto err = s.keeper->startDrill("api", &d))
      return errorResponse(req, http::status::conflict, "drill_not_started", *err);
    return jsonResponse(req, http::status::accepted, toJson(d));
  });
}

}  // namespace qw::aggregator
