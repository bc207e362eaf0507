#pragma once
// Sheds the start-up part of the agent's resident set. Code and read-only data run once at start
// (option parsing, layout detection, TLS and Protobuf initialisation) stay mapped for the life of
// the process, and the kernel maps file pages around every fault (fault-around). Dropping the
// mappings that hold only clean file pages lets the steady-state loop fault back just what it
// uses; nothing is lost (the pages stay in the page cache and are read back on the next touch).
#include <cstddef>
#include <string>

namespace qw::agent {

struct TrimResult {
  size_t mappings = 0;  // mappings advised
  size_t bytes = 0;     // their size
};

// Reads `smaps` (normally /proc/self/smaps) and applies MADV_DONTNEED to every file-backed,
// non-writable mapping whose pages are all clean file pages (Anonymous: 0, Private_Dirty: 0):
// text and read-only data, never relocated data (RELRO holds written copy-on-write pages).
TrimResult trimCleanFileMappings(const std::string& smaps = "/proc/self/smaps");

}  // namespace qw::agent
