#include "qw/agent/unit_watch.h"

#include <systemd/sd-bus.h>

#include <cstring>

namespace qw::agent {

UnitWatcher::UnitWatcher(std::string unit) : unit_(std::move(unit)) {
  char* p = nullptr;
  if (sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit_.c_str(), &p) >= 0 && p) {
    path_ = p;
    std::free(p);
  }
}

UnitWatcher::~UnitWatcher() {
  if (bus_) sd_bus_flush_close_unref(bus_);
}

UnitStatus UnitWatcher::poll() {
  UnitStatus st;
  if (unit_.empty()) return st;
  if (path_.empty()) {
    st.unsupported = "unit restarts: '" + unit_ + "' is not a valid unit name";
    return st;
  }
  if (!bus_) {
    int r = sd_bus_open_system(&bus_);
    if (r < 0) {
      bus_ = nullptr;
      st.unsupported = "unit restarts: no system bus (" + std::string(std::strerror(-r)) +
                       "); systemd is not running here";
      return st;
    }
    sd_bus_set_method_call_timeout(bus_, 250'000);
  }
  sd_bus_error err = SD_BUS_ERROR_NULL;
  char* load = nullptr;
  int r = sd_bus_get_property_string(bus_, "org.freedesktop.systemd1", path_.c_str(),
                                     "org.freedesktop.systemd1.Unit", "LoadState", &err, &load);
  if (r < 0) {
    st.error = "unit " + unit_ + ": " + (err.message ? err.message : std::strerror(-r));
    sd_bus_error_free(&err);
    sd_bus_flush_close_unref(bus_);  // reconnect next time (systemd re-executed, bus restarted)
    bus_ = nullptr;
    return st;
  }
  std::string load_state = load ? load : "";
  std::free(load);
  if (load_state != "loaded") {
    st.unsupported = "unit restarts: unit " + unit_ + " is " + load_state;
    return st;
  }
  char* active = nullptr;
  if (sd_bus_get_property_string(bus_, "org.freedesktop.systemd1", path_.c_str(),
                                 "org.freedesktop.systemd1.Unit", "ActiveState", &err,
                                 &active) >= 0) {
    st.active_state = active ? active : "";
    std::free(active);
  }
  sd_bus_error_free(&err);
  uint32_t n = 0;
  r = sd_bus_get_property_trivial(bus_, "org.freedesktop.systemd1", path_.c_str(),
                                  "org.freedesktop.systemd1.Service", "NRestarts", &err, 'u', &n);
  if (r < 0)
    st.error = "unit " + unit_ + " NRestarts: " + (err.message ? err.message : std::strerror(-r));
  else
    st.restarts = n;
  sd_bus_error_free(&err);
  return st;
}

}  // namespace qw::agent
