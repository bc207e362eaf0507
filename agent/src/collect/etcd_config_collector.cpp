#include "qw/agent/collect/etcd_config_collector.h"

namespace qw::agent {

EtcdConfigCollector::EtcdConfigCollector(EtcdConfigPaths paths, IdleWorker& worker)
    : paths_(std::move(paths)), worker_(worker) {}

void EtcdConfigCollector::setProcess(int pid, const std::string& data_dir) {
  pid_ = pid;
  paths_.etcd_data_dir = data_dir;
  if (pid <= 0) read_pid_ = 0;  // etcd gone: the next process is read at once
}

void EtcdConfigCollector::collect(int64_t now_ms, qw::wire::NodeSample* s) {
  bool due = pid_ != read_pid_ || now_ms - read_at_ >= kRefreshMs;
  if (pid_ > 0 && due && !state_->in_flight) {
    read_pid_ = pid_;
    read_at_ = now_ms;
    state_->in_flight = true;
    std::weak_ptr<State> weak = state_;
    worker_.post([paths = paths_, pid = pid_] { return readEtcdConfig(paths, pid); },
                 [weak](qw::wire::EtcdConfig c) {
                   auto state = weak.lock();
                   if (!state) return;  // the collector is gone
                   state->in_flight = false;
                   state->delivered = std::move(c);
                 });
  }
  if (s && state_->delivered) {
    *s->mutable_etcd_config() = std::move(*state_->delivered);
    state_->delivered.reset();
  }
}

}  // namespace qw::agent
