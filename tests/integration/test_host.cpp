// The agent's node signals on real parts: several local etcd members told apart by port, the
// block device under each member's data dir, an etcd restart, and the agent's own priorities.
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>
#include <thread>

#include "../harness/harness.h"
#include "qw/agent/sys/host.h"
#include "qw/fs_util.h"
#include "qw/http_client.h"
#include "sample.pb.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

bool hasUnsupported(const json& node, const std::string& prefix) {
  if (!node.contains("unsupported")) return false;
  for (const auto& u : node["unsupported"])
    if (u.get<std::string>().rfind(prefix, 0) == 0) return true;
  return false;
}

std::vector<qw::wire::NodeSample> storedSamples(const std::string& db_path,
                                                const std::string& node) {
  std::vector<qw::wire::NodeSample> out;
  for (const auto& p : storedSamplePayloads(db_path, node))
    if (qw::wire::NodeSample s; s.ParseFromString(p)) out.push_back(std::move(s));
  return out;
}

}  // namespace

TEST_CASE("agents report their node: etcd's process by port, the data dir's disk, memory, pressure",
          "[host]") {
  ClusterStack s("qw-host");
  for (int i = 0; i < 3; ++i) {
    std::string name = "node-" + std::to_string(i + 1);
    json node;
    bool ok = waitFor(
        [&] {
          auto n = getJson(s.port, "/api/v1/nodes/" + name);
          if (!n) return false;
          node = *n;
          return node.value("etcd_pid", 0.0) == s.etcd.pid(i) &&
                 node.contains("disk_sectors_written_total") ==
                     !qw::agent::resolveBlockDeviceOfPath("/sys", s.etcd.dataDir(i)).disk.empty() &&
                 node.contains("mem_available_bytes") && node.contains("load1") &&
                 (!node.contains("disk_sectors_written_total") || node.contains("disk_write_iops"));
        },
        30s);
    INFO(name << ": " << node.dump());
    REQUIRE(ok);
    // Each agent found its own member among three etcd processes on this machine.
    CHECK(node["etcd_pid"] == s.etcd.pid(i));
    CHECK_FALSE(node["etcd_started_at"].get<std::string>().empty());
    auto expected = qw::agent::resolveBlockDeviceOfPath("/sys", s.etcd.dataDir(i));
    if (!expected.disk.empty()) {
      CHECK(node["disk_device"] == expected.disk);
      CHECK(node["disk_partition"] == expected.partition);
      CHECK(node["fs_avail_bytes"].get<double>() > 0);
      CHECK(node["fs_total_bytes"].get<double>() >= node["fs_avail_bytes"].get<double>());
      CHECK(node["disk_util_ratio"].get<double>() >= 0);
      CHECK(node["disk_util_ratio"].get<double>() <= 1);
    } else {
      CHECK(hasUnsupported(node, "disk: "));
    }
    CHECK(node["mem_available_bytes"].get<double>() > 0);
    CHECK(node["mem_total_bytes"].get<double>() >= node["mem_available_bytes"].get<double>());
    CHECK(node.contains("io_pressure_some_avg10") == std::filesystem::exists("/proc/pressure/io"));
    bool pi = std::filesystem::exists("/sys/devices/platform/soc/soc:firmware/get_throttled");
    CHECK(node.contains("under_voltage") == pi);
    if (!pi) CHECK(hasUnsupported(node, "throttled: "));
    CHECK(node["etcd_flavor"] == "etcd");
  }
  auto metrics = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  CHECK(metrics.body.find(
            "quorumwatch_node_mem_available_bytes{cluster=\"test\",node=\"node-1\"} ") !=
        std::string::npos);
}

TEST_CASE(
    "an etcd restart: a new process and start time, and counters reset instead of going "
    "negative",
    "[host]") {
  ClusterStack s("qw-restart");
  json before;
  REQUIRE(waitFor(
      [&] {
        // An idle etcd does no fsync after start-up, and an interval without one has no p99
        // (unknown, not 0): a write per try makes the interval's fsyncs.
        s.etcd.post(0, "/v3/kv/put", json{{"key", "a2V5"}, {"value", "v"}}.dump());
        auto n = getJson(s.port, "/api/v1/nodes/node-1");
        if (n) before = *n;
        return n && (*n).value("etcd_pid", 0.0) == s.etcd.pid(0) &&
               (*n).contains("wal_fsync_p99_seconds");
      },
      30s));
  s.etcd.kill9(0);
  std::this_thread::sleep_for(1500ms);
  s.etcd.restart(0);
  json after;
  bool ok = waitFor(
      [&] {
        auto n = getJson(s.port, "/api/v1/nodes/node-1");
        if (n) after = *n;
        return n && (*n).value("etcd_pid", 0.0) == s.etcd.pid(0) &&
               (*n)["etcd_reachable"] == true &&
               (*n)["etcd_started_at"] != before["etcd_started_at"];
      },
      40s);
  INFO("before: " << before.dump() << "\nafter: " << after.dump());
  REQUIRE(ok);
  CHECK(after["etcd_pid"] != before["etcd_pid"]);
  CHECK(after["etcd_started_at"].get<std::string>() > before["etcd_started_at"].get<std::string>());
  // The first scrape of the new process is a reset (its counters started again from 0), and no
  // delta anywhere went "negative" (a huge unsigned number).
  bool reset = false;
  REQUIRE(waitFor(
      [&] {
        for (const auto& smp : storedSamples(s.agg.dbPath(), "node-1"))
          if (smp.has_metrics() && smp.metrics().counters_reset()) reset = true;
        return reset;
      },
      20s));
  for (const auto& smp : storedSamples(s.agg.dbPath(), "node-1")) {
    if (!smp.has_metrics()) continue;
    const auto& m = smp.metrics();
    CHECK(m.leader_changes() < 1000);
    CHECK(m.wal_fsync().count() < 1000000);
    CHECK(m.slow_applies() < 1000000);
  }
}

TEST_CASE("the agent runs at idle I/O priority and nice 10 by default", "[host]") {
  TempDir tmp("qw-prio");
  Agent a(tmp.path(), "prio", "http://127.0.0.1:1", "ws://127.0.0.1:1/v1/stream", {"--nice=10"});
  a.start();
  pid_t pid = a.process().pid();
  bool ok = waitFor(
      [&] {
        auto st = qw::readFile("/proc/" + std::to_string(pid) + "/stat");
        if (!st) return false;
        auto p = qw::agent::parseProcStat(*st);
        if (!p) return false;
        // Field 19 (nice) is the 17th after the ")": count from the text.
        auto rest = st->substr(st->rfind(')') + 2);
        std::istringstream in(rest);
        std::string f;
        for (int i = 0; i < 17 && in >> f; ++i) {
        }
        return f == "10";
      },
      10s);
  INFO(a.process().log());
  CHECK(ok);
  long prio = ::syscall(SYS_ioprio_get, 1, pid);
  CHECK((prio >> 13) == 3);  // IOPRIO_CLASS_IDLE
  // The log line follows the setpriority call: wait for it rather than race it.
  CHECK(waitFor(
      [&] { return a.process().log().find("I/O priority idle, nice 10") != std::string::npos; },
      10s));
  a.stop();
}
