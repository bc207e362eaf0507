#include "qw/aggregator/view/node_view.h"

#include <algorithm>

#include "qw/aggregator/model/quantile.h"
#include "qw/time_util.h"

namespace qw::aggregator {

namespace {

void fillDisk(const qw::wire::DiskSample& d, qw::api::NodeView* v) {
  v->set_disk_device(d.device());
  v->set_disk_partition(d.partition());
  v->set_disk_in_flight(d.in_flight());
  v->set_disk_sectors_written_total(static_cast<double>(d.sectors_written_total()));
  if (d.has_fs_avail_bytes()) v->set_fs_avail_bytes(static_cast<double>(d.fs_avail_bytes()));
  if (d.has_fs_total_bytes()) v->set_fs_total_bytes(static_cast<double>(d.fs_total_bytes()));
  if (d.interval_ms() <= 0 || d.counters_reset()) return;  // no rates without a previous reading
  double secs = static_cast<double>(d.interval_ms()) / 1000.0;
  v->set_disk_read_iops(static_cast<double>(d.reads()) / secs);
  v->set_disk_write_iops(static_cast<double>(d.writes()) / secs);
  v->set_disk_write_bytes_per_second(static_cast<double>(d.write_bytes()) / secs);
  if (d.writes() > 0)
    v->set_disk_write_await_ms(static_cast<double>(d.write_time_ms()) /
                               static_cast<double>(d.writes()));
  if (d.reads() > 0)
    v->set_disk_read_await_ms(static_cast<double>(d.read_time_ms()) /
                              static_cast<double>(d.reads()));
  v->set_disk_util_ratio(
      std::min(1.0, static_cast<double>(d.busy_ms()) / static_cast<double>(d.interval_ms())));
  if (d.has_flushes()) v->set_disk_flushes_per_second(static_cast<double>(d.flushes()) / secs);
  if (d.has_etcd_write_bytes())
    v->set_etcd_write_bytes_per_second(static_cast<double>(d.etcd_write_bytes()) / secs);
}

void fillHost(const qw::wire::HostSample& h, qw::api::NodeView* v) {
  const qw::wire::ThermalZone* hottest = nullptr;
  for (const auto& z : h.thermal())
    if (!hottest || z.temp_celsius() > hottest->temp_celsius()) hottest = &z;
  if (hottest) {
    v->set_cpu_temperature_celsius(hottest->temp_celsius());
    for (const auto& t : hottest->trips())
      if ((t.type() == "passive" || t.type() == "critical" || t.type() == "hot") &&
          t.temp_celsius() > 0 &&
          (!v->has_temperature_trip_celsius() || t.temp_celsius() < v->temperature_trip_celsius()))
        v->set_temperature_trip_celsius(t.temp_celsius());
  }
  for (const auto& f : h.cpufreq())
    if (f.max_khz() > 0) {
      double r = static_cast<double>(f.cur_khz()) / static_cast<double>(f.max_khz());
      if (!v->has_cpu_freq_ratio() || r < v->cpu_freq_ratio()) v->set_cpu_freq_ratio(r);
    }
  if (h.has_throttled()) {
    const auto& t = h.throttled();
    v->set_under_voltage(t.under_voltage());
    v->set_under_voltage_since_boot(t.under_voltage_since_boot());
    v->set_freq_capped(t.freq_capped());
    v->set_throttled(t.throttled());
    v->set_throttled_since_boot(t.throttled_since_boot());
    v->set_soft_temp_limit(t.soft_temp_limit());
  }
  if (h.has_io_some()) v->set_io_pressure_some_avg10(h.io_some().avg10());
  if (h.has_io_full()) v->set_io_pressure_full_avg10(h.io_full().avg10());
  if (h.has_cpu_some()) v->set_cpu_pressure_some_avg10(h.cpu_some().avg10());
  if (h.has_memory_some()) v->set_memory_pressure_some_avg10(h.memory_some().avg10());
  if (h.has_load1()) v->set_load1(h.load1());
  if (h.has_mem_available_bytes())
    v->set_mem_available_bytes(static_cast<double>(h.mem_available_bytes()));
  if (h.has_mem_total_bytes()) v->set_mem_total_bytes(static_cast<double>(h.mem_total_bytes()));
  if (h.has_etcd_start_unix_ms()) v->set_etcd_started_at(rfc3339(h.etcd_start_unix_ms()));
  v->set_etcd_pid(h.etcd_pid());
  if (h.has_unit_restarts()) v->set_unit_restarts(h.unit_restarts());
  v->set_unit_state(h.unit_state());
  for (const auto& u : h.unsupported()) v->add_unsupported(u);
}

}  // namespace

void fillNodeSignals(const NodeState& n, qw::api::NodeView* v) {
  v->set_etcd_flavor(n.etcd_flavor);
  v->set_etcd_data_dir(n.etcd_data_dir);
  v->set_etcd_unit(n.etcd_unit);
  if (n.has_sample) {
    v->set_clock_synced(n.latest.clock_synced());
    v->set_time_source(n.time_source);
    if (n.latest.has_disk()) fillDisk(n.latest.disk(), v);
    if (n.latest.has_host()) fillHost(n.latest.host(), v);
  }
  if (n.has_metrics) {
    const auto& m = n.metrics;
    v->set_metrics_interval_seconds(static_cast<double>(m.interval_ms()) / 1000.0);
    if (auto p = histogramQuantile(0.99, m.wal_fsync())) v->set_wal_fsync_p99_seconds(*p);
    if (auto p = histogramQuantile(0.99, m.backend_commit())) v->set_backend_commit_p99_seconds(*p);
    for (const auto& peer : m.peer_rtt())
      if (auto p = histogramQuantile(0.99, peer.rtt()))
        v->set_peer_rtt_p99_seconds(std::max(v->peer_rtt_p99_seconds(), *p));
    if (m.has_leader_changes())
      v->set_leader_changes_last_interval(static_cast<double>(m.leader_changes()));
  }
}

}  // namespace qw::aggregator
