#include "qw/aggregator/app/aggregator.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>

#include "qw/aggregator/net/server.h"
#include "qw/aggregator/notify/webhook.h"
#include "qw/aggregator/risk/table.h"
#include "qw/fs_util.h"
#include "qw/log.h"
#include "qw/sd_notify.h"
#include "qw/token.h"
#include "qw/url.h"
#include "qw/version.h"

namespace qw::aggregator {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<net::ssl::context> makeServerTls(const std::string& cert, const std::string& key,
                                                 const std::string& client_ca) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) throw std::runtime_error("cannot load --tls-cert '" + cert + "': " + ec.message());
  ctx->use_private_key_file(key, net::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot load --tls-key '" + key + "': " + ec.message());
  if (!client_ca.empty()) {
    ctx->load_verify_file(client_ca, ec);
    if (ec)
      throw std::runtime_error("cannot load --client-ca '" + client_ca + "': " + ec.message());
    ctx->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

}  // namespace

void registerOptions(Options& o, AggregatorConfig* c) {
  o.addString("listen", "Address and port for agents, the API, /metrics and the page.", &c->listen);
  o.addString("db", "SQLite database file (created when missing).", &c->db);
  o.addString("token-file", "File holding the bearer token agents must present (mode 0600).",
              &c->token_file);
  o.addString("tls-cert",
              "Server certificate (PEM chain): serve wss:// to agents and https:// to API clients.",
              &c->tls_cert);
  o.addString("tls-key", "Key of --tls-cert.", &c->tls_key);
  o.addString("client-ca",
              "Require client certificates signed by this CA from every connection (needs "
              "--tls-cert).",
              &c->client_ca);
  o.addString("cluster-name", "Name of the etcd cluster this aggregator watches.",
              &c->cluster_name);
  o.addString("durability",
              "normal: WAL with synchronous=NORMAL (a power cut may lose the last commits, which "
              "agents resend); full: fsync every commit.",
              &c->durability);
  o.addDuration("stale-after", "An agent silent this long has no fresh data.", &c->stale_after,
                500ms, 1h);
  o.addDuration("agent-timeout",
                "An agent session from which nothing arrives for this long (not even the answer "
                "to the ping sent at half of it) is closed and its node shown disconnected: how "
                "fast an agent that vanishes without a word (power cut, partition) is noticed.",
                &c->agent_timeout, 1s, 10min);
  o.addDuration("snapshot-poll",
                "How often each agent is asked for its snapshot catalogue (GET /api/v1/snapshots).",
                &c->snapshot_poll, 1s, 24h);
  o.addString("snapshot-store",
              "Directory of the aggregator's own snapshot copies (mode 0700, copies 0600: a "
              "snapshot holds every Secret of the cluster); default: DIR-OF-DB/snapshot-copies.",
              &c->snapshot_store);
  o.addInt("snapshot-copies",
           "Copies kept there: the newest verified snapshot of the cluster is pulled off its node "
           "after each catalogue poll when there is no copy of it yet (0: no copies, no drills).",
           &c->snapshot_copies, 0, 1000);
  o.addFlag("allow-plain-snapshot-pull",
            "Pull snapshots from agents whose link is neither TLS nor loopback (refused by "
            "default: the file would cross the network in the clear).",
            &c->allow_plain_snapshot_pull);
  o.addDuration("snapshot-every",
                "Have an agent take a snapshot of etcd when the cluster's newest verified one, "
                "whoever took it, is older than this (plain etcd and kubeadm; k3s nodes are never "
                "asked: k3s takes its own); 0: never. Agents need a --snapshot-dir.",
                &c->snapshot_every, 0ms, std::chrono::hours(24 * 365));
  o.addInt("snapshot-keep",
           "Snapshots the aggregator had taken that each node keeps (older ones of the "
           "quorumwatch- prefix are removed there; other files never are).",
           &c->snapshot_keep, 1, 1000);
  o.addDuration("snapshot-timeout", "A snapshot stream from etcd that takes longer fails.",
                &c->snapshot_timeout, 10s, 24h);
  o.addList("etcd-bin-dir",
            "Where restore drills find etcd, etcdutl and etcdctl (repeatable; the one matching "
            "the snapshot's version wins). Never install a running etcd service for this: see "
            "README \"Restore drills\".",
            &c->etcd_bin_dirs);
  o.addDuration("drill-every",
                "Restore drill of the newest copy this often (and of each new copy once); 0: only "
                "on demand (POST /api/v1/drills).",
                &c->drill_every, 0ms, std::chrono::hours(24 * 365));
  o.addDuration("drill-timeout", "A restore drill that takes longer fails.", &c->drill_timeout, 5s,
                24h);
  o.addInt("drill-memory-map",
           "Bytes etcdutl may map for the restored db (0: sized to the host; its own default of "
           "10 GiB cannot be mapped on a 32-bit host).",
           &c->drill_memory_map, 0, int64_t{1} << 40);
  o.addInt("max-apply-lag", "Applied-index distance to the leader a healthy member may have.",
           &c->max_apply_lag, 1, int64_t{1} << 40);
  o.addInt("max-agents", "Most agents connected at once.", &c->max_agents, 1, 100000);
  o.addInt("max-frame-bytes", "Largest WebSocket frame accepted from an agent.",
           &c->max_frame_bytes, 4096, 64 << 20);
  o.addString("log-level", "trace, debug, info, warn or error.", &c->log_level);
  o.addDuration("retention-raw", "Keep raw points and histogram deltas this long.",
                &c->retention_raw, 1min, std::chrono::hours(24 * 3650));
  o.addDuration("retention-rollups", "Keep per-minute rollups and events this long.",
                &c->retention_rollups, 1min, std::chrono::hours(24 * 3650));
  o.addDuration("retention-samples",
                "Keep the samples exactly as agents sent them (for forensics) this long.",
                &c->retention_samples, 1min, std::chrono::hours(24 * 3650));
  o.addInt("db-max-bytes",
           "Cap on the database size (0: none). When reached, commits fail and agents keep their "
           "spool until retention frees pages.",
           &c->db_max_bytes, 0, int64_t{1} << 50);
  o.addString("risk-table",
              "File of risk model overrides, KEY = VALUE per line (README \"Risk model\"); empty: "
              "the built-in table.",
              &c->risk_table);
  o.addString("notify-webhook",
              "POST each warning raised or cleared and each state change as JSON to this http:// "
              "or https:// URL (retried with backoff; empty: off).",
              &c->notify_webhook);
  o.addInt("notify-queue", "Notifications kept while the webhook is unreachable (oldest dropped).",
           &c->notify_queue, 1, 100000);
}

std::string validate(const AggregatorConfig& c) {
  std::string host, port;
  if (!splitHostPort(c.listen, &host, &port) || port.empty())
    return "--listen wants ADDR:PORT, got '" + c.listen + "'";
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  if (ec) return "--listen address '" + host + "' is not an IP address";
  if (c.durability != "normal" && c.durability != "full")
    return "--durability must be normal or full";
  if (c.db.empty()) return "--db must name a file";
  if (!c.notify_webhook.empty()) {
    std::string err;
    if (!parseWebhookUrl(c.notify_webhook, &err)) return "--notify-webhook: " + err;
  }
  if (c.retention_rollups < c.retention_raw)
    return "--retention-rollups must be at least --retention-raw";
  if (c.db_max_bytes != 0 && c.db_max_bytes < (1 << 20))
    return "--db-max-bytes must be 0 or >= 1 MiB";
  if (c.tls_cert.empty() != c.tls_key.empty()) return "--tls-cert and --tls-key go together";
  if (!c.client_ca.empty() && c.tls_cert.empty())
    return "--client-ca needs --tls-cert and --tls-key";
  return "";
}

int runAggregator(const AggregatorConfig& c) {
  auto log = qw::logger("aggregator");
  std::string host, port;
  splitHostPort(c.listen, &host, &port);
  auto addr = net::ip::make_address(host);

  ServerConfig scfg;
  try {
    if (!c.token_file.empty()) scfg.token = readTokenFile(c.token_file);
    if (!c.tls_cert.empty()) scfg.tls = makeServerTls(c.tls_cert, c.tls_key, c.client_ca);
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  if (scfg.token.empty()) {
    scfg.allow_no_token = addr.is_loopback();
    if (scfg.allow_no_token)
      log->warn("no --token-file: accepting agents without a token because {} is loopback",
                c.listen);
    else
      log->warn("no --token-file and {} is not loopback: every agent will be refused", c.listen);
  }
  scfg.max_agents = static_cast<size_t>(c.max_agents);
  scfg.max_frame_bytes = static_cast<size_t>(c.max_frame_bytes);
  scfg.view.cluster_name = c.cluster_name;
  scfg.view.stale_after_ms = c.stale_after.count();
  scfg.idle_timeout = c.agent_timeout;
  scfg.snapshot_poll = c.snapshot_poll;
  if (c.snapshot_copies > 0) {
    std::string dir = c.snapshot_store;
    if (dir.empty()) {
      auto slash = c.db.rfind('/');
      dir = (slash == std::string::npos ? std::string(".") : c.db.substr(0, slash)) +
            "/snapshot-copies";
    }
    scfg.keeper.copy_dir = dir;
  }
  scfg.keeper.keep_copies = static_cast<size_t>(c.snapshot_copies);
  scfg.keeper.allow_plain_pull = c.allow_plain_snapshot_pull;
  scfg.keeper.etcd_bin_dirs = c.etcd_bin_dirs;
  scfg.keeper.drill_every = c.drill_every;
  scfg.keeper.drill_timeout = c.drill_timeout;
  scfg.keeper.drill_memory_map_bytes = static_cast<uint64_t>(c.drill_memory_map);
  scfg.scheduler.every = c.snapshot_every;
  scfg.scheduler.keep = static_cast<uint32_t>(c.snapshot_keep);
  scfg.scheduler.take_timeout = c.snapshot_timeout;
  scfg.view.max_apply_lag = static_cast<uint64_t>(c.max_apply_lag);
  scfg.webhook.url = c.notify_webhook;
  scfg.webhook.queue_limit = static_cast<size_t>(c.notify_queue);
  {
    auto table = std::make_shared<risk::Table>(risk::defaultTable());
    if (!c.risk_table.empty()) {
      auto text = readFile(c.risk_table);
      if (!text) {
        log->error("--risk-table {}: cannot read it", c.risk_table);
        return 1;
      }
      if (auto err = risk::applyOverrides(*text, c.risk_table, table.get())) {
        log->error("--risk-table: {}", *err);
        return 1;
      }
    }
    log->info("risk model {} (AT_RISK from {} within {} s)", table->version,
              table->at_risk_probability, table->horizon_seconds);
    scfg.view.risk_table = std::move(table);
  }

  std::unique_ptr<Store> store;
  try {
    Store::Options so;
    so.path = c.db;
    so.synchronous = c.durability == "full" ? "FULL" : "NORMAL";
    so.raw_retention_ms = c.retention_raw.count();
    so.rollup_retention_ms = c.retention_rollups.count();
    so.sample_retention_ms = c.retention_samples.count();
    so.max_db_bytes = c.db_max_bytes;
    store = std::make_unique<Store>(so);
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  Hub hub;
  if (auto err = store->load(&hub)) {
    log->error("{}", *err);
    return 1;
  }
  log->info("database {} (schema version {}): {} nodes, {} members known", c.db,
            store->schemaVersion(), hub.nodes().size(), hub.members().size());

  net::io_context ioc(1);
  SystemClock clock;
  Server server(ioc, *store, hub, scfg, clock);
  net::ip::tcp::endpoint bound;
  try {
    bound = server.listen({addr, static_cast<unsigned short>(std::stoi(port))});
  } catch (const std::exception& e) {
    log->error("cannot listen on {}: {}", c.listen, e.what());
    return 1;
  }
  std::string shown = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                              : bound.address().to_string();
  log->info(
      "listening on {}:{}{}", shown, bound.port(),
      scfg.tls ? (c.client_ca.empty() ? " (TLS)" : " (TLS, client certificates required)") : "");

  // systemd (Type=notify): ready once the store is open and the listener bound; the watchdog
  // pings come from this event loop, so a stuck loop gets the service restarted.
  SystemdNotifier notifier;
  std::string where = shown + ":" + std::to_string(bound.port());
  notifier.startWatchdog(ioc.get_executor());
  notifier.ready("listening on " + where + ", no agents connected yet");
  notifier.periodicStatus(ioc.get_executor(), 5s, [&] {
    const auto& k = server.counters();
    return "listening on " + where + ", " + std::to_string(k.connected_agents) +
           " agents connected, " + std::to_string(k.batches_stored) + " batches stored" +
           (k.commit_errors ? ", " + std::to_string(k.commit_errors) + " commit errors" : "");
  });

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    log->info("signal {}: stopping", sig);
    notifier.stopping("stopping (signal " + std::to_string(sig) + ")");
    server.shutdown();
    ioc.stop();
  });
  ioc.run();
  const auto& k = server.counters();
  log->info("stopped: {} batches stored, {} duplicates, {} commit errors", k.batches_stored,
            k.batches_duplicate, k.commit_errors);
  return 0;
}

}  // namespace qw::aggregator
