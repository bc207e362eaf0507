// GET /api/v1/snapshots: the cluster's snapshot catalogue (snapshots/catalog.h).
#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/snapshots/catalog.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

void addSnapshotRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/api/v1/snapshots", [&s](const Request& req, const PathParams&) {
    qw::api::SnapshotList list;
    if (s.snapshots) list = s.snapshots->list(s.clock.wallMs());
    return jsonResponse(req, http::status::ok, toJson(list));
  });
}

}  // namespace qw::aggregator
