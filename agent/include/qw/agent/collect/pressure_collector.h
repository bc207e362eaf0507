#pragma once
// Pressure stall information for io, cpu and memory (parse/pressure.h): the averages, and the
// stall time since the previous reading.
#include "qw/agent/collect/collector.h"
#include "qw/agent/parse/pressure.h"

namespace qw::agent {

class PressureCollector : public Collector {
 public:
  explicit PressureCollector(HostContext& ctx);
  std::string_view name() const override { return "pressure"; }
  int64_t intervalMs() const override { return ctx_.cfg.slow_interval_ms; }
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;

 private:
  void read(SysFile& f, std::optional<qw::wire::Pressure>* some_out,
            std::optional<qw::wire::Pressure>* full_out, std::optional<PressureLine>* prev_some,
            std::optional<PressureLine>* prev_full, const char* name);

  HostContext& ctx_;
  SysFile io_, cpu_, mem_;
  std::optional<PressureLine> prev_io_some_, prev_io_full_, prev_cpu_some_, prev_mem_some_,
      prev_mem_full_;
};

}  // namespace qw::agent
