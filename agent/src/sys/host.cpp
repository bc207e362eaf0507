#include "qw/agent/sys/host.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace qw::agent {

// ---------------------------------------------------------------- SysFile

SysFile::SysFile(SysFile&& o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_), errno_(o.errno_), missing_skips_(o.missing_skips_) {
  o.fd_ = -1;
}

SysFile& SysFile::operator=(SysFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    errno_ = o.errno_;
    missing_skips_ = o.missing_skips_;
    o.fd_ = -1;
  }
  return *this;
}

SysFile::~SysFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool SysFile::read(std::string& out) {
  out.clear();
  if (path_.empty()) {
    errno_ = ENOENT;
    return false;
  }
  if (fd_ < 0) {
    // A file that does not exist (no Pi firmware, no PSI) is looked for again every 60th read,
    // not on every cycle: the answer is the same and an open that fails is a syscall per second.
    if (errno_ == ENOENT && missing_skips_ > 0) {
      --missing_skips_;
      return false;
    }
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      errno_ = errno;
      if (errno_ == ENOENT) missing_skips_ = 59;
      return false;
    }
  }
  // procfs/sysfs regenerate the content for a read at offset 0; most files fit in one read.
  size_t cap = 4096;
  off_t off = 0;
  for (;;) {
    out.resize(static_cast<size_t>(off) + cap);
    ssize_t n = ::pread(fd_, out.data() + off, cap, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      errno_ = errno;
      ::close(fd_);  // reopen next time (a vanished process, a removed device)
      fd_ = -1;
      out.clear();
      return false;
    }
    off += n;
    if (n == 0 || static_cast<size_t>(n) < cap) break;
    if (off > (1 << 22)) break;  // nothing we read is that large; don't follow a runaway file
  }
  out.resize(static_cast<size_t>(off));
  errno_ = 0;
  return true;
}

std::string SysFile::error() const {
  return path_ + ": " + (errno_ ? std::strerror(errno_) : "unreadable");
}

// ---------------------------------------------------------------- parsers

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Splits on runs of blanks.
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

template <class F>
void forEachLine(std::string_view text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    if (!f(text.substr(pos, nl - pos))) return;
    pos = nl + 1;
  }
}

std::optional<double> parseDouble(std::string_view s) {
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string baseName(const std::string& p) {
  auto slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string dirName(const std::string& p) {
  auto slash = p.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? "/" : p.substr(0, slash);
}

// Joins `rel` (a symlink target) onto `dir` and folds "." and "..", textually.
std::string joinNormalized(const std::string& dir, const std::string& rel) {
  std::vector<std::string> parts;
  auto push = [&](const std::string& path) {
    size_t i = 0;
    while (i <= path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      std::string c = path.substr(i, j - i);
      if (c == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!c.empty() && c != ".") {
        parts.push_back(c);
      }
      i = j + 1;
    }
  };
  bool relative = !rel.empty() && rel[0] != '/';
  if (relative) push(dir);
  push(rel);
  bool absolute = !relative || (!dir.empty() && dir[0] == '/');
  std::string out;
  for (auto& p : parts) out += (out.empty() && !absolute ? "" : "/") + p;
  return out.empty() ? (absolute ? "/" : ".") : out;
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::optional<std::string> slurp(const std::string& path) {
  SysFile f(path);
  std::string s;
  if (!f.read(s)) return std::nullopt;
  return s;
}

}  // namespace

std::optional<uint64_t> parseUint(std::string_view s) {
  s = trim(s);
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

namespace {

// The counters after major, minor and name (kernel docs, iostats.rst): 1 reads, 2 reads merged,
// 3 sectors read, 4 ms reading, 5 writes, 6 writes merged, 7 sectors written, 8 ms writing,
// 9 in flight, 10 ms doing I/O, 11 weighted ms, [12-15 discards], [16 flushes, 17 ms flushing].
std::optional<DiskStats> diskCounters(const std::vector<std::string_view>& f, size_t first) {
  if (f.size() < first + 11) return std::nullopt;
  uint64_t v[17] = {};
  size_t n = std::min<size_t>(f.size() - first, 17);
  for (size_t i = 0; i < n; ++i) {
    auto x = parseUint(f[first + i]);
    if (!x) return std::nullopt;
    v[i] = *x;
  }
  DiskStats d;
  d.reads = v[0];
  d.read_sectors = v[2];
  d.read_ms = v[3];
  d.writes = v[4];
  d.write_sectors = v[6];
  d.write_ms = v[7];
  d.in_flight = v[8];
  d.io_ms = v[9];
  if (n >= 17) {
    d.flushes = v[15];
    d.flush_ms = v[16];
  }
  return d;
}

}  // namespace

std::optional<DiskStats> parseDiskstats(std::string_view text, std::string_view device) {
  std::optional<DiskStats> out;
  forEachLine(text, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() < 14 || f[2] != device) return true;
    out = diskCounters(f, 3);  // malformed: stop, report nothing
    return false;
  });
  return out;
}

std::optional<DiskStats> parseBlockStat(std::string_view text) {
  return diskCounters(fields(trim(text)), 0);
}

bool parsePressure(std::string_view text, std::optional<PressureLine>* some,
                   std::optional<PressureLine>* full) {
  bool any = false;
  forEachLine(text, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() != 5 || (f[0] != "some" && f[0] != "full")) return true;
    PressureLine p;
    bool ok = true;
    for (size_t i = 1; i < 5 && ok; ++i) {
      auto eq = f[i].find('=');
      if (eq == std::string_view::npos) {
        ok = false;
        break;
      }
      auto key = f[i].substr(0, eq);
      auto val = f[i].substr(eq + 1);
      if (key == "total") {
        auto v = parseUint(val);
        ok = v.has_value();
        if (v) p.total_us = *v;
      } else {
        auto v = parseDouble(val);
        ok = v.has_value();
        if (!v) break;
        if (key == "avg10")
          p.avg10 = *v;
        else if (key == "avg60")
          p.avg60 = *v;
        else if (key == "avg300")
          p.avg300 = *v;
        else
          ok = false;
      }
    }
    if (!ok) return true;
    (f[0] == "some" ? *some : *full) = p;
    any = true;
    return true;
  });
  return any;
}

std::optional<uint32_t> parseThrottled(std::string_view text) {
  text = trim(text);
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    text.remove_prefix(2);
  if (text.empty() || text.size() > 8) return std::nullopt;
  uint32_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

void decodeThrottled(uint32_t raw, qw::wire::Throttled* t) {
  t->set_raw(raw);
  t->set_under_voltage(raw & (1u << 0));
  t->set_freq_capped(raw & (1u << 1));
  t->set_throttled(raw & (1u << 2));
  t->set_soft_temp_limit(raw & (1u << 3));
  t->set_under_voltage_since_boot(raw & (1u << 16));
  t->set_freq_capped_since_boot(raw & (1u << 17));
  t->set_throttled_since_boot(raw & (1u << 18));
  t->set_soft_temp_limit_since_boot(raw & (1u << 19));
}

MemInfo parseMeminfo(std::string_view text) {
  MemInfo m;
  forEachLine(text, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() < 2) return true;
    auto kb = parseUint(f[1]);
    if (!kb) return true;
    uint64_t bytes = *kb * (f.size() >= 3 && f[2] == "kB" ? 1024 : 1);
    if (f[0] == "MemTotal:")
      m.total = bytes;
    else if (f[0] == "MemAvailable:")
      m.available = bytes;
    else if (f[0] == "SwapFree:")
      m.swap_free = bytes;
    return true;
  });
  return m;
}

std::optional<LoadAvg> parseLoadavg(std::string_view text) {
  auto f = fields(trim(text));
  if (f.size() < 3) return std::nullopt;
  auto a = parseDouble(f[0]), b = parseDouble(f[1]), c = parseDouble(f[2]);
  if (!a || !b || !c) return std::nullopt;
  return LoadAvg{*a, *b, *c};
}

std::optional<ProcStat> parseProcStat(std::string_view text) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  ProcStat p;
  p.comm = std::string(text.substr(open + 1, close - open - 1));
  auto f = fields(trim(text.substr(close + 1)));
  // After ")": 3 state, 4 ppid, ... 22 starttime => index 19 here.
  if (f.size() < 20 || f[0].size() != 1) return std::nullopt;
  p.state = f[0][0];
  auto st = parseUint(f[19]);
  if (!st) return std::nullopt;
  p.start_ticks = *st;
  return p;
}

std::optional<uint64_t> parseIoWriteBytes(std::string_view text) {
  std::optional<uint64_t> out;
  forEachLine(text, [&](std::string_view line) {
    if (line.rfind("write_bytes:", 0) == 0) {
      out = parseUint(line.substr(12));
      return false;
    }
    return true;
  });
  return out;
}

std::optional<uint64_t> parseBootTime(std::string_view text) {
  std::optional<uint64_t> out;
  forEachLine(text, [&](std::string_view line) {
    if (line.rfind("btime ", 0) == 0) {
      out = parseUint(line.substr(6));
      return false;
    }
    return true;
  });
  return out;
}

std::optional<double> parseMilliCelsius(std::string_view text) {
  text = trim(text);
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size())
    return std::nullopt;
  if (v < -100000 || v > 250000) return std::nullopt;  // not a plausible temperature
  return static_cast<double>(v) / 1000.0;
}

// ---------------------------------------------------------------- block device

BlockDevice resolveBlockDevice(const std::string& sysfs_root, unsigned major, unsigned minor) {
  BlockDevice d;
  std::string id = std::to_string(major) + ":" + std::to_string(minor);
  std::string link = sysfs_root + "/dev/block/" + id;
  char target[4096];
  ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
  if (n < 0) {
    d.error =
        "device " + id + " has no " + link + " (" + std::strerror(errno) +
        "): not a block device (tmpfs, overlay or a btrfs subvolume?); set --etcd-data-device";
    return d;
  }
  std::string dir =
      joinNormalized(sysfs_root + "/dev/block", std::string(target, static_cast<size_t>(n)));
  std::string name = baseName(dir);
  if (exists(dir + "/partition")) {
    d.partition = name;
    d.disk = baseName(dirName(dir));
    d.disk_dir = dirName(dir);
  } else {
    d.disk = name;
    d.disk_dir = dir;
  }
  if (d.disk.empty())
    d.error = "cannot make sense of " + link + " -> " + std::string(target, static_cast<size_t>(n));
  return d;
}

BlockDevice resolveBlockDeviceOfPath(const std::string& sysfs_root, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    BlockDevice d;
    d.error = "cannot stat etcd data dir " + path + ": " + std::strerror(errno);
    return d;
  }
  return resolveBlockDevice(sysfs_root, major(st.st_dev), minor(st.st_dev));
}

// ---------------------------------------------------------------- etcd process

namespace {

bool mentionsPort(const std::string& cmdline, const std::string& port) {
  std::string needle = ":" + port;
  size_t pos = 0;
  while ((pos = cmdline.find(needle, pos)) != std::string::npos) {
    size_t end = pos + needle.size();
    if (end >= cmdline.size() || !std::isdigit(static_cast<unsigned char>(cmdline[end])))
      return true;
    pos = end;
  }
  return false;
}

std::vector<std::string> splitNul(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\0', i);
    if (j == std::string::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

int findEtcdPid(const std::string& procfs_root, const std::string& port) {
  DIR* d = ::opendir(procfs_root.c_str());
  if (!d) return 0;
  std::vector<int> candidates;
  int by_port = 0;
  std::string buf;
  while (auto* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (!std::isdigit(static_cast<unsigned char>(n[0]))) continue;
    std::string base = procfs_root + "/" + n;
    auto comm = slurp(base + "/comm");
    if (!comm) continue;
    auto c = trim(*comm);
    if (c != "etcd" && c.rfind("k3s", 0) != 0) continue;
    int pid = std::atoi(n);
    candidates.push_back(pid);
    if (!port.empty()) {
      auto cmd = slurp(base + "/cmdline");
      if (cmd && mentionsPort(*cmd, port)) {
        by_port = pid;
        break;
      }
    }
  }
  ::closedir(d);
  if (by_port) return by_port;
  return candidates.size() == 1 ? candidates[0] : 0;
}

std::string etcdDataDirFromCmdline(const std::string& procfs_root, int pid) {
  std::string base = procfs_root + "/" + std::to_string(pid);
  auto cmd = slurp(base + "/cmdline");
  if (!cmd) return "";
  auto args = splitNul(*cmd);
  std::string dir;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    for (const char* flag : {"--data-dir", "-data-dir"}) {
      std::string f = flag;
      if (a == f && i + 1 < args.size())
        dir = args[i + 1];
      else if (a.rfind(f + "=", 0) == 0)
        dir = a.substr(f.size() + 1);
    }
  }
  if (dir.empty()) return "";
  if (dir[0] != '/') {
    char cwd[4096];
    ssize_t n = ::readlink((base + "/cwd").c_str(), cwd, sizeof(cwd) - 1);
    if (n <= 0) return "";
    dir = joinNormalized(std::string(cwd, static_cast<size_t>(n)), dir);
  }
  return dir;
}

// ---------------------------------------------------------------- HostSampler

HostSampler::HostSampler(HostConfig cfg) : cfg_(std::move(cfg)) {
  const auto& p = cfg_.procfs_root;
  const auto& s = cfg_.sysfs_root;
  diskstats_ = SysFile(p + "/diskstats");
  loadavg_ = SysFile(p + "/loadavg");
  meminfo_ = SysFile(p + "/meminfo");
  psi_io_ = SysFile(p + "/pressure/io");
  psi_cpu_ = SysFile(p + "/pressure/cpu");
  psi_mem_ = SysFile(p + "/pressure/memory");
  throttled_ = SysFile(s + "/devices/platform/soc/soc:firmware/get_throttled");
  data_dir_ = cfg_.data_dir;
  ticks_per_s_ = ::sysconf(_SC_CLK_TCK);
  if (ticks_per_s_ <= 0) ticks_per_s_ = 100;
  if (auto st = slurp(p + "/stat"))
    if (auto bt = parseBootTime(*st)) boot_time_s_ = *bt;
  if (auto online = slurp(s + "/devices/system/cpu/online")) {
    // "0-3" or "0,2-3"
    uint32_t n = 0;
    std::string_view t = trim(*online);
    size_t i = 0;
    while (i < t.size()) {
      size_t j = t.find(',', i);
      if (j == std::string_view::npos) j = t.size();
      auto range = t.substr(i, j - i);
      auto dash = range.find('-');
      if (dash == std::string_view::npos) {
        if (parseUint(range)) ++n;
      } else {
        auto a = parseUint(range.substr(0, dash)), b = parseUint(range.substr(dash + 1));
        if (a && b && *b >= *a) n += static_cast<uint32_t>(*b - *a + 1);
      }
      i = j + 1;
    }
    cpus_ = n;
  }
  discoverThermal();
}

HostSampler::~HostSampler() = default;

void HostSampler::discoverThermal() {
  std::string base = cfg_.sysfs_root + "/class/thermal";
  if (DIR* d = ::opendir(base.c_str())) {
    std::vector<std::string> names;
    while (auto* e = ::readdir(d))
      if (std::strncmp(e->d_name, "thermal_zone", 12) == 0) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    for (auto& n : names) {
      std::string dir = base + "/" + n;
      auto type = slurp(dir + "/type");
      Zone z;
      z.type = type ? std::string(trim(*type)) : n;
      z.temp = SysFile(dir + "/temp");
      for (int i = 0; i < 16; ++i) {
        auto t = slurp(dir + "/trip_point_" + std::to_string(i) + "_temp");
        if (!t) break;
        auto c = parseMilliCelsius(*t);
        if (!c) continue;
        qw::wire::TripPoint tp;
        auto ty = slurp(dir + "/trip_point_" + std::to_string(i) + "_type");
        tp.set_type(ty ? std::string(trim(*ty)) : "");
        tp.set_temp_celsius(*c);
        z.trips.push_back(std::move(tp));
      }
      zones_.push_back(std::move(z));
    }
  }
  std::string cpufreq = cfg_.sysfs_root + "/devices/system/cpu/cpufreq";
  if (DIR* d = ::opendir(cpufreq.c_str())) {
    std::vector<std::string> names;
    while (auto* e = ::readdir(d))
      if (std::strncmp(e->d_name, "policy", 6) == 0) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (auto& n : names) {
      Policy pol;
      pol.name = n;
      pol.cur = SysFile(cpufreq + "/" + n + "/scaling_cur_freq");
      auto mx = slurp(cpufreq + "/" + n + "/cpuinfo_max_freq");
      if (!mx) mx = slurp(cpufreq + "/" + n + "/scaling_max_freq");
      if (mx)
        if (auto v = parseUint(*mx)) pol.max_khz = static_cast<uint32_t>(*v);
      policies_.push_back(std::move(pol));
    }
  }
}

void HostSampler::fail(const std::string& what) {
  ++errors_;
  last_error_ = what;
}

void HostSampler::unsupported(const std::string& what) {
  unsupported_now_.insert(what);
  if (unsupported_logged_.insert(what).second) new_unsupported_.push_back(what);
}

std::vector<std::string> HostSampler::takeNewUnsupported() {
  std::vector<std::string> out;
  out.swap(new_unsupported_);
  return out;
}

void HostSampler::samplePressure(SysFile& f, std::optional<qw::wire::Pressure>* some_out,
                                 std::optional<qw::wire::Pressure>* full_out,
                                 std::optional<PressureLine>* prev_some,
                                 std::optional<PressureLine>* prev_full, const char* name) {
  if (!f.read(buf_)) {
    if (f.lastErrno() == ENOENT)
      unsupported("pressure: no " + f.path() +
                  " (kernel without PSI; add psi=1 to its command line)");
    else
      fail(f.error());
    return;
  }
  std::optional<PressureLine> some, full;
  if (!parsePressure(buf_, &some, &full)) {
    fail(std::string("pressure ") + name + ": cannot parse " + f.path());
    return;
  }
  auto fill = [](const std::optional<PressureLine>& cur, std::optional<PressureLine>* prev,
                 std::optional<qw::wire::Pressure>* out) {
    if (!cur || !out) return;
    qw::wire::Pressure p;
    p.set_avg10(cur->avg10);
    p.set_avg60(cur->avg60);
    p.set_avg300(cur->avg300);
    if (*prev && cur->total_us >= (*prev)->total_us)
      p.set_total_us(cur->total_us - (*prev)->total_us);
    *prev = cur;
    *out = std::move(p);
  };
  fill(some, prev_some, some_out);
  fill(full, prev_full, full_out);
}

void HostSampler::refreshProcess(int64_t steady_ms) {
  if (pid_ > 0) {
    if (pid_stat_.read(buf_)) {
      auto st = parseProcStat(buf_);
      if (st && st->state != 'Z') {
        if (boot_time_s_)
          start_unix_ms_ =
              static_cast<int64_t>(boot_time_s_) * 1000 +
              static_cast<int64_t>(st->start_ticks * 1000 / static_cast<uint64_t>(ticks_per_s_));
        return;
      }
    }
    pid_ = 0;  // gone (etcd restarted or stopped): look again now
    prev_etcd_write_.reset();
    pid_scanned_at_ = -1'000'000;
    scan_backoff_ms_ = 0;
  }
  // Scanning /proc costs a read per process: right after etcd went away, then backing off from
  // 1 s to a minute while it stays away.
  if (steady_ms - pid_scanned_at_ < scan_backoff_ms_) return;
  pid_scanned_at_ = steady_ms;
  pid_ = findEtcdPid(cfg_.procfs_root, cfg_.etcd_port);
  if (pid_ <= 0) {
    pid_ = 0;
    start_unix_ms_.reset();
    scan_backoff_ms_ = std::min<int64_t>(60000, std::max<int64_t>(1000, scan_backoff_ms_ * 2));
    return;
  }
  scan_backoff_ms_ = 0;
  std::string base = cfg_.procfs_root + "/" + std::to_string(pid_);
  pid_stat_ = SysFile(base + "/stat");
  pid_io_ = SysFile(base + "/io");
  if (data_dir_.empty() || data_dir_from_cmdline_) {
    std::string d = etcdDataDirFromCmdline(cfg_.procfs_root, pid_);
    if (!d.empty() && d != data_dir_) {
      data_dir_ = d;
      data_dir_from_cmdline_ = true;
      dev_resolved_at_ = -1;  // resolve the new dir's device
    }
  }
  if (pid_stat_.read(buf_))
    if (auto st = parseProcStat(buf_); st && boot_time_s_)
      start_unix_ms_ =
          static_cast<int64_t>(boot_time_s_) * 1000 +
          static_cast<int64_t>(st->start_ticks * 1000 / static_cast<uint64_t>(ticks_per_s_));
}

void HostSampler::sampleDisk(int64_t steady_ms, qw::wire::NodeSample* s) {
  // Resolve the device once (again every minute while it fails: the dir may not exist yet).
  if (dev_resolved_at_ < 0 || (!dev_.error.empty() && steady_ms - dev_resolved_at_ > 60000)) {
    dev_resolved_at_ = steady_ms;
    if (!cfg_.data_device.empty()) {
      auto colon = cfg_.data_device.find(':');
      if (colon != std::string::npos) {
        auto a = parseUint(std::string_view(cfg_.data_device).substr(0, colon));
        auto b = parseUint(std::string_view(cfg_.data_device).substr(colon + 1));
        if (a && b)
          dev_ = resolveBlockDevice(cfg_.sysfs_root, static_cast<unsigned>(*a),
                                    static_cast<unsigned>(*b));
        else
          dev_ = BlockDevice{"", "", "bad --etcd-data-device " + cfg_.data_device, ""};
      } else {
        dev_ = BlockDevice{cfg_.data_device, "", "",
                           cfg_.sysfs_root + "/class/block/" + cfg_.data_device};
      }
    } else if (!data_dir_.empty()) {
      dev_ = resolveBlockDeviceOfPath(cfg_.sysfs_root, data_dir_);
    } else {
      dev_ = BlockDevice{"", "", "", ""};
    }
    prev_disk_.reset();
  }
  if (dev_.disk.empty()) {
    if (!dev_.error.empty())
      unsupported("disk: " + dev_.error);
    else
      unsupported("disk: etcd's data dir is unknown (set --etcd-data-dir)");
    return;
  }
  auto* d = s->mutable_disk();
  d->set_device(dev_.disk);
  d->set_partition(dev_.partition);
  if (disk_stat_.path() != dev_.disk_dir + "/stat")
    disk_stat_ = SysFile(dev_.disk_dir.empty() ? std::string() : dev_.disk_dir + "/stat");
  // The disk's own stat file; /proc/diskstats when it is missing (old kernels, a fixture tree).
  std::optional<DiskStats> cur;
  bool read_failed = false;
  if (!disk_stat_.path().empty() && disk_stat_.read(buf_)) cur = parseBlockStat(buf_);
  if (!cur) {
    if (diskstats_.read(buf_)) {
      cur = parseDiskstats(buf_, dev_.disk);
    } else {
      read_failed = true;
      fail(diskstats_.error());
    }
  }
  if (cur) {
    d->set_in_flight(static_cast<uint32_t>(cur->in_flight));
    d->set_sectors_written_total(cur->write_sectors);
    if (prev_disk_) {
      const auto& p = *prev_disk_;
      bool reset = cur->reads < p.reads || cur->writes < p.writes ||
                   cur->read_sectors < p.read_sectors || cur->write_sectors < p.write_sectors ||
                   cur->read_ms < p.read_ms || cur->write_ms < p.write_ms || cur->io_ms < p.io_ms ||
                   (cur->flushes && p.flushes && *cur->flushes < *p.flushes) ||
                   (cur->flush_ms && p.flush_ms && *cur->flush_ms < *p.flush_ms);
      d->set_interval_ms(steady_ms - prev_disk_ms_);
      if (reset) {
        d->set_counters_reset(true);  // a 32-bit wrap or a re-added device: no rates this time
      } else {
        d->set_reads(cur->reads - p.reads);
        d->set_writes(cur->writes - p.writes);
        d->set_read_bytes((cur->read_sectors - p.read_sectors) * 512);
        d->set_write_bytes((cur->write_sectors - p.write_sectors) * 512);
        d->set_read_time_ms(cur->read_ms - p.read_ms);
        d->set_write_time_ms(cur->write_ms - p.write_ms);
        d->set_busy_ms(cur->io_ms - p.io_ms);
        if (cur->flushes && p.flushes) d->set_flushes(*cur->flushes - *p.flushes);
        if (cur->flush_ms && p.flush_ms) d->set_flush_time_ms(*cur->flush_ms - *p.flush_ms);
      }
    }
    prev_disk_ = cur;
    prev_disk_ms_ = steady_ms;
  } else if (!read_failed) {
    fail("disk: no line for " + dev_.disk + " in " + diskstats_.path());
  }
  // Free space moves slowly: statvfs every 10 s, the last answer in between.
  if (!data_dir_.empty() && (fs_at_ < 0 || steady_ms - fs_at_ >= 10000 || steady_ms < fs_at_)) {
    fs_at_ = steady_ms;
    struct statvfs v {};
    if (::statvfs(data_dir_.c_str(), &v) == 0) {
      fs_total_ = static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
      fs_avail_ = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
    } else {
      fs_total_.reset();
      fs_avail_.reset();
      fail("disk: statvfs " + data_dir_ + ": " + std::strerror(errno));
    }
  }
  if (fs_total_) d->set_fs_total_bytes(*fs_total_);
  if (fs_avail_) d->set_fs_avail_bytes(*fs_avail_);
  if (pid_ > 0) {
    if (pid_io_.read(buf_)) {
      if (auto w = parseIoWriteBytes(buf_)) {
        d->set_etcd_write_bytes_total(*w);
        if (prev_etcd_write_ && *w >= *prev_etcd_write_)
          d->set_etcd_write_bytes(*w - *prev_etcd_write_);
        prev_etcd_write_ = w;
      }
    } else if ((pid_io_.lastErrno() == ENOENT || pid_io_.lastErrno() == ESRCH) &&
               !pid_stat_.read(buf_)) {
      slow_at_ = -1;  // etcd's process is gone: find it again next cycle
    } else if (pid_io_.lastErrno() == EACCES || pid_io_.lastErrno() == EPERM) {
      unsupported("disk: etcd's " + pid_io_.path() +
                  " is not readable (needs ptrace rights over etcd; see README, Operations)");
    } else {
      fail(pid_io_.error());
    }
  }
}

void HostSampler::sample(int64_t steady_ms, qw::wire::NodeSample* s) {
  unsupported_now_.clear();
  auto* h = s->mutable_host();
  bool slow = slow_at_ < 0 || steady_ms - slow_at_ >= cfg_.slow_interval_ms || steady_ms < slow_at_;
  if (slow) {
    slow_at_ = steady_ms;
    sampleSlow(steady_ms, h);
    slow_ = *h;
    // The stall totals are deltas: only this sample carries them.
    if (slow_.has_io_some()) slow_.mutable_io_some()->clear_total_us();
    if (slow_.has_io_full()) slow_.mutable_io_full()->clear_total_us();
    if (slow_.has_cpu_some()) slow_.mutable_cpu_some()->clear_total_us();
    if (slow_.has_memory_some()) slow_.mutable_memory_some()->clear_total_us();
    if (slow_.has_memory_full()) slow_.mutable_memory_full()->clear_total_us();
    slow_unsupported_ = unsupported_now_;
  } else {
    *h = slow_;
    unsupported_now_ = slow_unsupported_;
  }
  if (cpus_) h->set_cpus(cpus_);
  sampleDisk(steady_ms, s);
  for (const auto& u : unsupported_now_) h->add_unsupported(u);
}

void HostSampler::sampleSlow(int64_t steady_ms, qw::wire::HostSample* h) {
  refreshProcess(steady_ms);
  h->set_etcd_pid(static_cast<uint32_t>(pid_));
  if (start_unix_ms_) h->set_etcd_start_unix_ms(*start_unix_ms_);

  // Thermal zones and cpufreq.
  if (zones_.empty())
    unsupported("thermal: no thermal zones in " + cfg_.sysfs_root + "/class/thermal");
  for (auto& z : zones_) {
    if (!z.temp.read(buf_)) {
      fail("thermal " + z.type + ": " + z.temp.error());
      continue;
    }
    auto c = parseMilliCelsius(buf_);
    if (!c) {
      fail("thermal " + z.type + ": cannot parse " + z.temp.path());
      continue;
    }
    auto* tz = h->add_thermal();
    tz->set_type(z.type);
    tz->set_temp_celsius(*c);
    for (auto& t : z.trips) *tz->add_trips() = t;
  }
  if (policies_.empty())
    unsupported("cpufreq: no policies in " + cfg_.sysfs_root + "/devices/system/cpu/cpufreq");
  for (auto& pol : policies_) {
    if (!pol.cur.read(buf_)) {
      fail("cpufreq " + pol.name + ": " + pol.cur.error());
      continue;
    }
    auto v = parseUint(buf_);
    if (!v) {
      fail("cpufreq " + pol.name + ": cannot parse " + pol.cur.path());
      continue;
    }
    auto* f = h->add_cpufreq();
    f->set_policy(pol.name);
    f->set_cur_khz(static_cast<uint32_t>(*v));
    f->set_max_khz(pol.max_khz);
  }

  // Raspberry Pi firmware flags.
  if (throttled_.read(buf_)) {
    if (auto raw = parseThrottled(buf_))
      decodeThrottled(*raw, h->mutable_throttled());
    else
      fail("throttled: cannot parse " + throttled_.path());
  } else if (throttled_.lastErrno() == ENOENT) {
    unsupported("throttled: no " + throttled_.path() + " (not a Raspberry Pi)");
  } else {
    fail(throttled_.error());
  }

  {
    std::optional<qw::wire::Pressure> a, b;
    samplePressure(psi_io_, &a, &b, &prev_io_some_, &prev_io_full_, "io");
    if (a) *h->mutable_io_some() = std::move(*a);
    if (b) *h->mutable_io_full() = std::move(*b);
  }
  {
    std::optional<qw::wire::Pressure> a;
    samplePressure(psi_cpu_, &a, nullptr, &prev_cpu_some_, nullptr, "cpu");
    if (a) *h->mutable_cpu_some() = std::move(*a);
  }
  {
    std::optional<qw::wire::Pressure> a, b;
    samplePressure(psi_mem_, &a, &b, &prev_mem_some_, &prev_mem_full_, "memory");
    if (a) *h->mutable_memory_some() = std::move(*a);
    if (b) *h->mutable_memory_full() = std::move(*b);
  }

  if (loadavg_.read(buf_)) {
    if (auto l = parseLoadavg(buf_)) {
      h->set_load1(l->l1);
      h->set_load5(l->l5);
      h->set_load15(l->l15);
    } else {
      fail("load: cannot parse " + loadavg_.path());
    }
  } else {
    fail(loadavg_.error());
  }
  if (meminfo_.read(buf_)) {
    auto m = parseMeminfo(buf_);
    if (m.total) h->set_mem_total_bytes(*m.total);
    if (m.available) h->set_mem_available_bytes(*m.available);
    if (m.swap_free) h->set_swap_free_bytes(*m.swap_free);
    if (!m.total && !m.available) fail("memory: cannot parse " + meminfo_.path());
  } else {
    fail(meminfo_.error());
  }
}

}  // namespace qw::agent
