#include "qw/agent/app/agent.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "qw/agent/app/trim.h"
#include "qw/agent/collect/error_once.h"
#include "qw/agent/collect/etcd_config_collector.h"
#include "qw/agent/collect/etcd_sampler.h"
#include "qw/agent/collect/snapshot_catalog.h"
#include "qw/agent/collect/snapshot_take.h"
#include "qw/agent/collect/unit_collector.h"
#include "qw/agent/parse/etcd_metrics.h"
#include "qw/agent/sys/host.h"
#include "qw/agent/sys/worker.h"
#include "qw/agent/uplink/spool.h"
#include "qw/agent/uplink/uplink.h"
#include "qw/fs_util.h"
#include "qw/http_client.h"
#include "qw/ids.h"
#include "qw/log.h"
#include "qw/sd_notify.h"
#include "qw/time_util.h"
#include "qw/token.h"
#include "qw/version.h"

namespace qw::agent {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

bool clockSynced() {
  struct timex tx {};
  // adjtimex returns TIME_ERROR while the kernel considers the clock unsynchronised.
  return adjtimex(&tx) != TIME_ERROR;
}

}  // namespace

std::string applyPriorities(const AgentConfig& cfg) {
  std::string done;
  if (cfg.io_priority != "keep") {
    // ioprio_set(IOPRIO_WHO_PROCESS, self, class << 13 | level): idle = 3, best-effort = 2.
    int value = cfg.io_priority == "idle" ? (3 << 13) : ((2 << 13) | 7);
    if (::syscall(SYS_ioprio_set, 1, 0, value) == 0)
      done += "I/O priority " + cfg.io_priority;
    else
      done += "I/O priority " + cfg.io_priority + " refused (" + std::strerror(errno) + ")";
  }
  if (cfg.nice >= 0) {
    if (!done.empty()) done += ", ";
    errno = 0;
    int cur = ::getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && cur >= cfg.nice) {
      done += "nice " + std::to_string(cur) + " kept";
    } else if (::setpriority(PRIO_PROCESS, 0, static_cast<int>(cfg.nice)) == 0) {
      done += "nice " + std::to_string(cfg.nice);
    } else {
      done += "nice " + std::to_string(cfg.nice) + " refused (" + std::strerror(errno) + ")";
    }
  }
  return done;
}

Agent::Agent(const AgentConfig& cfg) : cfg_(cfg), log_(qw::logger("agent")) {}

Agent::~Agent() = default;

bool Agent::start() {
  if (auto p = applyPriorities(cfg_); !p.empty()) log_->info("{}", p);
  if (!loadCredentials() || !openSpool()) return false;
  buildHello();
  wireUplink();
  buildSamplers();
  return true;
}

bool Agent::loadCredentials() {
  try {
    if (!cfg_.token_file.empty()) token_ = readTokenFile(cfg_.token_file);
    if (parseUrl(cfg_.etcd_endpoint)->tls())
      etcd_tls_ = makeClientTls(cfg_.etcd_cacert, cfg_.etcd_cert, cfg_.etcd_key);
    if (parseUrl(cfg_.aggregator)->tls())
      agg_tls_ = makeClientTls(cfg_.aggregator_ca, cfg_.aggregator_cert, cfg_.aggregator_key);
  } catch (const std::exception& e) {
    log_->error("{}", e.what());
    return false;
  }
  return true;
}

bool Agent::openSpool() {
  if (cfg_.spool_file.empty()) {
    spool_ = std::make_unique<Spool>(static_cast<size_t>(cfg_.spool_max_bytes));
    return true;
  }
  std::string err, note;
  spool_ = Spool::openFile(cfg_.spool_file, static_cast<size_t>(cfg_.spool_max_bytes), &err, &note);
  if (!spool_) {
    log_->error("{}", err);
    return false;
  }
  log_->info("{}", note);
  return true;
}

void Agent::buildHello() {
  hello_.set_cluster_name(cfg_.cluster_name);
  hello_.set_node_name(cfg_.node_name.empty() ? hostName() : cfg_.node_name);
  hello_.set_agent_version(qw::kVersion);
  hello_.set_instance_id(spool_->instanceId());
  if (auto b = readFile(cfg_.procfs_root + "/sys/kernel/random/boot_id")) {
    std::string id = *b;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    hello_.set_boot_id(id);
  }
  boot_key_ = qw::bootKey(hello_.boot_id());
  hello_.set_failure_domain(cfg_.failure_domain);
  hello_.set_etcd_flavor(cfg_.etcd_flavor == "auto" ? "etcd" : cfg_.etcd_flavor);
  hello_.set_protocol_version(1);
  hello_.set_etcd_endpoint(cfg_.etcd_endpoint);
  hello_.set_ack_delay_ms(static_cast<uint32_t>(cfg_.ack_delay.count()));
  // Before wireUplink(), which copies the Hello: set later, these never reached the aggregator.
  hello_.set_etcd_unit(cfg_.etcd_unit);
  hello_.set_etcd_data_dir(cfg_.etcd_data_dir);
  for (const auto& d : cfg_.snapshot_dirs) hello_.add_snapshot_dirs(d);
}

// ---- The uplink wiring: the one place the agent configures and constructs its uplink.
void Agent::wireUplink() {
  UplinkConfig ucfg;
  ucfg.url = *parseUrl(cfg_.aggregator);
  ucfg.token = token_;
  ucfg.tls = agg_tls_;
  ucfg.backoff_base = cfg_.backoff_base;
  ucfg.backoff_cap = cfg_.backoff_cap;
  ucfg.commands = cfg_.commands;  // the command handlers main() made (GetConfig)
  uplink_ = std::make_shared<Uplink>(ioc_.get_executor(), ucfg, *spool_, hello_);
}

void Agent::buildSamplers() {
  etcd_ = std::make_unique<EtcdSampler>(EtcdSamplerConfig{*parseUrl(cfg_.etcd_endpoint), etcd_tls_,
                                                          cfg_.etcd_timeout, cfg_.members_interval,
                                                          cfg_.health_interval});
  HostConfig hcfg;
  hcfg.procfs_root = cfg_.procfs_root;
  hcfg.sysfs_root = cfg_.sysfs_root;
  hcfg.slow_interval_ms = cfg_.host_interval.count();
  hcfg.data_dir = cfg_.etcd_data_dir;
  hcfg.data_device = cfg_.etcd_data_device;
  hcfg.etcd_port = parseUrl(cfg_.etcd_endpoint)->port;
  host_ = std::make_unique<HostSampler>(hcfg);
  // Blocking work (the sd-bus unit poll, reading etcd's configuration) runs on a thread at idle
  // priority; its results come back through ioc_, so the sampling loop never waits on D-Bus or
  // on a busy disk.
  worker_ = std::make_unique<IdleWorker>(ioc_.get_executor());
  unit_ = std::make_unique<UnitCollector>(cfg_.etcd_unit, *worker_);
  if (!cfg_.etcd_unit.empty()) unit_->collect(clock_.steadyMs(), nullptr);  // the first poll now
  EtcdConfigPaths paths;
  paths.procfs_root = cfg_.procfs_root;
  paths.root = cfg_.detect_root;
  paths.unit = cfg_.etcd_unit;
  paths.flavor = cfg_.etcd_flavor == "auto" ? "etcd" : cfg_.etcd_flavor;
  etcd_config_ = std::make_unique<EtcdConfigCollector>(paths, *worker_);
  snapshot_worker_ = std::make_unique<IdleWorker>(ioc_.get_executor());
  SnapshotCatalogConfig scfg;
  scfg.dirs = cfg_.snapshot_dirs;
  scfg.data_dir = cfg_.etcd_data_dir;
  scfg.sysfs_root = cfg_.sysfs_root;
  scfg.bytes_per_second = static_cast<uint64_t>(cfg_.snapshot_verify_rate);
  scfg.scan_interval_ms = cfg_.snapshot_scan_interval.count();
  snapshots_ = std::make_unique<SnapshotCatalogCollector>(scfg, *snapshot_worker_);
  if (cfg_.commands) {
    // Answered from memory on the uplink's reader: the scan and the checks run in the background.
    auto* catalog = snapshots_.get();
    cfg_.commands->add(qw::wire::Command::kListSnapshots, [catalog](const qw::wire::Command&) {
      return CommandOutcome{qw::wire::CommandResult::OK, "",
                            catalog->catalog().SerializeAsString()};
    });
    transfer_worker_ = std::make_shared<IdleWorker>(ioc_.get_executor());
    std::weak_ptr<IdleWorker> weak_worker = transfer_worker_;
    std::weak_ptr<SnapshotCatalogCollector::State> weak_state = snapshots_->state();
    const auto piece_rate = static_cast<uint64_t>(cfg_.snapshot_verify_rate);
    cfg_.commands->addAsync(
        qw::wire::Command::kReadSnapshot,
        [weak_worker, weak_state, piece_rate](const qw::wire::Command& c, CommandDone done) {
          auto worker = weak_worker.lock();
          if (!worker) return done({qw::wire::CommandResult::FAILED, "the agent is stopping", ""});
          worker->post(
              [weak_state, r = c.read_snapshot(), piece_rate] {
                auto state = weak_state.lock();
                if (!state) return CommandOutcome{qw::wire::CommandResult::FAILED, "stopping", ""};
                std::string error;
                auto piece = SnapshotCatalogCollector::readPiece(*state, r, &error, piece_rate);
                if (!error.empty())
                  return CommandOutcome{qw::wire::CommandResult::FAILED, error, ""};
                return CommandOutcome{qw::wire::CommandResult::OK, "", piece.SerializeAsString()};
              },
              std::move(done));
        });
    // A snapshot taken now (plain etcd, kubeadm): streamed from etcd on the transfer worker with
    // an HTTP session of its own, then listed in the catalogue with its check.
    SnapshotTakeConfig tcfg;
    tcfg.etcd_endpoint = cfg_.etcd_endpoint;
    tcfg.etcd_cacert = cfg_.etcd_cacert;
    tcfg.etcd_cert = cfg_.etcd_cert;
    tcfg.etcd_key = cfg_.etcd_key;
    tcfg.dir = cfg_.snapshot_dirs.empty() ? "" : cfg_.snapshot_dirs.front();
    tcfg.flavor = hello_.etcd_flavor();
    tcfg.data_dir = cfg_.etcd_data_dir;
    tcfg.sysfs_root = cfg_.sysfs_root;
    tcfg.verify_rate = static_cast<uint64_t>(cfg_.snapshot_verify_rate);
    auto* catalog_collector = snapshots_.get();
    cfg_.commands->addAsync(
        qw::wire::Command::kTakeSnapshot,
        [weak_worker, weak_state, tcfg, catalog_collector, log = log_](const qw::wire::Command& c,
                                                                       CommandDone done) {
          auto worker = weak_worker.lock();
          if (!worker) return done({qw::wire::CommandResult::FAILED, "the agent is stopping", ""});
          log->info("taking a snapshot of etcd into {}", tcfg.dir.empty() ? "(no dir)" : tcfg.dir);
          worker->post(
              [weak_state, tcfg, r = c.take_snapshot(), log] {
                qw::wire::SnapshotTaken taken;
                auto err = takeSnapshot(tcfg, r, &taken);
                auto state = weak_state.lock();
                if (state && taken.has_file())
                  SnapshotCatalogCollector::adopt(*state, taken.file());
                if (err) {
                  log->warn("snapshot not taken: {}", *err);
                  return CommandOutcome{qw::wire::CommandResult::FAILED, *err,
                                        taken.SerializeAsString()};
                }
                log->info("snapshot {} taken: {} bytes, streamed in {} ms, verified in {} ms",
                          taken.file().path(), taken.file().size(), taken.stream_ms(),
                          taken.verify_ms());
                for (const auto& old : taken.removed()) log->info("removed older snapshot {}", old);
                return CommandOutcome{qw::wire::CommandResult::OK, "", taken.SerializeAsString()};
              },
              [done = std::move(done), weak_state, catalog_collector](CommandOutcome o) {
                // The collector lives as long as its state (both go with the agent).
                if (!weak_state.expired()) catalog_collector->scanNow();
                done(std::move(o));
              });
        });
  }
  metrics_url_ =
      *parseUrl(cfg_.etcd_metrics_url.empty()
                    ? cfg_.etcd_endpoint + (cfg_.etcd_endpoint.back() == '/' ? "" : "/") + "metrics"
                    : cfg_.etcd_metrics_url);
  if (metrics_url_.tls() && !etcd_tls_)
    etcd_tls_ = makeClientTls(cfg_.etcd_cacert, cfg_.etcd_cert, cfg_.etcd_key);
  metrics_session_ = std::make_unique<HttpSession>(metrics_url_, etcd_tls_);
}

net::awaitable<void> Agent::scrapeLoop() {
  while (!stopping_) {
    {
      // The body is parsed as it arrives, through a 32 KiB buffer: etcd's ~150 KB text is never
      // held whole, so the heap does not grow by it at every scrape (and no malloc_trim is
      // needed to give those pages back, only to fault them in again).
      EtcdMetricsReader reader;
      HttpRequest get;
      get.timeout = cfg_.metrics_timeout;
      get.read_chunk = 32 * 1024;
      get.on_body = [&](std::string_view piece) { reader.feed(piece); };
      auto r = co_await metrics_session_->fetch(metrics_url_.target, get);
      auto now = std::chrono::steady_clock::now();
      std::string err;
      qw::wire::EtcdMetrics cur;
      if (!r.ok)
        err = "metrics: " + r.error;
      else if (r.status != 200)
        err = "metrics: HTTP " + std::to_string(r.status);
      else if (auto e = reader.finish(&cur))
        err = "metrics: " + *e;
      if (err.empty()) {
        scraped_ = std::move(cur);
        scraped_at_ = now;
        fresh_scrape_ = true;
      } else {
        ++metrics_errors_;
        last_metrics_error_ = err;
      }
      std::vector<ErrorOnce::Failure> failed;
      if (!err.empty()) failed.emplace_back("metrics/metrics", err);
      for (const auto& line : error_log_.update("metrics", failed))
        log_->warn("sampler error: {}", line);
    }
    metrics_tick_.expires_after(cfg_.metrics_interval);
    boost::system::error_code ec;
    co_await metrics_tick_.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

net::awaitable<void> Agent::sampleLoop() {
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    qw::wire::Batch batch;
    co_await cycle(batch.add_samples());
    send(std::move(batch));
    notifier_->tick(std::chrono::steady_clock::now());
    next += cfg_.fast_interval;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // a slow cycle skips ticks instead of bursting
    tick_.expires_at(next);
    // A closed etcd connection ends the wait early: detection at the speed of the event.
    bool closed = false;
    etcd_->watchClose([this, &closed] {
      closed = true;
      tick_.cancel();
    });
    boost::system::error_code ec;
    co_await tick_.async_wait(net::redirect_error(net::use_awaitable, ec));
    etcd_->unwatch();
    if (closed && !stopping_) {
      ++early_probes_;
      next = std::chrono::steady_clock::now();
      log_->debug("etcd closed its connection: probing now");
    }
  }
}

net::awaitable<void> Agent::cycle(qw::wire::NodeSample* s) {
  s->set_cycle(++cycle_);
  s->set_ts_unix_ms(clock_.wallMs());
  s->set_mono_ms(qw::bootTimeMs());
  s->set_clock_synced(!cfg_.assume_clock_unsynced && clockSynced());
  std::string err = co_await etcd_->sample(s->mutable_etcd());
  if (!err.empty()) {
    ++etcd_errors_;
    last_etcd_error_ = err;
  }
  addScrape(s);
  error_book_.set("etcd", etcd_errors_, last_etcd_error_);
  error_book_.set("metrics", metrics_errors_, last_metrics_error_);
  sampleNode(s);
  error_book_.set("host", host_->errors(), host_->lastError());
  error_book_.set("unit", unit_->errors(), unit_->lastError());
  // Ordered by when each sampler last failed: the last entry is the most recent error.
  error_book_.fill(s);
  logTransitions(*s);
}

void Agent::addScrape(qw::wire::NodeSample* s) {
  // The newest /metrics scrape rides on the next fast sample, as deltas.
  if (!fresh_scrape_) return;
  auto interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(scraped_at_ - sent_at_).count();
  *s->mutable_metrics() =
      metricsDelta(sent_metrics_ ? &*sent_metrics_ : nullptr, *scraped_, interval);
  sent_metrics_ = scraped_;
  sent_at_ = scraped_at_;
  fresh_scrape_ = false;
}

void Agent::sampleNode(qw::wire::NodeSample* s) {
  // The node: disk, thermal, power, pressure, memory, the etcd process, its unit and its
  // configuration.
  int64_t steady_ms = clock_.steadyMs();
  host_->sample(steady_ms, s);
  for (const auto& line : error_log_.update(host_->ranLastCycle(), host_->lastCycleErrors()))
    log_->warn("sampler error: host: {}", line);
  unit_->collect(steady_ms, s);
  etcd_config_->setProcess(host_->etcdPid(), host_->dataDir());
  etcd_config_->collect(steady_ms, s);
  snapshots_->setDataDir(host_->dataDir());
  snapshots_->collect(steady_ms, s);
  if (auto delivered = unit_->takeDelivered()) {
    std::vector<ErrorOnce::Failure> failed;
    if (!delivered->empty()) failed.emplace_back("unit/unit", *delivered);
    for (const auto& line : error_log_.update("unit", failed))
      log_->warn("sampler error: {}", line);
  }
  for (const auto& u : host_->takeNewUnsupported()) log_->info("not supported here: {}", u);
  if (auto u = unit_->takeNewUnsupported()) log_->info("not supported here: {}", *u);
  // GetConfig (the command channel) reports what this node cannot probe.
  if (cfg_.commands)
    for (const auto& u : s->host().unsupported()) cfg_.commands->noteUnsupported(u);
  if (host_->dataDir() != logged_data_dir_ || host_->device().disk != logged_device_) {
    logged_data_dir_ = host_->dataDir();
    logged_device_ = host_->device().disk;
    if (!logged_device_.empty())
      log_->info("etcd data dir {} is on {}{}", logged_data_dir_, logged_device_,
                 host_->device().partition.empty()
                     ? ""
                     : " (partition " + host_->device().partition + ")");
  }
}

void Agent::logTransitions(const qw::wire::NodeSample& s) {
  // Log transitions, not every cycle.
  std::string state = s.etcd().reachable() ? "reachable" : s.etcd().error();
  if (state == last_etcd_state_) return;
  if (s.etcd().reachable())
    log_->info("etcd {} reachable (member {})", cfg_.etcd_endpoint, hex64(s.etcd().member_id()));
  else
    log_->warn("etcd {} unreachable: {}", cfg_.etcd_endpoint, state);
  last_etcd_state_ = state;
}

void Agent::send(qw::wire::Batch batch) {
  batch.set_boot_key(boot_key_);
  spool_->push(std::move(batch));
  uplink_->notify();
}

void Agent::spawnLoops() {
  net::co_spawn(ioc_, scrapeLoop(), net::detached);
  net::co_spawn(ioc_, sampleLoop(), net::detached);
}

// SIGTERM/SIGINT: stop sampling, give the aggregator `drain-timeout` to acknowledge what is
// spooled (a memory spool is lost at exit), then report what this instance produced.
void Agent::handleSignals() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.async_wait([this](const boost::system::error_code&, int sig) { stop(sig); });
}

void Agent::stop(int sig) {
  log_->info("signal {}: stopping ({} batches unacknowledged, draining up to {} ms)", sig,
             spool_->size(), cfg_.drain_timeout.count());
  notifier_->stopping("stopping: draining the spool");
  stopping_ = true;
  tick_.cancel();
  metrics_tick_.cancel();
  drain_deadline_ = std::chrono::steady_clock::now() + cfg_.drain_timeout;
  uplink_->flushAcks();
  drainStep();
}

void Agent::drainStep() {
  if (spool_->size() == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
    uplink_->stop();
    ioc_.stop();
    return;
  }
  drain_.expires_after(std::chrono::milliseconds(20));
  drain_.async_wait([this](const boost::system::error_code&) { drainStep(); });
}

std::string Agent::statusLine() const {
  return "sampling " + cfg_.etcd_endpoint + "; " + std::to_string(spool_->size()) +
         " batches unacknowledged, " + std::to_string(spool_->dropped()) + " dropped";
}

// systemd (Type=notify): READY=1; WATCHDOG=1 and STATUS= lines from the sampling loop
// (notifier_->tick() every cycle), so they cost no wake-ups of their own and a stuck loop stops
// pinging; from timers of their own only when WatchdogSec= is too short for the cycle.
void Agent::startSystemd() {
  notifier_->ready("sampling etcd " + cfg_.etcd_endpoint + ", streaming to " + cfg_.aggregator);
  // A cycle can take up to ~3 probe timeouts beyond fast-interval; the loop is trusted with the
  // pings when it turns at least 4 times per watchdog interval.
  auto watchdog = notifier_->watchdogInterval();
  auto status = [this] { return statusLine(); };
  if (watchdog.count() == 0 || cfg_.fast_interval * 4 <= watchdog) {
    notifier_->driveFromLoop(std::chrono::seconds(5), status);
  } else {
    log_->warn("WatchdogSec ({} ms) is short for --fast-interval {} ms: pinging from a timer",
               watchdog.count() / 1000, cfg_.fast_interval.count());
    notifier_->startWatchdog(ioc_.get_executor());
    notifier_->periodicStatus(ioc_.get_executor(), std::chrono::seconds(5), status);
  }
}

// Shed start-up code and data from the resident set once the steady loop has run a full
// /metrics cycle, and again now and then (see trim.h).
void Agent::scheduleTrim(std::chrono::seconds after) {
  trim_.expires_after(after);
  trim_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    auto r = trimCleanFileMappings();
    log_->debug("dropped {} clean file mappings ({} KiB) from the resident set", r.mappings,
                r.bytes / 1024);
    scheduleTrim(std::chrono::seconds(600));
  });
}

int Agent::run() {
  notifier_ = std::make_unique<SystemdNotifier>();
  spawnLoops();
  handleSignals();
  log_->info("quorumwatch-agent {} node {} cluster {}: etcd {}, aggregator {}", qw::kVersion,
             hello_.node_name(), cfg_.cluster_name, cfg_.etcd_endpoint, cfg_.aggregator);
  startSystemd();
  scheduleTrim(cfg_.metrics_interval > std::chrono::seconds(10)
                   ? std::chrono::duration_cast<std::chrono::seconds>(cfg_.metrics_interval) +
                         std::chrono::seconds(5)
                   : std::chrono::seconds(15));
  uplink_->start();
  ioc_.run();
  // One line tests and operators can rely on (scripts/soak.sh parses it).
  log_->info("stopped: instance {} produced {} batches (seq 1..{}), {} unacknowledged, {} dropped",
             spool_->instanceId(), spool_->nextSeq() - 1, spool_->nextSeq() - 1, spool_->size(),
             spool_->dropped());
  if (early_probes_ > 0)
    log_->info("etcd closed its connection {} times; each was probed and reported at once",
               early_probes_);
  return 0;
}

int runAgent(const AgentConfig& cfg) {
  Agent agent(cfg);
  if (!agent.start()) return 1;
  return agent.run();
}

}  // namespace qw::agent
