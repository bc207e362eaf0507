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
#include "qw/agent/collect/etcd_sampler.h"
#include "qw/agent/parse/etcd_metrics.h"
#include "qw/agent/sys/host.h"
#include "qw/agent/sys/unit_watch.h"
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

void registerOptions(Options& o, AgentConfig* c) {
  o.addString("cluster-name", "Name of the etcd cluster this node belongs to.", &c->cluster_name);
  o.addString("node-name", "This node's name (default: host name).", &c->node_name);
  o.addString("aggregator", "Aggregator stream URL (ws:// or wss://).", &c->aggregator);
  o.addString("token-file", "File holding the bearer token for the aggregator (mode 0600).",
              &c->token_file);
  o.addString("aggregator-ca",
              "CA file to verify the aggregator's certificate (wss://; default: system store).",
              &c->aggregator_ca);
  o.addString("aggregator-cert", "Client certificate for the aggregator (if it requires one).",
              &c->aggregator_cert);
  o.addString("aggregator-key", "Key of --aggregator-cert.", &c->aggregator_key);
  o.addString("etcd-endpoint", "Client URL of the local etcd member.", &c->etcd_endpoint);
  o.addString("etcd-cacert", "CA file to verify etcd's server certificate (https).",
              &c->etcd_cacert);
  o.addString("etcd-cert", "Client certificate for etcd (with --client-cert-auth).", &c->etcd_cert);
  o.addString("etcd-key", "Key of the client certificate for etcd.", &c->etcd_key);
  o.addString("failure-domain", "Failure domain of this node (power supply, switch, rack).",
              &c->failure_domain);
  o.addString("procfs-root", "Where procfs is mounted (tests hand a fixture tree).",
              &c->procfs_root);
  o.addString("sysfs-root", "Where sysfs is mounted (tests hand a fixture tree).", &c->sysfs_root);
  o.addString("etcd-data-dir",
              "etcd's data dir, for its block device and free space (default: from the k3s or "
              "kubeadm layout, else from the etcd process's --data-dir).",
              &c->etcd_data_dir);
  o.addString("etcd-data-device",
              "The block device to watch instead of the data dir's (MAJ:MIN or a disk name such "
              "as mmcblk0), for filesystems without one (btrfs subvolumes, overlay).",
              &c->etcd_data_device);
  o.addList("snapshot-dir", "A directory holding etcd snapshots (repeatable).", &c->snapshot_dirs);
  o.addString("etcd-unit",
              "systemd unit running etcd whose restarts are counted (k3s.service, etcd.service).",
              &c->etcd_unit);
  o.addString("etcd-flavor",
              "auto (detect k3s or kubeadm under --detect-root), k3s, kubeadm or etcd.",
              &c->etcd_flavor);
  o.addString("detect-root", "Root under which the k3s and kubeadm layouts are looked for.",
              &c->detect_root);
  o.addString("io-priority",
              "I/O scheduling class set at start: idle (never competes with etcd's fsyncs), "
              "best-effort (lowest level) or keep.",
              &c->io_priority);
  o.addInt("nice", "Nice value set at start (-1: keep).", &c->nice, -1, 19);
  o.addDuration("fast-interval",
                "Interval of the cheap probes (status with its alarms) and of samples.",
                &c->fast_interval, 100ms, 1h);
  o.addDuration("members-interval",
                "Interval of the member list call; it is also made at once when the raft term, "
                "the leader or the member changes, and after a failed call.",
                &c->members_interval, 100ms, 1h);
  o.addDuration(
      "health-interval",
      "Interval of the /health probe, a linearizable read that costs etcd a round trip to "
      "its followers; it is also made every cycle while unhealthy and at once when the "
      "raft term, the leader or the member changes.",
      &c->health_interval, 100ms, 1h);
  o.addDuration("etcd-timeout", "Deadline of each call to etcd.", &c->etcd_timeout, 50ms, 60s);
  o.addString("etcd-metrics-url",
              "etcd's /metrics URL, e.g. the metrics listener http://127.0.0.1:2381/metrics "
              "(default: the client endpoint's /metrics).",
              &c->etcd_metrics_url);
  o.addDuration("metrics-interval",
                "Interval of the full /metrics scrape (generating it costs etcd CPU on a Pi).",
                &c->metrics_interval, 500ms, 1h);
  o.addDuration("metrics-timeout", "Deadline of the /metrics scrape.", &c->metrics_timeout, 100ms,
                5min);
  o.addDuration("reconnect-base", "First reconnect backoff ceiling (full jitter).",
                &c->backoff_base, 10ms, 1h);
  o.addDuration("reconnect-max", "Largest reconnect backoff ceiling.", &c->backoff_cap, 10ms, 24h);
  o.addDuration("host-interval",
                "Interval of the slower node readings (thermal, cpufreq, throttling, pressure, "
                "load, memory, etcd's process), repeated in the samples in between; the disk is "
                "read every cycle.",
                &c->host_interval, 100ms, 1h);
  o.addDuration("ack-delay",
                "Let the aggregator acknowledge batches this long after their commit (acks are "
                "cumulative; 0: every batch at once). Fewer acks wake the agent less often.",
                &c->ack_delay, 0ms, 10s);
  o.addInt("spool-max-bytes", "Budget of unacknowledged batches; the oldest are dropped beyond it.",
           &c->spool_max_bytes, 4096, int64_t{1} << 32);
  o.addString("spool-file",
              "Keep unacknowledged batches and the agent instance id in this file so an agent "
              "restart resends them (written without fsync; put it on /run or a disk other than "
              "etcd's). Empty: memory only.",
              &c->spool_file);
  o.addDuration("drain-timeout",
                "On SIGTERM, wait this long for the aggregator to acknowledge what is spooled.",
                &c->drain_timeout, 0ms, 10min);
  o.addFlag("assume-clock-unsynced",
            "Report the wall clock as unsynchronised whatever adjtimex says (for tests of the "
            "aggregator's monotonic placement; normally adjtimex decides).",
            &c->assume_clock_unsynced);
  o.addString("log-level", "trace, debug, info, warn or error.", &c->log_level);
  o.addFlag("print-config", "Print the resolved configuration and exit.", &c->print_config);
}

std::string validate(const AgentConfig& c) {
  auto agg = parseUrl(c.aggregator);
  if (!agg || (agg->scheme != "ws" && agg->scheme != "wss"))
    return "--aggregator must be a ws:// or wss:// URL, got '" + c.aggregator + "'";
  auto etcd = parseUrl(c.etcd_endpoint);
  if (!etcd || (etcd->scheme != "http" && etcd->scheme != "https"))
    return "--etcd-endpoint must be an http:// or https:// URL, got '" + c.etcd_endpoint + "'";
  if (!c.etcd_metrics_url.empty()) {
    auto m = parseUrl(c.etcd_metrics_url);
    if (!m || (m->scheme != "http" && m->scheme != "https"))
      return "--etcd-metrics-url must be an http:// or https:// URL, got '" + c.etcd_metrics_url +
             "'";
  }
  if (c.etcd_cert.empty() != c.etcd_key.empty()) return "--etcd-cert and --etcd-key go together";
  if (c.aggregator_cert.empty() != c.aggregator_key.empty())
    return "--aggregator-cert and --aggregator-key go together";
  if (c.backoff_cap < c.backoff_base) return "--reconnect-max must not be below --reconnect-base";
  if (c.etcd_flavor != "auto" && c.etcd_flavor != "k3s" && c.etcd_flavor != "kubeadm" &&
      c.etcd_flavor != "etcd")
    return "--etcd-flavor must be auto, k3s, kubeadm or etcd, got '" + c.etcd_flavor + "'";
  if (c.io_priority != "idle" && c.io_priority != "best-effort" && c.io_priority != "keep")
    return "--io-priority must be idle, best-effort or keep, got '" + c.io_priority + "'";
  return "";
}

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

int runAgent(const AgentConfig& cfg) {
  auto log = qw::logger("agent");
  if (auto p = applyPriorities(cfg); !p.empty()) log->info("{}", p);
  std::string token;
  std::shared_ptr<TlsClientContext> etcd_tls, agg_tls;
  try {
    if (!cfg.token_file.empty()) token = readTokenFile(cfg.token_file);
    if (parseUrl(cfg.etcd_endpoint)->tls())
      etcd_tls = makeClientTls(cfg.etcd_cacert, cfg.etcd_cert, cfg.etcd_key);
    if (parseUrl(cfg.aggregator)->tls())
      agg_tls = makeClientTls(cfg.aggregator_ca, cfg.aggregator_cert, cfg.aggregator_key);
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }

  net::io_context ioc(1);
  std::unique_ptr<Spool> spool_ptr;
  if (cfg.spool_file.empty()) {
    spool_ptr = std::make_unique<Spool>(static_cast<size_t>(cfg.spool_max_bytes));
  } else {
    std::string err, note;
    spool_ptr =
        Spool::openFile(cfg.spool_file, static_cast<size_t>(cfg.spool_max_bytes), &err, &note);
    if (!spool_ptr) {
      log->error("{}", err);
      return 1;
    }
    log->info("{}", note);
  }
  Spool& spool = *spool_ptr;

  SystemClock clock;
  qw::wire::Hello hello;
  hello.set_cluster_name(cfg.cluster_name);
  hello.set_node_name(cfg.node_name.empty() ? hostName() : cfg.node_name);
  hello.set_agent_version(qw::kVersion);
  hello.set_instance_id(spool.instanceId());
  if (auto b = readFile(cfg.procfs_root + "/sys/kernel/random/boot_id")) {
    std::string id = *b;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    hello.set_boot_id(id);
  }
  const uint64_t boot_key = qw::bootKey(hello.boot_id());
  hello.set_failure_domain(cfg.failure_domain);
  hello.set_etcd_flavor(cfg.etcd_flavor == "auto" ? "etcd" : cfg.etcd_flavor);
  hello.set_protocol_version(1);
  hello.set_etcd_endpoint(cfg.etcd_endpoint);
  hello.set_ack_delay_ms(static_cast<uint32_t>(cfg.ack_delay.count()));

  UplinkConfig ucfg;
  ucfg.url = *parseUrl(cfg.aggregator);
  ucfg.token = token;
  ucfg.tls = agg_tls;
  ucfg.backoff_base = cfg.backoff_base;
  ucfg.backoff_cap = cfg.backoff_cap;
  ucfg.commands = cfg.commands;  // Issue #19 (command channel): the handlers main() made
  auto uplink = std::make_shared<Uplink>(ioc.get_executor(), ucfg, spool, hello);

  EtcdSampler etcd({*parseUrl(cfg.etcd_endpoint), etcd_tls, cfg.etcd_timeout, cfg.members_interval,
                    cfg.health_interval});
  HostConfig hcfg;
  hcfg.procfs_root = cfg.procfs_root;
  hcfg.sysfs_root = cfg.sysfs_root;
  hcfg.slow_interval_ms = cfg.host_interval.count();
  hcfg.data_dir = cfg.etcd_data_dir;
  hcfg.data_device = cfg.etcd_data_device;
  hcfg.etcd_port = parseUrl(cfg.etcd_endpoint)->port;
  HostSampler host(hcfg);
  UnitWatcher unit(cfg.etcd_unit);
  UnitStatus unit_status;
  int64_t unit_polled_ms = -1'000'000;
  uint64_t unit_errors = 0;
  std::string last_unit_error, logged_unit_unsupported, logged_data_dir, logged_device;
  if (!cfg.etcd_unit.empty()) {
    hello.set_etcd_unit(cfg.etcd_unit);
    unit_status = unit.poll();
    unit_polled_ms = clock.steadyMs();
  }
  hello.set_etcd_data_dir(cfg.etcd_data_dir);
  for (const auto& d : cfg.snapshot_dirs) hello.add_snapshot_dirs(d);
  Url metrics_url =
      *parseUrl(cfg.etcd_metrics_url.empty()
                    ? cfg.etcd_endpoint + (cfg.etcd_endpoint.back() == '/' ? "" : "/") + "metrics"
                    : cfg.etcd_metrics_url);
  if (metrics_url.tls() && !etcd_tls)
    etcd_tls = makeClientTls(cfg.etcd_cacert, cfg.etcd_cert, cfg.etcd_key);
  bool stopping = false;
  net::steady_timer tick(ioc);

  // The full /metrics scrape runs on its own cadence in its own coroutine, so a slow or large
  // scrape never delays the cheap probes; its deltas ride on the next fast sample.
  // The scrape coroutine leaves the newest cumulative values here; the fast loop turns them into
  // deltas against what it sent last, so a scrape that no sample picked up is never lost.
  std::optional<qw::wire::EtcdMetrics> scraped, sent_metrics;
  std::chrono::steady_clock::time_point scraped_at{}, sent_at{};
  bool fresh_scrape = false;
  uint64_t metrics_errors = 0;
  std::string last_metrics_error;
  net::steady_timer metrics_tick(ioc);
  HttpSession metrics_session(metrics_url, etcd_tls);
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        while (!stopping) {
          {
            // The body is parsed as it arrives, through a 32 KiB buffer: etcd's ~150 KB text is
            // never held whole, so the heap does not grow by it at every scrape (and no
            // malloc_trim is needed to give those pages back, only to fault them in again).
            EtcdMetricsReader reader;
            HttpRequest get;
            get.timeout = cfg.metrics_timeout;
            get.read_chunk = 32 * 1024;
            get.on_body = [&](std::string_view piece) { reader.feed(piece); };
            auto r = co_await metrics_session.fetch(metrics_url.target, get);
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
              scraped = std::move(cur);
              scraped_at = now;
              fresh_scrape = true;
            } else {
              ++metrics_errors;
              last_metrics_error = err;
            }
          }
          metrics_tick.expires_after(cfg.metrics_interval);
          boost::system::error_code ec;
          co_await metrics_tick.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
      },
      net::detached);

  // systemd (Type=notify): READY=1 below; WATCHDOG=1 and STATUS= lines from the sampling loop
  // (notifier.tick() every cycle), so they cost no wake-ups of their own and a stuck loop stops
  // pinging; from timers of their own only when WatchdogSec= is too short for the cycle.
  SystemdNotifier notifier;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        uint64_t cycle = 0, etcd_errors = 0;
        std::string last_etcd_error;
        std::string last_etcd_state;
        auto next = std::chrono::steady_clock::now();
        while (!stopping) {
          qw::wire::Batch batch;
          auto* s = batch.add_samples();
          s->set_cycle(++cycle);
          s->set_ts_unix_ms(clock.wallMs());
          s->set_mono_ms(qw::bootTimeMs());
          s->set_clock_synced(!cfg.assume_clock_unsynced && clockSynced());
          std::string err = co_await etcd.sample(s->mutable_etcd());
          if (!err.empty()) {
            ++etcd_errors;
            last_etcd_error = err;
          }
          // The newest /metrics scrape rides on the next fast sample, as deltas.
          if (fresh_scrape) {
            auto interval =
                std::chrono::duration_cast<std::chrono::milliseconds>(scraped_at - sent_at).count();
            *s->mutable_metrics() =
                metricsDelta(sent_metrics ? &*sent_metrics : nullptr, *scraped, interval);
            sent_metrics = scraped;
            sent_at = scraped_at;
            fresh_scrape = false;
          }
          if (etcd_errors) {
            auto* e = s->add_errors();
            e->set_sampler("etcd");
            e->set_count(etcd_errors);
            e->set_last_error(last_etcd_error);
          }
          if (metrics_errors) {
            auto* e = s->add_errors();
            e->set_sampler("metrics");
            e->set_count(metrics_errors);
            e->set_last_error(last_metrics_error);
          }
          // The node: disk, thermal, power, pressure, memory, the etcd process and its unit.
          int64_t steady_ms = clock.steadyMs();
          host.sample(steady_ms, s);
          if (!cfg.etcd_unit.empty()) {
            if (steady_ms - unit_polled_ms >= 10000) {
              unit_status = unit.poll();
              unit_polled_ms = steady_ms;
              if (!unit_status.error.empty()) {
                ++unit_errors;
                last_unit_error = unit_status.error;
              }
            }
            if (unit_status.restarts) s->mutable_host()->set_unit_restarts(*unit_status.restarts);
            s->mutable_host()->set_unit_state(unit_status.active_state);
            if (!unit_status.unsupported.empty())
              s->mutable_host()->add_unsupported(unit_status.unsupported);
          }
          for (const auto& u : host.takeNewUnsupported()) log->info("not supported here: {}", u);
          if (!unit_status.unsupported.empty() &&
              logged_unit_unsupported != unit_status.unsupported) {
            log->info("not supported here: {}", unit_status.unsupported);
            logged_unit_unsupported = unit_status.unsupported;
          }
          // Issue #19 (command channel): GetConfig reports what this node cannot probe.
          if (cfg.commands)
            for (const auto& u : s->host().unsupported()) cfg.commands->noteUnsupported(u);
          if (host.dataDir() != logged_data_dir || host.device().disk != logged_device) {
            logged_data_dir = host.dataDir();
            logged_device = host.device().disk;
            if (!logged_device.empty())
              log->info("etcd data dir {} is on {}{}", logged_data_dir, logged_device,
                        host.device().partition.empty()
                            ? ""
                            : " (partition " + host.device().partition + ")");
          }
          if (host.errors()) {
            auto* e = s->add_errors();
            e->set_sampler("host");
            e->set_count(host.errors());
            e->set_last_error(host.lastError());
          }
          if (unit_errors) {
            auto* e = s->add_errors();
            e->set_sampler("unit");
            e->set_count(unit_errors);
            e->set_last_error(last_unit_error);
          }
          // Log transitions, not every cycle.
          std::string state = s->etcd().reachable() ? "reachable" : s->etcd().error();
          if (state != last_etcd_state) {
            if (s->etcd().reachable())
              log->info("etcd {} reachable (member {})", cfg.etcd_endpoint,
                        hex64(s->etcd().member_id()));
            else
              log->warn("etcd {} unreachable: {}", cfg.etcd_endpoint, state);
            last_etcd_state = state;
          }
          batch.set_boot_key(boot_key);
          spool.push(std::move(batch));
          uplink->notify();
          notifier.tick(std::chrono::steady_clock::now());
          next += cfg.fast_interval;
          auto now = std::chrono::steady_clock::now();
          if (next < now) next = now;  // a slow cycle skips ticks instead of bursting
          tick.expires_at(next);
          boost::system::error_code ec;
          co_await tick.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
      },
      net::detached);

  // SIGTERM/SIGINT: stop sampling, give the aggregator `drain-timeout` to acknowledge what is
  // spooled (a memory spool is lost at exit), then report what this instance produced.
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  net::steady_timer drain(ioc);
  auto drain_deadline = std::chrono::steady_clock::time_point::max();
  std::function<void()> drainStep = [&] {
    if (spool.size() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      uplink->stop();
      ioc.stop();
      return;
    }
    drain.expires_after(std::chrono::milliseconds(20));
    drain.async_wait([&](const boost::system::error_code&) { drainStep(); });
  };
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    log->info("signal {}: stopping ({} batches unacknowledged, draining up to {} ms)", sig,
              spool.size(), cfg.drain_timeout.count());
    notifier.stopping("stopping: draining the spool");
    stopping = true;
    tick.cancel();
    metrics_tick.cancel();
    drain_deadline = std::chrono::steady_clock::now() + cfg.drain_timeout;
    uplink->flushAcks();
    drainStep();
  });

  log->info("quorumwatch-agent {} node {} cluster {}: etcd {}, aggregator {}", qw::kVersion,
            hello.node_name(), cfg.cluster_name, cfg.etcd_endpoint, cfg.aggregator);
  notifier.ready("sampling etcd " + cfg.etcd_endpoint + ", streaming to " + cfg.aggregator);
  auto statusLine = [&] {
    return "sampling " + cfg.etcd_endpoint + "; " + std::to_string(spool.size()) +
           " batches unacknowledged, " + std::to_string(spool.dropped()) + " dropped";
  };
  // A cycle can take up to ~3 probe timeouts beyond fast-interval; the loop is trusted with the
  // pings when it turns at least 4 times per watchdog interval.
  auto watchdog = notifier.watchdogInterval();
  if (watchdog.count() == 0 || cfg.fast_interval * 4 <= watchdog) {
    notifier.driveFromLoop(std::chrono::seconds(5), statusLine);
  } else {
    log->warn("WatchdogSec ({} ms) is short for --fast-interval {} ms: pinging from a timer",
              watchdog.count() / 1000, cfg.fast_interval.count());
    notifier.startWatchdog(ioc.get_executor());
    notifier.periodicStatus(ioc.get_executor(), std::chrono::seconds(5), statusLine);
  }
  // Shed start-up code and data from the resident set once the steady loop has run a full
  // /metrics cycle, and again now and then (see trim.h).
  net::steady_timer trim(ioc);
  std::function<void(std::chrono::seconds)> trimLater = [&](std::chrono::seconds after) {
    trim.expires_after(after);
    trim.async_wait([&](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      auto r = trimCleanFileMappings();
      log->debug("dropped {} clean file mappings ({} KiB) from the resident set", r.mappings,
                 r.bytes / 1024);
      trimLater(std::chrono::seconds(600));
    });
  };
  trimLater(cfg.metrics_interval > std::chrono::seconds(10)
                ? std::chrono::duration_cast<std::chrono::seconds>(cfg.metrics_interval) +
                      std::chrono::seconds(5)
                : std::chrono::seconds(15));
  uplink->start();
  ioc.run();
  // One line tests and operators can rely on (scripts/soak.sh parses it).
  log->info("stopped: instance {} produced {} batches (seq 1..{}), {} unacknowledged, {} dropped",
            spool.instanceId(), spool.nextSeq() - 1, spool.nextSeq() - 1, spool.size(),
            spool.dropped());
  return 0;
}

}  // namespace qw::agent
