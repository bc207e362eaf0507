#pragma once
// The Raspberry Pi firmware's under-voltage and throttling flags (parse/throttled.h).
#include "qw/agent/collect/collector.h"

namespace qw::agent {

class PowerCollector : public Collector {
 public:
  explicit PowerCollector(HostContext& ctx);
  std::string_view name() const override { return "power"; }
  int64_t intervalMs() const override { return ctx_.cfg.slow_interval_ms; }
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;

 private:
  HostContext& ctx_;
  SysFile throttled_;
};

}  // namespace qw::agent
