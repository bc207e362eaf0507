#pragma once
// /proc/stat. Format: Documentation/filesystems/proc.rst, section 1.7 ("Miscellaneous kernel
// statistics in /proc/stat"): the "btime" line is the time the system booted, in seconds since
// the Unix epoch.
#include <cstdint>
#include <optional>
#include <string_view>

namespace qw::agent {

std::optional<uint64_t> parseBootTime(std::string_view text);

}  // namespace qw::agent
