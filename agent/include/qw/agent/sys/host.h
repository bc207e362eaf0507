#pragma once
// The node's own signals (DESIGN.md section 3): the block device under etcd's data dir, thermal
// zones, cpufreq, the Raspberry Pi firmware's throttling flags, pressure stall information, load,
// memory and the etcd process. Everything reads through configurable procfs/sysfs roots so unit
// tests hand it fixture trees. Files are kept open and re-read from offset 0: one syscall each.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sample.pb.h"

namespace qw::agent {

// A procfs/sysfs file kept open and re-read from offset 0 (the kernel regenerates it).
class SysFile {
 public:
  SysFile() = default;
  explicit SysFile(std::string path) : path_(std::move(path)) {}
  SysFile(SysFile&& o) noexcept;
  SysFile& operator=(SysFile&& o) noexcept;
  SysFile(const SysFile&) = delete;
  SysFile& operator=(const SysFile&) = delete;
  ~SysFile();
  // Reads the whole file into `out`. False when missing or unreadable (see error()).
  bool read(std::string& out);
  const std::string& path() const { return path_; }
  // "No such file or directory" etc. for the last failure.
  std::string error() const;
  int lastErrno() const { return errno_; }

 private:
  std::string path_;
  int fd_ = -1;
  int errno_ = 0;
  int missing_skips_ = 0;  // reads left before a missing file is looked for again
};

// ---- Pure parsers (unit tested on fixture text) ----

struct DiskStats {
  uint64_t reads = 0, read_sectors = 0, read_ms = 0;
  uint64_t writes = 0, write_sectors = 0, write_ms = 0;
  uint64_t in_flight = 0, io_ms = 0;
  std::optional<uint64_t> flushes, flush_ms;  // kernels >= 5.5
};
// The line of `device` in /proc/diskstats text; nullopt when absent or malformed.
std::optional<DiskStats> parseDiskstats(std::string_view text, std::string_view device);
// A disk's own <sysfs>/block/DISK/stat: the same counters as its /proc/diskstats line, without
// major, minor and name. nullopt when malformed.
std::optional<DiskStats> parseBlockStat(std::string_view text);

struct PressureLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;
  uint64_t total_us = 0;
};
// "some avg10=... total=N" / "full ...". Either may be absent (cpu "full" is all zeros on
// older kernels). False when neither parses.
bool parsePressure(std::string_view text, std::optional<PressureLine>* some,
                   std::optional<PressureLine>* full);

// get_throttled: hex, with or without 0x.
std::optional<uint32_t> parseThrottled(std::string_view text);
void decodeThrottled(uint32_t raw, qw::wire::Throttled* out);

struct MemInfo {
  std::optional<uint64_t> total, available, swap_free;
};
MemInfo parseMeminfo(std::string_view text);

struct LoadAvg {
  double l1 = 0, l5 = 0, l15 = 0;
};
std::optional<LoadAvg> parseLoadavg(std::string_view text);

struct ProcStat {
  std::string comm;
  char state = '?';
  uint64_t start_ticks = 0;  // since boot, in clock ticks
};
// /proc/PID/stat (comm may hold spaces and parentheses: split at the last ')').
std::optional<ProcStat> parseProcStat(std::string_view text);
std::optional<uint64_t> parseIoWriteBytes(std::string_view text);  // /proc/PID/io
std::optional<uint64_t> parseBootTime(std::string_view text);      // btime of /proc/stat
// A millidegree reading ("48312\n") in degrees Celsius.
std::optional<double> parseMilliCelsius(std::string_view text);
std::optional<uint64_t> parseUint(std::string_view text);

// ---- Block device of a path ----

struct BlockDevice {
  std::string disk;       // "mmcblk0"
  std::string partition;  // "mmcblk0p2", empty when the path is on the whole disk
  std::string error;      // why it could not be resolved
  std::string disk_dir;   // the disk's sysfs directory (holds `stat`); empty when unknown
};
// Resolves MAJ:MIN through <sysfs>/dev/block/MAJ:MIN: a partition's directory holds a
// `partition` file and sits inside its disk's directory (mmcblk0p2 -> mmcblk0, sda2 -> sda,
// nvme0n1p2 -> nvme0n1). Device-mapper and md devices are whole disks of their own.
BlockDevice resolveBlockDevice(const std::string& sysfs_root, unsigned major, unsigned minor);
// stat(path) then resolveBlockDevice; filesystems without a block device (tmpfs, overlay, btrfs
// subvolumes) say so in `error`.
BlockDevice resolveBlockDeviceOfPath(const std::string& sysfs_root, const std::string& path);

// ---- The etcd process ----

// The etcd (or k3s) process serving `port`: among processes named etcd or k3s*, the one whose
// command line mentions ":port"; else the only one. 0 when none.
int findEtcdPid(const std::string& procfs_root, const std::string& port);
// --data-dir of that process's command line (relative paths resolved against its cwd); "" when
// it has none (etcd's default is "<name>.etcd" in its working directory).
std::string etcdDataDirFromCmdline(const std::string& procfs_root, int pid);

// ---- The sampler ----

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

class HostSampler {
 public:
  explicit HostSampler(HostConfig cfg);
  ~HostSampler();
  // One cycle: fills s->host() and s->disk(). Never throws; a failing item is counted and left
  // absent, the others are still filled. Between slow readings the host part repeats the last
  // ones, except the pressure stall totals, which are deltas and ride only on the sample that
  // read them.
  void sample(int64_t steady_ms, qw::wire::NodeSample* s);
  uint64_t errors() const { return errors_; }
  const std::string& lastError() const { return last_error_; }
  // Lines that appeared in `unsupported` for the first time since the last call (to log once).
  std::vector<std::string> takeNewUnsupported();
  const std::string& dataDir() const { return data_dir_; }
  const BlockDevice& device() const { return dev_; }
  int etcdPid() const { return pid_; }

 private:
  void fail(const std::string& what);
  void unsupported(const std::string& what);
  void discoverThermal();
  void refreshProcess(int64_t steady_ms);
  void sampleDisk(int64_t steady_ms, qw::wire::NodeSample* s);
  void sampleSlow(int64_t steady_ms, qw::wire::HostSample* h);
  void samplePressure(SysFile& f, std::optional<qw::wire::Pressure>* some_out,
                      std::optional<qw::wire::Pressure>* full_out,
                      std::optional<PressureLine>* prev_some,
                      std::optional<PressureLine>* prev_full, const char* name);

  HostConfig cfg_;
  std::string data_dir_;
  bool data_dir_from_cmdline_ = false;
  BlockDevice dev_;
  int64_t dev_resolved_at_ = -1;
  uint64_t errors_ = 0;
  std::string last_error_;
  std::set<std::string> unsupported_now_, unsupported_logged_;
  std::vector<std::string> new_unsupported_;
  std::string buf_;

  // The disk's own sysfs stat file, read instead of /proc/diskstats when present: the kernel
  // formats one device instead of every one (21 against 44 us a read, cold, on the bench VM).
  SysFile disk_stat_;
  SysFile diskstats_, loadavg_, meminfo_, psi_io_, psi_cpu_, psi_mem_, throttled_;
  struct Zone {
    std::string type;
    SysFile temp;
    std::vector<qw::wire::TripPoint> trips;
  };
  std::vector<Zone> zones_;
  struct Policy {
    std::string name;
    SysFile cur;
    uint32_t max_khz = 0;
  };
  std::vector<Policy> policies_;
  uint32_t cpus_ = 0;

  std::optional<DiskStats> prev_disk_;
  int64_t prev_disk_ms_ = 0;
  std::optional<PressureLine> prev_io_some_, prev_io_full_, prev_cpu_some_, prev_mem_some_,
      prev_mem_full_;

  int pid_ = 0;
  int64_t pid_scanned_at_ = -1'000'000;
  int64_t scan_backoff_ms_ = 0;
  int64_t fs_at_ = -1;
  std::optional<uint64_t> fs_total_, fs_avail_;
  SysFile pid_stat_, pid_io_;
  std::optional<int64_t> start_unix_ms_;
  std::optional<uint64_t> prev_etcd_write_;
  uint64_t boot_time_s_ = 0;
  long ticks_per_s_ = 100;

  int64_t slow_at_ = -1;  // steady ms of the last slow reading, -1: due
  qw::wire::HostSample slow_;
  std::set<std::string> slow_unsupported_;
};

}  // namespace qw::agent
