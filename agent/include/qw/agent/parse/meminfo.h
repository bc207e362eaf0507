#pragma once
// /proc/meminfo. Format: Documentation/filesystems/proc.rst, section "meminfo": "Key: value kB"
// lines; MemAvailable exists since kernel 3.14.
#include <cstdint>
#include <optional>
#include <string_view>

namespace qw::agent {

struct MemInfo {
  std::optional<uint64_t> total, available, swap_free;  // bytes
};
MemInfo parseMeminfo(std::string_view text);

}  // namespace qw::agent
