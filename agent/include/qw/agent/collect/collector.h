#pragma once
// One group of node signals read into a sample (disk, thermal, power, pressure, load and memory,
// etcd's process, its systemd unit). A collector is called on the agent's sampling loop: it must
// not block (anything that may, such as a D-Bus round trip, runs on the idle worker,
// sys/worker.h, and the collector reports the last result delivered).
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "qw/agent/sys/sys_file.h"
#include "sample.pb.h"

namespace qw::agent {

class Collector {
 public:
  virtual ~Collector() = default;
  // Short and stable ("disk", "thermal"): prefixes its error kinds and log lines.
  virtual std::string_view name() const = 0;
  // How often it reads, in ms; 0: every cycle. In between, the sampler repeats its last values.
  virtual int64_t intervalMs() const = 0;
  // Reads into `s` (steady clock `now_ms`). Never throws: a failing item is reported through the
  // context it was built with and left absent, the others are still filled.
  virtual void collect(int64_t now_ms, qw::wire::NodeSample* s) = 0;
};

// Where the host's configuration lives (the procfs and sysfs roots, etcd's data dir and port).
struct HostConfig {
  std::string procfs_root = "/proc";
  std::string sysfs_root = "/sys";
  std::string data_dir;   // etcd's data dir; empty: from etcd's command line when found
  std::string etcd_port;  // the client port, to tell several local members apart
  // Overrides the device found from the data dir: "MAJ:MIN" or a disk name ("mmcblk0").
  std::string data_device;
  // The slower readings (thermal, cpufreq, throttling, pressure, load, memory, etcd's process)
  // are taken every `slow_interval_ms` and repeated in between; the disk (diskstats, etcd's
  // write bytes) is read every cycle. A procfs read costs 10-20 us of CPU on a cold cache, which
  // is most of a cycle. 0: every cycle.
  int64_t slow_interval_ms = 5000;
};

// What the host collectors share: the configuration, a read buffer, the error count and the
// unsupported items, and etcd's process (found by the process collector, read by the disk one).
struct HostContext {
  explicit HostContext(HostConfig c) : cfg(std::move(c)), data_dir(cfg.data_dir) {}

  HostConfig cfg;
  std::string buf;  // one read buffer for every file

  // A failed read or parse: counted, kept as the last error, and reported by kind (a stable key
  // such as "thermal cpu-thermal") for collect/error_once.h.
  void fail(const std::string& kind, const std::string& what);
  // Not available on this node: reported in the sample's `unsupported`, logged once.
  void unsupported(const std::string& what);
  uint64_t errors = 0;
  std::string last_error;
  std::vector<std::pair<std::string, std::string>> cycle_errors;  // kind, text; this cycle's
  std::set<std::string> unsupported_now, unsupported_logged;
  std::vector<std::string> new_unsupported;

  // etcd's process.
  int pid = 0;
  SysFile pid_stat, pid_io;
  std::optional<uint64_t> prev_etcd_write;
  std::string data_dir;
  bool data_dir_from_cmdline = false;
  bool data_dir_changed = false;  // the disk collector resolves the device again
  bool process_gone = false;      // the slow collectors run again next cycle
};

}  // namespace qw::agent
