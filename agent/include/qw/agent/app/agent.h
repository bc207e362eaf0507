#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "qw/agent/collect/error_once.h"
#include "qw/http_client.h"
#include "qw/log.h"
#include "qw/options.h"
#include "qw/sd_notify.h"
#include "qw/time_util.h"
#include "sample.pb.h"
#include "wire.pb.h"

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
  std::chrono::milliseconds snapshot_scan_interval{60000};
  // Bytes/s the snapshot checks and copies read at (0: unthrottled); snapshot_catalog.h says why.
  int64_t snapshot_verify_rate = 4 << 20;
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
// Sets the process's I/O priority and nice value as configured; says what it did.
std::string applyPriorities(const AgentConfig& cfg);
// Runs until SIGINT/SIGTERM. Returns the process exit code. (Constructs an Agent and runs it.)
int runAgent(const AgentConfig& cfg);

class EtcdConfigCollector;
class EtcdSampler;
class HostSampler;
class IdleWorker;
class SnapshotCatalogCollector;
class Spool;
class Uplink;
class UnitCollector;

// The agent: samples the local etcd member and its node every fast-interval, spools each sample
// as a batch and streams the spool to the aggregator; on SIGINT/SIGTERM it drains and stops.
// Everything runs on one io_context thread, except the idle worker's blocking jobs.
class Agent {
 public:
  explicit Agent(const AgentConfig& cfg);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  // Reads the token and TLS files, opens the spool and builds the samplers and the uplink.
  // False (with the reason logged) when the agent cannot start: exit code 1.
  bool start();
  // Runs until stopped and drained; returns the exit code.
  int run();

 private:
  bool loadCredentials();
  bool openSpool();
  void buildHello();
  void wireUplink();
  void buildSamplers();
  void spawnLoops();
  void handleSignals();
  void startSystemd();
  void scheduleTrim(std::chrono::seconds after);

  boost::asio::awaitable<void> scrapeLoop();
  boost::asio::awaitable<void> sampleLoop();
  // One sampling cycle into `s`: etcd, the newest scrape, the node, errors, logs.
  boost::asio::awaitable<void> cycle(qw::wire::NodeSample* s);
  void addScrape(qw::wire::NodeSample* s);
  void sampleNode(qw::wire::NodeSample* s);
  void logTransitions(const qw::wire::NodeSample& s);
  // Spools the batch and wakes the uplink.
  void send(qw::wire::Batch batch);
  void stop(int sig);
  void drainStep();
  std::string statusLine() const;

  const AgentConfig& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  SystemClock clock_;
  boost::asio::io_context ioc_{1};

  // Credentials.
  std::string token_;
  std::shared_ptr<TlsClientContext> etcd_tls_, agg_tls_;

  std::unique_ptr<Spool> spool_;
  qw::wire::Hello hello_;
  uint64_t boot_key_ = 0;
  std::shared_ptr<Uplink> uplink_;

  // Samplers.
  std::unique_ptr<EtcdSampler> etcd_;
  std::unique_ptr<HostSampler> host_;
  std::unique_ptr<IdleWorker> worker_;  // before the collectors it serves; after ioc_
  std::unique_ptr<UnitCollector> unit_;
  std::unique_ptr<EtcdConfigCollector> etcd_config_;  // after the worker it posts to
  // Snapshot checks read whole files: a worker of their own, so they never hold up the others.
  std::unique_ptr<IdleWorker> snapshot_worker_;
  std::unique_ptr<SnapshotCatalogCollector> snapshots_;  // after its worker
  // Reads snapshot pieces for the aggregator's copy (ReadSnapshot), apart from the scan, so a
  // long check never holds up a transfer. Shared: a command handler holds it weakly.
  std::shared_ptr<IdleWorker> transfer_worker_;
  uint64_t cycle_ = 0, etcd_errors_ = 0;
  uint64_t early_probes_ = 0;  // cycles run at once because etcd closed its connection
  std::string last_etcd_error_, last_etcd_state_, logged_data_dir_, logged_device_;

  // The /metrics scrape: its own cadence and coroutine, so a slow or large scrape never delays
  // the cheap probes. It leaves the newest cumulative values here; the sampling loop turns them
  // into deltas against what it sent last, so a scrape that no sample picked up is never lost.
  std::unique_ptr<HttpSession> metrics_session_;
  Url metrics_url_;
  std::optional<qw::wire::EtcdMetrics> scraped_, sent_metrics_;
  std::chrono::steady_clock::time_point scraped_at_{}, sent_at_{};
  bool fresh_scrape_ = false;
  uint64_t metrics_errors_ = 0;
  std::string last_metrics_error_;

  // Host, /metrics and unit errors are counted in every sample and logged once per kind.
  ErrorOnce error_log_;
  SamplerErrorBook error_book_;

  // Stopping and draining.
  bool stopping_ = false;
  boost::asio::steady_timer tick_{ioc_}, metrics_tick_{ioc_}, drain_{ioc_}, trim_{ioc_};
  boost::asio::signal_set signals_{ioc_};
  std::chrono::steady_clock::time_point drain_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::unique_ptr<SystemdNotifier> notifier_;
};

}  // namespace qw::agent
