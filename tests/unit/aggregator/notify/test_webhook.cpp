// --notify-webhook's URL rules and its bounded queue (notify/webhook.h); delivery itself is tested
// against a real receiver in tests/integration/test_notify.cpp.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "qw/aggregator/notify/webhook.h"

using namespace qw::aggregator;

TEST_CASE("webhook: URLs") {
  std::string err;
  auto t = parseWebhookUrl("http://127.0.0.1:8080/hooks/abc?x=1", &err);
  REQUIRE(t);
  CHECK_FALSE(t->tls);
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == "8080");
  CHECK(t->target == "/hooks/abc?x=1");
  t = parseWebhookUrl("https://hooks.example.org", &err);
  REQUIRE(t);
  CHECK(t->tls);
  CHECK(t->port == "443");
  CHECK(t->target == "/");
  t = parseWebhookUrl("http://[::1]:9000/x", &err);
  REQUIRE(t);
  CHECK(t->host == "::1");
  CHECK(t->port == "9000");
  for (const char* bad :
       {"ftp://x/", "example.org/hook", "http://", "http://:80/", "http://u:p@host/",
        "http://host:0/", "http://host:99999/", "http://host:8x/", "http://[::1/"}) {
    INFO(bad);
    CHECK_FALSE(parseWebhookUrl(bad, &err));
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("webhook: a full queue drops the oldest and counts it, nothing blocks") {
  // A port nothing listens on: every attempt fails at once.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);

  boost::asio::io_context ioc;
  std::string err;
  auto target = parseWebhookUrl("http://127.0.0.1:" + std::to_string(port) + "/", &err);
  REQUIRE(target);
  WebhookConfig cfg;
  cfg.queue_limit = 3;
  cfg.first_backoff = std::chrono::milliseconds(10);
  cfg.max_backoff = std::chrono::milliseconds(20);
  WebhookNotifier n(ioc, cfg, *target);
  for (int i = 0; i < 10; ++i) n.notify(qw::api::Notification());
  CHECK(n.stats().dropped == 7);
  CHECK(n.stats().queued == 3);
  ioc.run_for(std::chrono::milliseconds(300));
  CHECK(n.stats().failed_attempts >= 2);
  CHECK(n.stats().delivered == 0);
  CHECK(n.stats().queued == 3);  // kept, retried
  CHECK_FALSE(n.stats().last_error.empty());
  n.shutdown();
  ioc.run_for(std::chrono::milliseconds(100));
}
