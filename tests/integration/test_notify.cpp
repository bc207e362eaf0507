// --notify-webhook against a local HTTP receiver: a member killed and restarted arrives as
// warnings raised and cleared and state changes, in order, after the receiver's own failures
// (retried with backoff); a rejecting receiver is counted, not retried.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// One request per connection (the notifier closes after each); answers `status_for(n)` to the
// n-th request (from 0) and keeps the bodies of those answered 2xx.
class Receiver {
 public:
  explicit Receiver(std::function<int(int)> status_for) : status_for_(std::move(status_for)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { loop(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::vector<json> delivered() {
    std::lock_guard l(mu_);
    return bodies_;
  }
  int requests() const { return requests_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string in;
      char buf[4096];
      size_t need = std::string::npos;
      while (need == std::string::npos || in.size() < need) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 5000) <= 0) break;
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        auto end = in.find("\r\n\r\n");
        if (end != std::string::npos && need == std::string::npos) {
          auto cl = in.find("Content-Length: ");
          size_t length = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
          need = end + 4 + length;
        }
      }
      int status = status_for_(requests_++);
      if (status >= 200 && status < 300 && need != std::string::npos) {
        auto j = json::parse(in.substr(in.find("\r\n\r\n") + 4), nullptr, false);
        std::lock_guard l(mu_);
        bodies_.push_back(j);
      }
      std::string out = "HTTP/1.1 " + std::to_string(status) +
                        " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!::write(c, out.data(), out.size());
      ::close(c);
    }
  }
  std::function<int(int)> status_for_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> bodies_;
};

bool hasNotification(const std::vector<json>& got, const std::string& kind,
                     const std::string& what) {
  for (const auto& n : got) {
    if (n["kind"] != kind) continue;
    if (kind == "STATE_CHANGED" ? n["state"] == what : n["warning"]["code"] == what) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("notify: warnings and state changes reach a webhook in order, after its failures",
          "[notify]") {
  // The first three requests fail (503): they are retried, nothing is lost.
  Receiver rx([](int n) { return n < 3 ? 503 : 200; });
  ClusterStack s("qw-notify", 3, {}, {},
                 {"--notify-webhook", "http://127.0.0.1:" + std::to_string(rx.port()) + "/hook"});
  REQUIRE(s.waitView(healthyWithTolerance1, 40s));
  s.etcd.kill9(1);
  REQUIRE(waitFor(
      [&] {
        auto got = rx.delivered();
        return hasNotification(got, "WARNING_RAISED", "MEMBER_DOWN") &&
               hasNotification(got, "STATE_CHANGED", "CRITICAL");
      },
      60s, 200ms));
  s.etcd.restart(1);
  REQUIRE(waitFor(
      [&] {
        auto got = rx.delivered();
        std::string last_state;
        for (const auto& n : got)
          if (n["kind"] == "STATE_CHANGED") last_state = n["state"];
        return hasNotification(got, "WARNING_CLEARED", "MEMBER_DOWN") && last_state == "HEALTHY";
      },
      90s, 200ms));
  auto got = rx.delivered();
  // In order, none lost, none twice: sequences 1, 2, 3, ...
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(got[i].dump());
    CHECK(got[i]["sequence"].get<double>() == static_cast<double>(i + 1));
    CHECK(got[i]["cluster_name"] == "test");
    CHECK_FALSE(got[i]["summary"].get<std::string>().empty());
  }
  for (const auto& n : got)
    if (n["kind"] == "STATE_CHANGED" && n["state"] == "CRITICAL") {
      CHECK(n["previous_state"].is_string());
      CHECK(n["failure_tolerance"] == 0);
      CHECK(n["reasons"].size() > 0);
    }
  auto m = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  REQUIRE(m.ok);
  CHECK(m.body.find("quorumwatch_webhook_failed_attempts_total 3") != std::string::npos);
  CHECK(m.body.find("quorumwatch_webhook_dropped_total 0") != std::string::npos);
  CHECK(m.body.find("quorumwatch_webhook_delivered_total " + std::to_string(got.size())) !=
        std::string::npos);
}

TEST_CASE(
    "notify: a receiver that rejects (400) is counted and not retried, a bad URL stops the start",
    "[notify]") {
  Receiver rx([](int) { return 400; });
  ClusterStack s("qw-notify-reject", 3, {}, {},
                 {"--notify-webhook", "http://127.0.0.1:" + std::to_string(rx.port()) + "/hook"});
  REQUIRE(s.waitView(healthyWithTolerance1, 40s));
  s.etcd.kill9(2);
  REQUIRE(waitFor([&] { return rx.requests() >= 2; }, 60s, 200ms));
  std::this_thread::sleep_for(3s);
  auto m = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  REQUIRE(m.ok);
  CHECK(m.body.find("quorumwatch_webhook_rejected_total " + std::to_string(rx.requests())) !=
        std::string::npos);
  CHECK(m.body.find("quorumwatch_webhook_failed_attempts_total 0") != std::string::npos);

  TempDir tmp("qw-notify-bad");
  Aggregator bad(tmp.path(), {"--notify-webhook", "ftp://example/hook"});
  CHECK_THROWS(bad.start(5s));
  CHECK(bad.process().log().find(
            "--notify-webhook: the webhook URL must start with http:// or https://") !=
        std::string::npos);
}
