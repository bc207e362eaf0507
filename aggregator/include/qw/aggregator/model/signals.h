#pragma once
// The one derivation of every per-member signal (LAYOUT.md: "one derivation of each signal").
// Rates, p99s, await, utilisation, the hottest zone, the slowest cpufreq policy: computed here,
// once, from a node's raw sample and its newest /metrics deltas, into a plain struct. The node
// view, /metrics, the series writer and (later) the risk engine read MemberSignals; none of them
// derives a signal again.
//
// Every field is in base units (seconds, bytes, ratios 0..1; PSI's avg10 stays a percentage as the
// kernel reports it) and is absent when unknown: a sensor the node lacks, a rate without a
// previous reading, an etcd that did not answer. Absent is never 0.
#include <optional>
#include <vector>

#include "sample.pb.h"

namespace qw::aggregator {

struct MemberSignals {
  // etcd's status, health and alarm list (every fast cycle). Present only when etcd answered,
  // except etcd_reachable (present whenever there is a sample).
  std::optional<double> etcd_reachable, etcd_healthy, has_leader, is_leader, raft_term, raft_index,
      raft_applied_index, apply_lag, db_size_bytes, db_size_in_use_bytes, status_latency_seconds,
      alarms_active;
  // etcd's /metrics over the newest scrape interval (deltas; absent after a counter reset).
  std::optional<double> metrics_interval_seconds, leader_changes, proposals_pending,
      proposals_failed, slow_applies, heartbeat_send_failures, peer_sent_failures,
      quota_backend_bytes, db_quota_used_ratio, wal_fsync_p99_seconds, backend_commit_p99_seconds,
      peer_rtt_p99_seconds;  // peer_rtt_p99_seconds: the slowest peer's p99
  // The block device under etcd's data dir, over the newest sampling interval.
  std::optional<double> disk_read_iops, disk_write_iops, disk_read_bytes_per_second,
      disk_write_bytes_per_second, disk_await_seconds, disk_read_await_seconds,
      disk_write_await_seconds, disk_util_ratio, disk_in_flight, disk_flushes_per_second,
      disk_sectors_written_total, fs_avail_bytes, fs_total_bytes, etcd_write_bytes_per_second;
  // The host.
  std::optional<double> cpu_temperature_celsius, temperature_trip_celsius, cpu_freq_ratio,
      under_voltage, under_voltage_since_boot, freq_capped, throttled, throttled_since_boot,
      soft_temp_limit, io_pressure_some_avg10, io_pressure_full_avg10, cpu_pressure_some_avg10,
      memory_pressure_some_avg10, load1, mem_available_bytes, mem_total_bytes, unit_restarts;
};

// `sample` is the node's newest sample (or null); `metrics` the newest /metrics deltas (or null:
// the sample's own, when it carries them, is used). Either may be missing.
MemberSignals deriveSignals(const qw::wire::NodeSample* sample,
                            const qw::wire::EtcdMetrics* metrics = nullptr);

// How a signal behaves over time, for the series store and /metrics.
enum class SignalKind {
  kGauge,     // a level (series: averaged; /metrics: gauge)
  kDelta,     // a count over the interval (series: summed; not exported to /metrics)
  kTotal,     // a cumulative count (series: a level; /metrics: counter, name ends in _total)
  kQuantile,  // a quantile of an interval's histogram (series: stored as the histogram itself)
};

struct SignalDef {
  const char* name;  // one name per quantity: the API field, the series name, the /metrics suffix
  std::optional<double> MemberSignals::*field;
  SignalKind kind;
  const char* unit;
  const char* help;
  bool exported;  // in /metrics as quorumwatch_node_<name>
  bool stored;    // a series of the history store (quantiles are stored as their histograms)
};

// Every signal, in a fixed order.
const std::vector<SignalDef>& signalTable();
const SignalDef* findSignal(const char* name);

}  // namespace qw::aggregator
