// Recovery plans run verbatim on real etcd (3.4 and 3.5): the harness executes every step's
// command exactly as GET /api/v1/recovery/plan printed it (sh -c, etcd's own directory on PATH
// for etcdctl, nothing substituted), then runs the step's check until it passes.
#include <sys/wait.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// sh -c `cmd` with etcd's directory first on PATH; its exit status.
int runVerbatim(const std::string& cmd, const std::string& log) {
  std::string path = fs::path(etcdBinary()).parent_path().string() + ":" +
                     (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  std::ofstream(log, std::ios::app) << "$ " << cmd << "\n";
  std::string full = "PATH='" + path + "' sh -c '" +
                     std::regex_replace(cmd, std::regex("'"), "'\\''") + "' >>'" + log + "' 2>&1";
  int rc = std::system(full.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Every step of `plan`: its command once (must exit 0), then its check until it exits 0.
void runPlan(const json& plan, const std::string& log) {
  for (const auto& s : plan["steps"]) {
    std::string cmd = s.value("command", "");
    std::string check = s.value("check", "");
    INFO("step: " << s.dump());
    if (!cmd.empty()) {
      int rc = runVerbatim(cmd, log);
      if (rc != 0) {
        std::ifstream in(log);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        FAIL("exit " << rc << " from: " << cmd << "\n" << text);
      }
    }
    if (!check.empty() && !waitFor([&] { return runVerbatim(check, log) == 0; }, 60s, 500ms)) {
      std::ifstream in(log);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      FAIL("the check never passed: " << check << "\n"
                                      << text.substr(text.size() > 6000 ? text.size() - 6000 : 0));
    }
  }
}

int keysUnder(const std::string& url, const std::string& prefix, const std::string& dir) {
  std::string out = dir + "/count.json";
  std::string cmd = fs::path(etcdBinary()).parent_path().string() + "/etcdctl --endpoints " + url +
                    " get " + prefix + " --prefix --limit=1 -w json > " + out;
  int rc = std::system((cmd + " 2>&1").c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (rc != 0) {
    WARN("etcdctl get failed: " << text);
    return -1;
  }
  auto j = json::parse(text, nullptr, false);
  if (!j.is_discarded() && !j.contains("count") && j.contains("header"))
    return 0;  // proto3 JSON leaves a zero count out
  if (j.is_discarded() || !j.contains("count")) {
    WARN("etcdctl get printed: " << text);
    return -2;
  }
  return j["count"].get<int>();
}

// `n` keys PREFIX0.. through etcdctl.
void putKeys(const std::string& url, const std::string& prefix, int n) {
  const std::string etcdctl = fs::path(etcdBinary()).parent_path().string() + "/etcdctl";
  for (int i = 0; i < n; ++i)
    REQUIRE(std::system((etcdctl + " --endpoints " + url + " put " + prefix + std::to_string(i) +
                         " v >/dev/null")
                            .c_str()) == 0);
}

}  // namespace

TEST_CASE("quorum lost with the disks intact: the plan brings the members back and resets nothing",
          "[recovery][verbatim]") {
  ClusterStack s("qw-plan-power");
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  putKeys(s.etcd.clientUrl(0), "/plan/", 50);
  // A power cut on two of three nodes' etcd: killed, data dirs as they were.
  s.etcd.kill9(1);
  s.etcd.kill9(2);
  REQUIRE(s.waitView([](const json& v) { return v["state"] == "QUORUM_LOST"; }, 30s));
  auto plan = getJson(s.port, "/api/v1/recovery/plan");
  REQUIRE(plan);
  INFO(plan->dump(2));
  CHECK((*plan)["scenario"] == "QUORUM_LOST_RECOVERABLE");
  CHECK((*plan)["summary"].get<std::string>().find("quorum returns by itself") !=
        std::string::npos);
  REQUIRE((*plan)["steps"].size() == 3);  // m2, m3, then every voter
  for (const auto& st : (*plan)["steps"])
    for (const char* bad : {"force-new-cluster", "snapshot restore", "member remove", "rm -"})
      CHECK(st.value("command", "").find(bad) == std::string::npos);
  auto cli = runCli(s.port, "plan");
  INFO(cli.out);
  CHECK(cli.code == 1);
  CHECK(cli.out.find("scenario: QUORUM_LOST_RECOVERABLE") != std::string::npos);
  CHECK(cli.out.find("$ cd ") != std::string::npos);
  CHECK(json::parse(runCli(s.port, "--json plan").out)["scenario"] == "QUORUM_LOST_RECOVERABLE");
  std::string log = s.tmp.path() + "/plan.log";
  // The started members are not the harness's: stopped by their data dirs at the end.
  struct Reap {
    std::string a, b;
    ~Reap() { std::system(("pkill -9 -f '" + a + "'; pkill -9 -f '" + b + "'").c_str()); }
  } reap{s.etcd.dataDir(1), s.etcd.dataDir(2)};
  runPlan(*plan, log);
  INFO(std::ifstream(log).rdbuf());
  CHECK(s.waitView(healthyWithTolerance1, 60s));
  CHECK(keysUnder(s.etcd.clientUrl(2), "/plan/", s.tmp.path()) == 50);
  auto after = getJson(s.port, "/api/v1/recovery/plan");
  REQUIRE(after);
  CHECK((*after)["scenario"] == "HEALTHY");
  CHECK(runCli(s.port, "plan").code == 0);
}

TEST_CASE("a member whose data dir is gone is replaced by the plan, remove before add",
          "[recovery][verbatim]") {
  ClusterStack s("qw-plan-replace");
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  putKeys(s.etcd.clientUrl(0), "/plan/", 50);
  // node-3's disk dies: etcd gone, its data dir gone.
  s.etcd.kill9(2);
  fs::remove_all(s.etcd.dataDir(2));
  REQUIRE(s.waitView([](const json& v) { return v["failure_tolerance"] == 0; }, 30s));
  auto plan = getJson(s.port, "/api/v1/recovery/plan?lost=node-3");
  REQUIRE(plan);
  INFO(plan->dump(2));
  REQUIRE((*plan)["scenario"] == "REPLACE_MEMBER");
  std::string log = s.tmp.path() + "/plan.log";
  struct Reap {
    std::string dir;
    ~Reap() { std::system(("pkill -9 -f '" + dir + "'").c_str()); }
  } reap{s.etcd.dataDir(2)};
  runPlan(*plan, log);
  INFO(std::ifstream(log).rdbuf());
  CHECK(s.waitView(healthyWithTolerance1, 60s));
  CHECK(keysUnder(s.etcd.clientUrl(2), "/plan/", s.tmp.path()) == 50);
  auto after = getJson(s.port, "/api/v1/recovery/plan");
  REQUIRE(after);
  CHECK((*after)["scenario"] == "HEALTHY");
  // An unknown node is a clear error.
  int status = 0;
  getJson(s.port, "/api/v1/recovery/plan?lost=nope", &status);
  CHECK(status == 400);
  CHECK(runCli(s.port, "plan --lost nope").code == 3);
}

TEST_CASE("etcd restarted in a loop: the guard-rail comes first in the plan and warns CRITICAL",
          "[recovery]") {
  ClusterStack s("qw-plan-loop");
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  auto restarts = [&] {
    auto e = getJson(s.port, "/api/v1/events?since=0&kind=ETCD_RESTART&node=node-3");
    return e ? static_cast<int>((*e)["events"].size()) : 0;
  };
  for (int k = 1; k <= 3; ++k) {
    s.etcd.kill9(2);
    s.etcd.restart(2);
    REQUIRE(waitFor([&] { return restarts() >= k; }, 40s, 250ms));
  }
  json plan;
  REQUIRE(waitFor(
      [&] {
        auto p = getJson(s.port, "/api/v1/recovery/plan");
        if (!p || (*p)["guard_rails"].empty()) return false;
        plan = *p;
        return true;
      },
      30s, 250ms));
  INFO(plan.dump(2));
  CHECK(plan["guard_rails"][0].get<std::string>().find(
            "etcd on node-3 restarted 3 times in 10 minutes") != std::string::npos);
  REQUIRE(!plan["steps"].empty());
  CHECK(plan["steps"][0]["why"].get<std::string>().find("stop restarting etcd on node-3") !=
        std::string::npos);
  CHECK(plan["steps"][0].value("command", "").empty());  // advice: nothing to run
  json warning;
  REQUIRE(waitFor(
      [&] {
        auto v = getJson(s.port, "/api/v1/cluster");
        if (!v) return false;
        for (const auto& w : (*v)["warnings"])
          if (w["code"] == "BLIND_RESTARTS") warning = w;
        return !warning.is_null();
      },
      30s, 250ms));
  CHECK(warning["severity"] == "CRITICAL");
  CHECK(warning["node"] == "node-3");
}

TEST_CASE("NOSPACE: the plan compacts, defragments every member, the leader last, and disarms",
          "[recovery][verbatim]") {
  ClusterStack s("qw-plan-nospace", 3, {"--quota-backend-bytes=16777216"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  // A writer rewriting ten keys with 200 KB values until etcd refuses: the history fills it.
  const std::string etcdctl = fs::path(etcdBinary()).parent_path().string() + "/etcdctl";
  std::string value = s.tmp.path() + "/value";
  std::ofstream(value) << std::string(200 * 1024, 'x');
  bool full = false;
  for (int i = 0; i < 400 && !full; ++i)
    full = std::system((etcdctl + " --endpoints " + s.etcd.clientUrl(0) + " put /fill/" +
                        std::to_string(i % 10) + " < " + value + " >/dev/null 2>&1")
                           .c_str()) != 0;
  REQUIRE(full);
  REQUIRE(s.waitView(
      [](const json& v) {
        for (const auto& a : v["alarms"])
          if (a["alarm"] == "NOSPACE") return true;
        return false;
      },
      30s));
  auto plan = getJson(s.port, "/api/v1/recovery/plan");
  REQUIRE(plan);
  INFO(plan->dump(2));
  REQUIRE((*plan)["scenario"] == "NOSPACE");
  runPlan(*plan, s.tmp.path() + "/plan.log");
  // Writes work again, and the view is HEALTHY without the alarm.
  CHECK(std::system((etcdctl + " --endpoints " + s.etcd.clientUrl(1) + " put /after ok >/dev/null")
                        .c_str()) == 0);
  CHECK(s.waitView([](const json& v) { return healthyWithTolerance1(v) && v["alarms"].empty(); },
                   30s));
}

namespace {

// etcdctl's endpoint status of `url` as JSON (one endpoint).
json endpointStatus(const std::string& url, const std::string& dir) {
  std::string out = dir + "/status.json";
  std::string cmd = fs::path(etcdBinary()).parent_path().string() + "/etcdctl --endpoints " + url +
                    " endpoint status -w json > " + out + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return json();
  std::ifstream in(out);
  auto j = json::parse(in, nullptr, false);
  return j.is_array() && !j.empty() ? j[0] : json();
}

// The started members are not the harness's: killed by their data dirs at the end.
struct ReapByDir {
  std::vector<std::string> dirs;
  ~ReapByDir() {
    for (const auto& d : dirs) std::system(("pkill -9 -f '" + d + "'").c_str());
  }
};

}  // namespace

TEST_CASE("quorum lost for good with one survivor: the plan restores from its fresh snapshot",
          "[recovery][verbatim]") {
  ClusterStack s("qw-plan-survivor");
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  putKeys(s.etcd.clientUrl(0), "/plan/", 50);
  const int64_t written =
      endpointStatus(s.etcd.clientUrl(0), s.tmp.path())["Status"]["header"]["revision"];
  // Two of three disks die: their etcd gone with their data dirs; m1 runs on, without quorum.
  for (int i : {1, 2}) {
    s.etcd.kill9(i);
    fs::remove_all(s.etcd.dataDir(i));
  }
  REQUIRE(s.waitView([](const json& v) { return v["state"] == "QUORUM_LOST"; }, 30s));
  json plan;
  REQUIRE(waitFor(
      [&] {
        auto p = getJson(s.port, "/api/v1/recovery/plan?lost=node-2,node-3");
        if (!p) return false;
        plan = *p;
        // Once the survivor's agent reported it after the last write.
        return plan["scenario"] == "RESTORE_FROM_SURVIVOR" &&
               plan.value("snapshot_revision", 0.0) >= static_cast<double>(written);
      },
      30s, 500ms));
  INFO(plan.dump(2));
  CHECK(plan.value("lost_writes", "") == "");
  ReapByDir reap{{s.etcd.dataDir(0), s.etcd.dataDir(1), s.etcd.dataDir(2)}};
  std::string log = s.tmp.path() + "/plan.log";
  runPlan(plan, log);
  INFO(std::ifstream(log).rdbuf());
  CHECK(s.waitView(healthyWithTolerance1, 60s));
  for (int i = 0; i < 3; ++i) CHECK(keysUnder(s.etcd.clientUrl(i), "/plan/", s.tmp.path()) == 50);
  // A new cluster: the old data dirs are kept beside the new ones.
  CHECK(fs::exists(s.etcd.dataDir(0) + ".before-restore-" +
                   plan["snapshot"].get<std::string>().substr(
                       plan["snapshot"].get<std::string>().find("etcd-restore-") + 13, 16)));
  auto after = getJson(s.port, "/api/v1/recovery/plan");
  REQUIRE(after);
  CHECK((*after)["scenario"] == "HEALTHY");
}

TEST_CASE("every data dir gone: the plan restores the drilled snapshot and names the lost writes",
          "[recovery][verbatim]") {
  TempDir tmp("qw-plan-drilled");
  const std::string token = "plan-token-0123456789";
  std::string token_file = writeTokenFile(tmp.path(), token);
  EtcdCluster etcd(3, tmp.path());
  etcd.start();
  std::string bin_dir = fs::path(etcdBinary()).parent_path().string();
  Aggregator agg(tmp.path(), {"--token-file", token_file, "--snapshot-poll", "1s", "--etcd-bin-dir",
                              bin_dir, "--drill-timeout", "120s"});
  int port = agg.start();
  std::string snaps = tmp.path() + "/snaps-node-1";
  fs::create_directories(snaps);
  std::vector<std::unique_ptr<Agent>> agents;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> flags{"--token-file", token_file};
    if (i == 0)
      flags.insert(flags.end(), {"--snapshot-dir", snaps, "--snapshot-scan-interval", "2s"});
    agents.push_back(std::make_unique<Agent>(tmp.path(), "node-" + std::to_string(i + 1),
                                             etcd.clientUrl(i), agg.streamUrl(), flags));
    agents.back()->start();
  }
  putKeys(etcd.clientUrl(0), "/plan/", 50);
  const std::string etcdctl = bin_dir + "/etcdctl";
  const std::string file = snaps + "/etcd-snapshot-plan.db";
  REQUIRE(std::system((etcdctl + " --endpoints " + etcd.clientUrl(0) + " snapshot save " + file +
                       " >/dev/null")
                          .c_str()) == 0);
  // Copied off, verified and drilled.
  json snapshots;
  REQUIRE(waitFor(
      [&] {
        auto l = getJson(port, "/api/v1/snapshots");
        if (!l) return false;
        snapshots = *l;
        return snapshots.value("newest_drilled", "") == "node-1:" + file;
      },
      150s, 500ms));
  // Writes after the snapshot: the restore loses them, and the plan must say so.
  putKeys(etcd.clientUrl(0), "/late/", 20);
  const int64_t last =
      endpointStatus(etcd.clientUrl(0), tmp.path())["Status"]["header"]["revision"];
  REQUIRE(waitFor(
      [&] {
        auto p = getJson(port, "/api/v1/recovery/plan?lost=node-1,node-2,node-3");
        return p && p->value("last_seen_revision", 0.0) >= static_cast<double>(last);
      },
      20s, 250ms));
  for (int i = 0; i < 3; ++i) {
    etcd.kill9(i);
    fs::remove_all(etcd.dataDir(i));
  }
  json plan;
  REQUIRE(waitFor(
      [&] {
        auto p = getJson(port, "/api/v1/recovery/plan?lost=node-1,node-2,node-3");
        if (!p) return false;
        plan = *p;
        return plan["scenario"] == "RESTORE_FROM_SNAPSHOT";
      },
      30s, 500ms));
  INFO(plan.dump(2));
  CHECK(plan["snapshot"] == "node-1:" + file);
  const std::string lost = plan.value("lost_writes", "");
  CHECK(lost.find("last seen at revision " + std::to_string(last)) != std::string::npos);
  CHECK(plan["snapshot_revision"].get<double>() < static_cast<double>(last));
  CHECK(plan["summary"].get<std::string>().find(lost) != std::string::npos);
  ReapByDir reap{{etcd.dataDir(0), etcd.dataDir(1), etcd.dataDir(2)}};
  std::string log = tmp.path() + "/plan.log";
  runPlan(plan, log);
  INFO(std::ifstream(log).rdbuf());
  REQUIRE(waitFor(
      [&] {
        auto v = getJson(port, "/api/v1/cluster");
        return v && healthyWithTolerance1(*v);
      },
      60s, 500ms));
  for (int i = 0; i < 3; ++i) {
    CHECK(keysUnder(etcd.clientUrl(i), "/plan/", tmp.path()) == 50);
    CHECK(keysUnder(etcd.clientUrl(i), "/late/", tmp.path()) == 0);  // as the plan said
  }
}

TEST_CASE(
    "a defragmentation plan run verbatim shrinks the db and no member stalls past its estimate",
    "[recovery][verbatim][defrag]") {
  ClusterStack s("qw-plan-defrag", 3, {"--quota-backend-bytes=16777216"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  // Ten keys rewritten with 200 KB values until the file nears its 16 MiB quota (not past it).
  const std::string etcdctl = fs::path(etcdBinary()).parent_path().string() + "/etcdctl";
  std::string value = s.tmp.path() + "/value";
  std::ofstream(value) << std::string(200 * 1024, 'x');
  double db = 0;
  for (int i = 0; i < 200 && db < 0.84 * 16777216; ++i) {
    REQUIRE(std::system((etcdctl + " --endpoints " + s.etcd.clientUrl(0) + " put /frag/" +
                         std::to_string(i % 10) + " < " + value + " >/dev/null")
                            .c_str()) == 0);
    if (i % 5 == 4) db = endpointStatus(s.etcd.clientUrl(0), s.tmp.path())["Status"]["dbSize"];
  }
  REQUIRE(db >= 0.84 * 16777216);
  // The history compacted, as Kubernetes' API server does every 5 minutes: the file keeps its
  // size, the space in it is free.
  const int64_t rev =
      endpointStatus(s.etcd.clientUrl(0), s.tmp.path())["Status"]["header"]["revision"];
  REQUIRE(std::system((etcdctl + " --endpoints " + s.etcd.clientUrl(0) + " compact " +
                       std::to_string(rev) + " >/dev/null")
                          .c_str()) == 0);
  json plan;
  bool planned = waitFor(
      [&] {
        auto p = getJson(s.port, "/api/v1/recovery/defrag?pause=2s");
        if (!p) return false;
        plan = *p;
        return plan["scenario"] == "DEFRAG";
      },
      60s, 500ms);
  INFO(plan.dump(2));
  REQUIRE(planned);
  CHECK(runCli(s.port, "defrag").code == 1);
  // Probe each member's /health every 100 ms while the plan runs: its longest run of failures.
  std::atomic<bool> stop{false};
  std::vector<double> worst(3, 0);
  std::thread probe([&] {
    std::vector<std::optional<std::chrono::steady_clock::time_point>> bad(3);
    while (!stop) {
      for (int i = 0; i < 3; ++i) {
        qw::HttpRequest req;
        req.timeout = 1s;
        auto r = qw::httpFetchSync(s.etcd.clientUrl(i) + "/health", req);
        auto now = std::chrono::steady_clock::now();
        bool ok = r.ok && r.status == 200 && r.body.find("\"true\"") != std::string::npos;
        if (!ok && !bad[i]) bad[i] = now;
        if (ok && bad[i]) {
          worst[i] = std::max(worst[i], std::chrono::duration<double>(now - *bad[i]).count());
          bad[i].reset();
        }
      }
      std::this_thread::sleep_for(100ms);
    }
  });
  runPlan(plan, s.tmp.path() + "/plan.log");
  stop = true;
  probe.join();
  for (int i = 0; i < 3; ++i) {
    double after = endpointStatus(s.etcd.clientUrl(i), s.tmp.path())["Status"]["dbSize"];
    INFO("member " << i << " db after " << after);
    CHECK(after < db / 2);
  }
  // Each member's stall against the plan's estimate (plus 2 s: the probe's own resolution, a
  // 1 s timeout and 100 ms between rounds).
  for (const auto& st : plan["steps"]) {
    if (st.value("command", "").find(" defrag") == std::string::npos) continue;
    int member = -1;
    for (int i = 0; i < 3; ++i)
      if (st["command"].get<std::string>().find(s.etcd.clientUrl(i)) != std::string::npos)
        member = i;
    REQUIRE(member >= 0);
    INFO(st.dump() << "\nlongest unhealthy: " << worst[member] << " s");
    if (!st.contains("expected_stall_seconds")) {
      WARN("no expected stall for member " << member << ": no disk write rate was measured");
      continue;
    }
    WARN("member " << member << ": longest unhealthy " << worst[member] << " s, expected stall "
                   << st["expected_stall_seconds"].get<double>() << " s");
    CHECK(worst[member] <= st["expected_stall_seconds"].get<double>() + 2.0);
  }
  CHECK(s.waitView(healthyWithTolerance1, 30s));
  // Nothing left to gain: the CLI says so with exit 0.
  CHECK(waitFor([&] { return runCli(s.port, "defrag").code == 0; }, 30s, 1s));
}
