// The history's time axis without a synchronised clock (README "History", "Time axis"): agents
// that report their clock unsynchronised (as every Pi without an RTC does before NTP answers),
// the aggregator killed with kill -9 for seconds at a time or away for a minute; every sample
// keeps its own second, at its real time.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Row {
  int64_t ts_ms;     // where the aggregator placed the sample
  int64_t agent_ms;  // the agent's wall clock: this machine's clock, synchronised or not
};

// The stored samples of an agent instance, in placement order.
std::vector<Row> placed(const std::string& db_path, const std::string& instance) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT ts_ms, agent_ms FROM samples WHERE instance_id = ? ORDER BY "
                             "ts_ms",
                             -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_text(st, 1, instance.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<Row> out;
  while (sqlite3_step(st) == SQLITE_ROW)
    out.push_back({sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)});
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// /api/v1/nodes says every node's history is placed by its boot clock.
bool allMonotonic(int port) {
  auto v = getJson(port, "/api/v1/nodes");
  if (!v || !v->contains("nodes") || (*v)["nodes"].size() != 3) return false;
  for (const auto& n : (*v)["nodes"])
    if (n.value("time_source", "") != "MONOTONIC" || n.value("clock_synced", true)) return false;
  return true;
}

int64_t wallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("with unsynchronised clocks every sample keeps its second across kill -9 outages",
          "[time-axis]") {
  const int outages = 5;
  const unsigned seed =
      static_cast<unsigned>(envInt("QW_SEED", static_cast<int>(std::random_device{}())));
  INFO("QW_SEED=" << seed);
  std::mt19937 rng(seed);
  ClusterStack s("qw-time", 3, {},
                 {"--fast-interval", "1s", "--drain-timeout", "15s", "--assume-clock-unsynced"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  REQUIRE(waitFor([&] { return allMonotonic(s.port); }, 10s));
  int64_t from = wallNowMs();

  std::uniform_int_distribution<int> up(1000, 3000), down(2000, 4000);
  for (int k = 0; k < outages; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(up(rng)));
    s.agg.kill9();
    std::this_thread::sleep_for(std::chrono::milliseconds(down(rng)));
    s.agg.start();
  }
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  std::this_thread::sleep_for(2s);
  int64_t to = wallNowMs();

  // The 1 s series from the API, before the agents stop: a point in every second of the window
  // except at most one per outage edge.
  for (int i = 1; i <= 3; ++i) {
    std::string node = "node-" + std::to_string(i);
    auto r = getJson(s.port, "/api/v1/nodes/" + node + "/series?metric=raft_applied_index&step=1s" +
                                 "&from=" + std::to_string((from + 1000) / 1000) +
                                 "&to=" + std::to_string((to - 1000) / 1000) + ".999");
    REQUIRE(r);
    INFO(r->dump().substr(0, 2000));
    REQUIRE(r->contains("points"));
    int64_t seconds = (to - 1000) / 1000 - (from + 1000) / 1000 + 1;
    CHECK(static_cast<int64_t>((*r)["points"].size()) >= seconds - 2 * outages);
    CHECK(static_cast<int64_t>((*r)["points"].size()) <= seconds);
  }

  int64_t worst = 0;
  uint64_t produced = 0, lost = 0;
  for (int i = 1; i <= 3; ++i) {
    std::string node = "node-" + std::to_string(i);
    auto p = stopAndReport(*s.agents[static_cast<size_t>(i - 1)]);
    REQUIRE_FALSE(p.instance.empty());
    auto rows = placed(s.agg.dbPath(), p.instance);
    INFO(node << ": " << rows.size() << " samples, " << p.batches << " produced");
    CHECK(rows.size() == p.batches);  // one sample per batch, each stored once
    uint64_t points = seriesPoints(s.agg.dbPath(), node, "etcd_reachable");
    CHECK(points == p.batches);  // the stored point count equals the produced sample count
    produced += p.batches;
    lost += p.batches - std::min<uint64_t>(p.batches, points);
    // The agent's own second grid: every sample in a second of its own, none twice.
    int missing = 0, twice = 0;
    for (size_t k = 1; k < rows.size(); ++k) {
      int64_t d = rows[k].ts_ms - rows[k - 1].ts_ms;
      if (d < 500) ++twice;
      if (d > 1500) missing += static_cast<int>((d + 500) / 1000) - 1;
    }
    for (const auto& r : rows) worst = std::max(worst, std::abs(r.ts_ms - r.agent_ms));
    CHECK(twice == 0);
    CHECK(missing <= 2 * outages);
  }
  std::printf(
      "time axis: %d outages, %llu samples, points lost %llu, worst placement error %lld ms\n",
      outages, static_cast<unsigned long long>(produced), static_cast<unsigned long long>(lost),
      static_cast<long long>(worst));
  CHECK(worst < 500);
}

TEST_CASE("samples replayed after a 60 s outage sit 1 s apart at their real times", "[time-axis]") {
  // Placement does not depend on etcd's version: this minute runs once, on 3.5.
  const char* ver = std::getenv("QW_ETCD");
  if (ver && std::string(ver) == "3.4") {
    SUCCEED("runs with etcd 3.5 only");
    return;
  }
  const int outage_s = envInt("QW_OUTAGE_SECONDS", 60);
  ClusterStack s("qw-outage", 3, {},
                 {"--fast-interval", "1s", "--drain-timeout", "15s", "--assume-clock-unsynced"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  REQUIRE(waitFor([&] { return allMonotonic(s.port); }, 10s));
  s.agg.kill9();
  int64_t down = wallNowMs();
  std::this_thread::sleep_for(std::chrono::seconds(outage_s));
  int64_t up = wallNowMs();
  s.agg.start();
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  std::this_thread::sleep_for(2s);

  int64_t worst = 0;
  for (size_t i = 0; i < 3; ++i) {
    auto p = stopAndReport(*s.agents[i]);
    REQUIRE_FALSE(p.instance.empty());
    auto rows = placed(s.agg.dbPath(), p.instance);
    std::vector<Row> during;
    for (const auto& r : rows)
      if (r.agent_ms > down && r.agent_ms < up) during.push_back(r);
    INFO("node-" << i + 1 << ": " << during.size() << " samples taken during the outage");
    CHECK(during.size() >= static_cast<size_t>(outage_s - 2));
    for (size_t k = 1; k < during.size(); ++k) {
      int64_t d = during[k].ts_ms - during[k - 1].ts_ms;
      CHECK(d > 900);
      CHECK(d < 1100);
    }
    for (const auto& r : during) worst = std::max(worst, std::abs(r.ts_ms - r.agent_ms));
  }
  std::printf("time axis: %d s outage, worst placement error of the replayed samples %lld ms\n",
              outage_s, static_cast<long long>(worst));
  CHECK(worst < 500);
}
