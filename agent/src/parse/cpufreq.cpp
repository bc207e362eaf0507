#include "qw/agent/parse/cpufreq.h"

#include "qw/strings.h"

namespace qw::agent {

std::optional<uint32_t> parseKhz(std::string_view text) {
  auto v = parseUint(text);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

uint32_t countCpuList(std::string_view text) {
  uint32_t n = 0;
  for (auto range : split(trim(text), ',')) {
    auto dash = range.find('-');
    if (dash == std::string_view::npos) {
      if (parseUint(range)) ++n;
    } else {
      auto a = parseUint(range.substr(0, dash)), b = parseUint(range.substr(dash + 1));
      if (a && b && *b >= *a) n += static_cast<uint32_t>(*b - *a + 1);
    }
  }
  return n;
}

}  // namespace qw::agent
