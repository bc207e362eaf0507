// /api/v1/nodes, /api/v1/nodes/{name}, /api/v1/nodes/{name}/config (asked of the agent) and
// /api/v1/nodes/{name}/etcd-config (the newest the agent sent).
#include "api.pb.h"
#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/view/node_view.h"
#include "qw/fs_util.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

namespace {

qw::api::NodeView nodeView(const ApiContext& s, const NodeState& n) {
  return buildNodeView(n, s.clock.wallMs());
}

// GET /api/v1/nodes/{name}/config: a GetConfig command to the node's agent, over its stream.
boost::asio::awaitable<Response> nodeConfig(ApiContext& s, const Request& req, std::string name) {
  if (!s.hub.findNode(name))
    co_return errorResponse(req, http::status::not_found, "not_found", "no node '" + name + "'");
  qw::wire::Command cmd;
  cmd.mutable_get_config();
  auto r = co_await s.ingest.command(name, std::move(cmd), s.command_timeout);
  using K = CommandReply::Kind;
  switch (r.kind) {
    case K::kNotConnected:
      co_return errorResponse(req, http::status::service_unavailable, "agent_not_connected",
                              "the agent of node '" + name + "' is not connected: " + r.message);
    case K::kNotSupported:
      co_return errorResponse(req, http::status::not_implemented, "not_supported",
                              "node '" + name + "': " + r.message);
    case K::kTimeout:
      co_return errorResponse(req, http::status::gateway_timeout, "timeout",
                              "node '" + name + "': " + r.message);
    case K::kFailed:
      co_return errorResponse(req, http::status::bad_gateway, "command_failed",
                              "node '" + name + "': " + r.message);
    case K::kOk:
      break;
  }
  qw::wire::ConfigReport rep;
  if (!rep.ParseFromString(r.payload))
    co_return errorResponse(req, http::status::bad_gateway, "command_failed",
                            "node '" + name + "' sent a malformed config report");
  qw::api::NodeConfig out;
  out.set_node(name);
  out.set_agent_version(rep.agent_version());
  out.set_flavor(rep.flavor());
  out.set_flavor_reason(rep.flavor_reason());
  for (const auto& e : rep.entries()) {
    auto* o = out.add_entries();
    o->set_key(e.key());
    o->set_value(e.value());
    o->set_source(e.source());
  }
  for (const auto& u : rep.unsupported()) out.add_unsupported(u);
  co_return jsonResponse(req, http::status::ok, toJson(out));
}

}  // namespace

void addNodeRoutes(Router& r, ApiContext& s) {
  r.add(http::verb::get, "/api/v1/nodes", [&s](const Request& req, const PathParams&) {
    qw::api::NodeList list;
    for (const auto& [name, n] : s.hub.nodes()) *list.add_nodes() = nodeView(s, n);
    return jsonResponse(req, http::status::ok, toJson(list));
  });
  r.add(http::verb::get, "/api/v1/nodes/{name}", [&s](const Request& req, const PathParams& p) {
    const std::string& name = p.at("name");
    const auto* n = s.hub.findNode(name);
    if (!n)
      return errorResponse(req, http::status::not_found, "not_found", "no node '" + name + "'");
    return jsonResponse(req, http::status::ok, toJson(nodeView(s, *n)));
  });
  r.add(http::verb::get, "/api/v1/nodes/{name}/etcd-config",
        [&s](const Request& req, const PathParams& p) {
          const std::string& name = p.at("name");
          const auto* n = s.hub.findNode(name);
          if (!n)
            return errorResponse(req, http::status::not_found, "not_found",
                                 "no node '" + name + "'");
          if (!n->etcd_config)
            return errorResponse(req, http::status::not_found, "not_found",
                                 "node " + name + " has not reported etcd's configuration yet");
          return jsonResponse(req, http::status::ok,
                              toJson(etcdConfigView(*n->etcd_config, n->etcd_config_wall_ms)));
        });
  r.addAsync(
      http::verb::get, "/api/v1/nodes/{name}/config",
      [&s](const Request& req, const PathParams& p) { return nodeConfig(s, req, p.at("name")); });
}

}  // namespace qw::aggregator
