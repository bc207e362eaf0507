// qw-demo: what scripts/demo.sh runs. A real 3-member etcd cluster on free loopback ports, three
// agents and the aggregator on 127.0.0.1:9479 (or --port), the cluster view every few seconds
// until Ctrl-C. --check runs a scripted tour and exits 0 only if it saw what it expects.
#include <signal.h>
#include <sys/wait.h>
#include <filesystem>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "harness.h"
#include "qw/options.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

void printView(int port) {
  std::string cmd =
      binDir() + "/quorumwatch status --server http://127.0.0.1:" + std::to_string(port);
  std::fflush(stdout);
  // Exit code 4: no answer (1 and 2 only say the cluster is not healthy or not known).
  int st = std::system(cmd.c_str());
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 4)
    std::printf("(aggregator not answering)\n");
  std::fflush(stdout);
}

bool expect(int port, const char* what, std::chrono::seconds timeout,
            const std::function<bool(const json&)>& pred) {
  std::printf("\n== waiting up to %lds for: %s\n", static_cast<long>(timeout.count()), what);
  auto start = std::chrono::steady_clock::now();
  bool ok = waitFor(
      [&] {
        if (g_stop) return true;
        auto v = getJson(port, "/api/v1/cluster");
        return v && pred(*v);
      },
      timeout, 200ms);
  ok = ok && !g_stop;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::printf("%s after %lld ms\n", ok ? "OK" : "FAILED", static_cast<long long>(ms));
  printView(port);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bool check = false;
  std::string etcd_version = "3.4";
  int64_t port = 9479;
  qw::Options opts("qw-demo", "Local demo of quorumwatch on a real 3-member etcd cluster.");
  opts.addFlag("check", "Run the scripted tour and exit 0 only if it saw what it expects.", &check);
  opts.addString("etcd", "etcd version to run: 3.4 (Debian's) or 3.5 (fetched by deps.sh).",
                 &etcd_version);
  opts.addInt("port", "Aggregator port on 127.0.0.1 (0: any free port).", &port, 0, 65535);
  if (auto err = opts.parse(argc, argv)) {
    std::fprintf(stderr, "qw-demo: %s\n", err->c_str());
    return 2;
  }
  if (opts.helpRequested()) {
    std::cout << opts.helpText();
    return 0;
  }
  setenv("QW_ETCD", etcd_version.c_str(), 1);
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  try {
    TempDir tmp("qw-demo");
    std::printf("data and logs in %s\n", tmp.path().c_str());
    EtcdCluster etcd(3, tmp.path());
    std::printf("starting etcd %s: 3 members on loopback (%s)...\n", etcd_version.c_str(),
                etcdBinary().c_str());
    etcd.start();
    for (int i = 0; i < 3; ++i)
      std::printf("  %s client URL %s\n", etcd.name(i).c_str(), etcd.clientUrl(i).c_str());
    // Snapshots as on a plain-etcd cluster: the aggregator has a follower's agent take one (none
    // is verified yet, so at once), copies it off the node and drills it with these binaries.
    std::vector<std::string> agg_args = {
        "--cluster-name",   "demo",
        "--snapshot-every", "12h",
        "--etcd-bin-dir",   std::filesystem::path(etcdBinary()).parent_path().string()};
    if (port) agg_args.insert(agg_args.end(), {"--listen", "127.0.0.1:" + std::to_string(port)});
    Aggregator agg(tmp.path(), agg_args);
    int p = agg.start();
    std::vector<std::unique_ptr<Agent>> agents;
    for (int i = 0; i < 3; ++i) {
      std::string node = "node-" + std::to_string(i + 1);
      std::string snaps = tmp.path() + "/snapshots-" + node;
      std::filesystem::create_directories(snaps);
      agents.push_back(std::make_unique<Agent>(
          tmp.path(), node, etcd.clientUrl(i), agg.streamUrl(),
          std::vector<std::string>{"--cluster-name", "demo", "--snapshot-dir", snaps}));
      agents.back()->start();
    }
    std::printf(
        "\naggregator on 127.0.0.1:%d\n  API:       http://127.0.0.1:%d/api/v1/cluster\n"
        "  nodes:     http://127.0.0.1:%d/api/v1/nodes\n"
        "  snapshots: http://127.0.0.1:%d/api/v1/snapshots (taken, copied off and drilled)\n"
        "  dashboard: http://127.0.0.1:%d/\n  CLI:       %s/quorumwatch status --server "
        "http://127.0.0.1:%d\n",
        p, p, p, p, p, binDir().c_str(), p);

    if (check) {
      bool ok = expect(p, "failure_tolerance 1, HEALTHY", 30s, [](const json& v) {
        return v["state"] == "HEALTHY" && v["failure_tolerance"] == 1;
      });
      if (ok) {
        std::printf("\n== kill -9 %s\n", etcd.name(1).c_str());
        etcd.kill9(1);
        ok =
            expect(p, "failure_tolerance 0 and m2 unhealthy with a reason", 10s, [](const json& v) {
              for (const auto& m : v["members"])
                if (m["name"] == "m2")
                  return v["failure_tolerance"] == 0 && m["healthy"] == false &&
                         !m["reasons"].empty();
              return false;
            });
      }
      if (ok) {
        std::printf("\n== restart %s\n", etcd.name(1).c_str());
        etcd.restart(1);
        ok = expect(p, "failure_tolerance 1 again", 30s, [](const json& v) {
          return v["state"] == "HEALTHY" && v["failure_tolerance"] == 1;
        });
      }
      if (!ok) tmp.keep();
      if (ok)
        std::printf("\ndemo check PASSED\n");
      else
        std::printf("\ndemo check FAILED (logs kept in %s)\n", tmp.path().c_str());
      return ok ? 0 : 1;
    }

    std::printf("\nPress Ctrl-C to stop everything.\n");
    while (!g_stop) {
      std::printf("\n");
      printView(p);
      for (int i = 0; i < 30 && !g_stop; ++i) std::this_thread::sleep_for(100ms);
    }
    std::printf("\nstopping etcd, agents and aggregator...\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qw-demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
