#include "style.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace qw::cli {

bool Style::detect(bool json) {
  if (json || !::isatty(STDOUT_FILENO)) return false;
  const char* no = std::getenv("NO_COLOR");
  if (no && *no) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::strcmp(term, "dumb") == 0);
}

std::string Style::stateAs(const std::string& s, const std::string& text) const {
  if (s == "HEALTHY" || s == "SAFE" || s == "passed" || s == "verified") return green(text);
  if (s == "INFO") return dim(text);
  if (s == "DEGRADED" || s == "WARNING" || s == "UNKNOWN" || s == "running") return yellow(text);
  if (s == "AT_RISK" || s == "CRITICAL" || s == "QUORUM_LOST" || s == "UNSAFE" || s == "failed")
    return red(text);
  return text;
}

std::string sparkline(const std::vector<double>& values) {
  static const char* blocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                 "\u2585", "\u2586", "\u2587", "\u2588"};
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values)
    if (!std::isnan(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  std::string out;
  for (double v : values) {
    if (std::isnan(v)) {
      out += ' ';
      continue;
    }
    int i = hi > lo ? static_cast<int>(std::lround((v - lo) / (hi - lo) * 7)) : 0;
    out += blocks[std::clamp(i, 0, 7)];
  }
  return out;
}

}  // namespace qw::cli
