#include "qw/aggregator/notify/webhook.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "qw/aggregator/api/json.h"
#include "qw/log.h"
#include "qw/version.h"

namespace qw::aggregator {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

std::optional<WebhookTarget> parseWebhookUrl(const std::string& url, std::string* err) {
  WebhookTarget t;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    t.tls = true;
    rest = url.substr(8);
  } else {
    *err = "the webhook URL must start with http:// or https://";
    return std::nullopt;
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  t.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    *err = "the webhook URL must not hold a user or password (put a secret in its path)";
    return std::nullopt;
  }
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string::npos) {
      *err = "the webhook URL has an unclosed '[' in its host";
      return std::nullopt;
    }
    t.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      t.port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    t.host = authority.substr(0, colon);
    if (colon != std::string::npos) t.port = authority.substr(colon + 1);
  }
  if (t.host.empty()) {
    *err = "the webhook URL has no host";
    return std::nullopt;
  }
  if (t.port.empty()) t.port = t.tls ? "443" : "80";
  if (t.port.find_first_not_of("0123456789") != std::string::npos || t.port.size() > 5 ||
      std::stoi(t.port) == 0 || std::stoi(t.port) > 65535) {
    *err = "the webhook URL's port is not a number from 1 to 65535";
    return std::nullopt;
  }
  return t;
}

struct WebhookNotifier::Tls {
  net::ssl::context ctx{net::ssl::context::tls_client};
};

WebhookNotifier::WebhookNotifier(net::io_context& ioc, WebhookConfig cfg, WebhookTarget target)
    : ioc_(ioc), cfg_(std::move(cfg)), target_(std::move(target)), wake_(ioc) {
  if (target_.tls) {
    tls_ = std::make_unique<Tls>();
    tls_->ctx.set_default_verify_paths();
    tls_->ctx.set_verify_mode(net::ssl::verify_peer);
    SSL_CTX_set_min_proto_version(tls_->ctx.native_handle(), TLS1_2_VERSION);
  }
  wake_.expires_at(net::steady_timer::time_point::max());
  running_ = true;
  net::co_spawn(ioc_, run(), net::detached);
}

WebhookNotifier::~WebhookNotifier() = default;

void WebhookNotifier::shutdown() {
  stopping_ = true;
  wake_.cancel();
}

void WebhookNotifier::notify(qw::api::Notification n) {
  n.set_sequence(static_cast<double>(++sequence_));
  if (queue_.size() >= cfg_.queue_limit) {
    queue_.pop_front();
    ++stats_.dropped;
    qw::logger("notify")->warn("webhook queue full ({} notifications): the oldest was dropped",
                               cfg_.queue_limit);
  }
  queue_.push_back(toJson(n));
  stats_.queued = queue_.size();
  if (idle_) wake_.cancel();  // not while backing off: a stream of news must not hammer
}

WebhookStats WebhookNotifier::stats() const { return stats_; }

net::awaitable<std::optional<int>> WebhookNotifier::postOnce(const std::string& body,
                                                             std::string* err) {
  boost::system::error_code ec;
  auto tok = net::redirect_error(net::use_awaitable, ec);
  tcp::resolver resolver(ioc_);
  auto endpoints = co_await resolver.async_resolve(target_.host, target_.port, tok);
  if (ec) {
    *err = "cannot resolve " + target_.host + ": " + ec.message();
    co_return std::nullopt;
  }
  http::request<http::string_body> req{http::verb::post, target_.target, 11};
  req.set(http::field::host, target_.host);
  req.set(http::field::user_agent, std::string("quorumwatch-aggregator/") + qw::kVersion);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  auto exchange = [&](auto& stream, auto& lowest) -> net::awaitable<bool> {
    lowest.expires_after(cfg_.timeout);
    co_await http::async_write(stream, req, tok);
    if (ec) co_return false;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    co_await http::async_read(stream, buf, parser, tok);
    if (ec) co_return false;
    res = parser.release();
    co_return true;
  };
  bool ok = false;
  if (!target_.tls) {
    beast::tcp_stream s(ioc_);
    s.expires_after(cfg_.timeout);
    co_await s.async_connect(endpoints, tok);
    if (!ec) ok = co_await exchange(s, s);
    boost::system::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } else {
    beast::ssl_stream<beast::tcp_stream> s(ioc_, tls_->ctx);
    SSL_set_tlsext_host_name(s.native_handle(), target_.host.c_str());
    s.set_verify_callback(net::ssl::host_name_verification(target_.host));
    auto& lowest = beast::get_lowest_layer(s);
    lowest.expires_after(cfg_.timeout);
    co_await lowest.async_connect(endpoints, tok);
    if (!ec) co_await s.async_handshake(net::ssl::stream_base::client, tok);
    if (!ec) ok = co_await exchange(s, lowest);
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
  if (!ok) {
    *err = target_.host + ":" + target_.port + ": " + ec.message();
    co_return std::nullopt;
  }
  co_return static_cast<int>(res.result_int());
}

net::awaitable<void> WebhookNotifier::run() {
  auto log = qw::logger("notify");
  auto backoff = cfg_.first_backoff;
  while (!stopping_) {
    if (queue_.empty()) {
      wake_.expires_at(net::steady_timer::time_point::max());
      boost::system::error_code ec;
      idle_ = true;
      co_await wake_.async_wait(net::redirect_error(net::use_awaitable, ec));
      idle_ = false;
      continue;
    }
    std::string body = queue_.front();
    std::string err;
    auto status = co_await postOnce(body, &err);
    // The queue may have moved meanwhile (the oldest dropped): retire this one only if it is
    // still at the front.
    auto retire = [&] {
      if (!queue_.empty() && queue_.front() == body) queue_.pop_front();
      stats_.queued = queue_.size();
    };
    if (status && *status >= 200 && *status < 300) {
      ++stats_.delivered;
      retire();
      backoff = cfg_.first_backoff;
      continue;
    }
    if (status && *status >= 400 && *status < 500 && *status != 408 && *status != 429) {
      ++stats_.rejected;
      stats_.last_error = "HTTP " + std::to_string(*status);
      log->warn("webhook receiver answered HTTP {}: notification rejected, not retried", *status);
      retire();
      continue;
    }
    ++stats_.failed_attempts;
    stats_.last_error = status ? "HTTP " + std::to_string(*status) : err;
    log->warn("webhook delivery failed ({}); retrying in {} ms", stats_.last_error,
              backoff.count());
    wake_.expires_after(backoff);
    boost::system::error_code ec;
    co_await wake_.async_wait(net::redirect_error(net::use_awaitable, ec));
    backoff = std::min(backoff * 2, cfg_.max_backoff);
  }
  running_ = false;
}

}  // namespace qw::aggregator
