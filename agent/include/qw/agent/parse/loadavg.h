#pragma once
// /proc/loadavg. Format: Documentation/filesystems/proc.rst (table "Kernel info in /proc",
// loadavg): the 1, 5 and 15 minute load averages, then running/total tasks and the last pid.
#include <optional>
#include <string_view>

namespace qw::agent {

struct LoadAvg {
  double l1 = 0, l5 = 0, l15 = 0;
};
std::optional<LoadAvg> parseLoadavg(std::string_view text);

}  // namespace qw::agent
