#pragma once
// Identifiers shared by the agent and the aggregator.
#include <cstdint>
#include <string_view>

namespace qw {

// The first 16 hex digits of a boot id ("8d2c6e1f-7b3a-...", /proc/sys/kernel/random/boot_id) as
// a number: what a Batch carries to say which boot its samples were taken in (8 bytes on the wire
// instead of 36). 0 when the text does not start with 16 hex digits (dashes skipped).
uint64_t bootKey(std::string_view boot_id);

}  // namespace qw
