#include "qw/http_client.h"

#include "qw/net_error.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace qw {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string describeError(const boost::system::error_code& ec) {
  if (ec.category() == tlsCategory()) return "TLS: " + ec.message();
  return describeNetError(ec);
}

namespace {

std::vector<tcp::endpoint> getaddrinfoLookup(const std::string& host, const std::string& port,
                                             boost::system::error_code& ec) {
  std::vector<tcp::endpoint> out;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port, ec);
  if (!ec)
    for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

// What a lookup thread and the coroutine waiting for it share. The thread posts its answer to
// the executor only while the waiter still wants it (under the mutex), so an abandoned lookup
// touches nothing of the caller's.
struct LookupState {
  std::mutex mu;
  bool abandoned = false;
  bool done = false;
  std::vector<tcp::endpoint> endpoints;
  boost::system::error_code ec;
};

// Marks the lookup abandoned when the waiting coroutine returns or is destroyed.
struct AbandonOnExit {
  std::shared_ptr<LookupState> st;
  ~AbandonOnExit() {
    std::lock_guard<std::mutex> l(st->mu);
    st->abandoned = true;
  }
};

}  // namespace

net::awaitable<std::vector<tcp::endpoint>> resolveWithDeadline(
    const Url& url, std::chrono::steady_clock::time_point deadline, boost::system::error_code& ec,
    bool* timed_out, HostLookup lookup) {
  if (timed_out) *timed_out = false;
  std::vector<tcp::endpoint> out;
  std::string host = url.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    port = std::stoul(url.port);
  } catch (...) {
    port = 0;
  }
  // IP literals (the usual 127.0.0.1 etcd endpoint) need no lookup.
  boost::system::error_code aec;
  auto addr = net::ip::make_address(host, aec);
  if (!aec && port > 0 && port < 65536) {
    out.emplace_back(addr, static_cast<unsigned short>(port));
    co_return out;
  }
  // getaddrinfo cannot be cancelled (asio's resolver.cancel() only drops lookups that have not
  // started), so it runs on a thread of its own and the coroutine waits on a timer for the
  // earlier of its answer and the deadline.
  auto ex = co_await net::this_coro::executor;
  auto st = std::make_shared<LookupState>();
  AbandonOnExit guard{st};
  auto wake = std::make_shared<net::steady_timer>(ex, deadline);
  if (!lookup) lookup = getaddrinfoLookup;
  // The thread holds no timer of its own: an abandoned lookup may end after the io_context.
  std::weak_ptr<net::steady_timer> weak_wake = wake;
  std::thread([st, weak_wake, ex, lookup = std::move(lookup), h = host, p = url.port] {
    boost::system::error_code lec;
    auto eps = lookup(h, p, lec);
    std::lock_guard<std::mutex> l(st->mu);
    if (st->abandoned) return;
    st->endpoints = std::move(eps);
    st->ec = lec;
    st->done = true;
    net::post(ex, [weak_wake] {
      if (auto w = weak_wake.lock()) w->cancel();
    });
  }).detach();
  boost::system::error_code wec;
  co_await wake->async_wait(net::redirect_error(net::use_awaitable, wec));
  std::lock_guard<std::mutex> l(st->mu);
  if (!st->done) {
    st->abandoned = true;
    ec = net::error::timed_out;
    if (timed_out) *timed_out = true;
    co_return out;
  }
  ec = st->ec;
  co_return std::move(st->endpoints);
}

namespace {

// One request and its response on an open stream. The string body is kept whole; with
// req.on_body the body is read through a buffer of req.read_chunk bytes and handed over piece by
// piece (Beast's buffer_body).
template <class Stream>
net::awaitable<void> exchange(Stream& stream, const http::request<http::string_body>& r,
                              const HttpRequest& req, HttpResult& out, bool& keep_alive,
                              boost::system::error_code& ec) {
  co_await http::async_write(stream, r, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buf;
  buf.reserve(req.read_chunk);
  if (!req.on_body) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(req.body_limit);
    co_await http::async_read(stream, buf, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    out.status = static_cast<int>(parser.get().result_int());
    out.body = std::move(parser.get().body());
    keep_alive = parser.keep_alive();
    co_return;
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(req.body_limit);
  co_await http::async_read_header(stream, buf, parser,
                                   net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;
  out.status = static_cast<int>(parser.get().result_int());
  std::string piece(req.read_chunk, '\0');
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    co_await http::async_read(stream, buf, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return;
    size_t n = piece.size() - parser.get().body().size;
    if (n) req.on_body(std::string_view(piece.data(), n));
  }
  keep_alive = parser.keep_alive();
}

}  // namespace

struct HttpSession::Conn {
  explicit Conn(net::any_io_executor ex) : tcp(ex) {}
  Conn(net::any_io_executor ex, std::shared_ptr<TlsClientContext> ctx, const std::string& host)
      : tcp(ex), tls(std::in_place, beast::tcp_stream(ex), std::move(ctx), host) {}
  beast::tcp_stream tcp;         // plain http
  std::optional<TlsStream> tls;  // https
  beast::tcp_stream& lowest() { return tls ? tls->next_layer() : tcp; }
  bool used = false;
};

HttpSession::HttpSession(Url url, std::shared_ptr<TlsClientContext> tls)
    : url_(std::move(url)), tls_(std::move(tls)) {}

HttpSession::~HttpSession() {
  if (watch_) *watch_ = false;
}

void HttpSession::close() {
  if (watch_) {
    *watch_ = false;
    watch_.reset();
  }
  if (!conn_) return;
  beast::error_code ignored;
  conn_->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
  conn_->lowest().close();
  conn_.reset();
}

void HttpSession::watchClose(std::function<void()> on_close) {
  if (!conn_ || watch_) return;
  // *w: this watch still stands. The completion may run after the session is gone (its socket's
  // destruction aborts the wait): it touches the session only while *w holds.
  auto w = std::make_shared<bool>(true);
  watch_ = w;
  conn_->lowest().socket().async_wait(
      tcp::socket::wait_read,
      [this, w, on_close = std::move(on_close)](const boost::system::error_code& ec) {
        if (!*w) return;
        *w = false;
        watch_.reset();
        if (ec || !conn_) return;
        // Readable while idle: the peer closed (EOF) or reset. Bytes nobody asked for would
        // also wake us; the stream is unusable for the next request then, so that is a close too.
        close();
        on_close();
      });
}

void HttpSession::unwatch() {
  if (!watch_) return;
  *watch_ = false;
  watch_.reset();
  if (conn_) {
    beast::error_code ignored;
    conn_->lowest().socket().cancel(ignored);
  }
}

net::awaitable<void> HttpSession::connect(std::chrono::milliseconds timeout,
                                          boost::system::error_code& ec) {
  auto ex = co_await net::this_coro::executor;
  // The lookup of a name shares the request's deadline with the connect.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto endpoints = co_await resolveWithDeadline(url_, deadline, ec, &resolve_timed_out_, lookup_);
  if (ec) co_return;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (url_.tls()) {
    if (!tls_) {
      ec = net::error::operation_not_supported;
      co_return;
    }
    try {
      conn_ = std::make_unique<Conn>(ex, tls_, url_.host);
    } catch (const std::runtime_error&) {  // the TLS session could not be set up
      ec = net::error::invalid_argument;
      co_return;
    }
  } else {
    conn_ = std::make_unique<Conn>(ex);
  }
  auto& lowest = conn_->lowest();
  lowest.expires_after(std::max(left, std::chrono::milliseconds(1)));
  co_await lowest.async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
  if (!ec && conn_->tls) co_await conn_->tls->handshake(ec);
  if (!ec) {
    ++connects_;
    lowest.socket().set_option(tcp::no_delay(true), ec);
    ec = {};
  }
}

net::awaitable<HttpResult> HttpSession::fetch(const std::string& target, HttpRequest req) {
  unwatch();
  HttpResult out;
  if (url_.tls() && !tls_) {
    out.error = "https URL but no TLS context";
    co_return out;
  }
  auto start = std::chrono::steady_clock::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    boost::system::error_code ec;
    resolve_timed_out_ = false;
    bool reused = conn_ && conn_->used;
    if (!conn_) co_await connect(req.timeout, ec);
    if (!ec) {
      http::request<http::string_body> r{http::string_to_verb(req.method), target, 11};
      r.set(http::field::host, url_.host);
      r.set(http::field::user_agent, "quorumwatch");
      r.keep_alive(true);
      if (!req.bearer_token.empty())
        r.set(http::field::authorization, "Bearer " + req.bearer_token);
      if (!req.body.empty() || req.method == "POST") {
        r.set(http::field::content_type, req.content_type);
        r.body() = req.body;
        r.prepare_payload();
      }
      conn_->lowest().expires_after(req.timeout);
      bool keep_alive = false;
      if (conn_->tls)
        co_await exchange(*conn_->tls, r, req, out, keep_alive, ec);
      else
        co_await exchange(conn_->tcp, r, req, out, keep_alive, ec);
      if (!ec) {
        conn_->used = true;
        conn_->lowest().expires_never();
        out.ok = true;
        if (!keep_alive) close();
        break;
      }
    }
    close();  // a timed-out or broken exchange leaves the stream unusable
    out.error = resolve_timed_out_ ? "resolve timeout" : describeError(ec);
    // Only a reused connection that the server may have closed while idle earns a retry; a
    // timeout is the answer (a hung etcd must not cost two deadlines).
    // Never after a response began: a streamed body's pieces are already delivered.
    bool stale =
        out.status == 0 && (ec == http::error::end_of_stream || ec == net::error::eof ||
                            ec == net::error::connection_reset || ec == net::error::broken_pipe);
    if (!(reused && stale)) break;
  }
  out.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  co_return out;
}

net::awaitable<HttpResult> httpFetch(const Url& url, const std::string& target, HttpRequest req,
                                     std::shared_ptr<TlsClientContext> tls) {
  // One request on a session of its own, closed when it goes out of scope.
  HttpSession session(url, std::move(tls));
  co_return co_await session.fetch(target, std::move(req));
}

HttpResult httpFetchSync(const std::string& url_text, HttpRequest req,
                         std::shared_ptr<TlsClientContext> tls) {
  auto url = parseUrl(url_text);
  if (!url) {
    HttpResult r;
    r.error = "malformed URL '" + url_text + "'";
    return r;
  }
  if (url->tls() && !tls) {
    try {
      tls = makeClientTls("", "", "");
    } catch (const std::exception& e) {
      HttpResult r;
      r.error = e.what();
      return r;
    }
  }
  net::io_context ioc;
  HttpResult result;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> { result = co_await httpFetch(*url, url->target, req, tls); },
      net::detached);
  ioc.run();
  return result;
}

}  // namespace qw
