// The command channel (proto/wire.proto Command/CommandResult) on real parts: GET
// /api/v1/nodes/{name}/config asks a real agent over its stream.
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <fstream>

#include <catch2/catch.hpp>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Sets an environment variable for the agents started while it lives (children inherit it).
struct ScopedEnv {
  ScopedEnv(const char* k, const std::string& v) : key(k) { ::setenv(k, v.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(key); }
  const char* key;
};

json entry(const json& cfg, const std::string& key) {
  for (const auto& e : cfg["entries"])
    if (e["key"] == key) return e;
  return json::object();
}

double lastSeq(int port, const std::string& node) {
  auto n = getJson(port, "/api/v1/nodes/" + node);
  return n && n->contains("last_seq") ? (*n)["last_seq"].get<double>() : -1;
}

// The config endpoint with a deadline longer than the aggregator's (5 s).
std::pair<int, json> getConfig(int port, const std::string& node) {
  qw::HttpRequest req;
  req.timeout = 10s;
  auto r = qw::httpFetchSync(
      "http://127.0.0.1:" + std::to_string(port) + "/api/v1/nodes/" + node + "/config", req);
  if (!r.ok) return {0, json()};
  return {r.status, json::parse(r.body, nullptr, false)};
}

}  // namespace

TEST_CASE("commands: a real agent's config report with secrets redacted, then 404 and 503 and 504",
          "[commands]") {
  TempDir tmp("qw-commands");
  const std::string token = "very-s3cret-token-value";
  std::string token_file = writeTokenFile(tmp.path(), token);
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  // A long agent timeout, so the stopped agent below keeps its session until the command times out.
  Aggregator agg(tmp.path(), {"--token-file", token_file, "--agent-timeout", "30s"});
  int port = agg.start();
  Agent a(tmp.path(), "node-1", etcd.clientUrl(0), agg.streamUrl(),
          {"--token-file", token_file, "--failure-domain", "rack-7"});
  a.start();
  REQUIRE(waitFor([&] { return lastSeq(port, "node-1") >= 1; }, 20s));

  auto [st, cfg] = getConfig(port, "node-1");
  INFO(cfg.dump());
  REQUIRE(st == 200);
  CHECK(cfg["node"] == "node-1");
  CHECK_FALSE(cfg["agent_version"].get<std::string>().empty());
  CHECK(cfg["flavor"] == "etcd");
  CHECK(cfg.contains("flavor_reason"));
  CHECK(cfg["unsupported"].is_array());
  // Every option is there, with its value and where it came from.
  CHECK(cfg["entries"].size() > 30);
  CHECK(entry(cfg, "node-name")["value"] == "node-1");
  CHECK(entry(cfg, "node-name")["source"] == "command line");
  CHECK(entry(cfg, "failure-domain")["value"] == "rack-7");
  CHECK(entry(cfg, "etcd-endpoint")["value"] == etcd.clientUrl(0));
  CHECK(entry(cfg, "spool-max-bytes")["source"] == "default");
  CHECK(entry(cfg, "log-level")["value"] == "info");
  // Credentials: the value is redacted, the key and its source stay; the token is nowhere.
  CHECK(entry(cfg, "token-file")["value"] == "<redacted>");
  CHECK(entry(cfg, "token-file")["source"] == "command line");
  CHECK(cfg.dump().find(token) == std::string::npos);

  int s404 = 0;
  auto nf = getJson(port, "/api/v1/nodes/no-such-node/config", &s404);
  CHECK(s404 == 404);
  REQUIRE(nf);
  CHECK((*nf)["error"] == "not_found");

  // A stopped agent (SIGSTOP: its session stays open) never answers: 504 after the deadline.
  a.process().kill(SIGSTOP);
  auto t0 = std::chrono::steady_clock::now();
  auto [st504, to] = getConfig(port, "node-1");
  auto took = std::chrono::steady_clock::now() - t0;
  a.process().kill(SIGCONT);
  CHECK(st504 == 504);
  CHECK(to["error"] == "timeout");
  CHECK(took >= 4500ms);
  // It answers again once it runs (the late answer to the timed-out command is dropped).
  REQUIRE(waitFor([&] { return getConfig(port, "node-1").first == 200; }, 15s, 500ms));

  // Not connected: the node is known, its agent gone.
  a.stop();
  REQUIRE(waitFor(
      [&] {
        auto n = getJson(port, "/api/v1/nodes/node-1");
        return n && (*n)["connected"] == false;
      },
      10s));
  auto [st503, nc] = getConfig(port, "node-1");
  CHECK(st503 == 503);
  CHECK(nc["error"] == "agent_not_connected");
}

TEST_CASE("commands: a result of many chunks over a small frame limit, while batches stream",
          "[commands]") {
  TempDir tmp("qw-chunks");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  // 4 KiB frames; the report is padded (test-only $QW_TEST_CONFIG_PAD_BYTES) to about 60 KB, so
  // it goes in about 16 chunks, each within the limit.
  Aggregator agg(tmp.path(), {"--max-frame-bytes", "4096"});
  int port = agg.start();
  ScopedEnv pad("QW_TEST_CONFIG_PAD_BYTES", "60000");
  Agent a(tmp.path(), "node-1", etcd.clientUrl(0), agg.streamUrl(), {"--fast-interval", "100ms"});
  a.start();
  REQUIRE(waitFor([&] { return lastSeq(port, "node-1") >= 2; }, 20s));
  for (int round = 0; round < 3; ++round) {
    double before = lastSeq(port, "node-1");
    auto [st, cfg] = getConfig(port, "node-1");
    REQUIRE(st == 200);
    size_t padding = 0;
    bool intact = true;
    for (const auto& e : cfg["entries"]) {
      std::string key = e["key"];
      if (key.rfind("test.padding.", 0) != 0) continue;
      size_t n = std::stoul(key.substr(13));
      intact &= e["value"] == std::string(100, static_cast<char>('a' + n % 26));
      intact &= n == padding;
      ++padding;
    }
    CHECK(padding == 600);
    CHECK(intact);
    CHECK(entry(cfg, "node-name")["value"] == "node-1");
    // Batches kept flowing: the node's sequence moves on.
    CHECK(waitFor([&] { return lastSeq(port, "node-1") > before; }, 5s));
  }
  CHECK(agg.process().log().find("frame_too_large") == std::string::npos);
  CHECK(a.process().log().find("frame limit") == std::string::npos);
}

TEST_CASE("commands: an agent of protocol 1 streams as before and its config is 'not supported'",
          "[commands]") {
  TempDir tmp("qw-oldagent");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  Aggregator agg(tmp.path());
  int port = agg.start();
  // Test-only: the agent sends protocol_version 1 and no capabilities, and ignores commands.
  ScopedEnv old("QW_TEST_AGENT_PROTOCOL", "1");
  Agent a(tmp.path(), "old-1", etcd.clientUrl(0), agg.streamUrl());
  a.start();
  REQUIRE(waitFor([&] { return lastSeq(port, "old-1") >= 2; }, 20s));
  auto t0 = std::chrono::steady_clock::now();
  auto [st, body] = getConfig(port, "old-1");
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // answered at once, nothing sent
  CHECK(st == 501);
  CHECK(body["error"] == "not_supported");
  CHECK(body["detail"].get<std::string>().find("protocol 1") != std::string::npos);
  double seq = lastSeq(port, "old-1");
  CHECK(waitFor([&] { return lastSeq(port, "old-1") > seq; }, 10s));
  CHECK(agg.process().log().find("protocol 1,") != std::string::npos);
}
