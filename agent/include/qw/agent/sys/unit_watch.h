#pragma once
// Restart count and state of the systemd unit that runs etcd (k3s.service, etcd.service), read
// from systemd over the system bus (sd-bus). Where there is no system bus (containers, this CI
// machine) it says "unsupported" once instead of failing every cycle.
#include <cstdint>
#include <optional>
#include <string>

struct sd_bus;

namespace qw::agent {

struct UnitStatus {
  std::optional<uint32_t> restarts;  // NRestarts
  std::string active_state;          // "active", "activating", "failed", ...
  std::string unsupported;           // set when the bus or the unit is not there
  std::string error;                 // a failed call (counted by the caller)
};

class UnitWatcher {
 public:
  explicit UnitWatcher(std::string unit);
  ~UnitWatcher();
  UnitWatcher(const UnitWatcher&) = delete;
  UnitWatcher& operator=(const UnitWatcher&) = delete;
  // One blocking round trip (deadline 250 ms): call it on a slow cadence.
  UnitStatus poll();
  const std::string& unit() const { return unit_; }

 private:
  std::string unit_;
  std::string path_;
  sd_bus* bus_ = nullptr;
};

}  // namespace qw::agent
