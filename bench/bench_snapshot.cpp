// What a snapshot costs to verify and to drill, per size: a real one-member etcd (the harness's,
// $QW_ETCD) filled with 100 KB random values to about SIZE MB and saved with the real etcdctl;
// then, per run: our SHA-256 trailer check and bbolt reader (unthrottled, the file dropped from
// the page cache first: CPU and elapsed), `sha256sum` of the same file (cache dropped too), and a
// restore drill (snapshots/drill.h) beside a bare `etcdutl snapshot restore` (`etcdctl` on 3.4)
// plus etcd started to its first answer, timed the same way. Prints min/median/max. Then the cost
// to etcd: a one-member etcd taking 1 KB puts (each a raft commit with a WAL fsync) for
// --seconds, alone and while the largest snapshot is checked the way the agent checks it (its
// snapshot worker's priorities: SCHED_IDLE, nice 19, I/O idle; 4 MiB/s in 128 KiB reads; the page
// cache dropped first), in turns: put latency p50/p99 of each, and etcd's own WAL fsync p99 over
// the turn (the delta of etcd_disk_wal_fsync_duration_seconds, interpolated within its buckets as
// Prometheus's histogram_quantile does: what an operator's dashboard shows). Not a test.
//   qw-bench-snapshot [--sizes 10,100] [--runs 5] [--seconds 20]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "harness.h"
#include "qw/agent/sys/worker.h"
#include "qw/aggregator/model/quantile.h"
#include "qw/aggregator/snapshots/drill.h"
#include "qw/http_client.h"
#include "qw/snapshot/bbolt.h"
#include "qw/snapshot/snapshot_file.h"

using namespace qw::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double sinceMs(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double cpuMs(int who) {
  rusage u{};
  getrusage(who, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

void dropCache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

std::string b64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += t[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

struct Stats {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  std::string str() {
    if (v.empty()) return "-";
    std::sort(v.begin(), v.end());
    char b[96];
    std::snprintf(b, sizeof b, "%7.0f %7.0f %7.0f", v.front(), v[v.size() / 2], v.back());
    return b;
  }
};

// A bare restore + start, as an operator would type it; ms of each part (-1: failed).
std::pair<double, double> bareRestore(const std::string& bin, const std::string& snap,
                                      const std::string& dir) {
  fs::remove_all(dir);
  int peer = freePort(), client = freePort();
  std::string purl = "http://127.0.0.1:" + std::to_string(peer);
  std::string cmd = fs::exists(bin + "/etcdutl")
                        ? bin + "/etcdutl snapshot restore "
                        : "ETCDCTL_API=3 " + bin + "/etcdctl snapshot restore ";
  cmd += snap + " --data-dir " + dir + " --name bare --initial-cluster bare=" + purl +
         " --initial-advertise-peer-urls " + purl + " >/dev/null 2>&1";
  auto t0 = Clock::now();
  if (run(cmd) != 0) return {-1, -1};
  double restore = sinceMs(t0);
  std::string curl = "http://127.0.0.1:" + std::to_string(client);
  auto t1 = Clock::now();
  Process etcd({bin + "/etcd", "--data-dir", dir, "--name", "bare", "--listen-client-urls", curl,
                "--advertise-client-urls", curl, "--listen-peer-urls", purl},
               dir + ".log");
  qw::HttpRequest req;
  req.method = "POST";
  req.body = R"({"key":"AA==","range_end":"AA==","count_only":true})";
  req.timeout = 200ms;
  double start = -1;
  while (sinceMs(t1) < 60000) {
    auto r = qw::httpFetchSync(curl + "/v3/kv/range", req);
    if (r.ok && r.status == 200) {
      start = sinceMs(t1);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  etcd.stop();
  fs::remove_all(dir);
  return {restore, start};
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// 1 KB puts for `seconds`; each put's latency in ms.
std::vector<double> putFor(const std::string& url, int seconds, std::mt19937_64& rng) {
  std::vector<double> lat;
  std::string value(1000, 'v');
  auto end = Clock::now() + std::chrono::seconds(seconds);
  for (int k = 0; Clock::now() < end; ++k) {
    for (auto& ch : value) ch = static_cast<char>('a' + rng() % 26);
    qw::HttpRequest put;
    put.method = "POST";
    put.timeout = 10s;
    put.body = "{\"key\":\"" + b64("/load/" + std::to_string(k % 1000)) + "\",\"value\":\"" +
               b64(value) + "\"}";
    auto t0 = Clock::now();
    auto r = qw::httpFetchSync(url + "/v3/kv/put", put);
    if (r.ok && r.status == 200) lat.push_back(sinceMs(t0));
  }
  return lat;
}

// etcd's cumulative WAL fsync histogram now: upper bounds and counts, +Inf last.
std::pair<std::vector<double>, std::vector<uint64_t>> walFsyncBuckets(const std::string& url) {
  qw::HttpRequest get;
  get.timeout = 5s;
  auto r = qw::httpFetchSync(url + "/metrics", get);
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  if (!r.ok) return {bounds, counts};
  const std::string prefix = "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"";
  size_t at = 0;
  while ((at = r.body.find(prefix, at)) != std::string::npos) {
    at += prefix.size();
    auto q = r.body.find('"', at);
    std::string le = r.body.substr(at, q - at);
    auto sp = r.body.find(' ', q);
    bounds.push_back(le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le));
    counts.push_back(std::stoull(r.body.substr(sp + 1)));
  }
  return {bounds, counts};
}

// The p99 of the fsyncs between two readings (nullopt: none, or the buckets changed).
std::optional<double> walFsyncP99(const std::pair<std::vector<double>, std::vector<uint64_t>>& a,
                                  const std::pair<std::vector<double>, std::vector<uint64_t>>& b) {
  if (a.first != b.first || a.second.size() != b.second.size()) return std::nullopt;
  std::vector<uint64_t> d(a.second.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = b.second[i] - a.second[i];
  return qw::aggregator::histogramQuantile(0.99, b.first, d);
}

// etcd's write latency alone and beside the agent-style check of `snap`, `turns` times each.
void fsyncCost(const std::string& dir, const std::string& snap, int seconds, int turns,
               std::mt19937_64& rng, uint64_t rate, size_t chunk) {
  fs::create_directories(dir);
  EtcdCluster etcd(1, dir);
  etcd.start();
  std::string url = etcd.clientUrl(0);
  std::printf(
      "\netcd write latency (1 KB puts, %d s per turn), alone and beside the check of %s "
      "(%ju bytes) at the agent's priorities, %.1f MiB/s in reads of %zu KiB\n",
      seconds, fs::path(snap).filename().c_str(), static_cast<uintmax_t>(fs::file_size(snap)),
      static_cast<double>(rate) / (1 << 20), chunk / 1024);
  std::printf("  %-8s %-6s %8s %8s %8s %12s %s\n", "turn", "check", "puts", "p50 ms", "p99 ms",
              "fsync p99 ms", "bytes read by the check");
  std::vector<double> alone_p99, beside_p99, alone_fsync, beside_fsync;
  for (int t = 0; t < 2 * turns; ++t) {
    bool beside = t % 2 == 1;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> checked{0};
    boost::asio::io_context ioc;
    std::unique_ptr<qw::agent::IdleWorker> worker;
    if (beside) {
      worker = std::make_unique<qw::agent::IdleWorker>(ioc.get_executor());
      worker->post(
          [&] {
            while (!stop) {
              dropCache(snap);
              qw::snapshot::TrailerOptions o;
              o.bytes_per_second = rate;
              o.chunk_bytes = chunk;
              o.cancel = &stop;
              uint64_t before = checked;
              o.progress = [&](uint64_t done, uint64_t) { checked = before + done; };
              qw::snapshot::checkTrailer(snap, o);
            }
            return 0;
          },
          [](int) {});
    }
    auto before = walFsyncBuckets(url);
    auto lat = putFor(url, seconds, rng);
    auto after = walFsyncBuckets(url);
    stop = true;
    worker.reset();  // joins after the check in flight stops
    double p99 = quantile(lat, 0.99);
    (beside ? beside_p99 : alone_p99).push_back(p99);
    auto fsync = walFsyncP99(before, after);
    if (fsync) (beside ? beside_fsync : alone_fsync).push_back(*fsync * 1000);
    std::printf("  %-8d %-6s %8zu %8.2f %8.2f %12s %ju\n", t / 2 + 1, beside ? "yes" : "no",
                lat.size(), quantile(lat, 0.5), p99,
                fsync ? std::to_string(*fsync * 1000).substr(0, 6).c_str() : "-",
                static_cast<uintmax_t>(checked.load()));
  }
  double a = quantile(alone_p99, 0.5), b = quantile(beside_p99, 0.5);
  std::printf("  median put p99: alone %.2f ms, beside the check %.2f ms (%+.1f%%)\n", a, b,
              (b - a) / a * 100);
  if (!alone_fsync.empty() && !beside_fsync.empty()) {
    double fa = quantile(alone_fsync, 0.5), fb = quantile(beside_fsync, 0.5);
    std::printf("  median WAL fsync p99: alone %.3f ms, beside the check %.3f ms (%+.1f%%)\n", fa,
                fb, (fb - fa) / fa * 100);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {10, 100};
  int runs = 5;
  int seconds = 20;
  // The agent's defaults (--snapshot-verify-rate; TrailerOptions::chunk_bytes), or lists to
  // compare: every rate with every read size.
  std::vector<uint64_t> rates = {4ull << 20};
  std::vector<uint64_t> chunks = {128u << 10};
  auto list = [](const std::string& s) {
    std::vector<uint64_t> out;
    for (size_t p = 0; p < s.size();) {
      size_t c = s.find(',', p);
      out.push_back(std::strtoull(s.substr(p, c - p).c_str(), nullptr, 10));
      p = c == std::string::npos ? s.size() : c + 1;
    }
    return out;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "qw-bench-snapshot [--sizes 10,100] [--runs 5] [--seconds 20] [--rates BYTES,...] "
          "[--chunks BYTES,...]\n");
      return 0;
    }
    if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    if (a == "--seconds" && i + 1 < argc) seconds = std::atoi(argv[++i]);
    if (a == "--rates" && i + 1 < argc) rates = list(argv[++i]);
    if (a == "--chunks" && i + 1 < argc) chunks = list(argv[++i]);
    if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string s = argv[++i];
      for (size_t p = 0; p < s.size();) {
        size_t c = s.find(',', p);
        sizes.push_back(std::atoi(s.substr(p, c - p).c_str()));
        p = c == std::string::npos ? s.size() : c + 1;
      }
    }
  }
  TempDir tmp("qw-bench-snapshot");
  std::string bin = fs::path(etcdBinary()).parent_path().string();
  std::mt19937_64 rng(42);
  std::printf("etcd in %s; %d runs per size; ms, min median max\n", bin.c_str(), runs);
  std::string largest;
  for (int mb : sizes) {
    std::string snap = tmp.path() + "/snap-" + std::to_string(mb) + "mb.db";
    {
      EtcdCluster etcd(1, tmp.path() + "/fill-" + std::to_string(mb),
                       {"--quota-backend-bytes", std::to_string(int64_t(mb) * 4 << 20)});
      fs::create_directories(tmp.path() + "/fill-" + std::to_string(mb));
      etcd.start();
      std::string value(100 * 1000, '\0');
      for (int k = 0; k < mb * 10; ++k) {
        for (auto& ch : value) ch = static_cast<char>(rng());
        qw::HttpRequest put;
        put.method = "POST";
        put.timeout = 10s;
        put.body = "{\"key\":\"" + b64("/bench/" + std::to_string(k)) + "\",\"value\":\"" +
                   b64(value) + "\"}";
        auto r = qw::httpFetchSync(etcd.clientUrl(0) + "/v3/kv/put", put);
        if (!r.ok || r.status != 200) {
          std::fprintf(stderr, "put failed: %s %d\n", r.error.c_str(), r.status);
          return 1;
        }
      }
      if (run("ETCDCTL_API=3 " + bin + "/etcdctl --endpoints " + etcd.clientUrl(0) +
              " snapshot save " + snap + " >/dev/null 2>&1") != 0) {
        std::fprintf(stderr, "snapshot save failed\n");
        return 1;
      }
    }
    std::printf("\n%d MB snapshot (%ju bytes)\n", mb, static_cast<uintmax_t>(fs::file_size(snap)));
    largest = snap;
    Stats trailer_ms, trailer_cpu, bbolt_ms, bbolt_cpu, sum_ms, sum_cpu;
    Stats d_restore, d_start, d_total, b_restore, b_start, b_total;
    qw::snapshot::EtcdSnapshotInfo info;
    for (int r = 0; r < runs; ++r) {
      dropCache(snap);
      double c0 = cpuMs(RUSAGE_SELF);
      auto t0 = Clock::now();
      auto tr = qw::snapshot::checkTrailer(snap);
      trailer_ms.add(sinceMs(t0));
      trailer_cpu.add(cpuMs(RUSAGE_SELF) - c0);
      dropCache(snap);
      c0 = cpuMs(RUSAGE_SELF);
      t0 = Clock::now();
      qw::snapshot::BboltOptions bo;
      bo.db_bytes = tr.db_bytes;
      info = qw::snapshot::readEtcdSnapshot(snap, bo);
      bbolt_ms.add(sinceMs(t0));
      bbolt_cpu.add(cpuMs(RUSAGE_SELF) - c0);
      if (!tr.complete || !info.ok) {
        std::fprintf(stderr, "the snapshot does not verify: %s %s\n", tr.reason.c_str(),
                     info.error.c_str());
        return 1;
      }
      dropCache(snap);
      c0 = cpuMs(RUSAGE_CHILDREN);
      t0 = Clock::now();
      run("sha256sum " + snap + " >/dev/null");
      sum_ms.add(sinceMs(t0));
      sum_cpu.add(cpuMs(RUSAGE_CHILDREN) - c0);

      qw::aggregator::DrillConfig dc;
      dc.etcd_bin_dirs = {bin};
      dc.work_dir = tmp.path();
      dc.snapshot_cluster_version = info.cluster_version;
      dc.expected_revision = info.revision;
      dc.expected_live_keys = info.live_keys;
      auto d = qw::aggregator::runDrill(snap, dc);
      if (!d.ok) {
        std::fprintf(stderr, "drill failed: %s\n", d.error.c_str());
        return 1;
      }
      d_restore.add(static_cast<double>(d.restore_ms));
      d_start.add(static_cast<double>(d.start_ms));
      d_total.add(static_cast<double>(d.total_ms));
      auto [br, bs] = bareRestore(bin, snap, tmp.path() + "/bare");
      if (br < 0 || bs < 0) {
        std::fprintf(stderr, "bare restore failed\n");
        return 1;
      }
      b_restore.add(br);
      b_start.add(bs);
      b_total.add(br + bs);
    }
    if (runs <= 0) continue;
    std::printf("  revision %jd, %ju live keys\n", static_cast<intmax_t>(info.revision),
                static_cast<uintmax_t>(info.live_keys));
    std::printf("  %-34s %s  (CPU %s)\n", "SHA-256 trailer check, elapsed",
                trailer_ms.str().c_str(), trailer_cpu.str().c_str());
    std::printf("  %-34s %s  (CPU %s)\n", "sha256sum, elapsed", sum_ms.str().c_str(),
                sum_cpu.str().c_str());
    std::printf("  %-34s %s  (CPU %s)\n", "bbolt reader, elapsed", bbolt_ms.str().c_str(),
                bbolt_cpu.str().c_str());
    std::printf("  %-34s %s\n", "drill: restore", d_restore.str().c_str());
    std::printf("  %-34s %s\n", "drill: start to first answer", d_start.str().c_str());
    std::printf("  %-34s %s\n", "drill: total (with cleanup)", d_total.str().c_str());
    std::printf("  %-34s %s\n", "bare restore", b_restore.str().c_str());
    std::printf("  %-34s %s\n", "bare start to first answer", b_start.str().c_str());
    std::printf("  %-34s %s\n", "bare restore + start", b_total.str().c_str());
  }
  if (!largest.empty() && seconds > 0)
    for (uint64_t rate : rates)
      for (uint64_t chunk : chunks)
        fsyncCost(tmp.path() + "/load-" + std::to_string(rate) + "-" + std::to_string(chunk),
                  largest, seconds, 3, rng, rate, static_cast<size_t>(chunk));
  return 0;
}
