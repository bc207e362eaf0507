// Host samplers on fixture procfs/sysfs trees (tests/fixtures/hosts): a Raspberry Pi 4 running k3s
// on an SD card, an x86 kubeadm server with NVMe, a tree with nothing in it, and garbage files.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>

#include "qw/agent/app/agent.h"
#include "qw/agent/app/detect.h"
#include "qw/agent/app/trim.h"
#include "qw/agent/sys/host.h"
#include "qw/agent/sys/unit_watch.h"
#include "sample.pb.h"

using namespace qw::agent;
namespace fs = std::filesystem;

namespace {

std::string tree(const std::string& name) { return std::string(QW_FIXTURES) + "/hosts/" + name; }

HostConfig configFor(const std::string& name, const std::string& device = "",
                     const std::string& port = "2379") {
  HostConfig c;
  c.procfs_root = tree(name) + "/proc";
  c.sysfs_root = tree(name) + "/sys";
  c.data_device = device;
  c.etcd_port = port;
  c.slow_interval_ms = 1000;  // these tests step 1 s: every sample reads everything
  return c;
}

bool hasUnsupported(const qw::wire::NodeSample& s, const std::string& prefix) {
  for (const auto& u : s.host().unsupported())
    if (u.rfind(prefix, 0) == 0) return true;
  return false;
}

// A writable copy of a fixture tree (symlinks kept).
struct TreeCopy {
  fs::path dir;
  explicit TreeCopy(const std::string& name) {
    dir = fs::temp_directory_path() / ("qw-host-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(dir);
    fs::copy(tree(name), dir, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  }
  ~TreeCopy() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write(const std::string& rel, const std::string& text) const {
    std::ofstream(dir / rel, std::ios::trunc) << text;
  }
  HostConfig config(const std::string& device) const {
    HostConfig c;
    c.procfs_root = (dir / "proc").string();
    c.sysfs_root = (dir / "sys").string();
    c.data_device = device;
    c.etcd_port = "2379";
    c.slow_interval_ms = 1000;
    return c;
  }
};

}  // namespace

TEST_CASE("partitions resolve to their whole disk through /sys/dev/block") {
  auto pi = tree("pi4") + "/sys";
  auto d = resolveBlockDevice(pi, 179, 2);
  CHECK(d.error.empty());
  CHECK(d.disk == "mmcblk0");
  CHECK(d.partition == "mmcblk0p2");
  d = resolveBlockDevice(pi, 179, 0);
  CHECK(d.disk == "mmcblk0");
  CHECK(d.partition.empty());
  auto x86 = tree("x86-nvme") + "/sys";
  d = resolveBlockDevice(x86, 259, 2);
  CHECK(d.disk == "nvme0n1");
  CHECK(d.partition == "nvme0n1p2");
  d = resolveBlockDevice(x86, 254, 0);  // device-mapper: a whole disk of its own
  CHECK(d.disk == "dm-0");
  CHECK(d.partition.empty());
  d = resolveBlockDevice(x86, 0, 35);  // btrfs subvolume / overlay: no block device
  CHECK(d.disk.empty());
  CHECK_THAT(d.error, Catch::Contains("0:35") && Catch::Contains("--etcd-data-device"));
}

TEST_CASE("the real data dir of this machine resolves to a disk or says why not") {
  auto d = resolveBlockDeviceOfPath("/sys", fs::temp_directory_path().string());
  CHECK((d.disk.empty() != d.error.empty()));
  d = resolveBlockDeviceOfPath("/sys", "/nonexistent/qw");
  CHECK_THAT(d.error, Catch::Contains("cannot stat"));
}

TEST_CASE("a Raspberry Pi 4 tree: SD card, cpu-thermal, under-voltage, PSI, k3s process") {
  HostSampler h(configFor("pi4", "179:2"));
  qw::wire::NodeSample s;
  h.sample(0, &s);
  INFO(h.lastError());
  CHECK(h.errors() == 0);
  const auto& d = s.disk();
  CHECK(d.device() == "mmcblk0");
  CHECK(d.partition() == "mmcblk0p2");
  CHECK(d.interval_ms() == 0);  // first cycle: no deltas yet
  CHECK(d.writes() == 0);
  CHECK(d.sectors_written_total() == 16541352);
  CHECK(d.etcd_write_bytes_total() == 8123456512ull);
  CHECK_FALSE(d.has_etcd_write_bytes());
  const auto& host = s.host();
  REQUIRE(host.thermal_size() == 1);
  CHECK(host.thermal(0).type() == "cpu-thermal");
  CHECK(host.thermal(0).temp_celsius() == Approx(61.842));
  REQUIRE(host.thermal(0).trips_size() == 1);
  CHECK(host.thermal(0).trips(0).type() == "critical");
  CHECK(host.thermal(0).trips(0).temp_celsius() == Approx(110.0));
  REQUIRE(host.cpufreq_size() == 1);
  CHECK(host.cpufreq(0).cur_khz() == 600000);
  CHECK(host.cpufreq(0).max_khz() == 1500000);
  REQUIRE(host.has_throttled());
  CHECK(host.throttled().raw() == 0x50005);
  CHECK(host.throttled().under_voltage());
  CHECK_FALSE(host.throttled().freq_capped());
  CHECK(host.throttled().throttled());
  CHECK_FALSE(host.throttled().soft_temp_limit());
  CHECK(host.throttled().under_voltage_since_boot());
  CHECK(host.throttled().throttled_since_boot());
  CHECK_FALSE(host.throttled().freq_capped_since_boot());
  REQUIRE(host.has_io_some());
  CHECK(host.io_some().avg10() == Approx(12.5));
  CHECK(host.io_full().avg60() == Approx(6.02));
  CHECK(host.cpu_some().avg10() == Approx(3.2));
  CHECK(host.has_memory_full());
  CHECK(host.load1() == Approx(1.84));
  CHECK(host.load15() == Approx(1.31));
  CHECK(host.mem_total_bytes() == 3884136ull * 1024);
  CHECK(host.mem_available_bytes() == 1802224ull * 1024);
  CHECK(host.swap_free_bytes() == 98300ull * 1024);
  CHECK(host.cpus() == 4);
  // k3s-server is the only etcd candidate; it does not name the port, so it is taken as is.
  CHECK(host.etcd_pid() == 4242);
  long hz = ::sysconf(_SC_CLK_TCK);
  CHECK(host.etcd_start_unix_ms() == 1764000000000 + 360000ll * 1000 / hz);
  CHECK(host.unsupported_size() == 0);

  qw::wire::NodeSample s2;
  h.sample(1000, &s2);
  CHECK(s2.host().thermal(0).trips_size() == 1);
  CHECK(s2.disk().interval_ms() == 1000);
  CHECK(s2.disk().etcd_write_bytes() == 0);
}

TEST_CASE("diskstats and pressure become deltas, and a counter that went down is a reset") {
  TreeCopy t("pi4");
  HostSampler h(t.config("179:2"));
  qw::wire::NodeSample a, b, c;
  h.sample(0, &a);
  t.write("proc/diskstats",
          " 179       0 mmcblk0 21644 9403 1683094 118401 402213 398341 16542152 3961812 3 "
          "2220152 4077203 0 0 0 0 99261 18731\n");
  t.write("proc/pressure/io",
          "some avg10=20.00 avg60=9.00 avg300=4.50 total=981334112\n"
          "full avg10=15.00 avg60=7.00 avg300=3.50 total=712395678\n");
  t.write("proc/4242/io", "write_bytes: 8124456512\n");
  h.sample(1000, &b);
  const auto& d = b.disk();
  CHECK(d.interval_ms() == 1000);
  CHECK_FALSE(d.counters_reset());
  CHECK(d.reads() == 10);
  CHECK(d.read_bytes() == 80 * 512);
  CHECK(d.read_time_ms() == 10);
  CHECK(d.writes() == 100);
  CHECK(d.write_bytes() == 800 * 512);
  CHECK(d.write_time_ms() == 3000);  // 30 ms await per write: an SD card in trouble
  CHECK(d.busy_ms() == 800);
  CHECK(d.in_flight() == 3);
  CHECK(d.flushes() == 50);
  CHECK(d.flush_time_ms() == 500);
  CHECK(d.sectors_written_total() == 16542152);
  CHECK(d.etcd_write_bytes() == 1000000);
  CHECK(b.host().io_some().total_us() == 100000);
  CHECK(b.host().io_full().total_us() == 50000);
  CHECK(b.host().io_some().avg10() == Approx(20.0));

  // Device re-added (or a 32-bit counter wrapped): no negative deltas, a reset flag instead.
  t.write("proc/diskstats", " 179       0 mmcblk0 5 0 40 1 7 0 56 2 0 3 3 0 0 0 0 1 1\n");
  h.sample(2000, &c);
  CHECK(c.disk().counters_reset());
  CHECK(c.disk().writes() == 0);
  CHECK(c.disk().write_bytes() == 0);
  CHECK(c.disk().sectors_written_total() == 56);
  qw::wire::NodeSample e;
  t.write("proc/diskstats", " 179       0 mmcblk0 6 0 48 2 9 0 72 4 0 5 5 0 0 0 0 2 2\n");
  h.sample(3000, &e);
  CHECK_FALSE(e.disk().counters_reset());
  CHECK(e.disk().writes() == 2);
}

TEST_CASE("the disk's own sysfs stat file is read when present, /proc/diskstats when not") {
  TreeCopy t("pi4");
  const std::string stat =
      "sys/devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0/stat";
  // The same counters as the fixture's diskstats line for mmcblk0, in sysfs's layout.
  t.write(stat,
          "   21634     9403  1683014   118391   402113   398341 16541352  3958812        0  "
          "2219352  4077203        0        0        0        0    99211    18231\n");
  CHECK(resolveBlockDevice(t.dir.string() + "/sys", 179, 2).disk_dir ==
        t.dir.string() +
            "/sys/devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0");
  HostSampler h(t.config("179:2"));
  qw::wire::NodeSample a, b, c;
  h.sample(0, &a);
  CHECK(a.disk().sectors_written_total() == 16541352);
  // Only the stat file moves: the deltas come from it.
  t.write(stat,
          "   21644     9403  1683094   118401   402213   398341 16542152  3961812        3  "
          "2220152  4077203        0        0        0        0    99261    18731\n");
  h.sample(1000, &b);
  CHECK(b.disk().reads() == 10);
  CHECK(b.disk().writes() == 100);
  CHECK(b.disk().write_bytes() == 800 * 512);
  CHECK(b.disk().in_flight() == 3);
  CHECK(b.disk().flushes() == 50);
  CHECK(b.disk().sectors_written_total() == 16542152);
  CHECK(h.errors() == 0);
  // A stat file that does not parse: /proc/diskstats answers (its older counters are a reset).
  t.write(stat, "garbage\n");
  h.sample(2000, &c);
  CHECK(c.disk().sectors_written_total() == 16541352);
  CHECK(c.disk().counters_reset());
  CHECK(h.errors() == 0);
}

TEST_CASE("etcd restarted: a new process is found and its start time changes") {
  TreeCopy t("pi4");
  HostSampler h(t.config("179:2"));
  qw::wire::NodeSample a, b, c;
  h.sample(0, &a);
  CHECK(a.host().etcd_pid() == 4242);
  // An open /proc/PID/stat of a dead process reads as an error (ESRCH); a fixture file stays
  // readable, so the test empties it instead and takes the process out of the scan.
  t.write("proc/4242/stat", "");
  fs::remove(t.dir / "proc/4242/comm");
  fs::create_directories(t.dir / "proc/5151");
  t.write("proc/5151/comm", "k3s-server\n");
  t.write("proc/5151/stat",
          "5151 (k3s-server) S 1 5151 5151 0 -1 0 0 0 0 0 0 0 0 0 20 0 90 0 720000 0 0 0");
  h.sample(1000, &b);  // the old pid is gone: rescanned at once
  CHECK(b.host().etcd_pid() == 5151);
  long hz = ::sysconf(_SC_CLK_TCK);
  CHECK(b.host().etcd_start_unix_ms() == 1764000000000 + 720000ll * 1000 / hz);
  CHECK(b.host().etcd_start_unix_ms() != a.host().etcd_start_unix_ms());
  // /proc/5151/io is missing: counted as an error, the other items still there.
  CHECK(h.errors() >= 1);
  CHECK(b.host().has_load1());
  CHECK(b.disk().device() == "mmcblk0");
}

TEST_CASE("an x86 kubeadm server: NVMe partition, two thermal zones, no Pi firmware") {
  HostSampler h(configFor("x86-nvme", "259:2"));
  qw::wire::NodeSample s;
  h.sample(0, &s);
  CHECK(h.errors() == 0);
  CHECK(s.disk().device() == "nvme0n1");
  CHECK(s.disk().partition() == "nvme0n1p2");
  CHECK(s.disk().in_flight() == 2);
  CHECK(s.host().thermal_size() == 2);
  CHECK(s.host().thermal(1).type() == "x86_pkg_temp");
  CHECK(s.host().cpufreq_size() == 4);
  CHECK(s.host().cpufreq(3).cur_khz() == 2800000);
  CHECK_FALSE(s.host().has_throttled());
  CHECK(hasUnsupported(s, "throttled: no "));
  CHECK(s.host().etcd_pid() == 900);  // matched by --listen-client-urls ...:2379
  CHECK(s.host().cpus() == 8);
  // The same tree with another port: the only etcd is still taken.
  HostSampler other(configFor("x86-nvme", "259:2", "32379"));
  qw::wire::NodeSample o;
  other.sample(0, &o);
  CHECK(o.host().etcd_pid() == 900);
  CHECK(etcdDataDirFromCmdline(tree("x86-nvme") + "/proc", 900) == "/var/lib/etcd");
}

TEST_CASE("a tree with nothing in it: every item absent and said unsupported, nothing thrown") {
  HostSampler h(configFor("missing"));
  qw::wire::NodeSample s;
  h.sample(0, &s);
  CHECK_FALSE(s.has_disk());
  CHECK(s.host().thermal_size() == 0);
  CHECK_FALSE(s.host().has_throttled());
  CHECK_FALSE(s.host().has_io_some());
  CHECK_FALSE(s.host().has_load1());
  CHECK_FALSE(s.host().has_mem_available_bytes());
  CHECK(s.host().etcd_pid() == 0);
  CHECK_FALSE(s.host().has_etcd_start_unix_ms());
  CHECK(hasUnsupported(s, "thermal: "));
  CHECK(hasUnsupported(s, "cpufreq: "));
  CHECK(hasUnsupported(s, "throttled: "));
  CHECK(hasUnsupported(s, "pressure: "));
  CHECK(hasUnsupported(s, "disk: etcd's data dir is unknown"));
  CHECK(h.errors() >= 2);  // loadavg and meminfo are always expected
  auto first = h.takeNewUnsupported();
  CHECK(first.size() >= 5);
  qw::wire::NodeSample again;
  h.sample(1000, &again);
  CHECK(h.takeNewUnsupported().empty());  // logged once
  CHECK(again.host().unsupported_size() == s.host().unsupported_size());
}

TEST_CASE("garbage in every file: counted errors, absent values, never a made-up zero") {
  HostSampler h(configFor("garbage", "8:0"));
  qw::wire::NodeSample s;
  REQUIRE_NOTHROW(h.sample(0, &s));
  CHECK(h.errors() >= 6);
  CHECK(s.host().thermal_size() == 0);
  CHECK(s.host().cpufreq_size() == 0);
  CHECK_FALSE(s.host().has_throttled());
  CHECK_FALSE(s.host().has_io_some());
  CHECK_FALSE(s.host().has_cpu_some());
  CHECK_FALSE(s.host().has_memory_some());
  CHECK_FALSE(s.host().has_load1());
  CHECK_FALSE(s.host().has_mem_total_bytes());
  CHECK_FALSE(s.host().has_etcd_start_unix_ms());
  // The 8:0 link points nowhere real, so the name is still taken from it; its diskstats line is
  // malformed, so no counters are reported.
  CHECK(s.disk().sectors_written_total() == 0);
  CHECK_FALSE(s.disk().has_etcd_write_bytes_total());
}

TEST_CASE("autodetection: k3s and kubeadm layouts, plain etcd, and flags always win") {
  auto run = [](const std::string& root, std::vector<const char*> args, AgentConfig* cfg) {
    qw::Options o("t", "t");
    registerOptions(o, cfg);
    std::string r = "--detect-root=" + root;
    args.insert(args.begin(), r.c_str());
    args.insert(args.begin(), "agent");
    REQUIRE_FALSE(o.parse(static_cast<int>(args.size()), args.data()));
    auto d = detectLayout(o, cfg);
    return std::make_pair(d, describeConfig(o, d));
  };
  {
    AgentConfig c;
    auto [d, text] = run(tree("pi4") + "/root", {}, &c);
    CHECK(d.flavor == "k3s");
    CHECK(c.etcd_endpoint == "https://127.0.0.1:2379");
    CHECK(c.etcd_metrics_url == "http://127.0.0.1:2381/metrics");
    CHECK(c.etcd_cacert == tree("pi4") + "/root/var/lib/rancher/k3s/server/tls/etcd/server-ca.crt");
    CHECK(c.etcd_key == tree("pi4") + "/root/var/lib/rancher/k3s/server/tls/etcd/client.key");
    CHECK(c.etcd_data_dir == tree("pi4") + "/root/var/lib/rancher/k3s/server/db/etcd");
    REQUIRE(c.snapshot_dirs.size() == 1);
    CHECK(c.etcd_unit == "k3s.service");
    CHECK_THAT(text, Catch::Contains("# etcd flavor: k3s (found k3s's embedded etcd"));
    CHECK_THAT(text, Catch::Contains("etcd-unit = k3s.service  # k3s layout"));
    CHECK_THAT(text, Catch::Contains("fast-interval = 1s  # default"));
  }
  {
    AgentConfig c;
    auto [d, text] = run(tree("x86-nvme") + "/root", {"--etcd-unit=etcd.service"}, &c);
    CHECK(d.flavor == "kubeadm");
    CHECK(c.etcd_endpoint == "https://127.0.0.1:2379");
    CHECK(c.etcd_metrics_url == "http://127.0.0.1:2381/metrics");
    CHECK(c.etcd_cacert == tree("x86-nvme") + "/root/etc/kubernetes/pki/etcd/ca.crt");
    CHECK(c.etcd_cert == tree("x86-nvme") + "/root/etc/kubernetes/pki/etcd/healthcheck-client.crt");
    CHECK(c.etcd_data_dir == tree("x86-nvme") + "/root/var/lib/etcd");
    CHECK(c.etcd_unit == "etcd.service");  // the flag wins over the layout
    CHECK_THAT(text, Catch::Contains("etcd-unit = etcd.service  # command line"));
    CHECK_THAT(text, Catch::Contains("--listen-client-urls from"));
  }
  {
    AgentConfig c;
    auto [d, text] = run(tree("missing") + "/root", {}, &c);
    CHECK(d.flavor == "etcd");
    CHECK(c.etcd_endpoint == "http://127.0.0.1:2379");
    CHECK(c.etcd_data_dir.empty());
    CHECK_THAT(d.why, Catch::Contains("plain etcd"));
  }
  {
    AgentConfig c;  // a named flavor applies its layout without looking
    auto [d, text] = run(tree("missing") + "/root",
                         {"--etcd-flavor=k3s", "--etcd-endpoint=https://10.0.0.5:2379"}, &c);
    CHECK(d.flavor == "k3s");
    CHECK(c.etcd_endpoint == "https://10.0.0.5:2379");
    CHECK(c.etcd_unit == "k3s.service");
  }
}

TEST_CASE("the unit watcher reads systemd over the bus, or says cleanly why it cannot") {
  qw::agent::UnitWatcher none("");
  auto st = none.poll();
  CHECK(st.unsupported.empty());
  CHECK_FALSE(st.restarts);
  qw::agent::UnitWatcher w("quorumwatch-test-nonexistent.service");
  st = w.poll();
  if (st.restarts) {
    FAIL("a unit that does not exist has no restart count");
  } else {
    // No system bus here (containers, CI), or the unit is not loaded.
    CHECK_THAT(st.unsupported + st.error, Catch::Contains("unit"));
  }
  qw::agent::UnitWatcher bad("no/such unit");
  CHECK_THAT(bad.poll().unsupported, Catch::Contains("unit restarts"));
}

namespace {
struct Shape {
  virtual ~Shape() = default;
  virtual int sides() const = 0;
};
struct Square : Shape {
  int sides() const override { return 4; }
};
long fileRssKb() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Rss:", 0) == 0) return std::atol(line.c_str() + 4);
  return -1;
}
}  // namespace

TEST_CASE("dropping clean file pages keeps the process whole and shrinks its resident set") {
#ifdef QW_EMULATED
  SUCCEED("qemu-user: /proc/self/smaps describes the emulator, not this program");
  return;
#endif
  std::unique_ptr<Shape> s = std::make_unique<Square>();
  long before = fileRssKb();
  auto r = qw::agent::trimCleanFileMappings();
  long after = fileRssKb();
  CHECK(r.mappings > 0);
  CHECK(r.bytes > 0);
  CHECK(after < before);
  // Relocated data (vtables, GOT) and code still work: they are faulted back or never dropped.
  CHECK(s->sides() == 4);
  CHECK(std::to_string(42) == "42");
  qw::wire::NodeSample n;
  n.set_cycle(7);
  CHECK(n.SerializeAsString().size() > 0);
  // A missing smaps file does nothing.
  CHECK(qw::agent::trimCleanFileMappings("/nonexistent/smaps").mappings == 0);
}

TEST_CASE("slower readings every host interval and repeated in between, the disk every cycle") {
  TreeCopy t("pi4");
  auto cfg = t.config("179:2");
  cfg.slow_interval_ms = 5000;
  HostSampler h(cfg);
  qw::wire::NodeSample first;
  h.sample(0, &first);
  REQUIRE(first.host().thermal_size() > 0);
  REQUIRE(first.host().has_load1());
  REQUIRE(first.host().has_io_some());
  double temp0 = first.host().thermal(0).temp_celsius(), load0 = first.host().load1();
  auto unsupported0 = first.host().unsupported_size();

  // New values on disk: the disk shows them at once, the rest at the next slow reading.
  t.write("sys/class/thermal/thermal_zone0/temp", "81234\n");
  t.write("proc/loadavg", "3.50 2.00 1.00 2/300 4242\n");
  t.write("proc/pressure/io",
          "some avg10=20.00 avg60=9.00 avg300=4.50 total=981334112\n"
          "full avg10=15.00 avg60=7.00 avg300=3.50 total=712395678\n");
  t.write("proc/diskstats",
          " 179       0 mmcblk0 21644 9403 1683094 118401 402213 398341 16542152 3961812 3 "
          "2220152 4077203 0 0 0 0 99261 18731\n");
  for (int64_t ms = 1000; ms < 5000; ms += 1000) {
    qw::wire::NodeSample s;
    h.sample(ms, &s);
    INFO("at " << ms << " ms");
    CHECK(s.host().thermal(0).temp_celsius() == temp0);
    CHECK(s.host().load1() == load0);
    CHECK(s.host().io_some().avg10() == first.host().io_some().avg10());
    CHECK_FALSE(s.host().io_some().has_total_us());  // a delta rides only on its own reading
    CHECK(s.host().unsupported_size() == unsupported0);
    CHECK(s.host().etcd_pid() == first.host().etcd_pid());
    CHECK(s.disk().interval_ms() == 1000);
    if (ms == 1000) CHECK(s.disk().writes() == 100);
  }
  qw::wire::NodeSample fresh;
  h.sample(5000, &fresh);
  CHECK(fresh.host().thermal(0).temp_celsius() == Approx(81.234));
  CHECK(fresh.host().load1() == Approx(3.5));
  CHECK(fresh.host().io_some().avg10() == Approx(20.0));
  REQUIRE(fresh.host().io_some().has_total_us());
  CHECK(fresh.host().io_some().total_us() > 0);
}
