#include "qw/agent/app/trim.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace qw::agent {

namespace {

struct Mapping {
  uintptr_t start = 0, end = 0;
  bool candidate = false;  // file-backed and not writable
  bool clean = true;       // no anonymous (copy-on-write) or dirty pages
};

}  // namespace

TrimResult trimCleanFileMappings(const std::string& smaps) {
  std::ifstream in(smaps);
  std::vector<Mapping> maps;
  std::string line;
  while (std::getline(in, line)) {
    unsigned long lo = 0, hi = 0, inode = 0;
    char perms[8] = {};
    int path_at = 0;
    // "55d0c1a00000-55d0c1a21000 r-xp 00000000 fd:01 1234   /usr/bin/x"
    if (std::sscanf(line.c_str(), "%lx-%lx %7s %*s %*s %lu %n", &lo, &hi, perms, &inode,
                    &path_at) >= 4 &&
        std::strchr(line.c_str(), '-') < std::strchr(line.c_str(), ' ')) {
      Mapping m;
      m.start = lo;
      m.end = hi;
      bool file = inode != 0 && path_at > 0 && line.size() > static_cast<size_t>(path_at) &&
                  line[static_cast<size_t>(path_at)] == '/';
      m.candidate = file && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p';
      maps.push_back(m);
      continue;
    }
    if (maps.empty()) continue;
    unsigned long kb = 0;
    if ((std::sscanf(line.c_str(), "Anonymous: %lu kB", &kb) == 1 ||
         std::sscanf(line.c_str(), "Private_Dirty: %lu kB", &kb) == 1 ||
         std::sscanf(line.c_str(), "Shared_Dirty: %lu kB", &kb) == 1) &&
        kb > 0)
      maps.back().clean = false;
  }
  TrimResult r;
  for (const auto& m : maps) {
    if (!m.candidate || !m.clean || m.end <= m.start) continue;
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) == 0) {
      ++r.mappings;
      r.bytes += m.end - m.start;
    }
  }
  return r;
}

}  // namespace qw::agent
