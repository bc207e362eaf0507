#pragma once
// A small HTTP/1.1 client over Boost.Beast: one request per connection, a deadline on the whole
// exchange, http or https (CA + optional client certificate). Errors are values, never thrown.
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "qw/url.h"

namespace qw {

struct HttpResult {
  bool ok = false;      // a response arrived (any status)
  int status = 0;       // HTTP status
  std::string body;     // response body
  std::string error;    // transport error when !ok: "connection refused", "timeout", ...
  int64_t latency_us = 0;
};

struct HttpRequest {
  std::string method = "GET";
  std::string body;
  std::string content_type = "application/json";
  std::string bearer_token;  // sent as Authorization: Bearer (never logged)
  std::chrono::milliseconds timeout{1000};
  size_t body_limit = 16 * 1024 * 1024;
};

// TLS client context. ca: file with trusted CA (empty: system store); cert/key: client identity.
// Throws std::runtime_error with a readable message (start-up only).
std::shared_ptr<boost::asio::ssl::context> makeClientTls(const std::string& ca,
                                                         const std::string& cert,
                                                         const std::string& key);

// Asynchronous request; `tls` may be null for http URLs.
boost::asio::awaitable<HttpResult> httpFetch(const Url& url, const std::string& target,
                                             HttpRequest req,
                                             std::shared_ptr<boost::asio::ssl::context> tls);

// Blocking convenience wrapper (CLI, tests): runs its own io_context.
HttpResult httpFetchSync(const std::string& url, HttpRequest req = {},
                         std::shared_ptr<boost::asio::ssl::context> tls = nullptr);

// Human-readable transport error ("connection refused", "timeout").
std::string describeError(const boost::system::error_code& ec);

}  // namespace qw
