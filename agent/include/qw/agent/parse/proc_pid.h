#pragma once
// Per-process procfs files. Format: Documentation/filesystems/proc.rst: /proc/PID/stat is
// table 1-4 ("Contents of the stat fields": 1 pid, 2 tcomm in parentheses, 3 state, ...,
// 22 start_time in clock ticks since boot); /proc/PID/io is section 3.3 ("/proc/<pid>/io -
// Display the IO accounting fields", write_bytes: bytes this process caused to be sent to the
// storage layer).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qw::agent {

struct ProcStat {
  std::string comm;
  char state = '?';
  uint64_t start_ticks = 0;  // since boot, in clock ticks
};
// comm may hold spaces and parentheses: split at the last ')'.
std::optional<ProcStat> parseProcStat(std::string_view text);
std::optional<uint64_t> parseIoWriteBytes(std::string_view text);

}  // namespace qw::agent
