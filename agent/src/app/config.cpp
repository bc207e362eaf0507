// The agent's options (each default declared once, where it is registered) and the checks of
// values that parse but make no sense together.
#include "qw/agent/app/agent.h"
#include "qw/url.h"

namespace qw::agent {

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
  o.addDuration("snapshot-scan-interval",
                "How often the snapshot dirs are listed (new or changed files are then checked).",
                &c->snapshot_scan_interval, 1s, 24h);
  o.addInt("snapshot-verify-rate",
           "Bytes per second the snapshot checks and the copies the aggregator pulls read at, at "
           "idle I/O priority, in 128 KiB reads (0: unthrottled).",
           &c->snapshot_verify_rate, 0, int64_t{1} << 40);
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

}  // namespace qw::agent
