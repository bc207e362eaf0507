// The quorumwatch CLI against a real 3-member etcd cluster, real agents and the aggregator: every
// command and its exit code, --json parsed, colour only on a terminal and never with NO_COLOR,
// and planned maintenance end to end.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <future>
#include <string>

#include "harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string cli(int port) {
  return binDir() + "/quorumwatch --server http://127.0.0.1:" + std::to_string(port);
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

json parsed(const CliResult& r) {
  auto j = json::parse(r.out, nullptr, false);
  if (j.is_discarded()) FAIL("not JSON: " << r.out);
  return j;
}

}  // namespace

TEST_CASE("cli: every command and exit code on a real cluster, colour only on a terminal",
          "[cli]") {
  TempDir keys("qw-cli-token");
  const std::string token = "cli-token-0123456789abcdef";
  const std::string token_file = writeTokenFile(keys.path(), token);
  ClusterStack s("qw-cli", 3, {}, {"--token-file", token_file}, {"--token-file", token_file});
  REQUIRE(s.waitView(healthyWithTolerance1, 40s));

  // status: 0 when HEALTHY; --json is the API's ClusterView.
  auto st = runCli(s.port, "status");
  INFO(st.out);
  CHECK(st.code == 0);
  CHECK(has(st.out, "HEALTHY, failure tolerance 1"));
  CHECK_FALSE(has(st.out, "\033["));  // not a terminal: no colour
  auto sj = parsed(runCli(s.port, "--json status"));
  CHECK(sj["state"] == "HEALTHY");
  CHECK(sj["members"].size() == 3);

  // On a terminal (script(1) gives it a pty) the state is coloured, unless NO_COLOR is set.
  auto tty = runShell("script -qec '" + cli(s.port) + " status' /dev/null");
  CHECK(tty.code == 0);
  CHECK(has(tty.out, "\033[32mHEALTHY"));
  auto plain = runShell("NO_COLOR=1 script -qec '" + cli(s.port) + " status' /dev/null");
  CHECK(has(plain.out, "HEALTHY"));
  CHECK_FALSE(has(plain.out, "\033["));
  CHECK_FALSE(
      has(runShell("script -qec '" + cli(s.port) + " --no-color status' /dev/null").out, "\033["));

  // can-stop / whatif: 0 safe, 1 unsafe, 3 unknown node or missing argument.
  CHECK(runCli(s.port, "can-stop node-2").code == 0);
  auto two = runCli(s.port, "whatif node-1 node-2");
  CHECK(two.code == 1);
  CHECK(has(two.out, "NOT safe"));
  CHECK(parsed(runCli(s.port, "--json whatif node-1 node-2"))["verdict"] == "UNSAFE");
  CHECK(runCli(s.port, "can-stop nope").code == 3);
  CHECK(runCli(s.port, "can-stop").code == 3);

  // events: the agents' connections are in the log; a bad --since is a usage error.
  auto ev = runCli(s.port, "events --since 10m");
  CHECK(ev.code == 0);
  CHECK(has(ev.out, "AGENT_CONNECTED"));
  CHECK(
      parsed(runCli(s.port, "--json events --since 10m --kind AGENT_CONNECTED"))["events"].size() >=
      3);
  CHECK(runCli(s.port, "events --since yesterday-ish").code == 3);
  CHECK(runCli(s.port, "events --kind NOT_A_KIND").code == 3);

  // series: a sparkline of a real series; an unknown metric or node is a usage error.
  REQUIRE(
      waitFor([&] { return runCli(s.port, "series node-1 etcd_reachable --since 5m").code == 0; },
              20s, 1s));
  auto se = runCli(s.port, "series node-1 etcd_reachable --since 5m");
  CHECK(has(se.out, "node-1 etcd_reachable"));
  CHECK(has(se.out, "\u2581"));
  CHECK(parsed(runCli(s.port, "--json series node-1 etcd_reachable --since 5m"))["points"].size() >
        0);
  CHECK(runCli(s.port, "series node-1 no_such_metric").code == 3);
  CHECK(runCli(s.port, "series nope etcd_reachable").code == 3);
  CHECK(runCli(s.port, "series node-1").code == 3);

  // config: the agent's resolved configuration, asked over its stream.
  auto cf = runCli(s.port, "config node-2");
  INFO(cf.out);
  CHECK(cf.code == 0);
  CHECK(has(cf.out, "node-2: agent"));
  CHECK(has(cf.out, "<redacted>"));  // its token file's value is never printed
  CHECK(parsed(runCli(s.port, "--json config node-2"))["node"] == "node-2");
  CHECK(runCli(s.port, "config nope").code == 3);

  // snapshots (none here: 1), plan (HEALTHY: 0), drill without a token (3).
  auto sn = runCli(s.port, "snapshots");
  CHECK(sn.code == 1);
  CHECK(has(sn.out, "no verified snapshot"));
  CHECK(parsed(runCli(s.port, "--json snapshots")).contains("snapshots"));
  CHECK(runCli(s.port, "plan").code == 0);
  CHECK(runCli(s.port, "drill").code == 3);
  CHECK(runCli(s.port, "frobnicate").code == 3);
  CHECK(runCli(s.port, "").code == 3);
  CHECK(runCli(s.port, "--help").code == 0);
  CHECK(runCli(freePort(), "status").code == 4);

  // events --follow prints what happens while it runs.
  auto follow = std::async(std::launch::async, [&] {
    return runShell("timeout -s INT 12 " + cli(s.port) +
                    " events --follow --since 1s --kind MEMBER_UNREACHABLE");
  });
  std::this_thread::sleep_for(2s);
  s.etcd.kill9(0);
  auto fo = follow.get();
  INFO(fo.out);
  CHECK(has(fo.out, "MEMBER_UNREACHABLE"));
  CHECK(has(fo.out, "node-1"));
  REQUIRE(s.waitView([](const json& v) { return v["failure_tolerance"] == 0; }, 30s));
  auto down = runCli(s.port, "status");
  CHECK(down.code == 1);  // not HEALTHY
  CHECK(has(down.out, "MEMBER_DOWN"));
  s.etcd.restart(0);
  REQUIRE(s.waitView(healthyWithTolerance1, 60s));
}

TEST_CASE("cli: planned maintenance marks warnings expected, can-stop and plans know it", "[cli]") {
  TempDir keys("qw-cli-token");
  const std::string token = "maint-token-0123456789abcdef";
  const std::string token_file = writeTokenFile(keys.path(), token);
  TempDir other_keys("qw-cli-wrong");
  const std::string wrong_file = writeTokenFile(other_keys.path(), "not-the-token-0123456789");
  ClusterStack s("qw-maint", 3, {}, {"--token-file", token_file}, {"--token-file", token_file});
  REQUIRE(s.waitView(healthyWithTolerance1, 40s));

  // The token is required to open or end one (usage error without; 3 for a wrong one too).
  CHECK(runCli(s.port, "maintenance node-3 --for 30m").code == 3);
  CHECK(runCli(s.port, "maintenance node-3 --for 30m --token-file " + wrong_file).code == 3);
  const std::string tf = " --token-file " + token_file;
  CHECK(runCli(s.port, "maintenance node-3 --for 48h" + tf).code == 3);  // over a day
  CHECK(runCli(s.port, "maintenance node-3" + tf).code == 3);            // neither --for nor --end
  CHECK(runCli(s.port, "maintenance nope --for 30m" + tf).code == 3);
  auto open = runCli(s.port, "maintenance node-3 --for 30m --reason kernel-upgrade" + tf);
  INFO(open.out);
  REQUIRE(open.code == 0);
  auto list = runCli(s.port, "maintenance");
  CHECK(has(list.out, "node-3: planned maintenance until"));
  CHECK(has(list.out, "kernel-upgrade"));
  CHECK(parsed(runCli(s.port, "--json maintenance"))["windows"].size() == 1);

  // can-stop counts node-3 as down already: stopping node-1 too would lose quorum.
  auto other = runCli(s.port, "can-stop node-1");
  INFO(other.out);
  CHECK(other.code == 1);
  CHECK(has(other.out, "node-3 is in planned maintenance until"));
  CHECK(has(other.out, "quorum needs 2"));
  CHECK(runCli(s.port, "can-stop node-3").code == 0);

  // node-3 stopped: its warnings are expected, the event says so, the plan says bring it back.
  s.etcd.kill9(2);
  REQUIRE(s.waitView(
      [](const json& v) {
        for (const auto& w : v["warnings"])
          if (w["code"] == "MEMBER_DOWN" && w["node"] == "node-3") return w["expected"] == true;
        return false;
      },
      30s));
  CHECK(s.last["state"] == "CRITICAL");  // the arithmetic stays honest: tolerance 0
  auto st = runCli(s.port, "status");
  CHECK(has(st.out, "[expected: planned maintenance]"));
  CHECK(has(st.out, "maintenance: node-3 until"));
  auto events = parsed(runCli(s.port, "--json events --since 5m --kind WARNING_RAISED"));
  bool expected_event = false;
  for (const auto& e : events["events"])
    if (e["code"] == "MEMBER_DOWN" && e["node"] == "node-3")
      expected_event = e["severity"] == "INFO" &&
                       has(e["message"].get<std::string>(), "expected: node-3 is in planned");
  CHECK(expected_event);
  auto plan = parsed(runCli(s.port, "--json plan"));
  bool rail = false;
  for (const auto& g : plan["guard_rails"])
    rail |= has(g.get<std::string>(), "node node-3 is in planned maintenance");
  CHECK(rail);
  auto prom = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  REQUIRE(prom.ok);
  CHECK(has(prom.body, "quorumwatch_maintenance_active{cluster=\"test\",node=\"node-3\"} 1"));
  CHECK(has(prom.body, "code=\"MEMBER_DOWN\",expected=\"true\""));

  // Ended early: the event, and the warning is an incident again.
  CHECK(runCli(s.port, "maintenance node-3 --end" + tf).code == 0);
  CHECK(runCli(s.port, "maintenance node-3 --end" + tf).code == 3);  // none open
  CHECK(has(runCli(s.port, "events --since 5m --kind MAINTENANCE_ENDED").out, "ended early"));
  CHECK(has(runCli(s.port, "events --since 5m --kind MAINTENANCE_STARTED").out,
            "planned maintenance of node-3 until"));
  REQUIRE(s.waitView(
      [](const json& v) {
        for (const auto& w : v["warnings"])
          if (w["code"] == "MEMBER_DOWN" && w["node"] == "node-3") return w["expected"] == false;
        return false;
      },
      10s));
  s.etcd.restart(2);
  REQUIRE(s.waitView(healthyWithTolerance1, 60s));

  // A window ends by itself.
  REQUIRE(runCli(s.port, "maintenance node-2 --for 2s" + tf).code == 0);
  CHECK(waitFor([&] { return has(runCli(s.port, "maintenance").out, "no planned maintenance"); },
                20s, 500ms));
  CHECK(waitFor(
      [&] {
        return has(runCli(s.port, "events --since 5m --kind MAINTENANCE_ENDED --node node-2").out,
                   "ended at its time");
      },
      20s, 500ms));
}
