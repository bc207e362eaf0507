#pragma once
// --notify-webhook URL: each warning raised or cleared and each change of the cluster's state is
// POSTed to URL as JSON (api.proto's Notification), for those who run no Prometheus. Delivery is
// in order, one request at a time, retried with exponential backoff (1 s doubling to 60 s) while
// the receiver is down or answers 5xx, 408 or 429; a 2xx is delivered, another 4xx rejected
// (logged, counted, not retried). The queue is bounded: when full the oldest notification is
// dropped and counted, so a receiver down for days costs bounded memory and the newest state
// still arrives. `sequence` in each notification shows the receiver any gap.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api.pb.h"

namespace qw::aggregator {

struct WebhookConfig {
  std::string url;  // http://HOST[:PORT]/PATH or https://...; empty: off
  size_t queue_limit = 1000;
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
};

struct WebhookTarget {
  bool tls = false;
  std::string host, port, target;  // target: path and query ("/" at least)
};
// nullopt with `*err` set when `url` is no http(s) URL with a host.
std::optional<WebhookTarget> parseWebhookUrl(const std::string& url, std::string* err);

struct WebhookStats {
  uint64_t queued = 0;           // now
  uint64_t delivered = 0;        // 2xx
  uint64_t rejected = 0;         // 4xx other than 408/429: not retried
  uint64_t dropped = 0;          // the queue was full
  uint64_t failed_attempts = 0;  // no answer, or 5xx/408/429: retried
  std::string last_error;
};

class WebhookNotifier {
 public:
  WebhookNotifier(boost::asio::io_context& ioc, WebhookConfig cfg, WebhookTarget target);
  ~WebhookNotifier();
  // Queues `n` (its sequence is set here) and wakes the sender.
  void notify(qw::api::Notification n);
  WebhookStats stats() const;
  void shutdown();

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<std::optional<int>> postOnce(const std::string& body, std::string* err);

  boost::asio::io_context& ioc_;
  WebhookConfig cfg_;
  WebhookTarget target_;
  std::deque<std::string> queue_;
  WebhookStats stats_;
  uint64_t sequence_ = 0;
  boost::asio::steady_timer wake_;
  bool running_ = false, stopping_ = false, idle_ = false;
  struct Tls;
  std::unique_ptr<Tls> tls_;
};

}  // namespace qw::aggregator
