#pragma once
// CPU frequency and CPU count. Formats: Documentation/admin-guide/pm/cpufreq.rst (policyN
// directories under <sysfs>/devices/system/cpu/cpufreq; scaling_cur_freq, cpuinfo_max_freq and
// scaling_max_freq are in kHz) and Documentation/admin-guide/cputopology.rst
// (<sysfs>/devices/system/cpu/online is a CPU list such as "0-3" or "0,2-3").
#include <cstdint>
#include <optional>
#include <string_view>

namespace qw::agent {

// A frequency file's kHz value.
std::optional<uint32_t> parseKhz(std::string_view text);
// The number of CPUs in a CPU list ("0-3" -> 4, "0,2-3" -> 3); malformed ranges count nothing.
uint32_t countCpuList(std::string_view text);

}  // namespace qw::agent
