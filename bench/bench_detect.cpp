// How fast a failure shows in GET /api/v1/cluster (the risk issue's detection targets): a real
// 3-member etcd cluster, the real agents (shipped cadence: a probe every 1 s, etcd-timeout 800 ms)
// and the real aggregator. Each run kills a member with SIGKILL (the leader and a follower in
// turn) and polls the API in-process every 10 ms until the failure tolerance drops with that member
// unhealthy; then the same with SIGSTOP (a hung member) until that member is unhealthy, and with
// the member's etcd and its agent killed together, and stopped together (a node that vanishes
// without a word; half as many runs each). The member is restarted (or
// continued) and every member waited healthy between runs. Prints median and max.
// Not a test. The etcd version is the harness's ($QW_ETCD: 3.4 or 3.5).
//   qw-bench-detect [--runs N]
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

int memberIndex(const ClusterStack& s, const std::string& name) {
  for (int i = 0; i < s.etcd.size(); ++i)
    if (s.etcd.name(i) == name) return i;
  return -1;
}

bool memberUnhealthy(const json& v, const std::string& name) {
  for (const auto& m : v["members"])
    if (m["name"] == name) return m["healthy"] == false;
  return false;
}

// Polls every 10 ms until `pred`; returns seconds since `t0`, or -1 after `timeout`.
double timeUntil(int port, Clock::time_point t0, std::chrono::milliseconds timeout,
                 const std::function<bool(const json&)>& pred, json* last) {
  while (Clock::now() - t0 < timeout) {
    if (auto v = getJson(port, "/api/v1/cluster"); v && pred(*v)) {
      *last = *v;
      return std::chrono::duration<double>(Clock::now() - t0).count();
    }
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

void report(const char* what, std::vector<double> t, double target) {
  if (t.empty()) {
    std::printf("%-28s no run completed\n", what);
    return;
  }
  std::sort(t.begin(), t.end());
  double median = t.size() % 2 ? t[t.size() / 2] : (t[t.size() / 2 - 1] + t[t.size() / 2]) / 2;
  std::printf("%-28s runs %zu  median %.3f s  min %.3f s  max %.3f s  (target: median <= %.2f s)\n",
              what, t.size(), median, t.front(), t.back(), target);
}

// Every member healthy again (not the state: killing leaders in a row rightly raises the
// LEADER_CHANGES warning, and the cluster reads DEGRADED while it lasts).
bool settle(ClusterStack& s) {
  return s.waitView(
      [](const json& v) {
        if (v["failure_tolerance"] != 1) return false;
        for (const auto& m : v["members"])
          if (m["healthy"] != true) return false;
        return true;
      },
      90s);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 10;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--runs N]\n  etcd version: QW_ETCD=3.4|3.5\n", argv[0]);
      return 2;
    }
  }
  // The agents at their shipped cadence, not the test harness's faster one.
  ClusterStack s("qw-bench-detect", 3, {}, {"--fast-interval", "1s", "--etcd-timeout", "800ms"});
  if (!s.waitView(healthyWithTolerance1, 60s)) {
    std::fprintf(stderr, "the cluster did not become HEALTHY: %s\n", s.last.dump().c_str());
    return 1;
  }
  std::printf("etcd %s, 3 members, agents probing every 1 s (etcd-timeout 0.8 s)\n",
              etcdBinary().c_str());
  std::vector<double> kill_leader, kill_follower, hang;
  for (int r = 0; r < runs; ++r) {
    int leader = memberIndex(s, s.last["leader"].get<std::string>());
    int victim = r % 2 == 0 ? leader : (leader + 1) % s.etcd.size();
    if (victim < 0) victim = 0;
    std::string name = s.etcd.name(victim);
    json last;
    auto t0 = Clock::now();
    s.etcd.kill9(victim);
    double dt = timeUntil(
        s.port, t0, 20s,
        [&](const json& v) { return v["failure_tolerance"] == 0 && memberUnhealthy(v, name); },
        &last);
    if (dt >= 0) (r % 2 == 0 ? kill_leader : kill_follower).push_back(dt);
    std::printf("  kill -9 %s (%s): %.3f s\n", name.c_str(), r % 2 == 0 ? "leader" : "follower",
                dt);
    s.etcd.restart(victim);
    if (!settle(s)) {
      std::fprintf(stderr, "not every member healthy again after restarting %s: %s\n", name.c_str(),
                   s.last.dump().c_str());
      return 1;
    }
  }
  for (int r = 0; r < runs; ++r) {
    int victim = r % s.etcd.size();
    std::string name = s.etcd.name(victim);
    json last;
    auto t0 = Clock::now();
    ::kill(s.etcd.pid(victim), SIGSTOP);
    double dt = timeUntil(
        s.port, t0, 20s, [&](const json& v) { return memberUnhealthy(v, name); }, &last);
    if (dt >= 0) hang.push_back(dt);
    std::printf("  SIGSTOP %s: %.3f s\n", name.c_str(), dt);
    ::kill(s.etcd.pid(victim), SIGCONT);
    if (!settle(s)) {
      std::fprintf(stderr, "not every member healthy again after SIGCONT of %s\n", name.c_str());
      return 1;
    }
  }
  // The node gone: its etcd and its agent killed together (their sockets close at once).
  std::vector<double> node_gone;
  for (int r = 0; r < runs / 2; ++r) {
    int victim = (r + 1) % s.etcd.size();
    std::string name = s.etcd.name(victim);
    json last;
    auto t0 = Clock::now();
    s.agents[static_cast<size_t>(victim)]->process().kill(9);
    s.etcd.kill9(victim);
    double dt = timeUntil(
        s.port, t0, 20s,
        [&](const json& v) { return v["failure_tolerance"] == 0 && memberUnhealthy(v, name); },
        &last);
    if (dt >= 0) node_gone.push_back(dt);
    std::printf("  kill -9 agent and etcd of %s: %.3f s\n", name.c_str(), dt);
    s.etcd.restart(victim);
    s.agents[static_cast<size_t>(victim)]->start();
    if (!settle(s)) {
      std::fprintf(stderr, "not every member healthy again after restarting node of %s\n",
                   name.c_str());
      return 1;
    }
  }
  // The node vanished without a word (power cut, partition): its agent and its etcd stopped
  // together, so no socket closes; only the aggregator's session pings (--agent-timeout) see it.
  std::vector<double> vanished;
  for (int r = 0; r < runs / 2; ++r) {
    int victim = (r + 2) % s.etcd.size();
    std::string name = s.etcd.name(victim);
    json last;
    auto t0 = Clock::now();
    s.agents[static_cast<size_t>(victim)]->process().kill(SIGSTOP);
    ::kill(s.etcd.pid(victim), SIGSTOP);
    double dt = timeUntil(
        s.port, t0, 20s,
        [&](const json& v) { return v["failure_tolerance"] == 0 && memberUnhealthy(v, name); },
        &last);
    if (dt >= 0) vanished.push_back(dt);
    std::printf("  SIGSTOP agent and etcd of %s: %.3f s\n", name.c_str(), dt);
    ::kill(s.etcd.pid(victim), SIGCONT);
    s.agents[static_cast<size_t>(victim)]->process().kill(SIGCONT);
    if (!settle(s)) {
      std::fprintf(stderr, "not every member healthy again after SIGCONT of node of %s\n",
                   name.c_str());
      return 1;
    }
  }
  report("kill -9 leader", kill_leader, 0.25);
  report("kill -9 follower", kill_follower, 0.25);
  std::vector<double> all = kill_leader;
  all.insert(all.end(), kill_follower.begin(), kill_follower.end());
  report("kill -9 (all)", all, 0.25);
  report("SIGSTOP (hung member)", hang, 0.8 + 0.5);
  report("kill -9 agent and etcd", node_gone, 0.25);
  report("SIGSTOP agent and etcd", vanished, 2.0);
  return 0;
}
