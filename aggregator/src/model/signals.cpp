#include "qw/aggregator/model/signals.h"

#include <algorithm>
#include <cstring>

#include "qw/aggregator/model/quantile.h"

namespace qw::aggregator {

namespace {

double d(uint64_t v) { return static_cast<double>(v); }
double b(bool v) { return v ? 1.0 : 0.0; }

void deriveEtcd(const qw::wire::EtcdSample& e, MemberSignals* s) {
  s->etcd_reachable = b(e.reachable());
  if (!e.reachable()) return;  // what an unanswered status would say is unknown, not 0
  if (e.has_health()) s->etcd_healthy = b(e.health());
  s->has_leader = b(e.has_leader());
  s->is_leader = b(e.is_leader());
  if (e.raft_term()) s->raft_term = d(e.raft_term());
  if (e.raft_index()) {  // 0: the status answer carried no index
    s->raft_index = d(e.raft_index());
    s->raft_applied_index = d(e.raft_applied_index());
    s->apply_lag =
        e.raft_index() > e.raft_applied_index() ? d(e.raft_index() - e.raft_applied_index()) : 0.0;
  }
  if (e.db_size_bytes() > 0) s->db_size_bytes = static_cast<double>(e.db_size_bytes());
  if (e.db_size_in_use_bytes() > 0)
    s->db_size_in_use_bytes = static_cast<double>(e.db_size_in_use_bytes());
  s->status_latency_seconds = e.status_latency_us() / 1e6;
  if (e.alarms_ok()) s->alarms_active = e.alarms_size();
}

void deriveMetrics(const qw::wire::EtcdMetrics& m, MemberSignals* s) {
  if (m.has_proposals_pending()) s->proposals_pending = m.proposals_pending();
  if (m.has_quota_backend_bytes()) {
    s->quota_backend_bytes = m.quota_backend_bytes();
    if (m.has_db_total_size_bytes() && m.quota_backend_bytes() > 0)
      s->db_quota_used_ratio = m.db_total_size_bytes() / m.quota_backend_bytes();
  }
  // Counts and histograms are deltas over the interval; the first scrape, or the one after etcd
  // restarted (its counters began again), covers no known interval: absent.
  if (m.interval_ms() <= 0 || m.counters_reset()) return;
  s->metrics_interval_seconds = static_cast<double>(m.interval_ms()) / 1000.0;
  if (m.has_leader_changes()) s->leader_changes = d(m.leader_changes());
  if (m.has_proposals_failed()) s->proposals_failed = d(m.proposals_failed());
  if (m.has_slow_applies()) s->slow_applies = d(m.slow_applies());
  if (m.has_heartbeat_send_failures()) s->heartbeat_send_failures = d(m.heartbeat_send_failures());
  if (m.peer_sent_failures_size() > 0) {
    double sum = 0;
    for (const auto& p : m.peer_sent_failures()) sum += d(p.value());
    s->peer_sent_failures = sum;
  }
  s->wal_fsync_p99_seconds = histogramQuantile(0.99, m.wal_fsync());
  s->backend_commit_p99_seconds = histogramQuantile(0.99, m.backend_commit());
  for (const auto& peer : m.peer_rtt())
    if (auto p = histogramQuantile(0.99, peer.rtt()))
      s->peer_rtt_p99_seconds = std::max(s->peer_rtt_p99_seconds.value_or(*p), *p);
}

void deriveDisk(const qw::wire::DiskSample& k, MemberSignals* s) {
  s->disk_in_flight = k.in_flight();
  s->disk_sectors_written_total = d(k.sectors_written_total());
  if (k.has_fs_avail_bytes()) s->fs_avail_bytes = d(k.fs_avail_bytes());
  if (k.has_fs_total_bytes()) s->fs_total_bytes = d(k.fs_total_bytes());
  if (k.interval_ms() <= 0 || k.counters_reset()) return;  // no rates without a previous reading
  double secs = static_cast<double>(k.interval_ms()) / 1000.0;
  s->disk_read_iops = d(k.reads()) / secs;
  s->disk_write_iops = d(k.writes()) / secs;
  s->disk_read_bytes_per_second = d(k.read_bytes()) / secs;
  s->disk_write_bytes_per_second = d(k.write_bytes()) / secs;
  // Mean service time per completed request (iostat's r_await, w_await, await), in seconds; an
  // interval that completed no request has no mean.
  if (k.reads() > 0) s->disk_read_await_seconds = d(k.read_time_ms()) / d(k.reads()) / 1000.0;
  if (k.writes() > 0) s->disk_write_await_seconds = d(k.write_time_ms()) / d(k.writes()) / 1000.0;
  if (uint64_t ios = k.reads() + k.writes(); ios > 0)
    s->disk_await_seconds = d(k.read_time_ms() + k.write_time_ms()) / d(ios) / 1000.0;
  s->disk_util_ratio = std::min(1.0, d(k.busy_ms()) / static_cast<double>(k.interval_ms()));
  if (k.has_flushes()) s->disk_flushes_per_second = d(k.flushes()) / secs;
  if (k.has_etcd_write_bytes()) s->etcd_write_bytes_per_second = d(k.etcd_write_bytes()) / secs;
}

void deriveHost(const qw::wire::HostSample& h, MemberSignals* s) {
  const qw::wire::ThermalZone* hottest = nullptr;
  for (const auto& z : h.thermal())
    if (!hottest || z.temp_celsius() > hottest->temp_celsius()) hottest = &z;
  if (hottest) {
    s->cpu_temperature_celsius = hottest->temp_celsius();
    // The hottest zone's lowest trip point that acts (passive cooling first, then hot/critical).
    for (const auto& t : hottest->trips())
      if ((t.type() == "passive" || t.type() == "critical" || t.type() == "hot") &&
          t.temp_celsius() > 0)
        s->temperature_trip_celsius =
            std::min(s->temperature_trip_celsius.value_or(t.temp_celsius()), t.temp_celsius());
  }
  for (const auto& f : h.cpufreq())
    if (f.max_khz() > 0) {
      double r = d(f.cur_khz()) / d(f.max_khz());
      s->cpu_freq_ratio = std::min(s->cpu_freq_ratio.value_or(r), r);
    }
  if (h.has_throttled()) {
    const auto& t = h.throttled();
    s->under_voltage = b(t.under_voltage());
    s->under_voltage_since_boot = b(t.under_voltage_since_boot());
    s->freq_capped = b(t.freq_capped());
    s->throttled = b(t.throttled());
    s->throttled_since_boot = b(t.throttled_since_boot());
    s->soft_temp_limit = b(t.soft_temp_limit());
  }
  if (h.has_io_some()) s->io_pressure_some_avg10 = h.io_some().avg10();
  if (h.has_io_full()) s->io_pressure_full_avg10 = h.io_full().avg10();
  if (h.has_cpu_some()) s->cpu_pressure_some_avg10 = h.cpu_some().avg10();
  if (h.has_memory_some()) s->memory_pressure_some_avg10 = h.memory_some().avg10();
  if (h.has_load1()) s->load1 = h.load1();
  if (h.has_mem_available_bytes()) s->mem_available_bytes = d(h.mem_available_bytes());
  if (h.has_mem_total_bytes()) s->mem_total_bytes = d(h.mem_total_bytes());
  if (h.has_unit_restarts()) s->unit_restarts = h.unit_restarts();
}

using M = MemberSignals;
using K = SignalKind;

// name, field, kind, unit, help, exported to /metrics, stored as a series
const std::vector<SignalDef> kSignals = {
    {"etcd_reachable", &M::etcd_reachable, K::kGauge, "bool",
     "1 when the agent reached its etcd member", true, true},
    {"etcd_healthy", &M::etcd_healthy, K::kGauge, "bool",
     "etcd's /health answer (absent when it gave none)", false, true},
    {"has_leader", &M::has_leader, K::kGauge, "bool", "the member sees a leader", false, true},
    {"is_leader", &M::is_leader, K::kGauge, "bool", "the member is the leader", false, true},
    {"raft_term", &M::raft_term, K::kGauge, "term", "raft term", false, true},
    {"raft_index", &M::raft_index, K::kGauge, "entries", "raft committed index", false, true},
    {"raft_applied_index", &M::raft_applied_index, K::kGauge, "entries", "raft applied index",
     false, true},
    {"apply_lag", &M::apply_lag, K::kGauge, "entries", "committed minus applied index", true, true},
    {"db_size_bytes", &M::db_size_bytes, K::kGauge, "bytes", "backend database size", true, true},
    {"db_size_in_use_bytes", &M::db_size_in_use_bytes, K::kGauge, "bytes",
     "backend database size in use", false, true},
    {"status_latency_seconds", &M::status_latency_seconds, K::kGauge, "seconds",
     "latency of the member's status call", false, true},
    {"alarms_active", &M::alarms_active, K::kGauge, "alarms",
     "alarms raised in the cluster (NOSPACE, CORRUPT)", false, true},
    {"metrics_interval_seconds", &M::metrics_interval_seconds, K::kGauge, "seconds",
     "length of the newest /metrics interval (the deltas' span)", false, false},
    {"leader_changes", &M::leader_changes, K::kDelta, "changes",
     "leader changes seen by the member in the /metrics interval", false, true},
    {"proposals_pending", &M::proposals_pending, K::kGauge, "proposals",
     "proposals waiting to commit", false, true},
    {"proposals_failed", &M::proposals_failed, K::kDelta, "proposals",
     "failed proposals in the /metrics interval", false, true},
    {"slow_applies", &M::slow_applies, K::kDelta, "applies",
     "applies slower than expected in the /metrics interval", false, true},
    {"heartbeat_send_failures", &M::heartbeat_send_failures, K::kDelta, "failures",
     "leader heartbeats that failed to send in the /metrics interval", false, true},
    {"peer_sent_failures", &M::peer_sent_failures, K::kDelta, "failures",
     "messages to peers that failed to send in the /metrics interval", false, true},
    {"quota_backend_bytes", &M::quota_backend_bytes, K::kGauge, "bytes",
     "backend quota (NOSPACE beyond it)", false, true},
    {"db_quota_used_ratio", &M::db_quota_used_ratio, K::kGauge, "ratio",
     "database size / backend quota", true, true},
    {"wal_fsync_p99_seconds", &M::wal_fsync_p99_seconds, K::kQuantile, "seconds",
     "etcd WAL fsync p99 over the newest /metrics interval", true, false},
    {"backend_commit_p99_seconds", &M::backend_commit_p99_seconds, K::kQuantile, "seconds",
     "etcd backend commit p99 over the newest /metrics interval", true, false},
    {"peer_rtt_p99_seconds", &M::peer_rtt_p99_seconds, K::kGauge, "seconds",
     "the slowest peer's round-trip p99 over the newest /metrics interval", true, true},
    {"disk_read_iops", &M::disk_read_iops, K::kGauge, "1/s", "reads completed per second", false,
     true},
    {"disk_write_iops", &M::disk_write_iops, K::kGauge, "1/s",
     "writes completed per second on the disk under etcd's data dir", true, true},
    {"disk_read_bytes_per_second", &M::disk_read_bytes_per_second, K::kGauge, "bytes/s",
     "bytes read per second", false, true},
    {"disk_write_bytes_per_second", &M::disk_write_bytes_per_second, K::kGauge, "bytes/s",
     "bytes written per second", true, true},
    {"disk_await_seconds", &M::disk_await_seconds, K::kGauge, "seconds",
     "mean service time of the interval's reads and writes", false, true},
    {"disk_read_await_seconds", &M::disk_read_await_seconds, K::kGauge, "seconds",
     "mean service time of the interval's reads", false, true},
    {"disk_write_await_seconds", &M::disk_write_await_seconds, K::kGauge, "seconds",
     "mean service time of the interval's writes", true, true},
    {"disk_util_ratio", &M::disk_util_ratio, K::kGauge, "ratio", "busy time / interval (0..1)",
     true, true},
    {"disk_in_flight", &M::disk_in_flight, K::kGauge, "requests", "requests in flight", false,
     true},
    {"disk_flushes_per_second", &M::disk_flushes_per_second, K::kGauge, "1/s",
     "cache flushes per second", false, true},
    {"disk_sectors_written_total", &M::disk_sectors_written_total, K::kTotal, "sectors",
     "512-byte sectors written to that disk since boot (flash wear)", true, true},
    {"fs_avail_bytes", &M::fs_avail_bytes, K::kGauge, "bytes",
     "free space of the data dir's filesystem", true, true},
    {"fs_total_bytes", &M::fs_total_bytes, K::kGauge, "bytes", "size of the data dir's filesystem",
     false, false},
    {"etcd_write_bytes_per_second", &M::etcd_write_bytes_per_second, K::kGauge, "bytes/s",
     "etcd's own writes (/proc/PID/io)", false, true},
    {"cpu_temperature_celsius", &M::cpu_temperature_celsius, K::kGauge, "celsius",
     "the hottest thermal zone", true, true},
    {"temperature_trip_celsius", &M::temperature_trip_celsius, K::kGauge, "celsius",
     "the hottest zone's lowest passive/hot/critical trip point", true, false},
    {"cpu_freq_ratio", &M::cpu_freq_ratio, K::kGauge, "ratio",
     "current / max frequency of the slowest policy", true, true},
    {"under_voltage", &M::under_voltage, K::kGauge, "bool",
     "Raspberry Pi firmware: under-voltage now", true, true},
    {"under_voltage_since_boot", &M::under_voltage_since_boot, K::kGauge, "bool",
     "Raspberry Pi firmware: under-voltage since boot", true, false},
    {"freq_capped", &M::freq_capped, K::kGauge, "bool",
     "Raspberry Pi firmware: frequency capped now", false, true},
    {"throttled", &M::throttled, K::kGauge, "bool", "Raspberry Pi firmware: throttled now", true,
     true},
    {"throttled_since_boot", &M::throttled_since_boot, K::kGauge, "bool",
     "Raspberry Pi firmware: throttled since boot", true, false},
    {"soft_temp_limit", &M::soft_temp_limit, K::kGauge, "bool",
     "Raspberry Pi firmware: soft temperature limit active now", false, false},
    {"io_pressure_some_avg10", &M::io_pressure_some_avg10, K::kGauge, "percent",
     "PSI io some, 10 s average", true, true},
    {"io_pressure_full_avg10", &M::io_pressure_full_avg10, K::kGauge, "percent",
     "PSI io full, 10 s average", false, true},
    {"cpu_pressure_some_avg10", &M::cpu_pressure_some_avg10, K::kGauge, "percent",
     "PSI cpu some, 10 s average", false, true},
    {"memory_pressure_some_avg10", &M::memory_pressure_some_avg10, K::kGauge, "percent",
     "PSI memory some, 10 s average", false, true},
    {"load1", &M::load1, K::kGauge, "tasks", "1-minute load average", true, true},
    {"mem_available_bytes", &M::mem_available_bytes, K::kGauge, "bytes", "MemAvailable", true,
     true},
    {"mem_total_bytes", &M::mem_total_bytes, K::kGauge, "bytes", "MemTotal", false, false},
    {"unit_restarts_total", &M::unit_restarts, K::kTotal, "restarts",
     "systemd NRestarts of the unit running etcd", true, true},
};

}  // namespace

MemberSignals deriveSignals(const qw::wire::NodeSample* sample,
                            const qw::wire::EtcdMetrics* metrics) {
  MemberSignals s;
  if (sample) {
    deriveEtcd(sample->etcd(), &s);
    if (!metrics && sample->has_metrics()) metrics = &sample->metrics();
    if (sample->has_disk()) deriveDisk(sample->disk(), &s);
    if (sample->has_host()) deriveHost(sample->host(), &s);
  }
  if (metrics) deriveMetrics(*metrics, &s);
  return s;
}

const std::vector<SignalDef>& signalTable() { return kSignals; }

const SignalDef* findSignal(const char* name) {
  for (const auto& s : kSignals)
    if (std::strcmp(s.name, name) == 0) return &s;
  return nullptr;
}

}  // namespace qw::aggregator
