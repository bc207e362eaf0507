#pragma once
// etcd's process (sys/etcd_process.h): its pid and start time, and its data dir when none was
// configured. Scanning procfs costs a read per process, so a missing etcd is looked for again
// with a backoff.
#include "qw/agent/collect/collector.h"

namespace qw::agent {

class ProcessCollector : public Collector {
 public:
  explicit ProcessCollector(HostContext& ctx);
  std::string_view name() const override { return "process"; }
  int64_t intervalMs() const override { return ctx_.cfg.slow_interval_ms; }
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;

 private:
  void refresh(int64_t now_ms);
  void startTime();

  HostContext& ctx_;
  int64_t scanned_at_ = -1'000'000;
  int64_t scan_backoff_ms_ = 0;
  std::optional<int64_t> start_unix_ms_;
  uint64_t boot_time_s_ = 0;
  long ticks_per_s_ = 100;
};

}  // namespace qw::agent
