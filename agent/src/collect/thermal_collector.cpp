#include "qw/agent/collect/thermal_collector.h"

#include <dirent.h>

#include <algorithm>
#include <cstring>

#include "qw/agent/parse/cpufreq.h"
#include "qw/agent/parse/thermal.h"
#include "qw/strings.h"

namespace qw::agent {

ThermalCollector::ThermalCollector(HostContext& ctx) : ctx_(ctx) { discover(); }

void ThermalCollector::discover() {
  std::string base = ctx_.cfg.sysfs_root + "/class/thermal";
  if (DIR* d = ::opendir(base.c_str())) {
    std::vector<std::string> names;
    while (auto* e = ::readdir(d))
      if (std::strncmp(e->d_name, "thermal_zone", 12) == 0) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    for (auto& n : names) {
      std::string dir = base + "/" + n;
      auto type = readSysFile(dir + "/type");
      Zone z;
      z.type = type ? std::string(trim(*type)) : n;
      z.temp = SysFile(dir + "/temp");
      for (int i = 0; i < 16; ++i) {
        auto t = readSysFile(dir + "/trip_point_" + std::to_string(i) + "_temp");
        if (!t) break;
        auto c = parseMilliCelsius(*t);
        if (!c) continue;
        qw::wire::TripPoint tp;
        auto ty = readSysFile(dir + "/trip_point_" + std::to_string(i) + "_type");
        tp.set_type(ty ? std::string(trim(*ty)) : "");
        tp.set_temp_celsius(*c);
        z.trips.push_back(std::move(tp));
      }
      zones_.push_back(std::move(z));
    }
  }
  std::string cpufreq = ctx_.cfg.sysfs_root + "/devices/system/cpu/cpufreq";
  if (DIR* d = ::opendir(cpufreq.c_str())) {
    std::vector<std::string> names;
    while (auto* e = ::readdir(d))
      if (std::strncmp(e->d_name, "policy", 6) == 0) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (auto& n : names) {
      Policy pol;
      pol.name = n;
      pol.cur = SysFile(cpufreq + "/" + n + "/scaling_cur_freq");
      auto mx = readSysFile(cpufreq + "/" + n + "/cpuinfo_max_freq");
      if (!mx) mx = readSysFile(cpufreq + "/" + n + "/scaling_max_freq");
      if (mx)
        if (auto v = parseKhz(*mx)) pol.max_khz = *v;
      policies_.push_back(std::move(pol));
    }
  }
}

void ThermalCollector::collect(int64_t, qw::wire::NodeSample* s) {
  auto* h = s->mutable_host();
  auto& buf = ctx_.buf;
  if (zones_.empty())
    ctx_.unsupported("thermal: no thermal zones in " + ctx_.cfg.sysfs_root + "/class/thermal");
  for (auto& z : zones_) {
    if (!z.temp.read(buf)) {
      ctx_.fail("thermal " + z.type, "thermal " + z.type + ": " + z.temp.error());
      continue;
    }
    auto c = parseMilliCelsius(buf);
    if (!c) {
      ctx_.fail("thermal " + z.type, "thermal " + z.type + ": cannot parse " + z.temp.path());
      continue;
    }
    auto* tz = h->add_thermal();
    tz->set_type(z.type);
    tz->set_temp_celsius(*c);
    for (auto& t : z.trips) *tz->add_trips() = t;
  }
  if (policies_.empty())
    ctx_.unsupported("cpufreq: no policies in " + ctx_.cfg.sysfs_root +
                     "/devices/system/cpu/cpufreq");
  for (auto& pol : policies_) {
    if (!pol.cur.read(buf)) {
      ctx_.fail("cpufreq " + pol.name, "cpufreq " + pol.name + ": " + pol.cur.error());
      continue;
    }
    auto v = parseKhz(buf);
    if (!v) {
      ctx_.fail("cpufreq " + pol.name, "cpufreq " + pol.name + ": cannot parse " + pol.cur.path());
      continue;
    }
    auto* f = h->add_cpufreq();
    f->set_policy(pol.name);
    f->set_cur_khz(*v);
    f->set_max_khz(pol.max_khz);
  }
}

}  // namespace qw::agent
