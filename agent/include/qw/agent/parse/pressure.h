#pragma once
// Pressure stall information, /proc/pressure/{cpu,io,memory}. Format:
// Documentation/accounting/psi.rst: a "some" and a "full" line, each
// "avg10=%f avg60=%f avg300=%f total=%llu" (averages in percent, total stall time in
// microseconds). The cpu file has a "full" line since kernel 5.13 (all zeros at system level).
#include <cstdint>
#include <optional>
#include <string_view>

namespace qw::agent {

struct PressureLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;
  uint64_t total_us = 0;
};
// Either line may be absent. False when neither parses.
bool parsePressure(std::string_view text, std::optional<PressureLine>* some,
                   std::optional<PressureLine>* full);

}  // namespace qw::agent
