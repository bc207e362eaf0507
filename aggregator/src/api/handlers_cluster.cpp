// /healthz, /api/v1/cluster, /metrics and the dashboard page.
#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/page.h"
#include "qw/version.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

void addClusterRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/healthz", [](const Request& req, const PathParams&) {
    qw::api::Health h;
    h.set_status("ok");
    h.set_version(qw::kVersion);
    return jsonResponse(req, http::status::ok, toJson(h));
  });
  r.add(http::verb::get, "/api/v1/cluster", [&s](const Request& req, const PathParams&) {
    auto v = computeClusterView(s.hub, s.view, s.clock.wallMs(), s.clock.steadyMs());
    return jsonResponse(req, http::status::ok, toJson(v));
  });
  r.add(http::verb::get, "/metrics", [&s](const Request& req, const PathParams&) {
    auto v = computeClusterView(s.hub, s.view, s.clock.wallMs(), s.clock.steadyMs());
    SelfStats self = s.stats();
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = renderMetrics(v, s.hub, self, s.view, s.clock.steadyMs());
    res.prepare_payload();
    return res;
  });
  auto page = [](const Request& req, const PathParams&) {
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = kDashboardPage;
    res.prepare_payload();
    return res;
  };
  r.add(http::verb::get, "/", page);
  r.add(http::verb::get, "/index.html", page);
}

}  // namespace qw::aggregator
