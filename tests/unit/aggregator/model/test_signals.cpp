// The one derivation of signals (model/signals) and its three readers: the node view, /metrics and
// the series writer are all checked against one table of expected values.
#include <cmath>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/prometheus.h"
#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/series.h"
#include "qw/aggregator/model/signals.h"
#include "qw/aggregator/view/cluster_view.h"
#include "qw/aggregator/view/node_view.h"

using namespace qw::aggregator;

namespace {

qw::wire::Histogram histogram(std::initializer_list<double> bounds,
                              std::initializer_list<uint64_t> cumulative) {
  qw::wire::Histogram h;
  for (double b : bounds) h.add_upper_bounds(b);
  h.add_upper_bounds(INFINITY);  // Prometheus's +Inf bucket, as the agent sends it
  for (uint64_t c : cumulative) h.add_counts(c);
  h.set_count(cumulative.size() ? *(cumulative.end() - 1) : 0);
  return h;
}

// A sample with every sensor, and the values each signal must derive from it.
qw::wire::NodeSample fullSample() {
  qw::wire::NodeSample s;
  auto& e = *s.mutable_etcd();
  e.set_reachable(true);
  e.set_health(true);
  e.set_has_leader(true);
  e.set_is_leader(false);
  e.set_raft_term(7);
  e.set_raft_index(1000);
  e.set_raft_applied_index(990);
  e.set_db_size_bytes(4 << 20);
  e.set_db_size_in_use_bytes(3 << 20);
  e.set_status_latency_us(2500);
  e.set_alarms_ok(true);
  auto& m = *s.mutable_metrics();
  m.set_interval_ms(10000);
  m.set_leader_changes(2);
  m.set_proposals_pending(3);
  m.set_proposals_failed(1);
  m.set_slow_applies(4);
  m.set_heartbeat_send_failures(5);
  m.add_peer_sent_failures()->set_value(6);
  m.add_peer_sent_failures()->set_value(1);
  m.set_quota_backend_bytes(8 << 20);
  m.set_db_total_size_bytes(2 << 20);
  // 100 fsyncs, all in (0.004, 0.008]: p99 interpolates to 0.004 + 0.99 * 0.004.
  *m.mutable_wal_fsync() = histogram({0.004, 0.008}, {0, 100, 100});
  *m.mutable_backend_commit() = histogram({0.016, 0.032}, {0, 100, 100});
  *m.add_peer_rtt()->mutable_rtt() = histogram({0.001, 0.002}, {100, 100, 100});
  *m.add_peer_rtt()->mutable_rtt() = histogram({0.1, 0.2}, {0, 100, 100});
  auto& d = *s.mutable_disk();
  d.set_interval_ms(2000);
  d.set_reads(10);
  d.set_writes(30);
  d.set_read_bytes(4096);
  d.set_write_bytes(8192);
  d.set_read_time_ms(20);
  d.set_write_time_ms(90);
  d.set_busy_ms(500);
  d.set_in_flight(2);
  d.set_flushes(8);
  d.set_sectors_written_total(123456);
  d.set_fs_avail_bytes(1000);
  d.set_fs_total_bytes(4000);
  d.set_etcd_write_bytes(2048);
  auto& h = *s.mutable_host();
  auto* z1 = h.add_thermal();
  z1->set_temp_celsius(51.5);
  auto* z2 = h.add_thermal();
  z2->set_temp_celsius(62.0);
  auto* t1 = z2->add_trips();
  t1->set_type("critical");
  t1->set_temp_celsius(90);
  auto* t2 = z2->add_trips();
  t2->set_type("passive");
  t2->set_temp_celsius(80);
  auto* f1 = h.add_cpufreq();
  f1->set_cur_khz(600000);
  f1->set_max_khz(1500000);
  auto* f2 = h.add_cpufreq();
  f2->set_cur_khz(1500000);
  f2->set_max_khz(1500000);
  auto& th = *h.mutable_throttled();
  th.set_under_voltage(true);
  th.set_under_voltage_since_boot(true);
  th.set_throttled_since_boot(true);
  h.mutable_io_some()->set_avg10(12.5);
  h.mutable_io_full()->set_avg10(3.5);
  h.mutable_cpu_some()->set_avg10(1.25);
  h.mutable_memory_some()->set_avg10(0.5);
  h.set_load1(1.75);
  h.set_mem_available_bytes(500 << 20);
  h.set_mem_total_bytes(1 << 30);
  h.set_unit_restarts(3);
  return s;
}

const std::map<std::string, double> kExpected = {
    {"etcd_reachable", 1},
    {"etcd_healthy", 1},
    {"has_leader", 1},
    {"is_leader", 0},
    {"raft_term", 7},
    {"raft_index", 1000},
    {"raft_applied_index", 990},
    {"apply_lag", 10},
    {"db_size_bytes", 4 << 20},
    {"db_size_in_use_bytes", 3 << 20},
    {"status_latency_seconds", 0.0025},
    {"alarms_active", 0},
    {"metrics_interval_seconds", 10},
    {"leader_changes", 2},
    {"proposals_pending", 3},
    {"proposals_failed", 1},
    {"slow_applies", 4},
    {"heartbeat_send_failures", 5},
    {"peer_sent_failures", 7},
    {"quota_backend_bytes", 8 << 20},
    {"db_quota_used_ratio", 0.25},
    {"wal_fsync_p99_seconds", 0.004 + 0.99 * 0.004},
    {"backend_commit_p99_seconds", 0.016 + 0.99 * 0.016},
    {"peer_rtt_p99_seconds", 0.1 + 0.99 * 0.1},  // the slowest peer, not the merged histogram
    {"disk_read_iops", 5},
    {"disk_write_iops", 15},
    {"disk_read_bytes_per_second", 2048},
    {"disk_write_bytes_per_second", 4096},
    {"disk_await_seconds", 0.11 / 40},
    {"disk_read_await_seconds", 0.002},
    {"disk_write_await_seconds", 0.003},
    {"disk_util_ratio", 0.25},
    {"disk_in_flight", 2},
    {"disk_flushes_per_second", 4},
    {"disk_sectors_written_total", 123456},
    {"fs_avail_bytes", 1000},
    {"fs_total_bytes", 4000},
    {"etcd_write_bytes_per_second", 1024},
    {"cpu_temperature_celsius", 62},
    {"temperature_trip_celsius", 80},
    {"cpu_freq_ratio", 0.4},
    {"under_voltage", 1},
    {"under_voltage_since_boot", 1},
    {"freq_capped", 0},
    {"throttled", 0},
    {"throttled_since_boot", 1},
    {"soft_temp_limit", 0},
    {"io_pressure_some_avg10", 12.5},
    {"io_pressure_full_avg10", 3.5},
    {"cpu_pressure_some_avg10", 1.25},
    {"memory_pressure_some_avg10", 0.5},
    {"load1", 1.75},
    {"mem_available_bytes", 500 << 20},
    {"mem_total_bytes", 1 << 30},
    {"unit_restarts_total", 3},
};

// The value /metrics printed for `name` on node "n1", if any.
std::optional<double> metricValue(const std::string& text, const std::string& name) {
  std::string key = name + "{cluster=\"c\",node=\"n1\"} ";
  auto at = text.find("\n" + key);
  if (at == std::string::npos) return std::nullopt;
  return std::stod(text.substr(at + 1 + key.size()));
}

}  // namespace

TEST_CASE("every signal is derived once and read alike by the node view, /metrics and series") {
  auto sample = fullSample();
  auto sig = deriveSignals(&sample);
  REQUIRE(signalTable().size() == kExpected.size());

  NodeState n;
  n.name = "n1";
  n.has_sample = true;
  n.latest = sample;
  n.has_metrics = true;
  n.metrics = sample.metrics();
  n.last_seen_steady_ms = 1000;
  n.last_seen_wall_ms = 1000;
  auto view = buildNodeView(n, 2000);
  CHECK_FALSE(view.has_spool_write_errors_total());  // the agent said nothing: absent
  n.spool_write_errors = 3;
  n.spool_last_write_error = "cannot append to /var/lib/x: No space left on device";
  auto with_errors = buildNodeView(n, 2000);
  CHECK(with_errors.spool_write_errors_total() == 3);
  CHECK(with_errors.spool_last_write_error() == n.spool_last_write_error);
  const auto* desc = qw::api::NodeView::descriptor();
  const auto* refl = view.GetReflection();

  Hub hub;
  hub.node("n1") = n;
  ViewConfig cfg;
  cfg.cluster_name = "c";
  auto text = renderMetrics(computeClusterView(hub, cfg, 2000, 1000), hub, SelfStats{}, cfg, 1000);

  std::vector<GaugePoint> gauges;
  std::vector<HistPoint> hists;
  extractPoints(sample, &gauges, &hists);
  std::map<std::string, double> points;
  for (const auto& g : gauges) points[metricCatalog()[g.metric].name] = g.value;

  for (const auto& def : signalTable()) {
    INFO("signal " << def.name);
    auto want = kExpected.find(def.name);
    REQUIRE(want != kExpected.end());
    REQUIRE((sig.*def.field).has_value());
    CHECK((sig.*def.field).value() == Approx(want->second));

    // The node view has a field of the signal's name holding the value.
    const auto* f = desc->FindFieldByName(def.name);
    REQUIRE(f != nullptr);
    REQUIRE(refl->HasField(view, f));
    double shown = f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL
                       ? (refl->GetBool(view, f) ? 1.0 : 0.0)
                       : refl->GetDouble(view, f);
    CHECK(shown == Approx(want->second));

    // /metrics: exported signals as quorumwatch_node_<name>, counters end in _total.
    auto printed = metricValue(text, std::string("quorumwatch_node_") + def.name);
    if (def.exported) {
      REQUIRE(printed.has_value());
      CHECK(*printed == Approx(want->second));
      if (def.kind == SignalKind::kTotal)
        CHECK(text.find(std::string("# TYPE quorumwatch_node_") + def.name + " counter") !=
              std::string::npos);
    } else {
      CHECK_FALSE(printed.has_value());
    }

    // The series writer: stored signals as a point of the same name and value.
    if (def.stored) {
      REQUIRE(points.count(def.name));
      CHECK(points[def.name] == Approx(want->second));
    } else {
      CHECK_FALSE(points.count(def.name));
    }
  }
  // The quantile signals' histograms are stored, and named as the aliases say.
  CHECK(hists.size() == 3);
  std::string agg;
  CHECK(findMetric("wal_fsync_p99_seconds", &agg) == findMetric("wal_fsync_seconds", nullptr));
  CHECK(agg == "p99");
  CHECK(metricCatalog()[findMetric("peer_rtt_p99_seconds", nullptr)].kind == MetricKind::kGauge);
}

TEST_CASE("unknown signals are absent, never 0") {
  SECTION("no sample at all") {
    auto s = deriveSignals(nullptr);
    for (const auto& def : signalTable()) CHECK_FALSE((s.*def.field).has_value());
  }
  SECTION("etcd unreachable: only etcd_reachable = 0; first intervals: no rates") {
    qw::wire::NodeSample sample;
    sample.mutable_etcd()->set_reachable(false);
    sample.mutable_disk()->set_sectors_written_total(5);  // interval_ms 0: the first reading
    sample.mutable_metrics()->set_interval_ms(10000);
    sample.mutable_metrics()->set_counters_reset(true);  // etcd restarted: deltas unknown
    sample.mutable_metrics()->set_leader_changes(4);
    auto s = deriveSignals(&sample);
    CHECK(s.etcd_reachable == 0.0);
    CHECK_FALSE(s.raft_index.has_value());
    CHECK_FALSE(s.status_latency_seconds.has_value());
    CHECK_FALSE(s.disk_write_iops.has_value());
    CHECK_FALSE(s.disk_write_await_seconds.has_value());
    CHECK(s.disk_sectors_written_total == 5.0);
    CHECK_FALSE(s.leader_changes.has_value());
    CHECK_FALSE(s.metrics_interval_seconds.has_value());
    CHECK_FALSE(s.cpu_temperature_celsius.has_value());
  }
  SECTION("an interval without writes has no write await; an empty histogram no p99") {
    qw::wire::NodeSample sample;
    sample.mutable_etcd()->set_reachable(true);
    sample.mutable_disk()->set_interval_ms(1000);
    sample.mutable_disk()->set_reads(2);
    sample.mutable_disk()->set_read_time_ms(4);
    sample.mutable_metrics()->set_interval_ms(10000);
    *sample.mutable_metrics()->mutable_wal_fsync() = histogram({0.004}, {0, 0});
    auto s = deriveSignals(&sample);
    CHECK_FALSE(s.disk_write_await_seconds.has_value());
    CHECK(s.disk_read_await_seconds == Approx(0.002));
    CHECK(s.disk_write_iops == 0.0);
    CHECK_FALSE(s.wal_fsync_p99_seconds.has_value());
    CHECK_FALSE(s.raft_index.has_value());  // the status answer carried no index
  }
}

TEST_CASE("closed vocabularies: stored names map to the API's enums, unknown ones to UNSPECIFIED") {
  CHECK(eventKind("LEADER_CHANGE") == qw::api::Event::LEADER_CHANGE);
  CHECK(eventKind("THROTTLED_CLEARED") == qw::api::Event::THROTTLED_CLEARED);
  CHECK(eventKind("SOMETHING_NEW") == qw::api::Event::KIND_UNSPECIFIED);
  CHECK(eventKind("") == qw::api::Event::KIND_UNSPECIFIED);
  CHECK(severityOf("CRITICAL") == qw::api::CRITICAL);
  CHECK(severityOf("critical") == qw::api::SEVERITY_UNSPECIFIED);
  CHECK(metricKind(MetricKind::kHistogram) == qw::api::MetricInfo::HISTOGRAM);
  // Every kind the event deriver emits is one of the enum's names.
  EventDeriver d;
  std::vector<Event> out;
  qw::wire::NodeSample s;
  s.mutable_etcd()->set_reachable(true);
  s.mutable_host()->mutable_throttled()->set_under_voltage(true);
  d.onSample("n1", s, 1000, &out);
  s.mutable_etcd()->set_reachable(false);
  s.mutable_host()->mutable_throttled()->set_under_voltage(false);
  d.onSample("n1", s, 2000, &out);
  REQUIRE_FALSE(out.empty());
  for (const auto& e : out) {
    INFO(e.kind << " " << e.severity);
    CHECK(eventKind(e.kind) != qw::api::Event::KIND_UNSPECIFIED);
    CHECK(severityOf(e.severity) != qw::api::SEVERITY_UNSPECIFIED);
  }
}
