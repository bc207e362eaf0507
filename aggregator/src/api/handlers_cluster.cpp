// /healthz, /api/v1/cluster, /metrics and the dashboard page.
#include "api.pb.h"
#include "qw/aggregator/api/assets.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/params.h"
#include "qw/aggregator/risk/advice.h"
#include "qw/aggregator/snapshots/catalog.h"
#include "qw/aggregator/snapshots/keeper.h"
#include "qw/aggregator/view/whatif.h"
#include "qw/log.h"
#include "qw/strings.h"
#include "qw/version.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

const char* const kDashboardPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

qw::api::ClusterView clusterView(ApiContext& s) { return s.watch.view(); }

void addClusterRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/healthz", [](const Request& req, const PathParams&) {
    qw::api::Health h;
    h.set_status("ok");
    h.set_version(qw::kVersion);
    return jsonResponse(req, http::status::ok, toJson(h));
  });
  r.add(http::verb::get, "/api/v1/cluster", [&s](const Request& req, const PathParams&) {
    auto v = clusterView(s);
    return jsonResponse(req, http::status::ok, toJson(v));
  });
  r.add(http::verb::get, "/api/v1/whatif", [&s](const Request& req, const PathParams&) {
    auto q = queryParams(req.target());
    std::vector<std::string> down;
    if (auto it = q.find("down"); it != q.end())
      for (auto d : qw::split(it->second, ','))
        if (!d.empty()) down.emplace_back(d);
    if (down.empty())
      return errorResponse(req, http::status::bad_request, "bad_request",
                           "down is required: the node(s) to stop, comma-separated");
    for (const auto& d : down)
      if (!s.hub.findNode(d))
        return errorResponse(req, http::status::not_found, "not_found", "no node '" + d + "'");
    return jsonResponse(req, http::status::ok, toJson(whatIf(s.watch.input(), down)));
  });
  r.add(http::verb::get, "/api/v1/advice", [&s](const Request& req, const PathParams&) {
    return jsonResponse(req, http::status::ok, toJson(risk::timingAdvice(s.watch.input())));
  });
  r.add(http::verb::get, "/metrics", [&s](const Request& req, const PathParams&) {
    auto v = clusterView(s);
    SelfStats self = s.stats();
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = renderMetrics(v, s.hub, self, s.view, s.clock.steadyMs());
    if (s.keeper) {
      qw::api::SnapshotList l;
      if (s.snapshots) l = s.snapshots->list(s.clock.wallMs());
      s.keeper->fill(&l);
      res.body() += renderSnapshotMetrics(v.cluster_name(), l, s.keeper->drills());
    }
    res.prepare_payload();
    return res;
  });
  // The dashboard (aggregator/web/, compiled in): "/" is index.html. Every answer carries a
  // strong ETag and "no-cache" (revalidate each time: the names carry no hash, so an upgraded
  // aggregator must never be shadowed by a cached file), and a policy that lets the page load
  // only its own files and talk only to this origin.
  for (const auto& asset : webAssets()) {
    auto serve = [&asset](const Request& req, const PathParams&) {
      auto match = req[http::field::if_none_match];
      bool fresh = !match.empty() && (match == asset.etag || match == "*" ||
                                      match.find(asset.etag) != std::string_view::npos);
      Response res{fresh ? http::status::not_modified : http::status::ok, req.version()};
      res.set(http::field::server, "quorumwatch-aggregator");
      res.set(http::field::etag, asset.etag);
      res.set(http::field::cache_control, "no-cache");
      res.set(http::field::content_type, asset.content_type);
      res.set("Content-Security-Policy", kDashboardPolicy);
      res.set("X-Content-Type-Options", "nosniff");
      res.set("Referrer-Policy", "no-referrer");
      res.set("X-Frame-Options", "DENY");
      res.keep_alive(req.keep_alive());
      if (!fresh) res.body() = std::string(asset.body);
      res.prepare_payload();
      return res;
    };
    r.add(http::verb::get, std::string(asset.path), serve);
    if (asset.path == "/index.html") r.add(http::verb::get, "/", serve);
  }
}

}  // namespace qw::aggregator
