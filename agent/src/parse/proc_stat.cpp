#include "qw/agent/parse/proc_stat.h"

#include "qw/strings.h"

namespace qw::agent {

std::optional<uint64_t> parseBootTime(std::string_view text) {
  std::optional<uint64_t> out;
  forEachLine(text, [&](std::string_view line) {
    if (startsWith(line, "btime ")) {
      out = parseUint(line.substr(6));
      return false;
    }
    return true;
  });
  return out;
}

}  // namespace qw::agent
