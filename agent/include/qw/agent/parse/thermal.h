#pragma once
// Thermal zones, <sysfs>/class/thermal/thermal_zoneN/{type,temp,trip_point_M_temp,
// trip_point_M_type}. Format: Documentation/driver-api/thermal/sysfs-api.rst: temperatures are
// in millidegree Celsius.
#include <optional>
#include <string_view>

namespace qw::agent {

// A millidegree reading ("48312\n") in degrees Celsius; nullopt when not a plausible
// temperature (below -100 or above 250 degrees).
std::optional<double> parseMilliCelsius(std::string_view text);

}  // namespace qw::agent
