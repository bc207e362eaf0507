#pragma once
// A small HTTP/1.1 client over Boost.Beast: one request per connection, a deadline on the whole
// exchange, http or https (CA + optional client certificate). Errors are values, never thrown.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "qw/tls_client.h"
#include "qw/url.h"

namespace qw {

struct HttpResult {
  bool ok = false;    // a response arrived (any status)
  int status = 0;     // HTTP status
  std::string body;   // response body
  std::string error;  // transport error when !ok: "connection refused", "timeout", ...
  int64_t latency_us = 0;
};

struct HttpRequest {
  std::string method = "GET";
  std::string body;
  std::string content_type = "application/json";
  std::string bearer_token;  // sent as Authorization: Bearer (never logged)
  std::chrono::milliseconds timeout{1000};
  uint64_t body_limit = 16 * 1024 * 1024;
  // Bytes asked of each read. Beast's default for a fresh buffer is 512, which turned etcd's
  // 150 KB /metrics into ~300 reads and as many epoll waits; a scrape sets 64 KiB.
  size_t read_chunk = 4096;
  // When set, the body goes here piece by piece as it arrives (at most read_chunk bytes a piece)
  // and HttpResult::body stays empty: a large body is never held whole. The status is known
  // before the first piece (a caller checks it in the result afterwards).
  std::function<void(std::string_view)> on_body;
};

// A blocking host lookup (getaddrinfo by default): host and port as in the URL, IPv6 literals
// without brackets.
using HostLookup = std::function<std::vector<boost::asio::ip::tcp::endpoint>(
    const std::string& host, const std::string& port, boost::system::error_code& ec)>;

// The endpoints of url's host, found before `deadline`: an IP literal at once, a name by
// `lookup` (empty: getaddrinfo) on a thread of its own. A lookup still running at the deadline
// is abandoned (its thread finishes on its own; a hung resolver cannot hold the caller) and `ec`
// is timed_out with `*timed_out` set.
boost::asio::awaitable<std::vector<boost::asio::ip::tcp::endpoint>> resolveWithDeadline(
    const Url& url, std::chrono::steady_clock::time_point deadline, boost::system::error_code& ec,
    bool* timed_out = nullptr, HostLookup lookup = {});

// Asynchronous request; `tls` may be null for http URLs.
boost::asio::awaitable<HttpResult> httpFetch(const Url& url, const std::string& target,
                                             HttpRequest req,
                                             std::shared_ptr<TlsClientContext> tls);

// A kept-alive connection to one endpoint, for a caller that polls it (the agent's probes every
// second): one TCP connect (and TLS handshake) instead of one per request, and no resolver for IP
// literals. A request that fails on a reused connection (the server closed it while idle) is
// retried once on a fresh one. Not for concurrent use: one request at a time.
class HttpSession {
 public:
  HttpSession(Url url, std::shared_ptr<TlsClientContext> tls);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  boost::asio::awaitable<HttpResult> fetch(const std::string& target, HttpRequest req);
  void close();
  // Between requests: `on_close` runs once when the server closes the kept-alive connection (a
  // killed server's kernel closes it at once), so a poller can probe now instead of at its next
  // tick. Nothing happens without an open connection; the next fetch (or unwatch) ends the
  // watch. Costs no wake-up while the connection stays quiet.
  void watchClose(std::function<void()> on_close);
  void unwatch();
  uint64_t connects() const { return connects_; }
  // Replaces getaddrinfo for names (tests of the resolve deadline).
  void setLookup(HostLookup lookup) { lookup_ = std::move(lookup); }

 private:
  struct Conn;
  boost::asio::awaitable<void> connect(std::chrono::milliseconds timeout,
                                       boost::system::error_code& ec);
  Url url_;
  std::shared_ptr<TlsClientContext> tls_;
  std::unique_ptr<Conn> conn_;
  uint64_t connects_ = 0;
  HostLookup lookup_;
  bool resolve_timed_out_ = false;
  std::shared_ptr<bool> watch_;  // watchClose's pending wait (*watch_: still standing)
};

// Blocking convenience wrapper (CLI, tests): runs its own io_context.
HttpResult httpFetchSync(const std::string& url, HttpRequest req = {},
                         std::shared_ptr<TlsClientContext> tls = nullptr);

// Human-readable transport error ("connection refused", "timeout", "TLS: ..."): describeNetError
// plus the TLS client's error category.
std::string describeError(const boost::system::error_code& ec);

}  // namespace qw
