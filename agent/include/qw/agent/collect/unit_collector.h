#pragma once
// The restarts and state of etcd's systemd unit (sys/unit_watch.h). The D-Bus round trip runs on
// the idle worker (sys/worker.h) every `interval_ms`; collect() reports the last result the
// worker delivered and never waits for one.
#include <memory>
#include <optional>

#include "qw/agent/collect/collector.h"
#include "qw/agent/sys/unit_watch.h"
#include "qw/agent/sys/worker.h"

namespace qw::agent {

class UnitCollector : public Collector {
 public:
  UnitCollector(std::string unit, IdleWorker& worker, int64_t interval_ms = 10000);
  std::string_view name() const override { return "unit"; }
  int64_t intervalMs() const override { return interval_ms_; }
  // Posts a poll when one is due and none is running, then fills the sample (when not null) from
  // the last one delivered.
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;

  uint64_t errors() const { return state_->errors; }
  const std::string& lastError() const { return state_->last_error; }
  // The error of the last poll delivered since the previous call, "" when it succeeded; nullopt
  // when no poll was delivered since (for collect/error_once.h).
  std::optional<std::string> takeDelivered();
  // The unsupported line when it is new or changed since the last call (logged once).
  std::optional<std::string> takeNewUnsupported();
  bool polled() const { return state_->delivered > 0; }

 private:
  struct State {
    UnitStatus status;
    uint64_t errors = 0;
    std::string last_error;
    uint64_t delivered = 0, taken = 0;
    bool in_flight = false;
  };
  std::shared_ptr<UnitWatcher> watcher_;
  IdleWorker& worker_;
  int64_t interval_ms_;
  int64_t polled_at_ = -1'000'000'000;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::string logged_unsupported_;
};

}  // namespace qw::agent
