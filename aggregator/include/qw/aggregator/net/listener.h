#pragma once
// The aggregator's port: the accept loop, and per connection the TLS handshake (OpenSSL, when
// the ServerConfig has a TLS context) before the HTTP session.
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "qw/aggregator/net/http_session.h"

namespace qw::aggregator {

class Listener {
 public:
  // `tls` null: plain TCP.
  Listener(boost::asio::io_context& ioc, std::shared_ptr<boost::asio::ssl::context> tls,
           HttpContext& http);
  // Binds and starts accepting. Returns the bound endpoint. Throws on bind failure.
  boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& ep);
  void close();

 private:
  boost::asio::awaitable<void> acceptLoop();
  boost::asio::awaitable<void> handleConnection(boost::asio::ip::tcp::socket sock);

  boost::asio::io_context& ioc_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  HttpContext& http_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  bool closed_ = false;
};

}  // namespace qw::aggregator
