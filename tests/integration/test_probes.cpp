// The agent's etcd probes against a real member: the status call every cycle carries the alarms;
// the member list and /health are asked on their own interval and at once on a raft change or
// after etcd was unreachable. Intervals of an hour make the counts exact.
#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "harness.h"
#include "qw/agent/collect/etcd_sampler.h"
#include "qw/agent/parse/etcd_metrics.h"

using namespace qw::test;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

struct Cycle {
  std::string error;
  qw::wire::EtcdSample s;
};

// The sampler keeps its connection, so every cycle runs on the same io_context.
net::io_context& ioc() {
  static net::io_context ctx;
  return ctx;
}

Cycle sampleOnce(qw::agent::EtcdSampler& sampler) {
  auto& ioc = ::ioc();
  ioc.restart();
  Cycle c;
  net::co_spawn(
      ioc, [&]() -> net::awaitable<void> { c.error = co_await sampler.sample(&c.s); },
      net::detached);
  ioc.run();
  return c;
}

}  // namespace

TEST_CASE("probes: the member list and /health on their interval, and again after a restart",
          "[probes]") {
  TempDir tmp("qw-probes");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  qw::agent::EtcdSamplerConfig cfg;
  cfg.endpoint = *qw::parseUrl(etcd.clientUrl(0));
  cfg.members_interval = 1h;
  cfg.health_interval = 1h;
  qw::agent::EtcdSampler sampler(cfg);

  for (int i = 0; i < 10; ++i) {
    auto c = sampleOnce(sampler);
    INFO("cycle " << i << ": " << c.error);
    REQUIRE(c.error.empty());
    CHECK(c.s.reachable());
    CHECK(c.s.alarms_ok());  // from the status call's errors: none
    CHECK(c.s.alarms_size() == 0);
    // Only the first cycle carries the list and the health answer.
    CHECK(c.s.members_ok() == (i == 0));
    CHECK(c.s.members_size() == (i == 0 ? 1 : 0));
    CHECK(c.s.has_health() == (i == 0));
  }
  CHECK(sampler.calls().status == 10);
  CHECK(sampler.calls().members == 1);
  CHECK(sampler.calls().health == 1);
  CHECK(sampler.calls().alarms == 0);

  // Down: the status call fails and nothing else is asked.
  etcd.kill9(0);
  auto down = sampleOnce(sampler);
  CHECK_FALSE(down.s.reachable());
  CHECK(sampler.calls().members == 1);
  CHECK(sampler.calls().health == 1);

  // Back with a new raft term: the first answering cycle asks both again, the next does not.
  etcd.restart(0);
  REQUIRE(etcd.waitLeader(30s));
  Cycle back;
  REQUIRE(waitFor([&] { return (back = sampleOnce(sampler)).s.reachable(); }, 20s));
  CHECK(back.s.members_ok());
  CHECK(back.s.has_health());
  CHECK(back.s.health());
  auto members = sampler.calls().members, health = sampler.calls().health;
  CHECK(members == 2);
  CHECK(health == 2);
  auto next = sampleOnce(sampler);
  CHECK(next.s.reachable());
  CHECK_FALSE(next.s.members_ok());
  CHECK(sampler.calls().members == members);
  CHECK(sampler.calls().health == health);
}

TEST_CASE("probes: a NOSPACE alarm comes from the status call, without the alarm call",
          "[probes]") {
  TempDir tmp("qw-probes-nospace");
  EtcdCluster etcd(1, tmp.path(), {"--quota-backend-bytes=1048576"});
  etcd.start();
  qw::agent::EtcdSamplerConfig cfg;
  cfg.endpoint = *qw::parseUrl(etcd.clientUrl(0));
  qw::agent::EtcdSampler sampler(cfg);
  // 200 KB values until etcd refuses the put that crosses the 1 MiB quota.
  std::string value(200000, 'x');
  std::string b64;
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i + 2 < value.size(); i += 3) {
    unsigned v = (unsigned char)value[i] << 16 | (unsigned char)value[i + 1] << 8 |
                 (unsigned char)value[i + 2];
    b64 += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  bool refused = false;
  for (int i = 0; i < 40 && !refused; ++i) {
    auto r = etcd.post(
        0, "/v3/kv/put",
        R"({"key":")" + std::string(i % 2 ? "YQ==" : "Yg==") + R"(","value":")" + b64 + "\"}");
    refused = r.body.find("database space exceeded") != std::string::npos;
  }
  REQUIRE(refused);
  auto c = sampleOnce(sampler);
  REQUIRE(c.s.reachable());
  REQUIRE(c.s.alarms_ok());
  REQUIRE(c.s.alarms_size() == 1);
  CHECK(c.s.alarms(0).alarm() == "NOSPACE");
  CHECK(c.s.alarms(0).member_id() == c.s.member_id());
  CHECK(sampler.calls().alarms == 0);
}

TEST_CASE("probes: /metrics read through a small buffer, in pieces, on one kept-alive connection",
          "[probes]") {
  TempDir tmp("qw-probes-stream");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  auto url = *qw::parseUrl(etcd.clientUrl(0) + "/metrics");
  qw::HttpSession session(url, nullptr);
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    qw::agent::EtcdMetricsReader reader;
    size_t pieces = 0, largest = 0, total = 0;
    qw::HttpRequest get;
    get.read_chunk = 1000;
    get.on_body = [&](std::string_view piece) {
      ++pieces;
      largest = std::max(largest, piece.size());
      total += piece.size();
      reader.feed(piece);
    };
    qw::HttpResult r;
    auto& ioc = ::ioc();
    ioc.restart();
    net::co_spawn(
        ioc, [&]() -> net::awaitable<void> { r = co_await session.fetch(url.target, get); },
        net::detached);
    ioc.run();
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(r.body.empty());  // streamed, never held
    CHECK(largest <= 1000);
    CHECK(pieces >= total / 1000);
    CHECK(total > 50000);
    qw::wire::EtcdMetrics m;
    REQUIRE_FALSE(reader.finish(&m));
    CHECK(m.bytes() == total);
    CHECK(m.has_leader() == 1);
    CHECK(m.is_leader() == 1);
    CHECK_FALSE(m.server_version().empty());
    CHECK(m.wal_fsync().counts_size() > 0);
    CHECK(m.parse_errors() == 0);
  }
  CHECK(session.connects() == 1);
}
