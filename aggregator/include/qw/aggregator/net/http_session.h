#pragma once
// One HTTP connection (plain or TLS): reads requests and answers them from the route table, or
// hands an accepted WebSocket upgrade at /v1/stream to an agent session.
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "qw/aggregator/api/router.h"
#include "qw/aggregator/ingest/ingest_service.h"

namespace qw::aggregator {

struct ServerConfig;

// What every connection shares; owned by the Server.
struct HttpContext {
  const ServerConfig& cfg;
  IngestService& ingest;
  const Router& router;
  size_t agents = 0;  // agent sessions open now (--max-agents)
};

boost::asio::awaitable<void> serveHttp(boost::beast::tcp_stream stream, std::string remote,
                                       HttpContext& ctx);
boost::asio::awaitable<void> serveHttp(boost::beast::ssl_stream<boost::beast::tcp_stream> stream,
                                       std::string remote, HttpContext& ctx);

}  // namespace qw::aggregator
