#include "qw/agent/collect/unit_collector.h"

namespace qw::agent {

UnitCollector::UnitCollector(std::string unit, IdleWorker& worker, int64_t interval_ms)
    : watcher_(std::make_shared<UnitWatcher>(std::move(unit))),
      worker_(worker),
      interval_ms_(interval_ms) {}

void UnitCollector::collect(int64_t now_ms, qw::wire::NodeSample* s) {
  if (watcher_->unit().empty()) return;
  if (!state_->in_flight && now_ms - polled_at_ >= interval_ms_) {
    polled_at_ = now_ms;
    state_->in_flight = true;
    std::weak_ptr<State> weak = state_;
    worker_.post([w = watcher_] { return w->poll(); },
                 [weak](UnitStatus st) {
                   auto state = weak.lock();
                   if (!state) return;  // the collector is gone
                   state->in_flight = false;
                   if (!st.error.empty()) {
                     ++state->errors;
                     state->last_error = st.error;
                   }
                   state->status = std::move(st);
                   ++state->delivered;
                 });
  }
  if (!s) return;
  const auto& st = state_->status;
  auto* h = s->mutable_host();
  if (st.restarts) h->set_unit_restarts(*st.restarts);
  h->set_unit_state(st.active_state);
  if (!st.unsupported.empty()) h->add_unsupported(st.unsupported);
}

std::optional<std::string> UnitCollector::takeDelivered() {
  if (state_->taken == state_->delivered) return std::nullopt;
  state_->taken = state_->delivered;
  return state_->status.error;
}

std::optional<std::string> UnitCollector::takeNewUnsupported() {
  const auto& u = state_->status.unsupported;
  if (u.empty() || u == logged_unsupported_) return std::nullopt;
  logged_unsupported_ = u;
  return u;
}

}  // namespace qw::agent
