#include "qw/agent/parse/loadavg.h"

#include "qw/strings.h"

namespace qw::agent {

std::optional<LoadAvg> parseLoadavg(std::string_view text) {
  auto f = splitFields(trim(text));
  if (f.size() < 3) return std::nullopt;
  auto a = parseDouble(f[0]), b = parseDouble(f[1]), c = parseDouble(f[2]);
  if (!a || !b || !c) return std::nullopt;
  return LoadAvg{*a, *b, *c};
}

}  // namespace qw::agent
