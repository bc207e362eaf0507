#include "qw/agent/parse/proc_pid.h"

#include "qw/strings.h"

namespace qw::agent {

std::optional<ProcStat> parseProcStat(std::string_view text) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  ProcStat p;
  p.comm = std::string(text.substr(open + 1, close - open - 1));
  auto f = splitFields(trim(text.substr(close + 1)));
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
    if (startsWith(line, "write_bytes:")) {
      out = parseUint(line.substr(12));
      return false;
    }
    return true;
  });
  return out;
}

}  // namespace qw::agent
