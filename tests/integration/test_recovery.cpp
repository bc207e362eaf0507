// Recovery plans run verbatim on real etcd (3.4 and 3.5): the harness executes every step's
// command exactly as GET /api/v1/recovery/plan printed it (sh -c, etcd's own directory on PATH
// for etcdctl, nothing substituted), then runs the step's check until it passes.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

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
