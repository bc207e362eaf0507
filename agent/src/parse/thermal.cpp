#include "qw/agent/parse/thermal.h"

#include "qw/strings.h"

namespace qw::agent {

std::optional<double> parseMilliCelsius(std::string_view text) {
  auto v = parseInt(text);
  if (!v || *v < -100000 || *v > 250000) return std::nullopt;
  return static_cast<double>(*v) / 1000.0;
}

}  // namespace qw::agent
