// CPU cost of the agent's sampling work on real etcd answers (no network): the full cycle
// (parse the captured ~150 KB etcd /metrics, extract the signals, compute deltas, serialize) and
// the fast cycle (parse status, member list, health and alarms, serialize). Prints microseconds
// per cycle as the median of several runs; not a test, nothing here fails on time.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "qw/agent/parse/etcd_metrics.h"
#include "qw/agent/parse/etcd_parse.h"
#include "qw/agent/sys/host.h"
#include "qw/fs_util.h"
#include "sample.pb.h"

namespace {

std::string load(const std::string& rel) {
  auto s = qw::readFile(std::string(QW_FIXTURES) + "/" + rel);
  if (!s) {
    std::fprintf(stderr, "missing fixture %s\n", rel.c_str());
    std::exit(1);
  }
  auto pos = s->rfind("\nHTTP ");
  if (pos != std::string::npos) s->resize(pos);
  return *s;
}

template <class F>
double medianMicros(int iterations, F&& f) {
  std::vector<double> runs;
  for (int r = 0; r < 7; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) f(i);
    auto t1 = std::chrono::steady_clock::now();
    runs.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / iterations);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main() {
  size_t sink = 0;
  for (const char* set : {"etcd-3.4.23", "etcd-3.5.16"}) {
    std::string metrics = load(std::string(set) + "/metrics_m1.txt");
    qw::wire::EtcdMetrics prev;
    qw::agent::extractEtcdMetrics(metrics, &prev);
    double full = medianMicros(200, [&](int) {
      qw::wire::EtcdMetrics cur;
      qw::agent::extractEtcdMetrics(metrics, &cur);
      qw::wire::NodeSample s;
      *s.mutable_metrics() = qw::agent::metricsDelta(&prev, cur, 10000);
      sink += s.SerializeAsString().size();
    });
    std::printf("full cycle (%s /metrics, %zu bytes): %.1f us per cycle (target <= 500 us)\n", set,
                metrics.size(), full);
  }
  std::string status = load("etcd-3.5.16/status-3up-m1.json");
  std::string members = load("etcd-3.4.23/memberlist-3up-m1.json");
  std::string health = load("etcd-3.5.16/health-3up-m1.txt");
  std::string alarms = load("etcd-3.5.16/alarm-3up-m1.json");
  double fast = medianMicros(20000, [&](int) {
    qw::wire::NodeSample s;
    auto* e = s.mutable_etcd();
    qw::agent::parseStatus(status, e);
    qw::agent::parseHealth(health, e);
    qw::agent::parseMemberList(members, e);
    qw::agent::parseAlarms(alarms, e);
    sink += s.SerializeAsString().size();
  });
  std::printf(
      "fast cycle (parse status, health, members, alarms; serialize): %.2f us per cycle "
      "(target <= 50 us; excludes the HTTP round trips)\n",
      fast);
  // The host part of the fast cycle: diskstats, thermal, cpufreq, get_throttled, PSI, load,
  // memory and the etcd process, on this machine's real /proc and /sys and on the Pi 4 fixture.
  // A stand-in etcd process (a copy of sleep named etcd), so the cycle reads its stat and io as
  // it would on a node.
  std::string stand_in = "/tmp/qw-bench-etcd-" + std::to_string(::getpid());
  ::mkdir(stand_in.c_str(), 0700);
  std::filesystem::copy_file("/bin/sleep", stand_in + "/etcd");
  pid_t child = ::fork();
  if (child == 0) {
    ::execl((stand_in + "/etcd").c_str(), "etcd", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::usleep(100000);
  for (const char* where : {"this machine's /proc and /sys", "the Pi 4 fixture tree"}) {
    qw::agent::HostConfig hc;
    if (std::string(where).find("Pi 4") != std::string::npos) {
      hc.procfs_root = std::string(QW_FIXTURES) + "/hosts/pi4/proc";
      hc.sysfs_root = std::string(QW_FIXTURES) + "/hosts/pi4/sys";
      hc.data_device = "179:2";
    } else {
      hc.data_dir = "/tmp";
    }
    // Every reading in every cycle, then the shipped cadence: the disk every cycle and the rest
    // every 5 s (measured over groups of 5 cycles, one of them slow).
    hc.slow_interval_ms = 0;
    qw::agent::HostSampler all(hc);
    int64_t t = 0;
    double us = medianMicros(5000, [&](int) {
      qw::wire::NodeSample s;
      all.sample(t += 1000, &s);
      sink += s.ByteSizeLong();
    });
    hc.slow_interval_ms = 5000;
    qw::agent::HostSampler host(hc);
    t = 0;
    double mixed = medianMicros(1000,
                                [&](int) {
                                  for (int k = 0; k < 5; ++k) {
                                    qw::wire::NodeSample s;
                                    host.sample(t += 1000, &s);
                                    sink += s.ByteSizeLong();
                                  }
                                }) /
                   5;
    std::printf(
        "host cycle (%s; etcd pid %d, disk %s): %.2f us with every reading, %.2f us per cycle "
        "with the 5 s host interval\n",
        where, host.etcdPid(), host.device().disk.c_str(), us, mixed);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  std::filesystem::remove_all(stand_in);
  // What single reads cost here (the kernel generates each file on read).
  for (const char* f : {"/proc/meminfo", "/proc/diskstats", "/proc/loadavg", "/proc/pressure/io",
                        "/proc/self/stat", "/proc/self/io"}) {
    qw::agent::SysFile file(f);
    std::string buf;
    double us = medianMicros(5000, [&](int) {
      file.read(buf);
      sink += buf.size();
    });
    std::printf("  read %s: %.2f us\n", f, us);
  }
  return sink == 0 ? 1 : 0;
}
