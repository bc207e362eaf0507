#include "qw/agent/parse/meminfo.h"

#include "qw/strings.h"

namespace qw::agent {

MemInfo parseMeminfo(std::string_view text) {
  MemInfo m;
  forEachLine(text, [&](std::string_view line) {
    auto f = splitFields(line);
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

}  // namespace qw::agent
