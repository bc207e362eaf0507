#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qw/options.h"

namespace qw::agent {

class CommandTable;  // uplink/commands.h

struct AgentConfig {
  std::string cluster_name = "default";
  std::string node_name;  // default: host name
  std::string aggregator = "ws://127.0.0.1:9479/v1/stream";
  std::string token_file;
  std::string aggregator_ca, aggregator_cert, aggregator_key;
  std::string etcd_endpoint = "http://127.0.0.1:2379";
  std::string etcd_cacert, etcd_cert, etcd_key;
  std::string failure_domain;
  std::string procfs_root = "/proc";
  std::string sysfs_root = "/sys";
  std::string etcd_data_dir;     // default: k3s/kubeadm layout, else etcd's --data-dir
  std::string etcd_data_device;  // override: "MAJ:MIN" or a disk name
  std::vector<std::string> snapshot_dirs;
  std::string etcd_unit;  // systemd unit whose restarts are counted
  std::string etcd_flavor = "auto";
  std::string detect_root = "/";
  std::string io_priority = "idle";
  int64_t nice = 10;
  std::chrono::milliseconds fast_interval{1000};
  std::chrono::milliseconds etcd_timeout{800};
  std::chrono::milliseconds members_interval{5000};
  std::chrono::milliseconds health_interval{5000};
  std::chrono::milliseconds ack_delay{5000};
  std::chrono::milliseconds host_interval{5000};
  std::string etcd_metrics_url;  // default: etcd-endpoint + /metrics
  std::chrono::milliseconds metrics_interval{10000};
  std::chrono::milliseconds metrics_timeout{5000};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{30000};
  int64_t spool_max_bytes = 1 << 20;
  std::string spool_file;  // empty: memory spool
  std::chrono::milliseconds drain_timeout{3000};
  std::string log_level = "info";
  bool print_config = false;
  bool assume_clock_unsynced = false;  // tests: clock_synced=false in every sample
  // Answers the aggregator's commands (GetConfig: the resolved configuration); not an option.
  std::shared_ptr<CommandTable> commands;
};

void registerOptions(Options& opts, AgentConfig* cfg);
// Checks values that parse but make no sense together. Returns an error message or "".
std::string validate(const AgentConfig& cfg);
// Runs until SIGINT/SIGTERM. Returns the process exit code.
int runAgent(const AgentConfig& cfg);

}  // namespace qw::agent
