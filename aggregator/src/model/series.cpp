#include "qw/aggregator/model/series.h"

#include <algorithm>

namespace qw::aggregator {

namespace {

using K = MetricKind;

// Order matters only inside one process (ids are the index); the database keys series by name.
const std::vector<MetricDef> kCatalog = {
    // etcd, every fast cycle
    {"etcd_reachable", K::kGauge, "bool", "1 when the agent reached its etcd member"},
    {"etcd_healthy", K::kGauge, "bool", "etcd's /health answer (absent when it gave none)"},
    {"has_leader", K::kGauge, "bool", "the member sees a leader"},
    {"is_leader", K::kGauge, "bool", "the member is the leader"},
    {"raft_term", K::kGauge, "term", "raft term"},
    {"raft_index", K::kGauge, "entries", "raft committed index"},
    {"raft_applied_index", K::kGauge, "entries", "raft applied index"},
    {"apply_lag", K::kGauge, "entries", "committed minus applied index"},
    {"db_size_bytes", K::kGauge, "bytes", "backend database size"},
    {"db_size_in_use_bytes", K::kGauge, "bytes", "backend database size in use"},
    {"status_latency_ms", K::kGauge, "ms", "latency of the member's status call"},
    {"alarms_active", K::kGauge, "alarms", "alarms raised in the cluster (NOSPACE, CORRUPT)"},
    // etcd /metrics, every full cycle
    {"leader_changes", K::kCounter, "changes", "leader changes seen by the member per interval"},
    {"proposals_pending", K::kGauge, "proposals", "proposals waiting to commit"},
    {"proposals_failed", K::kCounter, "proposals", "failed proposals per interval"},
    {"slow_applies", K::kCounter, "applies", "applies slower than expected per interval"},
    {"heartbeat_send_failures", K::kCounter, "failures", "leader heartbeats that failed to send"},
    {"peer_sent_failures", K::kCounter, "failures", "messages to peers that failed to send"},
    {"quota_backend_bytes", K::kGauge, "bytes", "backend quota (NOSPACE beyond it)"},
    {"db_quota_used_ratio", K::kGauge, "ratio", "database size / backend quota"},
    {"wal_fsync_seconds", K::kHistogram, "seconds", "WAL fsync duration"},
    {"backend_commit_seconds", K::kHistogram, "seconds", "backend commit duration"},
    {"peer_rtt_seconds", K::kHistogram, "seconds", "round-trip time to peers (all peers merged)"},
    // the data dir's disk
    {"disk_read_iops", K::kGauge, "1/s", "reads completed per second"},
    {"disk_write_iops", K::kGauge, "1/s", "writes completed per second"},
    {"disk_read_bytes_per_second", K::kGauge, "bytes/s", "bytes read per second"},
    {"disk_write_bytes_per_second", K::kGauge, "bytes/s", "bytes written per second"},
    {"disk_await_ms", K::kGauge, "ms", "mean service time of the interval's reads and writes"},
    {"disk_write_await_ms", K::kGauge, "ms", "mean service time of the interval's writes"},
    {"disk_util_ratio", K::kGauge, "ratio", "busy time / interval"},
    {"disk_in_flight", K::kGauge, "requests", "requests in flight"},
    {"disk_flushes_per_second", K::kGauge, "1/s", "cache flushes per second"},
    {"disk_sectors_written_total", K::kGauge, "sectors", "512-byte sectors written since boot"},
    {"fs_avail_bytes", K::kGauge, "bytes", "free space of the data dir's filesystem"},
    {"etcd_write_bytes_per_second", K::kGauge, "bytes/s", "etcd's own writes (/proc/PID/io)"},
    // host
    {"cpu_temperature_celsius", K::kGauge, "celsius", "the hottest thermal zone"},
    {"cpu_freq_ratio", K::kGauge, "ratio", "current / max frequency of the slowest policy"},
    {"under_voltage", K::kGauge, "bool", "Raspberry Pi firmware: under-voltage now"},
    {"throttled", K::kGauge, "bool", "Raspberry Pi firmware: throttled now"},
    {"freq_capped", K::kGauge, "bool", "Raspberry Pi firmware: frequency capped now"},
    {"io_pressure_some_avg10", K::kGauge, "percent", "PSI io some, 10 s average"},
    {"io_pressure_full_avg10", K::kGauge, "percent", "PSI io full, 10 s average"},
    {"cpu_pressure_some_avg10", K::kGauge, "percent", "PSI cpu some, 10 s average"},
    {"memory_pressure_some_avg10", K::kGauge, "percent", "PSI memory some, 10 s average"},
    {"load1", K::kGauge, "tasks", "1-minute load average"},
    {"mem_available_bytes", K::kGauge, "bytes", "MemAvailable"},
    {"unit_restarts", K::kGauge, "restarts", "systemd NRestarts of the etcd unit"},
};

struct Alias {
  const char* name;
  const char* target;
  const char* agg;
};
const Alias kAliases[] = {
    {"wal_fsync_p99_seconds", "wal_fsync_seconds", "p99"},
    {"wal_fsync_p90_seconds", "wal_fsync_seconds", "p90"},
    {"wal_fsync_p50_seconds", "wal_fsync_seconds", "p50"},
    {"backend_commit_p99_seconds", "backend_commit_seconds", "p99"},
    {"backend_commit_p90_seconds", "backend_commit_seconds", "p90"},
    {"backend_commit_p50_seconds", "backend_commit_seconds", "p50"},
    {"peer_rtt_p99_seconds", "peer_rtt_seconds", "p99"},
    {"peer_rtt_p90_seconds", "peer_rtt_seconds", "p90"},
    {"peer_rtt_p50_seconds", "peer_rtt_seconds", "p50"},
};

int id(std::string_view name) {
  for (size_t i = 0; i < kCatalog.size(); ++i)
    if (name == kCatalog[i].name) return static_cast<int>(i);
  return -1;
}

// Ids resolved once; a typo in a name here fails the unit tests (id -1 never matches a lookup).
struct Ids {
  int reachable = id("etcd_reachable"), healthy = id("etcd_healthy"), has_leader = id("has_leader"),
      is_leader = id("is_leader"), term = id("raft_term"), index = id("raft_index"),
      applied = id("raft_applied_index"), lag = id("apply_lag"), db = id("db_size_bytes"),
      db_use = id("db_size_in_use_bytes"), lat = id("status_latency_ms"),
      alarms = id("alarms_active"), leader_changes = id("leader_changes"),
      pending = id("proposals_pending"), failed = id("proposals_failed"), slow = id("slow_applies"),
      hb = id("heartbeat_send_failures"), peer_fail = id("peer_sent_failures"),
      quota = id("quota_backend_bytes"), quota_ratio = id("db_quota_used_ratio"),
      fsync = id("wal_fsync_seconds"), commit = id("backend_commit_seconds"),
      rtt = id("peer_rtt_seconds"), r_iops = id("disk_read_iops"), w_iops = id("disk_write_iops"),
      r_bps = id("disk_read_bytes_per_second"), w_bps = id("disk_write_bytes_per_second"),
      await = id("disk_await_ms"), w_await = id("disk_write_await_ms"),
      util = id("disk_util_ratio"), inflight = id("disk_in_flight"),
      flushes = id("disk_flushes_per_second"), sectors = id("disk_sectors_written_total"),
      fs_avail = id("fs_avail_bytes"), etcd_w = id("etcd_write_bytes_per_second"),
      temp = id("cpu_temperature_celsius"), freq = id("cpu_freq_ratio"), uv = id("under_voltage"),
      thr = id("throttled"), capped = id("freq_capped"), io_some = id("io_pressure_some_avg10"),
      io_full = id("io_pressure_full_avg10"), cpu_some = id("cpu_pressure_some_avg10"),
      mem_some = id("memory_pressure_some_avg10"), load1 = id("load1"),
      mem_avail = id("mem_available_bytes"), restarts = id("unit_restarts");
};
const Ids& ids() {
  static const Ids i;
  return i;
}

double d(uint64_t v) { return static_cast<double>(v); }

}  // namespace

const std::vector<MetricDef>& metricCatalog() { return kCatalog; }

int findMetric(std::string_view name, std::string* fixed_agg) {
  if (int i = id(name); i >= 0) return i;
  for (const auto& a : kAliases)
    if (name == a.name) {
      if (fixed_agg) *fixed_agg = a.agg;
      return id(a.target);
    }
  return -1;
}

const char* defaultAgg(MetricKind k) {
  switch (k) {
    case K::kGauge:
      return "avg";
    case K::kCounter:
      return "sum";
    case K::kHistogram:
      return "p99";
  }
  return "avg";
}

const char* kindName(MetricKind k) {
  switch (k) {
    case K::kGauge:
      return "gauge";
    case K::kCounter:
      return "counter";
    case K::kHistogram:
      return "histogram";
  }
  return "gauge";
}

bool mergeHistogram(qw::wire::Histogram* a, const qw::wire::Histogram& b) {
  if (a->upper_bounds_size() == 0 && a->counts_size() == 0) {
    *a = b;
    return true;
  }
  if (a->upper_bounds_size() != b.upper_bounds_size() || a->counts_size() != b.counts_size())
    return false;
  for (int i = 0; i < a->upper_bounds_size(); ++i)
    if (a->upper_bounds(i) != b.upper_bounds(i)) return false;
  for (int i = 0; i < a->counts_size(); ++i) a->set_counts(i, a->counts(i) + b.counts(i));
  a->set_sum(a->sum() + b.sum());
  a->set_count(a->count() + b.count());
  return true;
}

void extractPoints(const qw::wire::NodeSample& s, std::vector<GaugePoint>* g,
                   std::vector<HistPoint>* h) {
  const Ids& I = ids();
  auto put = [g](int m, double v) { g->push_back({m, v}); };
  const auto& e = s.etcd();
  put(I.reachable, e.reachable() ? 1 : 0);
  if (e.reachable()) {
    if (e.has_health()) put(I.healthy, e.health() ? 1 : 0);
    put(I.has_leader, e.has_leader() ? 1 : 0);
    put(I.is_leader, e.is_leader() ? 1 : 0);
    if (e.raft_term()) put(I.term, d(e.raft_term()));
    if (e.raft_index()) {
      put(I.index, d(e.raft_index()));
      put(I.applied, d(e.raft_applied_index()));
      put(I.lag, e.raft_index() > e.raft_applied_index()
                     ? d(e.raft_index() - e.raft_applied_index())
                     : 0.0);
    }
    if (e.db_size_bytes() > 0) put(I.db, static_cast<double>(e.db_size_bytes()));
    if (e.db_size_in_use_bytes() > 0) put(I.db_use, static_cast<double>(e.db_size_in_use_bytes()));
    put(I.lat, e.status_latency_us() / 1000.0);
    if (e.alarms_ok()) put(I.alarms, e.alarms_size());
  }
  if (s.has_metrics() && s.metrics().interval_ms() > 0) {
    const auto& m = s.metrics();
    // After a reset the deltas restart from a fresh process: counters are meaningful only when
    // the interval had a previous reading, which interval_ms > 0 and !counters_reset say.
    bool deltas = !m.counters_reset();
    if (deltas && m.has_leader_changes()) put(I.leader_changes, d(m.leader_changes()));
    if (m.has_proposals_pending()) put(I.pending, m.proposals_pending());
    if (deltas && m.has_proposals_failed()) put(I.failed, d(m.proposals_failed()));
    if (deltas && m.has_slow_applies()) put(I.slow, d(m.slow_applies()));
    if (deltas && m.has_heartbeat_send_failures()) put(I.hb, d(m.heartbeat_send_failures()));
    if (deltas && m.peer_sent_failures_size() > 0) {
      double sum = 0;
      for (const auto& p : m.peer_sent_failures()) sum += d(p.value());
      put(I.peer_fail, sum);
    }
    if (m.has_quota_backend_bytes()) {
      put(I.quota, m.quota_backend_bytes());
      if (m.has_db_total_size_bytes() && m.quota_backend_bytes() > 0)
        put(I.quota_ratio, m.db_total_size_bytes() / m.quota_backend_bytes());
    }
    if (deltas && h) {
      if (m.wal_fsync().counts_size() > 0) h->push_back({I.fsync, m.wal_fsync()});
      if (m.backend_commit().counts_size() > 0) h->push_back({I.commit, m.backend_commit()});
      if (m.peer_rtt_size() > 0) {
        HistPoint p{I.rtt, {}};
        for (const auto& peer : m.peer_rtt()) mergeHistogram(&p.hist, peer.rtt());
        h->push_back(std::move(p));
      }
    }
  }
  if (s.has_disk()) {
    const auto& dk = s.disk();
    put(I.inflight, dk.in_flight());
    if (dk.sectors_written_total()) put(I.sectors, d(dk.sectors_written_total()));
    if (dk.has_fs_avail_bytes()) put(I.fs_avail, d(dk.fs_avail_bytes()));
    if (dk.interval_ms() > 0 && !dk.counters_reset()) {
      double secs = static_cast<double>(dk.interval_ms()) / 1000.0;
      put(I.r_iops, d(dk.reads()) / secs);
      put(I.w_iops, d(dk.writes()) / secs);
      put(I.r_bps, d(dk.read_bytes()) / secs);
      put(I.w_bps, d(dk.write_bytes()) / secs);
      uint64_t ios = dk.reads() + dk.writes();
      if (ios > 0) put(I.await, d(dk.read_time_ms() + dk.write_time_ms()) / d(ios));
      if (dk.writes() > 0) put(I.w_await, d(dk.write_time_ms()) / d(dk.writes()));
      put(I.util, std::min(1.0, d(dk.busy_ms()) / static_cast<double>(dk.interval_ms())));
      if (dk.has_flushes()) put(I.flushes, d(dk.flushes()) / secs);
      if (dk.has_etcd_write_bytes()) put(I.etcd_w, d(dk.etcd_write_bytes()) / secs);
    }
  }
  if (s.has_host()) {
    const auto& ho = s.host();
    bool any_zone = false;
    double hottest = 0;
    for (const auto& z : ho.thermal())
      if (!any_zone || z.temp_celsius() > hottest) {
        hottest = z.temp_celsius();
        any_zone = true;
      }
    if (any_zone) put(I.temp, hottest);
    bool any_freq = false;
    double slowest = 0;
    for (const auto& f : ho.cpufreq())
      if (f.max_khz() > 0) {
        double r = static_cast<double>(f.cur_khz()) / static_cast<double>(f.max_khz());
        if (!any_freq || r < slowest) slowest = r;
        any_freq = true;
      }
    if (any_freq) put(I.freq, slowest);
    if (ho.has_throttled()) {
      put(I.uv, ho.throttled().under_voltage() ? 1 : 0);
      put(I.thr, ho.throttled().throttled() ? 1 : 0);
      put(I.capped, ho.throttled().freq_capped() ? 1 : 0);
    }
    if (ho.has_io_some()) put(I.io_some, ho.io_some().avg10());
    if (ho.has_io_full()) put(I.io_full, ho.io_full().avg10());
    if (ho.has_cpu_some()) put(I.cpu_some, ho.cpu_some().avg10());
    if (ho.has_memory_some()) put(I.mem_some, ho.memory_some().avg10());
    if (ho.has_load1()) put(I.load1, ho.load1());
    if (ho.has_mem_available_bytes()) put(I.mem_avail, d(ho.mem_available_bytes()));
    if (ho.has_unit_restarts()) put(I.restarts, ho.unit_restarts());
  }
}

}  // namespace qw::aggregator
