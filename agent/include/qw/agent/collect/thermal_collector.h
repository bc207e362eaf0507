#pragma once
// Thermal zones with their trip points (parse/thermal.h) and the CPU frequency policies
// (parse/cpufreq.h), found once at start.
#include "qw/agent/collect/collector.h"

namespace qw::agent {

class ThermalCollector : public Collector {
 public:
  explicit ThermalCollector(HostContext& ctx);
  std::string_view name() const override { return "thermal"; }
  int64_t intervalMs() const override { return ctx_.cfg.slow_interval_ms; }
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;

 private:
  void discover();

  HostContext& ctx_;
  struct Zone {
    std::string type;
    SysFile temp;
    std::vector<qw::wire::TripPoint> trips;
  };
  std::vector<Zone> zones_;
  struct Policy {
    std::string name;
    SysFile cur;
    uint32_t max_khz = 0;
  };
  std::vector<Policy> policies_;
};

}  // namespace qw::agent
