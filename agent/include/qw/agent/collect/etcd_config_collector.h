#pragma once
// etcd's effective configuration (sys/etcd_config_reader.h) into the sample's etcd_config. The
// read (a dozen small files, some on the disk etcd may be saturating) runs on the idle worker
// (sys/worker.h) when etcd's pid changes and once a minute; the first sample after a read is
// delivered carries it, so a change reaches the aggregator within a minute and an aggregator
// that restarted learns it as soon. Other samples carry none (the aggregator keeps the newest).
#include <memory>
#include <optional>
#include <string>

#include "qw/agent/collect/collector.h"
#include "qw/agent/sys/etcd_config_reader.h"
#include "qw/agent/sys/worker.h"

namespace qw::agent {

class EtcdConfigCollector : public Collector {
 public:
  EtcdConfigCollector(EtcdConfigPaths paths, IdleWorker& worker);
  std::string_view name() const override { return "etcd-config"; }
  int64_t intervalMs() const override { return kRefreshMs; }
  // etcd's process as the process collector found it (pid 0: none) and its data dir on this
  // machine (k3s writes its etcd's config file there); before each collect().
  void setProcess(int pid, const std::string& data_dir);
  // Posts a read when one is due and none is running; puts a delivered one into `s`.
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;

  static constexpr int64_t kRefreshMs = 60000;

 private:
  struct State {
    std::optional<qw::wire::EtcdConfig> delivered;  // not yet in a sample
    bool in_flight = false;
  };
  EtcdConfigPaths paths_;
  IdleWorker& worker_;
  int pid_ = 0, read_pid_ = 0;
  int64_t read_at_ = 0;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace qw::agent
