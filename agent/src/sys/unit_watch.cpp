#include "qw/agent/sys/unit_watch.h"

#include <dlfcn.h>
#include <systemd/sd-bus.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace qw::agent {

namespace {

// libsystemd is opened only when a unit is watched: an agent without --etcd-unit (plain etcd)
// does not map it and the compression and crypto libraries it needs (DESIGN.md section 3: memory).
struct Bus {
  decltype(&sd_bus_open_system) open_system = nullptr;
  decltype(&sd_bus_set_method_call_timeout) set_timeout = nullptr;
  decltype(&sd_bus_path_encode) path_encode = nullptr;
  decltype(&sd_bus_get_property_string) get_string = nullptr;
  decltype(&sd_bus_get_property_trivial) get_trivial = nullptr;
  decltype(&sd_bus_error_free) error_free = nullptr;
  decltype(&sd_bus_flush_close_unref) close_unref = nullptr;
  std::string error;
};

const Bus& bus() {
  static const Bus b = [] {
    Bus x;
    void* h = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = ::dlerror();
      x.error = std::string("cannot load libsystemd.so.0: ") + (e ? e : "?");
      return x;
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
      if (!fn && x.error.empty()) x.error = std::string("libsystemd.so.0 lacks ") + name;
    };
    sym(x.open_system, "sd_bus_open_system");
    sym(x.set_timeout, "sd_bus_set_method_call_timeout");
    sym(x.path_encode, "sd_bus_path_encode");
    sym(x.get_string, "sd_bus_get_property_string");
    sym(x.get_trivial, "sd_bus_get_property_trivial");
    sym(x.error_free, "sd_bus_error_free");
    sym(x.close_unref, "sd_bus_flush_close_unref");
    return x;
  }();
  return b;
}

}  // namespace

UnitWatcher::UnitWatcher(std::string unit) : unit_(std::move(unit)) {
  if (unit_.empty() || !bus().error.empty()) return;
  char* p = nullptr;
  if (bus().path_encode("/org/freedesktop/systemd1/unit", unit_.c_str(), &p) >= 0 && p) {
    path_ = p;
    std::free(p);
  }
}

UnitWatcher::~UnitWatcher() {
  if (bus_) bus().close_unref(bus_);
}

UnitStatus UnitWatcher::poll() {
  UnitStatus st;
  if (unit_.empty()) return st;
  if (!bus().error.empty()) {
    st.unsupported = "unit restarts: " + bus().error;
    return st;
  }
  if (path_.empty()) {
    st.unsupported = "unit restarts: '" + unit_ + "' is not a valid unit name";
    return st;
  }
  if (!bus_) {
    int r = bus().open_system(&bus_);
    if (r < 0) {
      bus_ = nullptr;
      st.unsupported = "unit restarts: no system bus (" + std::string(std::strerror(-r)) +
                       "); systemd is not running here";
      return st;
    }
    bus().set_timeout(bus_, 250'000);
  }
  sd_bus_error err{};  // SD_BUS_ERROR_NULL, without its C99 compound literal (clang -Wpedantic)
  char* load = nullptr;
  int r = bus().get_string(bus_, "org.freedesktop.systemd1", path_.c_str(),
                           "org.freedesktop.systemd1.Unit", "LoadState", &err, &load);
  if (r < 0) {
    st.error = "unit " + unit_ + ": " + (err.message ? err.message : std::strerror(-r));
    bus().error_free(&err);
    bus().close_unref(bus_);  // reconnect next time (systemd re-executed, bus restarted)
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
  if (bus().get_string(bus_, "org.freedesktop.systemd1", path_.c_str(),
                       "org.freedesktop.systemd1.Unit", "ActiveState", &err, &active) >= 0) {
    st.active_state = active ? active : "";
    std::free(active);
  }
  bus().error_free(&err);
  uint32_t n = 0;
  r = bus().get_trivial(bus_, "org.freedesktop.systemd1", path_.c_str(),
                        "org.freedesktop.systemd1.Service", "NRestarts", &err, 'u', &n);
  if (r < 0)
    st.error = "unit " + unit_ + " NRestarts: " + (err.message ? err.message : std::strerror(-r));
  else
    st.restarts = n;
  bus().error_free(&err);
  return st;
}

}  // namespace qw::agent
