#pragma once
// The Raspberry Pi firmware's throttling flags, <sysfs>/devices/platform/soc/soc:firmware/
// get_throttled. No file under the kernel's Documentation/ describes this attribute: it is
// created by drivers/firmware/raspberrypi.c of the Raspberry Pi kernel tree and holds, in hex,
// the value of the firmware's GET_THROTTLED mailbox property, whose bits the Raspberry Pi
// documentation lists for `vcgencmd get_throttled`: 0 under-voltage, 1 ARM frequency capped,
// 2 throttled, 3 soft temperature limit active, and 16-19 the same conditions since boot.
// (Mainline's Documentation/hwmon/raspberrypi-hwmon.rst reports the under-voltage bit only.)
#include <cstdint>
#include <optional>
#include <string_view>

#include "sample.pb.h"

namespace qw::agent {

// Hex, with or without 0x, at most 8 digits.
std::optional<uint32_t> parseThrottled(std::string_view text);
void decodeThrottled(uint32_t raw, qw::wire::Throttled* out);

}  // namespace qw::agent
