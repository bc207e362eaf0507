#pragma once
#include <optional>
#include <string>

namespace qw {

// Whole file as a string; nullopt when it cannot be read (missing, permission).
std::optional<std::string> readFile(const std::string& path);
// Host name as the kernel reports it.
std::string hostName();
// Random 128-bit id as 32 lowercase hex digits (from /dev/urandom).
std::string randomHexId();
// Unsigned 64-bit as lowercase hex without leading zeros (etcd member ids).
std::string hex64(unsigned long long v);

}  // namespace qw
