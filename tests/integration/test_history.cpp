// History over real ingest: series and events from three real etcd members and their agents,
// parameter errors, and the Prometheus exposition checked by promtool.
#include <sqlite3.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::set<std::string> kindsOf(const json& events, const std::string& node = "") {
  std::set<std::string> k;
  for (const auto& e : events["events"])
    if (node.empty() || e["node"] == node) k.insert(e["kind"].get<std::string>());
  return k;
}

std::string promtool() {
  if (const char* p = std::getenv("QW_PROMTOOL")) return p;
  const char* home = std::getenv("HOME");
  std::string cached =
      std::string(home ? home : "/root") + "/.cache/quorumwatch/prometheus/root/usr/bin/promtool";
  if (std::ifstream(cached).good()) return cached;
  return "promtool";
}

}  // namespace

TEST_CASE("series and events from real ingest, with clear errors for bad parameters", "[history]") {
  ClusterStack s("qw-history", 3, {}, {"--metrics-interval", "2s"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));

  // Raw 1 s points of the raft index, and the WAL fsync p99 from stored bucket deltas.
  json raft, fsync;
  REQUIRE(waitFor(
      [&] {
        // An idle etcd does no fsync after start-up, and an interval without one has no p99
        // (unknown, not 0): a write per try makes the interval's fsyncs.
        s.etcd.post(0, "/v3/kv/put", json{{"key", "a2V5"}, {"value", "v"}}.dump());
        auto r = getJson(s.port, "/api/v1/nodes/node-1/series?metric=raft_index&step=1s");
        auto f =
            getJson(s.port, "/api/v1/nodes/node-1/series?metric=wal_fsync_p99_seconds&step=1s");
        if (!r || !f) return false;
        raft = *r;
        fsync = *f;
        return raft["points"].size() >= 3 && fsync["points"].size() >= 1;
      },
      40s));
  INFO(raft.dump());
  CHECK(raft["node"] == "node-1");
  CHECK(raft["metric"] == "raft_index");
  CHECK(raft["step_seconds"] == 1);
  double prev_ts = 0, prev_v = 0;
  for (const auto& p : raft["points"]) {
    CHECK(p["ts"].get<double>() > prev_ts);
    CHECK(p["value"].get<double>() >= prev_v);  // the committed index never goes back
    prev_ts = p["ts"];
    prev_v = p["value"];
  }
  for (const auto& p : fsync["points"]) {
    CHECK(p["value"].get<double>() > 0);
    CHECK(p["value"].get<double>() < 10);
  }
  // A minute step reads the rollups; a raw average over the same window agrees with it.
  auto minute = getJson(s.port, "/api/v1/nodes/node-1/series?metric=etcd_reachable&step=1m");
  REQUIRE(minute);
  REQUIRE((*minute)["points"].size() >= 1);
  CHECK((*minute)["points"].back()["value"] == 1);
  CHECK((*minute)["step_seconds"] == 60);

  auto metrics = getJson(s.port, "/api/v1/metrics");
  REQUIRE(metrics);
  std::set<std::string> names;
  for (const auto& m : (*metrics)["metrics"]) names.insert(m["name"].get<std::string>());
  for (const char* want :
       {"raft_index", "raft_applied_index", "db_size_bytes", "wal_fsync_seconds",
        "backend_commit_seconds", "peer_rtt_seconds", "leader_changes", "cpu_temperature_celsius",
        "disk_write_iops", "disk_await_seconds", "disk_util_ratio", "io_pressure_some_avg10"})
    CHECK(names.count(want) == 1);

  // Bad parameters: 400 with a JSON error; unknown node or metric: 404.
  struct Case {
    const char* path;
    int status;
  };
  for (auto c : std::vector<Case>{
           {"/api/v1/nodes/nope/series?metric=raft_index", 404},
           {"/api/v1/nodes/node-1/series?metric=nope", 404},
           {"/api/v1/nodes/node-1/series", 400},
           {"/api/v1/nodes/node-1/series?metric=raft_index&from=yesterday", 400},
           {"/api/v1/nodes/node-1/series?metric=raft_index&step=0", 400},
           {"/api/v1/nodes/node-1/series?metric=raft_index&step=fast", 400},
           {"/api/v1/nodes/node-1/series?metric=raft_index&from=0&step=1s",
            400},  // too many points
           {"/api/v1/nodes/node-1/series?metric=raft_index&agg=p99", 400},
           {"/api/v1/nodes/node-1/series?metric=wal_fsync_seconds&agg=avg", 400},
           {"/api/v1/nodes/node-1/"
            "series?metric=raft_index&from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
            400},
           {"/api/v1/events?limit=0", 400},
           {"/api/v1/events?since=soon", 400},
           {"/api/v1/events?node=nope", 404},
       }) {
    int status = 0;
    auto j = getJson(s.port, c.path, &status);
    INFO(c.path);
    CHECK(status == c.status);
    REQUIRE(j);
    CHECK((*j)["error"].is_string());
    CHECK_FALSE((*j)["detail"].get<std::string>().empty());
  }
  // RFC 3339 and unix seconds both work.
  int status = 0;
  getJson(
      s.port,
      "/api/v1/nodes/node-1/"
      "series?metric=raft_index&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00%2B01:00&step=10s",
      &status);
  CHECK(status == 200);

  // Events: agents connected; kill -9 the leader's member: unreachable and a new leader; restart
  // it: recovered and restarted.
  auto ev = getJson(s.port, "/api/v1/events?since=0");
  REQUIRE(ev);
  CHECK(kindsOf(*ev).count("AGENT_CONNECTED") == 1);
  int leader = -1;
  for (int i = 0; i < 3; ++i)
    for (const auto& m : s.last["members"])
      if (m["is_leader"] == true && m["node"] == "node-" + std::to_string(i + 1)) leader = i;
  REQUIRE(leader >= 0);
  std::string victim = "node-" + std::to_string(leader + 1);
  s.etcd.kill9(leader);
  REQUIRE(waitFor(
      [&] {
        auto e = getJson(s.port, "/api/v1/events?since=0");
        return e && kindsOf(*e, victim).count("MEMBER_UNREACHABLE") == 1 &&
               kindsOf(*e).count("LEADER_CHANGE") == 1;
      },
      30s));
  s.etcd.restart(leader);
  REQUIRE(waitFor(
      [&] {
        auto e = getJson(s.port, "/api/v1/events?since=0&node=" + victim);
        if (!e) return false;
        auto k = kindsOf(*e);
        return k.count("MEMBER_RECOVERED") == 1 && k.count("ETCD_RESTART") == 1;
      },
      40s));
  auto only = getJson(s.port, "/api/v1/events?since=0&kind=LEADER_CHANGE&limit=5");
  REQUIRE(only);
  for (const auto& e : (*only)["events"]) {
    CHECK(e["kind"] == "LEADER_CHANGE");
    CHECK(e["ts"].is_number());
    CHECK(e["severity"] == "WARNING");
    CHECK(e["message"].get<std::string>().find("term") != std::string::npos);
  }
}

TEST_CASE("promtool accepts the aggregator's /metrics", "[history]") {
  ClusterStack s("qw-promtool", 3, {}, {"--metrics-interval", "2s"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  // Wait for the per-node histogram quantiles, so the check covers every family.
  std::string body;
  REQUIRE(waitFor(
      [&] {
        // An idle etcd does no fsync after start-up, and an interval without one has no p99
        // (unknown, not 0): a write per try makes the interval's fsyncs.
        s.etcd.post(0, "/v3/kv/put", json{{"key", "a2V5"}, {"value", "v"}}.dump());
        body = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics").body;
        return body.find("quorumwatch_node_wal_fsync_p99_seconds{") != std::string::npos;
      },
      30s));
  std::string file = s.tmp.path() + "/metrics.txt";
  std::ofstream(file) << body;
  std::string cmd = promtool() + " check metrics < " + file + " > " + file + ".out 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(file + ".out");
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO("promtool: " << out);
  CHECK(rc == 0);
  CHECK(body.find("quorumwatch_ingest_points_total ") != std::string::npos);
  CHECK(body.find("quorumwatch_db_size_bytes ") != std::string::npos);
}

TEST_CASE("the aggregator refuses a damaged or foreign database file at start and says why",
          "[history]") {
  TempDir tmp("qw-baddb");
  std::string garbage = tmp.path() + "/garbage.db", foreign = tmp.path() + "/foreign.db";
  {
    std::ofstream f(garbage, std::ios::binary);
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(foreign.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "CREATE TABLE users(name TEXT)", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(db);
  for (const auto& [path, says] : std::vector<std::pair<std::string, std::string>>{
           {garbage, "not an SQLite database"}, {foreign, "is not quorumwatch's"}}) {
    Process p({binDir() + "/quorumwatch-aggregator", "--db", path, "--listen", "127.0.0.1:0"},
              path + ".log");
    REQUIRE(waitFor([&] { return !p.running(); }, 20s));
    int status = p.stop();
    INFO(p.log());
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(p.log().find(says) != std::string::npos);
  }
}
