// /api/v1/metrics, /api/v1/nodes/{name}/series and /api/v1/events: what the store holds.
#include <cmath>

#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/params.h"
#include "qw/aggregator/model/series.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

namespace {

Response bad(const Request& req, const std::string& detail) {
  return errorResponse(req, http::status::bad_request, "bad_request", detail);
}

Response series(ApiContext& s, const Request& req, const std::string& node) {
  auto q = queryParams(req.target());
  if (!s.hub.findNode(node))
    return errorResponse(req, http::status::not_found, "not_found", "no node '" + node + "'");
  auto mit = q.find("metric");
  if (mit == q.end() || mit->second.empty())
    return bad(req, "metric is required (GET /api/v1/metrics lists them)");
  std::string fixed_agg;
  int metric = findMetric(mit->second, &fixed_agg);
  if (metric < 0)
    return errorResponse(req, http::status::not_found, "not_found",
                         "no metric '" + mit->second + "' (GET /api/v1/metrics lists them)");
  const auto& def = metricCatalog()[static_cast<size_t>(metric)];
  int64_t now = s.clock.wallMs();
  std::string err;
  int64_t to = 0, from = 0;
  if (!timeParam(q, "to", now, &to, &err)) return bad(req, err);
  if (!timeParam(q, "from", to - 3600'000, &from, &err)) return bad(req, err);
  if (from > to) return bad(req, "from is after to");
  int64_t step = 0;
  if (auto it = q.find("step"); it != q.end() && !it->second.empty()) {
    auto st = stepParam(it->second);
    if (!st)
      return bad(req,
                 "step must be seconds or a duration like 10s, 1m, 1h; got '" + it->second + "'");
    step = *st;
    if (step < 1000) return bad(req, "step must be at least 1s");
  } else {
    // About 500 points; whole minutes (the rollups) once a step reaches a minute.
    step = std::max<int64_t>(1000, ((to - from) / 500 + 999) / 1000 * 1000);
    if (step >= 60'000) step = (step + 59'999) / 60'000 * 60'000;
  }
  int64_t buckets = (to - from) / step + 1;
  if (static_cast<size_t>(buckets) > s.max_series_points)
    return bad(req, "from..to at step " + std::to_string(step / 1000) + "s is " +
                        std::to_string(buckets) + " points; at most " +
                        std::to_string(s.max_series_points) + ": raise step");
  std::string agg = fixed_agg;
  if (auto it = q.find("agg"); it != q.end() && !it->second.empty()) {
    if (!fixed_agg.empty() && it->second != fixed_agg)
      return bad(req, mit->second + " is always " + fixed_agg);
    agg = it->second;
  }
  if (agg.empty()) agg = defaultAgg(def.kind);
  std::vector<Store::SeriesPoint> pts;
  if (auto e = s.store.querySeries(node, metric, from, to, step, agg, &pts)) return bad(req, *e);
  qw::api::Series out;
  out.set_node(node);
  out.set_metric(mit->second);
  out.set_agg(agg);
  out.set_step_seconds(static_cast<double>(step) / 1000.0);
  out.set_from(static_cast<double>(from) / 1000.0);
  out.set_to(static_cast<double>(to) / 1000.0);
  out.mutable_points()->Reserve(static_cast<int>(pts.size()));
  for (const auto& p : pts) {
    if (!std::isfinite(p.value)) continue;  // JSON has no NaN; an unknown value is absent
    auto* o = out.add_points();
    o->set_ts(static_cast<double>(p.ts_ms) / 1000.0);
    o->set_value(p.value);
  }
  return jsonResponse(req, http::status::ok, toJsonFast(out));
}

Response events(ApiContext& s, const Request& req) {
  auto q = queryParams(req.target());
  int64_t since = 0;
  std::string err;
  if (!timeParam(q, "since", s.clock.wallMs() - 86400'000, &since, &err)) return bad(req, err);
  auto limit = intParam(q, "limit", 1000, 1, 10000);
  if (!limit) return bad(req, "limit must be an integer from 1 to 10000");
  std::string kind = q.count("kind") ? q["kind"] : "";
  if (!kind.empty() && eventKind(kind) == qw::api::Event::KIND_UNSPECIFIED)
    return bad(req, "unknown event kind '" + kind + "'");
  std::string node = q.count("node") ? q["node"] : "";
  if (!node.empty() && !s.hub.findNode(node))
    return errorResponse(req, http::status::not_found, "not_found", "no node '" + node + "'");
  qw::api::EventList list;
  for (const auto& se : s.store.events(since, kind, node, static_cast<int>(*limit))) {
    auto* e = list.add_events();
    e->set_id(static_cast<double>(se.id));
    e->set_ts(static_cast<double>(se.e.ts_ms) / 1000.0);
    e->set_at(rfc3339(se.e.ts_ms));
    e->set_kind(eventKind(se.e.kind));
    e->set_node(se.e.node);
    e->set_severity(severityOf(se.e.severity));
    e->set_message(se.e.message);
    e->set_code(se.e.code);
    e->set_member(se.e.member);
  }
  return jsonResponse(req, http::status::ok, toJson(list));
}

}  // namespace

void addHistoryRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/api/v1/metrics", [](const Request& req, const PathParams&) {
    qw::api::MetricList list;
    for (const auto& d : metricCatalog()) {
      auto* m = list.add_metrics();
      m->set_name(d.name);
      m->set_kind(metricKind(d.kind));
      m->set_unit(d.unit);
      m->set_help(d.help);
      m->set_default_agg(defaultAgg(d.kind));
    }
    return jsonResponse(req, http::status::ok, toJson(list));
  });
  r.add(http::verb::get, "/api/v1/nodes/{name}/series",
        [&s](const Request& req, const PathParams& p) { return series(s, req, p.at("name")); });
  r.add(http::verb::get, "/api/v1/events",
        [&s](const Request& req, const PathParams&) { return events(s, req); });
}

}  // namespace qw::aggregator
