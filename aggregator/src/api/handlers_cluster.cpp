// /healthz, /api/v1/cluster, /metrics and the dashboard page.
#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/page.h"
#include "qw/aggregator/api/params.h"
#include "qw/aggregator/view/whatif.h"
#include "qw/log.h"
#include "qw/strings.h"
#include "qw/version.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

// The view with the risk engine's window of recent history: the last hour of the event log.
// Unreadable: left unknown (the engine then leaves those factors out), logged.
namespace {

ClusterInput currentInput(ApiContext& s) {
  int64_t now = s.clock.wallMs();
  auto in = clusterInput(s.hub, s.view, now, s.clock.steadyMs());
  std::vector<Store::EventCount> counts;
  if (auto err = s.store.eventCounts(now - 3600'000, &counts)) {
    qw::logger("api")->warn("cannot read the last hour of events for the risk model: {}", *err);
  } else {
    in.recent.known = true;
    using K = qw::api::Event;
    for (const auto& c : counts) {
      if (c.kind == K::Kind_Name(K::LEADER_CHANGE)) in.recent.leader_changes += c.count;
      if (c.kind == K::Kind_Name(K::ETCD_RESTART)) in.recent.etcd_restarts[c.node] += c.count;
      if (c.kind == K::Kind_Name(K::NODE_REBOOT)) in.recent.node_reboots[c.node] += c.count;
    }
  }
  return in;
}

}  // namespace

qw::api::ClusterView clusterView(ApiContext& s) { return computeClusterView(currentInput(s)); }

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
    return jsonResponse(req, http::status::ok, toJson(whatIf(currentInput(s), down)));
  });
  r.add(http::verb::get, "/metrics", [&s](const Request& req, const PathParams&) {
    auto v = clusterView(s);
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
