#include "qw/agent/parse/diskstats.h"

#include <algorithm>
#include <vector>

#include "qw/strings.h"

namespace qw::agent {

namespace {

// The counters after major, minor and name (iostats.rst): 1 reads, 2 reads merged, 3 sectors
// read, 4 ms reading, 5 writes, 6 writes merged, 7 sectors written, 8 ms writing, 9 in flight,
// 10 ms doing I/O, 11 weighted ms, [12-15 discards], [16 flushes, 17 ms flushing].
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
    auto f = splitFields(line);
    if (f.size() < 14 || f[2] != device) return true;
    out = diskCounters(f, 3);  // malformed: stop, report nothing
    return false;
  });
  return out;
}

std::optional<DiskStats> parseBlockStat(std::string_view text) {
  return diskCounters(splitFields(trim(text)), 0);
}

}  // namespace qw::agent
