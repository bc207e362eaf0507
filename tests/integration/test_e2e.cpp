// End to end on real parts: 3 etcd members, 3 agents, the aggregator, kill -9 and restarts.
#include <catch2/catch.hpp>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json memberNamed(const json& v, const std::string& name) {
  for (const auto& m : v["members"])
    if (m["name"] == name) return m;
  return json::object();
}

}  // namespace

TEST_CASE(
    "e2e: tolerance 1, kill -9 one member -> 0 with reason, two -> QUORUM_LOST, restart -> "
    "HEALTHY",
    "[e2e]") {
  ClusterStack s("qw-e2e");
  INFO("last view: " << s.last.dump());
  REQUIRE(s.view([](const json& v) { return v.is_object(); }));
  REQUIRE(waitFor(
      [&] {
        return s.view(
            [](const json& v) { return v["state"] == "HEALTHY" && v["failure_tolerance"] == 1; });
      },
      30s));
  INFO("healthy view: " << s.last.dump());
  CHECK(s.last["cluster_name"] == "test");
  CHECK(s.last["voting_members"] == 3);
  CHECK(s.last["quorum_size"] == 2);
  CHECK(s.last["healthy_members"] == 3);
  CHECK_FALSE(s.last["leader"].get<std::string>().empty());
  CHECK(s.last["members"].size() == 3);
  for (const auto& m : s.last["members"]) {
    CHECK(m["healthy"] == true);
    CHECK(m["reachable"] == true);
    CHECK(m["is_learner"] == false);
    CHECK(m["reasons"].empty());
    CHECK(m["node"].get<std::string>().rfind("node-", 0) == 0);
  }

  // Writes make WAL fsyncs; the agents' /metrics deltas turn them into a p99 per node.
  int key = 0;
  json fsync_node;
  bool fsync_seen = waitFor(
      [&] {
        for (int i = 0; i < 5; ++i)
          s.etcd.post(0, "/v3/kv/put",
                      json{{"key", "a2V5"}, {"value", std::to_string(++key)}}.dump());
        auto nodes = getJson(s.port, "/api/v1/nodes");
        if (!nodes) return false;
        fsync_node = *nodes;
        for (const auto& n : (*nodes)["nodes"])
          if (n.contains("wal_fsync_p99_seconds") && n.contains("backend_commit_p99_seconds")) {
            fsync_node = n;
            return true;
          }
        return false;
      },
      40s, 50ms);
  INFO("node with fsync p99 (or all nodes): " << fsync_node.dump());
  CHECK(fsync_seen);
  if (fsync_seen) {
    CHECK(fsync_node["wal_fsync_p99_seconds"].get<double>() > 0);
    CHECK(fsync_node["wal_fsync_p99_seconds"].get<double>() < 8.192);
    CHECK(fsync_node["metrics_interval_seconds"].get<double>() > 0);
  }

  // A real failure: kill -9 (SIGTERM would hand leadership over gracefully).
  s.etcd.kill9(1);
  auto killed_at = std::chrono::steady_clock::now();
  bool zero = waitFor(
      [&] {
        return s.view([](const json& v) {
          auto m2 = memberNamed(v, "m2");
          return v["failure_tolerance"] == 0 && m2["healthy"] == false && !m2["reasons"].empty();
        });
      },
      10s);
  INFO("view after kill of m2: " << s.last.dump());
  REQUIRE(zero);
  CHECK(std::chrono::steady_clock::now() - killed_at <= 10s);
  CHECK(s.last["state"] == "CRITICAL");
  auto m2 = memberNamed(s.last, "m2");
  CHECK(m2["node"] == "node-2");
  CHECK(m2["reachable"] == false);
  CHECK(m2["reasons"][0].get<std::string>().find("etcd unreachable") != std::string::npos);

  s.etcd.kill9(2);
  REQUIRE(waitFor([&] { return s.view([](const json& v) { return v["state"] == "QUORUM_LOST"; }); },
                  15s));
  CHECK(s.last["failure_tolerance"].get<int>() < 0);
  // The old leader steps down once it notices it lost its quorum (check-quorum).
  CHECK(waitFor([&] { return s.view([](const json& v) { return v["leader"] == ""; }); }, 15s));

  s.etcd.restart(1);
  s.etcd.restart(2);
  REQUIRE(waitFor(
      [&] {
        return s.view(
            [](const json& v) { return v["state"] == "HEALTHY" && v["failure_tolerance"] == 1; });
      },
      40s));

  auto nodes = getJson(s.port, "/api/v1/nodes");
  REQUIRE(nodes);
  REQUIRE((*nodes)["nodes"].size() == 3);
  for (const auto& n : (*nodes)["nodes"]) {
    CHECK(n["connected"] == true);
    CHECK(n["etcd_reachable"] == true);
    CHECK(n["last_seq"].get<double>() > 0);
  }
}

TEST_CASE("aggregator HTTP: healthz, JSON errors, node lookup", "[e2e]") {
  TempDir tmp("qw-http");
  Aggregator agg(tmp.path());
  int port = agg.start();
  int status = 0;
  auto h = getJson(port, "/healthz", &status);
  REQUIRE(h);
  CHECK(status == 200);
  CHECK((*h)["status"] == "ok");
  auto e = getJson(port, "/api/v1/nope", &status);
  REQUIRE(e);
  CHECK(status == 404);
  CHECK((*e)["error"] == "not_found");
  CHECK((*e)["detail"].get<std::string>().find("/api/v1/nope") != std::string::npos);
  auto n = getJson(port, "/api/v1/nodes/ghost", &status);
  REQUIRE(n);
  CHECK(status == 404);
  auto v = getJson(port, "/api/v1/cluster", &status);
  REQUIRE(v);
  CHECK(status == 200);
  CHECK((*v)["state"] == "UNKNOWN");
  CHECK((*v)["members"].empty());
  CHECK_FALSE(v->contains("quorum_loss_probability"));  // no members: cannot tell
  CHECK(agg.stop() == 0);
}
