#include "qw/agent/sys/host.h"

#include "qw/agent/collect/disk_collector.h"
#include "qw/agent/collect/load_memory_collector.h"
#include "qw/agent/collect/power_collector.h"
#include "qw/agent/collect/pressure_collector.h"
#include "qw/agent/collect/process_collector.h"
#include "qw/agent/collect/thermal_collector.h"

namespace qw::agent {

HostSampler::HostSampler(HostConfig cfg) : ctx_(std::move(cfg)) {
  disk_ = std::make_unique<DiskCollector>(ctx_);
  slow_.push_back(std::make_unique<ProcessCollector>(ctx_));
  slow_.push_back(std::make_unique<ThermalCollector>(ctx_));
  slow_.push_back(std::make_unique<PowerCollector>(ctx_));
  slow_.push_back(std::make_unique<PressureCollector>(ctx_));
  auto load = std::make_unique<LoadMemoryCollector>(ctx_);
  load_ = load.get();
  slow_.push_back(std::move(load));
}

HostSampler::~HostSampler() = default;

const BlockDevice& HostSampler::device() const { return disk_->device(); }

std::vector<std::string> HostSampler::takeNewUnsupported() {
  std::vector<std::string> out;
  out.swap(ctx_.new_unsupported);
  return out;
}

void HostSampler::run(Collector& c, int64_t steady_ms, qw::wire::NodeSample* s) {
  ctx_.cycle_errors.clear();
  c.collect(steady_ms, s);
  std::string prefix(c.name());
  ran_.push_back(prefix);
  for (auto& [kind, text] : ctx_.cycle_errors)
    cycle_errors_.emplace_back(prefix + "/" + kind, std::move(text));
  ctx_.cycle_errors.clear();
}

void HostSampler::sample(int64_t steady_ms, qw::wire::NodeSample* s) {
  ran_.clear();
  cycle_errors_.clear();
  ctx_.unsupported_now.clear();
  if (ctx_.process_gone) {
    ctx_.process_gone = false;
    slow_at_ = -1;  // etcd's process went away: find it again now
  }
  auto* h = s->mutable_host();
  int64_t interval = ctx_.cfg.slow_interval_ms;
  bool slow = slow_at_ < 0 || steady_ms - slow_at_ >= interval || steady_ms < slow_at_;
  if (slow) {
    slow_at_ = steady_ms;
    for (auto& c : slow_) run(*c, steady_ms, s);
    slow_sample_ = *h;
    // The stall totals are deltas: only this sample carries them.
    if (slow_sample_.has_io_some()) slow_sample_.mutable_io_some()->clear_total_us();
    if (slow_sample_.has_io_full()) slow_sample_.mutable_io_full()->clear_total_us();
    if (slow_sample_.has_cpu_some()) slow_sample_.mutable_cpu_some()->clear_total_us();
    if (slow_sample_.has_memory_some()) slow_sample_.mutable_memory_some()->clear_total_us();
    if (slow_sample_.has_memory_full()) slow_sample_.mutable_memory_full()->clear_total_us();
    slow_unsupported_ = ctx_.unsupported_now;
  } else {
    *h = slow_sample_;
    ctx_.unsupported_now = slow_unsupported_;
  }
  if (load_->cpus()) h->set_cpus(load_->cpus());
  run(*disk_, steady_ms, s);
  for (const auto& u : ctx_.unsupported_now) h->add_unsupported(u);
}

}  // namespace qw::agent
