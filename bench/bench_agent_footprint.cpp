// Steady-state memory and CPU of the real agent sampling a real etcd member, side by side in the
// same run with Debian's prometheus-node-exporter (diskstats, thermal_zone, hwmon and pressure
// collectors only) scraped at the agent's fast cadence, and beside qw-bench-probe-floor, which
// makes the agent's calls and reads at the agent's cadences in plain system calls and nothing else
// (bench/probe_floor.cpp): the CPU any agent doing this work pays on this machine. Prints PSS (the
// target, DESIGN.md section 3), RSS and private memory beside it (medians of one reading a second,
// and the peak), CPU per second, and the ratios. Not a test.
//   qw-bench-agent-footprint [--seconds N] [--node-exporter PATH] [--tls]
// --tls: etcd with https client URLs and --client-cert-auth, as kubeadm and k3s run it; the agent
// uses a CA, a client certificate and key; so does the floor, through mbedTLS's record layer.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "harness.h"
#include "qw/agent/sys/host.h"
#include "qw/fs_util.h"
#include "qw/http_client.h"

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

Mem median(std::vector<Mem> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end(), [](const Mem& a, const Mem& b) { return a.rss_kb < b.rss_kb; });
  Mem m = v[v.size() / 2];
  std::sort(v.begin(), v.end(), [](const Mem& a, const Mem& b) { return a.pss_kb < b.pss_kb; });
  m.pss_kb = v[v.size() / 2].pss_kb;
  return m;
}

Mem peak(const std::vector<Mem>& v) {
  Mem p;
  for (const auto& m : v) {
    p.rss_kb = std::max(p.rss_kb, m.rss_kb);
    p.pss_kb = std::max(p.pss_kb, m.pss_kb);
    p.private_kb = std::max(p.private_kb, m.private_kb);
  }
  return p;
}

// Stands in for the aggregator for the floor: drains its frames and answers every fifth
// 600-byte frame with a 6-byte ack, as the aggregator acks an agent every 5 s.
class Sink {
 public:
  Sink() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 1);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      client_ = c;
      char b[4096];
      size_t total = 0, acked = 0;
      for (;;) {
        ssize_t n = ::read(c, b, sizeof b);
        if (n <= 0) break;
        total += static_cast<size_t>(n);
        if (total - acked >= 5 * 600) {
          acked = total;
          if (::write(c, "ack...", 6) < 0) break;
        }
      }
    });
  }
  ~Sink() {
    ::shutdown(fd_, SHUT_RDWR);
    if (client_ >= 0) ::shutdown(client_, SHUT_RDWR);
    thread_.join();
    if (client_ >= 0) ::close(client_);
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1, port_ = 0;
  std::atomic<int> client_{-1};
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  int seconds = 120;
  std::string ne = "/usr/bin/prometheus-node-exporter";
  bool tls = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tls"))
      tls = true;
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--node-exporter") && i + 1 < argc)
      ne = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--seconds N] [--node-exporter PATH] [--tls]\n", argv[0]);
      return 2;
    }
  }
  TempDir tmp("qw-footprint");
  EtcdCluster etcd(1, tmp.path());
  std::vector<std::string> agent_tls;
  if (tls) {
    auto t = makeTestCertificates(tmp.path());
    etcd.enableTls(t);
    agent_tls = {"--etcd-cacert", t.ca, "--etcd-cert", t.client_cert, "--etcd-key", t.client_key};
  }
  etcd.start();
  Aggregator agg(tmp.path());
  int port = agg.start();
  // The agent with its shipped defaults: probes every 1 s, /metrics every 10 s.
  std::vector<std::string> agent_argv{binDir() + "/quorumwatch-agent",
                                      "--cluster-name",
                                      "bench",
                                      "--node-name",
                                      "bench-1",
                                      "--etcd-endpoint",
                                      etcd.clientUrl(0),
                                      "--aggregator",
                                      agg.streamUrl()};
  agent_argv.insert(agent_argv.end(), agent_tls.begin(), agent_tls.end());
  Process agent(agent_argv, tmp.path() + "/agent.log");
  // The floor: the same calls and reads at the same cadences, in plain system calls.
  Sink sink;
  auto dev = qw::agent::resolveBlockDeviceOfPath("/sys", etcd.dataDir(0));
  std::string etcd_port = etcd.clientUrl(0).substr(etcd.clientUrl(0).rfind(':') + 1);
  std::vector<std::string> floor_argv{binDir() + "/qw-bench-probe-floor",
                                      "--etcd",
                                      etcd_port,
                                      "--sink",
                                      std::to_string(sink.port()),
                                      "--etcd-pid",
                                      std::to_string(etcd.pid(0)),
                                      "--disk-stat",
                                      dev.disk_dir.empty() ? "" : dev.disk_dir + "/stat",
                                      "--data-dir",
                                      etcd.dataDir(0)};
  // The same files under the floor's names (--cacert, --cert, --key).
  for (size_t i = 0; i + 1 < agent_tls.size(); i += 2)
    floor_argv.insert(floor_argv.end(), {"--" + agent_tls[i].substr(7), agent_tls[i + 1]});
  auto floor = std::make_unique<Process>(floor_argv, tmp.path() + "/floor.log");
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
  // Scraped on one kept-alive connection, as Prometheus does (a new connection per scrape would
  // add node_exporter's accept and TLS-less handshake work to its side of the ratio).
  boost::asio::io_context ne_ioc;
  qw::HttpSession ne_session(*qw::parseUrl(ne_url), nullptr);
  size_t ne_failed = 0;
  auto scrape = [&] {
    if (!exporter) return;
    ne_ioc.restart();
    boost::asio::co_spawn(
        ne_ioc,
        [&]() -> boost::asio::awaitable<void> {
          qw::HttpRequest get;  // an lvalue: g++ 12 destroys a prvalue coroutine argument twice
          auto r = co_await ne_session.fetch("/metrics", get);
          if (!r.ok || r.status != 200) ++ne_failed;
        },
        boost::asio::detached);
    ne_ioc.run();
  };
  std::printf(
      "footprint: warming up 20 s, then measuring %d s (etcd over %s; agent: 1 s probes, 10 s "
      "/metrics; "
      "node_exporter %s, scraped every 1 s)\n",
      seconds, tls ? "https with client certificates" : "http",
      exporter ? "running" : "not available");
  std::fflush(stdout);
  // The agent sheds its start-up pages 15 s in (agent/src/trim.cpp): measure after that.
  for (int i = 0; i < 20; ++i) {
    scrape();
    std::this_thread::sleep_for(1s);
  }
  double a0 = cpuSeconds(agent.pid()), n0 = exporter ? cpuSeconds(exporter->pid()) : 0;
  double f0 = floor ? cpuSeconds(floor->pid()) : 0;
  auto t0 = std::chrono::steady_clock::now();
  // One memory reading a second: the median is the steady state (a reading taken during a
  // /metrics scrape holds its ~150 KB body), the peak is printed beside it.
  std::vector<Mem> a_mem, n_mem;
  for (int i = 0; i < seconds; ++i) {
    scrape();
    std::this_thread::sleep_for(1s);
    a_mem.push_back(memoryOf(agent.pid()));
    if (exporter) n_mem.push_back(memoryOf(exporter->pid()));
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double a_cpu = (cpuSeconds(agent.pid()) - a0) / wall;
  double f_cpu = floor ? (cpuSeconds(floor->pid()) - f0) / wall : 0;
  bool floor_ran = floor && floor->running();
  Mem a_end = median(a_mem), a_peak = peak(a_mem);
  auto nodes = getJson(port, "/api/v1/nodes/bench-1");
  bool streamed = nodes && nodes->value("last_seq", 0.0) >= seconds;
  std::printf(
      "agent: PSS %.0f KiB (%.2f MiB, target <= 4 MiB), RSS %.0f KiB, private %.0f KiB "
      "(medians); peak PSS %.0f KiB, RSS %.0f KiB\n",
      a_end.pss_kb, a_end.pss_kb / 1024, a_end.rss_kb, a_end.private_kb, a_peak.pss_kb,
      a_peak.rss_kb);
  std::printf("agent: CPU %.3f ms per second (%.4f%% of a core) over %.0f s; %s\n", a_cpu * 1000,
              a_cpu * 100, wall, streamed ? "streamed every sample" : "WARNING: samples missing");
  if (floor_ran)
    std::printf(
        "floor (the agent's calls and reads in plain system calls%s): CPU %.3f ms per "
        "second; the agent spends %.2fx that\n",
        tls ? ", TLS records by mbedTLS" : "", f_cpu * 1000, a_cpu / f_cpu);
  else
    std::printf("floor: qw-bench-probe-floor stopped early (%s)\n", floor->logPath().c_str());
  if (exporter) {
    double n_cpu = (cpuSeconds(exporter->pid()) - n0) / wall;
    Mem n_end = median(n_mem);
    std::printf(
        "node_exporter: PSS %.0f KiB, RSS %.0f KiB, private %.0f KiB; CPU %.3f ms per second "
        "(%zu scrapes on %llu connection(s), %zu failed)\n",
        n_end.pss_kb, n_end.rss_kb, n_end.private_kb, n_cpu * 1000,
        static_cast<size_t>(seconds + 20), static_cast<unsigned long long>(ne_session.connects()),
        ne_failed);
    std::printf(
        "ratios agent/node_exporter: RSS %.3f (target <= 0.2), PSS %.3f, CPU %.3f (target <= "
        "0.1)\n",
        a_end.rss_kb / n_end.rss_kb, a_end.pss_kb / n_end.pss_kb, a_cpu / n_cpu);
    if (floor_ran)
      std::printf(
          "ratio floor/node_exporter: CPU %.3f (no agent doing this work at these cadences "
          "gets below it here)\n",
          f_cpu / n_cpu);
  }
  if (floor) floor->stop();
  agent.stop();
  return 0;
}
