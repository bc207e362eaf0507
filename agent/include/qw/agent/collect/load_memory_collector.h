#pragma once
// Load averages (parse/loadavg.h), memory and swap (parse/meminfo.h) and the number of online
// CPUs (parse/cpufreq.h, read once at start).
#include "qw/agent/collect/collector.h"

namespace qw::agent {

class LoadMemoryCollector : public Collector {
 public:
  explicit LoadMemoryCollector(HostContext& ctx);
  std::string_view name() const override { return "load"; }
  int64_t intervalMs() const override { return ctx_.cfg.slow_interval_ms; }
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;
  uint32_t cpus() const { return cpus_; }

 private:
  HostContext& ctx_;
  SysFile loadavg_, meminfo_;
  uint32_t cpus_ = 0;
};

}  // namespace qw::agent
