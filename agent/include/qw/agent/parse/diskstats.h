#pragma once
// Block device I/O counters. Format: Documentation/admin-guide/iostats.rst (the fields of
// /proc/diskstats after major, minor and name; 11 on kernels before 4.18, 15 with the discard
// fields from 4.18, 17 with the flush fields from 5.5) and Documentation/block/stat.rst (a disk's
// own <sysfs>/block/DISK/stat: the same counters without major, minor and name).
#include <cstdint>
#include <optional>
#include <string_view>

namespace qw::agent {

struct DiskStats {
  uint64_t reads = 0, read_sectors = 0, read_ms = 0;
  uint64_t writes = 0, write_sectors = 0, write_ms = 0;
  uint64_t in_flight = 0, io_ms = 0;
  std::optional<uint64_t> flushes, flush_ms;  // kernels >= 5.5
};
// The line of `device` in /proc/diskstats text; nullopt when absent or malformed.
std::optional<DiskStats> parseDiskstats(std::string_view text, std::string_view device);
// A disk's own <sysfs>/block/DISK/stat. nullopt when malformed.
std::optional<DiskStats> parseBlockStat(std::string_view text);

}  // namespace qw::agent
