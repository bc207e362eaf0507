#include "qw/aggregator/net/listener.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include "qw/log.h"
#include "qw/net_error.h"

namespace qw::aggregator {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

Listener::Listener(net::io_context& ioc, std::shared_ptr<net::ssl::context> tls, HttpContext& http)
    : ioc_(ioc), tls_(std::move(tls)), http_(http) {}

tcp::endpoint Listener::listen(const tcp::endpoint& ep) {
  acceptor_ = std::make_unique<tcp::acceptor>(ioc_);
  acceptor_->open(ep.protocol());
  acceptor_->set_option(net::socket_base::reuse_address(true));
  acceptor_->bind(ep);
  acceptor_->listen(net::socket_base::max_listen_connections);
  net::co_spawn(ioc_, acceptLoop(), net::detached);
  return acceptor_->local_endpoint();
}

void Listener::close() {
  closed_ = true;
  if (acceptor_) {
    beast::error_code ignored;
    acceptor_->close(ignored);
  }
}

net::awaitable<void> Listener::acceptLoop() {
  auto log = qw::logger("http");
  while (!closed_) {
    boost::system::error_code ec;
    tcp::socket sock =
        co_await acceptor_->async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ec == net::error::operation_aborted || closed_) break;
      log->warn("accept: {}", ec.message());  // e.g. EMFILE: keep serving what we have
      net::steady_timer t(ioc_, 100ms);
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    net::co_spawn(ioc_, handleConnection(std::move(sock)), net::detached);
  }
}

net::awaitable<void> Listener::handleConnection(tcp::socket sock) {
  boost::system::error_code ec;
  std::string remote;
  {
    auto ep = sock.remote_endpoint(ec);
    remote = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  if (!tls_) {
    co_await serveHttp(beast::tcp_stream(std::move(sock)), remote, http_);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *tls_);
  beast::get_lowest_layer(stream).expires_after(10s);
  co_await stream.async_handshake(net::ssl::stream_base::server,
                                  net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    ++http_.ingest.counters().tls_failures;
    qw::logger("http")->info("TLS handshake with {} failed: {}", remote, describeNetError(ec));
    co_return;
  }
  co_await serveHttp(std::move(stream), remote, http_);
}

}  // namespace qw::aggregator
