// The risk engine and "safe to stop?" on a real 5-member etcd cluster, through the real CLI.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

TEST_CASE("five members with two killed: tolerance 0 and can-stop refuses every other member",
          "[risk]") {
  ClusterStack s("qw-risk", 5);
  REQUIRE(s.waitView(
      [](const json& v) {
        return v["healthy_members"] == 5 && v.contains("quorum_loss_probability");
      },
      40s));
  CHECK(s.last["failure_tolerance"] == 2);
  CHECK(s.last["state"] == "HEALTHY");
  CHECK(s.last["quorum_loss_probability"].get<double>() < 0.01);
  CHECK(s.last["horizon_seconds"] == 86400);
  CHECK_FALSE(s.last["risk_model_version"].get<std::string>().empty());

  // Healthy: stopping one follower is safe (exit 0) and says so.
  auto ok = runCli(s.port, "can-stop node-5");
  INFO(ok.out);
  CHECK(ok.code == 0);
  CHECK(ok.out.find("safe: stopping node-5 leaves failure tolerance 1 (now 2)") !=
        std::string::npos);

  s.etcd.kill9(3);
  s.etcd.kill9(4);
  REQUIRE(s.waitView([](const json& v) { return v["failure_tolerance"] == 0; }, 30s));
  CHECK(s.last["state"] == "CRITICAL");
  for (int i = 0; i < 3; ++i) {
    auto r = runCli(s.port, "can-stop node-" + std::to_string(i + 1));
    INFO("node-" << i + 1 << ": " << r.out);
    CHECK(r.code == 1);
    CHECK(r.out.find("NOT safe") != std::string::npos);
    CHECK(r.out.find("quorum needs 3") != std::string::npos);
    CHECK(r.out.find("is already unhealthy (etcd unreachable") != std::string::npos);
  }
  // The JSON answer is the API's, unchanged; exit codes for usage and no answer.
  auto j = runCli(s.port, "--json whatif node-1 node-2");
  CHECK(j.code == 1);
  auto w = json::parse(j.out, nullptr, false);
  REQUIRE_FALSE(w.is_discarded());
  CHECK(w["verdict"] == "UNSAFE");
  CHECK(w["failure_tolerance_after"] == -2);
  CHECK(runCli(s.port, "can-stop no-such-node").code == 3);
  CHECK(runCli(s.port, "can-stop").code == 3);
  CHECK(runCli(freePort(), "can-stop node-1").code == 4);
}

TEST_CASE("a site's risk table makes a healthy cluster AT_RISK and a bad one stops the aggregator",
          "[risk]") {
  TempDir tmp("qw-risk-table");
  const std::string table = tmp.path() + "/risk.conf";
  {
    FILE* f = std::fopen(table.c_str(), "w");
    REQUIRE(f);
    std::fputs("# this site treats any risk as worth a look\nat_risk_probability = 1e-12\n", f);
    std::fclose(f);
  }
  EtcdCluster etcd(3, tmp.path());
  etcd.start();
  Aggregator agg(tmp.path(), {"--risk-table", table});
  int port = agg.start();
  std::vector<std::unique_ptr<Agent>> agents;
  for (int i = 0; i < 3; ++i) {
    agents.push_back(std::make_unique<Agent>(tmp.path(), "node-" + std::to_string(i + 1),
                                             etcd.clientUrl(i), agg.streamUrl()));
    agents.back()->start();
  }
  json last;
  bool at_risk = waitFor(
      [&] {
        auto v = getJson(port, "/api/v1/cluster");
        if (!v) return false;
        last = *v;
        return last["state"] == "AT_RISK";
      },
      40s);
  INFO("view: " << last.dump());
  REQUIRE(at_risk);
  CHECK(last["healthy_members"] == 3);
  std::string version = last["risk_model_version"];
  CHECK(version.size() > 6);
  CHECK(version.substr(version.size() - 6) == "+local");
  bool said = false;
  for (const auto& r : last["reasons"])
    said |= r.get<std::string>().find("quorum-loss probability") != std::string::npos;
  CHECK(said);

  // A table the aggregator cannot use stops it at start, naming the line.
  const std::string bad = tmp.path() + "/bad.conf";
  {
    FILE* f = std::fopen(bad.c_str(), "w");
    REQUIRE(f);
    std::fputs("member_hazard_per_day = 0.01\nwal_fsync_p99.guidance.threshhold = 0.02\n", f);
    std::fclose(f);
  }
  Process p({binDir() + "/quorumwatch-aggregator", "--listen", "127.0.0.1:0", "--db",
             tmp.path() + "/other.db", "--risk-table", bad},
            tmp.path() + "/bad.log");
  REQUIRE(waitFor([&] { return !p.running(); }, 10s));
  INFO(p.log());
  CHECK(p.log().find("bad.conf:2") != std::string::npos);
  CHECK(p.log().find("threshhold") != std::string::npos);
}
