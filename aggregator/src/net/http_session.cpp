#include "qw/aggregator/net/http_session.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "qw/aggregator/api/params.h"
#include "qw/aggregator/net/agent_session.h"
#include "qw/aggregator/net/server.h"
#include "qw/log.h"

namespace qw::aggregator {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// "ADDRESS:PORT" as the listener wrote it.
bool isLoopbackRemote(const std::string& remote) {
  auto colon = remote.rfind(':');
  boost::system::error_code ec;
  auto a = net::ip::make_address(remote.substr(0, colon), ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

template <class Stream>
net::awaitable<void> serve(Stream stream, std::string remote, HttpContext& ctx) {
  auto log = qw::logger("http");
  const auto& cfg = ctx.cfg;
  boost::system::error_code ec;
  beast::flat_buffer buf;
  auto& lowest = beast::get_lowest_layer(stream);
  for (;;) {
    lowest.expires_after(30s);
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    co_await http::async_read(stream, buf, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) break;
    Request req = parser.release();
    if (websocket::is_upgrade(req)) {
      Response refuse;
      bool refused = true;
      if (targetPath(req.target()) != "/v1/stream") {
        refuse = errorResponse(req, http::status::not_found, "not_found",
                               "the agent stream is at /v1/stream");
      } else if (!cfg.token.empty() && !bearerMatches(req, cfg.token)) {
        ++ctx.ingest.counters().auth_failures;
        log->warn("agent from {}: missing or wrong bearer token; refused", remote);
        refuse = errorResponse(req, http::status::unauthorized, "unauthorized",
                               "a valid 'Authorization: Bearer <token>' header is required");
      } else if (cfg.token.empty() && !cfg.allow_no_token) {
        ++ctx.ingest.counters().auth_failures;
        refuse = errorResponse(req, http::status::unauthorized, "unauthorized",
                               "no token configured and not listening on loopback");
      } else if (ctx.agents >= cfg.max_agents) {
        refuse = errorResponse(
            req, http::status::service_unavailable, "too_many_agents",
            "the aggregator serves at most " + std::to_string(cfg.max_agents) + " agents");
      } else {
        refused = false;
      }
      if (refused) {
        refuse.keep_alive(false);
        co_await http::async_write(stream, refuse, net::redirect_error(net::use_awaitable, ec));
        break;
      }
      lowest.expires_never();
      ctx.ingest.counters().connected_agents = ++ctx.agents;
      auto conn = std::make_shared<AgentSessionImpl<websocket::stream<Stream>>>(
          ctx.ingest, std::move(stream), remote, cfg.max_frame_bytes, cfg.idle_timeout);
      conn->setLink({remote, !std::is_same_v<Stream, beast::tcp_stream>, isLoopbackRemote(remote)});
      co_await conn->run(std::move(req));
      ctx.ingest.counters().connected_agents = --ctx.agents;
      co_return;
    }
    // A handler may wait (an agent's answer, within cfg.command_timeout): no read deadline then.
    lowest.expires_never();
    Response res = co_await ctx.router.dispatch(req);
    if (req.method() == http::verb::head) {  // the GET's headers, its length, no body
      auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    lowest.expires_after(30s);
    bool keep = res.keep_alive();
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !keep) break;
  }
  lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

net::awaitable<void> serveHttp(beast::tcp_stream stream, std::string remote, HttpContext& ctx) {
  return serve(std::move(stream), std::move(remote), ctx);
}

net::awaitable<void> serveHttp(beast::ssl_stream<beast::tcp_stream> stream, std::string remote,
                               HttpContext& ctx) {
  return serve(std::move(stream), std::move(remote), ctx);
}

}  // namespace qw::aggregator
