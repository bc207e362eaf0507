// Steady-state memory and CPU of the real agent sampling a real etcd member, side by side in the
// same run with Debian's prometheus-node-exporter (diskstats, thermal_zone, hwmon and pressure
// collectors only) scraped at the agent's fast cadence. Prints PSS (the target, DESIGN.md
// section 3), RSS and private memory beside it, CPU per second, and the ratios. Not a test.
//   qw-bench-agent-footprint [--seconds N] [--node-exporter PATH]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include "harness.h"
#include "qw/fs_util.h"

using namespace qw::test;
using namespace std::chrono_literals;

namespace {

struct Mem {
  double pss_kb = 0, rss_kb = 0, private_kb = 0;
};

Mem memoryOf(pid_t pid) {
  Mem m;
  auto text = qw::readFile("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!text) return m;
  std::istringstream in(*text);
  std::string key;
  double v = 0;
  std::string unit;
  while (in >> key) {
    if (key == "Rss:" || key == "Pss:" || key == "Private_Clean:" || key == "Private_Dirty:") {
      in >> v >> unit;
      if (key == "Rss:")
        m.rss_kb = v;
      else if (key == "Pss:")
        m.pss_kb = v;
      else
        m.private_kb += v;
    }
  }
  return m;
}

// On-CPU time in seconds, summed over the process's threads from /proc/PID/task/*/schedstat
// (nanoseconds). /proc/PID/stat's utime + stime come in clock ticks (10 ms), too coarse for a
// process that uses about 0.1 s in two minutes. A thread that exits takes its time with it; the
// agent has one thread and node_exporter's Go runtime keeps its threads.
double cpuSeconds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  double total = 0;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(dir, ec)) {
    auto st = qw::readFile(t.path().string() + "/schedstat");
    if (st) total += std::strtod(st->c_str(), nullptr) / 1e9;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 120;
  std::string ne = "/usr/bin/prometheus-node-exporter";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--node-exporter") && i + 1 < argc)
      ne = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--seconds N] [--node-exporter PATH]\n", argv[0]);
      return 2;
    }
  }
  TempDir tmp("qw-footprint");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  Aggregator agg(tmp.path());
  int port = agg.start();
  // The agent with its shipped defaults: probes every 1 s, /metrics every 10 s.
  Process agent({binDir() + "/quorumwatch-agent", "--cluster-name", "bench", "--node-name",
                 "bench-1", "--etcd-endpoint", etcd.clientUrl(0), "--aggregator", agg.streamUrl()},
                tmp.path() + "/agent.log");
  bool have_ne = ::access(ne.c_str(), X_OK) == 0;
  std::unique_ptr<Process> exporter;
  int ne_port = port + 1;
  if (have_ne) {
    // A port next to the aggregator's free one; retried below if taken.
    for (int attempt = 0; attempt < 5 && !exporter; ++attempt, ++ne_port) {
      exporter = std::make_unique<Process>(
          std::vector<std::string>{ne, "--collector.disable-defaults", "--collector.diskstats",
                                   "--collector.thermal_zone", "--collector.hwmon",
                                   "--collector.pressure",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(ne_port)},
          tmp.path() + "/node-exporter.log");
      std::this_thread::sleep_for(500ms);
      if (!exporter->running()) exporter.reset();
    }
    if (exporter) --ne_port;
  }
  std::string ne_url = "http://127.0.0.1:" + std::to_string(ne_port) + "/metrics";
  auto scrape = [&] {
    if (exporter) (void)qw::httpFetchSync(ne_url);
  };
  std::printf(
      "footprint: warming up 10 s, then measuring %d s (agent: 1 s probes, 10 s /metrics; "
      "node_exporter %s, scraped every 1 s)\n",
      seconds, exporter ? "running" : "not available");
  std::fflush(stdout);
  for (int i = 0; i < 10; ++i) {
    scrape();
    std::this_thread::sleep_for(1s);
  }
  double a0 = cpuSeconds(agent.pid()), n0 = exporter ? cpuSeconds(exporter->pid()) : 0;
  auto t0 = std::chrono::steady_clock::now();
  Mem a_peak, n_peak;
  for (int i = 0; i < seconds; ++i) {
    scrape();
    std::this_thread::sleep_for(1s);
    auto am = memoryOf(agent.pid());
    if (am.pss_kb > a_peak.pss_kb) a_peak = am;
    if (exporter) {
      auto nm = memoryOf(exporter->pid());
      if (nm.pss_kb > n_peak.pss_kb) n_peak = nm;
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double a_cpu = (cpuSeconds(agent.pid()) - a0) / wall;
  Mem a_end = memoryOf(agent.pid());
  auto nodes = getJson(port, "/api/v1/nodes/bench-1");
  bool streamed = nodes && nodes->value("last_seq", 0.0) >= seconds;
  std::printf(
      "agent: PSS %.0f KiB (%.2f MiB, target <= 4 MiB), RSS %.0f KiB, private %.0f KiB at "
      "the end; peak PSS %.0f KiB\n",
      a_end.pss_kb, a_end.pss_kb / 1024, a_end.rss_kb, a_end.private_kb, a_peak.pss_kb);
  std::printf("agent: CPU %.3f ms per second (%.4f%% of a core) over %.0f s; %s\n", a_cpu * 1000,
              a_cpu * 100, wall, streamed ? "streamed every sample" : "WARNING: samples missing");
  if (exporter) {
    double n_cpu = (cpuSeconds(exporter->pid()) - n0) / wall;
    Mem n_end = memoryOf(exporter->pid());
    std::printf(
        "node_exporter: PSS %.0f KiB, RSS %.0f KiB, private %.0f KiB; CPU %.3f ms per second\n",
        n_end.pss_kb, n_end.rss_kb, n_end.private_kb, n_cpu * 1000);
    std::printf(
        "ratios agent/node_exporter: RSS %.3f (target <= 0.2), PSS %.3f, CPU %.3f (target <= "
        "0.1)\n",
        a_end.rss_kb / n_end.rss_kb, a_end.pss_kb / n_end.pss_kb, a_cpu / n_cpu);
  }
  agent.stop();
  return 0;
}
