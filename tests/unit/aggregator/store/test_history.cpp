// History: series extraction, raw and rollup queries, percentiles from stored bucket deltas,
// retention in small steps, events derived at ingest, a full database.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <set>

#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/quantile.h"
#include "qw/aggregator/model/series.h"
#include "qw/aggregator/store/store.h"
#include "qw/time_util.h"

using qw::aggregator::Event;
using qw::aggregator::EventDeriver;
using qw::aggregator::findMetric;
using qw::aggregator::Store;

namespace {

struct TempDb {
  std::string path;
  TempDb() {
    char tmpl[] = "/tmp/qw-hist-XXXXXX";
    path = std::string(mkdtemp(tmpl)) + "/agg.db";
  }
  ~TempDb() { std::filesystem::remove_all(std::filesystem::path(path).parent_path()); }
};

constexpr int64_t kT0 = 1'700'000'040'000;  // a whole minute

qw::wire::Histogram hist(std::vector<uint64_t> cum) {
  qw::wire::Histogram h;
  const double bounds[] = {0.001, 0.002, 0.004, 0.008, INFINITY};
  for (size_t i = 0; i < cum.size(); ++i) {
    h.add_upper_bounds(bounds[i]);
    h.add_counts(cum[i]);
  }
  h.set_count(cum.back());
  return h;
}

// A sample at `ts` whose load1 is `load` (a gauge present in every sample).
qw::wire::NodeSample sample(int64_t ts, double load, bool synced = true) {
  qw::wire::NodeSample s;
  s.set_ts_unix_ms(ts);
  s.set_clock_synced(synced);
  s.mutable_etcd()->set_reachable(true);
  s.mutable_etcd()->set_member_id(7);
  s.mutable_host()->set_load1(load);
  return s;
}

// Everything a Pi reports, so every metric of the catalogue has a value.
qw::wire::NodeSample fullSample(int64_t ts) {
  qw::wire::NodeSample s = sample(ts, 1.5);
  auto* e = s.mutable_etcd();
  e->set_health(true);
  e->set_has_leader(true);
  e->set_is_leader(true);
  e->set_leader_id(7);
  e->set_raft_term(3);
  e->set_raft_index(100);
  e->set_raft_applied_index(98);
  e->set_db_size_bytes(1 << 20);
  e->set_db_size_in_use_bytes(1 << 19);
  e->set_status_latency_us(1500);
  e->set_alarms_ok(true);
  auto* m = s.mutable_metrics();
  m->set_interval_ms(10000);
  m->set_leader_changes(1);
  m->set_proposals_pending(2);
  m->set_proposals_failed(0);
  m->set_slow_applies(0);
  m->set_heartbeat_send_failures(0);
  m->add_peer_sent_failures()->set_value(3);
  m->set_quota_backend_bytes(2 << 20);
  m->set_db_total_size_bytes(1 << 20);
  *m->mutable_wal_fsync() = hist({5, 9, 10, 10, 10});
  *m->mutable_backend_commit() = hist({5, 9, 10, 10, 10});
  auto* peer = m->add_peer_rtt();
  peer->set_to("8e9e05c52164694d");
  *peer->mutable_rtt() = hist({1, 1, 1, 1, 1});
  auto* d = s.mutable_disk();
  d->set_interval_ms(1000);
  d->set_reads(10);
  d->set_writes(20);
  d->set_read_bytes(4096);
  d->set_write_bytes(8192);
  d->set_read_time_ms(10);
  d->set_write_time_ms(50);
  d->set_busy_ms(500);
  d->set_in_flight(1);
  d->set_flushes(3);
  d->set_sectors_written_total(1000);
  d->set_fs_avail_bytes(1 << 30);
  d->set_etcd_write_bytes(4096);
  auto* h = s.mutable_host();
  auto* z = h->add_thermal();
  z->set_type("cpu-thermal");
  z->set_temp_celsius(61.5);
  auto* f = h->add_cpufreq();
  f->set_cur_khz(600000);
  f->set_max_khz(1500000);
  h->mutable_throttled()->set_under_voltage(true);
  h->mutable_io_some()->set_avg10(1);
  h->mutable_io_full()->set_avg10(0.5);
  h->mutable_cpu_some()->set_avg10(2);
  h->mutable_memory_some()->set_avg10(0);
  h->set_mem_available_bytes(1 << 30);
  h->set_unit_restarts(2);
  return s;
}

struct Db {
  TempDb t;
  Store s;
  uint64_t seq = 0;
  explicit Db(Store::Options o = {})
      : s(([&] {
          o.path = t.path;
          return o;
        })()) {
    REQUIRE_FALSE(s.recordAgent("inst", "n1", "c", "v", "boot", "", kT0));
  }
  // One batch of `samples`, received at `recv`.
  std::optional<std::string> put(std::vector<qw::wire::NodeSample> samples, int64_t recv,
                                 EventDeriver* d = nullptr) {
    qw::wire::Batch b;
    b.set_seq(++seq);
    for (auto& x : samples) *b.add_samples() = std::move(x);
    std::vector<Store::Item> items{{"inst", "n1", &b, recv}};
    auto err = s.commit(items, d);
    if (err) --seq;
    return err;
  }
  std::vector<Store::SeriesPoint> query(const char* metric, int64_t from, int64_t to, int64_t step,
                                        const char* agg) {
    std::vector<Store::SeriesPoint> out;
    std::string fixed;
    auto err = s.querySeries("n1", findMetric(metric, &fixed), from, to, step, agg, &out);
    INFO(err.value_or(""));
    REQUIRE_FALSE(err);
    return out;
  }
};

}  // namespace

TEST_CASE("a fully populated sample yields a point for every metric of the catalogue") {
  std::vector<qw::aggregator::GaugePoint> g;
  std::vector<qw::aggregator::HistPoint> h;
  qw::aggregator::extractPoints(fullSample(kT0), &g, &h);
  std::set<int> seen;
  for (const auto& p : g) seen.insert(p.metric);
  for (const auto& p : h) seen.insert(p.metric);
  for (size_t i = 0; i < qw::aggregator::metricCatalog().size(); ++i) {
    INFO(qw::aggregator::metricCatalog()[i].name);
    CHECK(seen.count(static_cast<int>(i)) == 1);
  }
  std::string agg;
  CHECK(findMetric("wal_fsync_p99_seconds", &agg) == findMetric("wal_fsync_seconds", nullptr));
  CHECK(agg == "p99");
  CHECK(findMetric("no_such_metric", nullptr) == -1);
}

TEST_CASE("unknown values are absent, not zero") {
  qw::wire::NodeSample s;
  s.mutable_etcd()->set_reachable(false);
  s.mutable_disk()->set_counters_reset(true);  // no rates without a previous reading
  s.mutable_disk()->set_interval_ms(1000);
  std::vector<qw::aggregator::GaugePoint> g;
  std::vector<qw::aggregator::HistPoint> h;
  qw::aggregator::extractPoints(s, &g, &h);
  std::set<std::string> names;
  for (const auto& p : g) names.insert(qw::aggregator::metricCatalog()[p.metric].name);
  CHECK(names.count("etcd_reachable") == 1);
  CHECK(names.count("raft_index") == 0);
  CHECK(names.count("disk_write_iops") == 0);
  CHECK(names.count("cpu_temperature_celsius") == 0);
  CHECK(h.empty());
}

TEST_CASE("series aggregate per step from raw points and from per-minute rollups alike") {
  Db db;
  // Two minutes of 1 s samples, load = second index; committed in batches of 10 across minute
  // boundaries so rollups are merged by the upsert, not written once.
  for (int i = 0; i < 120; i += 10) {
    std::vector<qw::wire::NodeSample> b;
    for (int j = i; j < i + 10; ++j) b.push_back(sample(kT0 + j * 1000, j));
    REQUIRE_FALSE(db.put(b, kT0 + (i + 10) * 1000));
  }
  auto raw = db.query("load1", kT0, kT0 + 119'000, 1000, "avg");
  REQUIRE(raw.size() == 120);
  CHECK(raw[5].ts_ms == kT0 + 5000);
  CHECK(raw[5].value == 5);

  auto tens = db.query("load1", kT0, kT0 + 119'000, 10'000, "avg");
  REQUIRE(tens.size() == 12);
  CHECK(tens[1].value == Approx(14.5));  // 10..19
  CHECK(db.query("load1", kT0, kT0 + 119'000, 10'000, "max")[1].value == 19);
  CHECK(db.query("load1", kT0, kT0 + 119'000, 10'000, "min")[1].value == 10);
  CHECK(db.query("load1", kT0, kT0 + 119'000, 10'000, "last")[1].value == 19);
  CHECK(db.query("load1", kT0, kT0 + 119'000, 10'000, "sum")[1].value == 145);

  // A 60 s step reads the rollups: the same answers as the raw points would give.
  for (const char* agg : {"avg", "min", "max", "last", "sum"}) {
    auto m = db.query("load1", kT0, kT0 + 119'000, 60'000, agg);
    REQUIRE(m.size() == 2);
    INFO(agg);
    double want0 = std::string(agg) == "avg"    ? 29.5
                   : std::string(agg) == "min"  ? 0
                   : std::string(agg) == "max"  ? 59
                   : std::string(agg) == "last" ? 59
                                                : 1770;
    CHECK(m[0].ts_ms == kT0);
    CHECK(m[0].value == Approx(want0));
    CHECK(m[1].ts_ms == kT0 + 60'000);
  }
  // A window inside the data: buckets aligned to the step, nothing outside [from, to].
  auto part = db.query("load1", kT0 + 30'500, kT0 + 45'000, 5000, "avg");
  REQUIRE(part.size() == 4);  // 30..34, 35..39, 40..44, 45
  CHECK(part.front().ts_ms == kT0 + 30'000);
  CHECK(part.back().value == 45);
  // A metric this node never reported: no points, no error.
  CHECK(db.query("cpu_temperature_celsius", kT0, kT0 + 119'000, 1000, "avg").empty());
  // Histogram aggregations on a gauge are refused.
  std::vector<Store::SeriesPoint> out;
  CHECK(db.s.querySeries("n1", findMetric("load1", nullptr), kT0, kT0 + 1000, 1000, "p99", &out));
}

TEST_CASE("percentiles over a window come from the sum of stored bucket deltas") {
  Db db;
  // Three scrapes 10 s apart; bucket deltas (cumulative within each interval).
  std::vector<std::vector<uint64_t>> deltas = {
      {50, 90, 99, 100, 100}, {0, 0, 0, 100, 100}, {10, 10, 10, 10, 10}};
  for (size_t i = 0; i < deltas.size(); ++i) {
    auto s = sample(kT0 + static_cast<int64_t>(i) * 10'000, 1);
    s.mutable_metrics()->set_interval_ms(10'000);
    *s.mutable_metrics()->mutable_wal_fsync() = hist(deltas[i]);
    REQUIRE_FALSE(db.put({s}, kT0 + static_cast<int64_t>(i) * 10'000));
  }
  // The window's histogram: {60, 100, 109, 210, 210}. p50: rank 105 in (0.002, 0.004]:
  // 0.002 + 0.002 * (105 - 100) / 9. p99: rank 207.9 in (0.004, 0.008]: 0.004 + 0.004 * 98.9/101.
  std::vector<double> le{0.001, 0.002, 0.004, 0.008, INFINITY};
  std::vector<uint64_t> sum{60, 100, 109, 210, 210};
  for (auto [agg, q] : {std::pair{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}) {
    INFO(agg);
    double want = *qw::aggregator::histogramQuantile(q, le, sum);
    auto raw = db.query("wal_fsync_seconds", kT0, kT0 + 29'000, 30'000, agg);
    REQUIRE(raw.size() == 1);
    CHECK(raw[0].value == Approx(want));
    auto rolled = db.query("wal_fsync_seconds", kT0, kT0 + 29'000, 60'000, agg);
    REQUIRE(rolled.size() == 1);
    CHECK(rolled[0].value == Approx(want));
  }
  CHECK(db.query("wal_fsync_seconds", kT0, kT0 + 29'000, 30'000, "p50")[0].value ==
        Approx(0.002 + 0.002 * 5.0 / 9.0));
  CHECK(db.query("wal_fsync_p99_seconds", kT0, kT0 + 29'000, 30'000, "p99")[0].value ==
        Approx(0.004 + 0.004 * (207.9 - 109) / 101));
  // Per 10 s step each scrape stands alone: the second interval's p50 lies in (0.004, 0.008].
  auto per = db.query("wal_fsync_seconds", kT0, kT0 + 29'000, 10'000, "p50");
  REQUIRE(per.size() == 3);
  CHECK(per[1].value == Approx(0.006));
  std::vector<Store::SeriesPoint> out;
  CHECK(db.s.querySeries("n1", findMetric("wal_fsync_seconds", nullptr), kT0, kT0 + 1000, 1000,
                         "avg", &out));
}

TEST_CASE(
    "without a synchronised clock, points sit on the receive time spread by the agent's spacing") {
  Db db;
  // The agent's clock is years off; its samples are 1 s apart; the batch arrives at kT0 + 10 s.
  std::vector<qw::wire::NodeSample> b;
  for (int i = 0; i < 3; ++i) b.push_back(sample(1000 + i * 1000, i, false));
  REQUIRE_FALSE(db.put(b, kT0 + 10'000));
  auto pts = db.query("load1", kT0, kT0 + 20'000, 1000, "avg");
  REQUIRE(pts.size() == 3);
  CHECK(pts[0].ts_ms == kT0 + 8000);
  CHECK(pts[2].ts_ms == kT0 + 10'000);
}

TEST_CASE("retention prunes raw points, then rollups, in small steps") {
  Store::Options o;
  o.raw_retention_ms = 3600'000;      // 1 h
  o.rollup_retention_ms = 86400'000;  // 1 day
  o.sample_retention_ms = 3600'000;
  Db db(o);
  // 2 h of 1 s samples starting at kT0, in batches of 60.
  for (int i = 0; i < 7200; i += 60) {
    std::vector<qw::wire::NodeSample> b;
    for (int j = i; j < i + 60; ++j) b.push_back(sample(kT0 + j * 1000, 1));
    REQUIRE_FALSE(db.put(b, kT0 + (i + 60) * 1000));
  }
  int64_t now = kT0 + 7200'000;  // raw kept from kT0 + 1 h
  int64_t biggest = 0, steps = 0;
  for (;;) {
    auto r = db.s.pruneStep(now);
    biggest = std::max(biggest, r.deleted);
    ++steps;
    if (r.wrapped && r.deleted == 0) break;
    REQUIRE(steps < 1000);
  }
  CHECK(biggest <= 4000);  // never more than one hour of one series (+ samples) per step
  auto raw = db.query("load1", kT0, now, 1000, "avg");
  REQUIRE_FALSE(raw.empty());
  CHECK(raw.front().ts_ms >= kT0 + 3600'000);
  CHECK(raw.size() == 3600);
  // The rollups still cover both hours.
  CHECK(db.query("load1", kT0, now, 60'000, "avg").size() == 120);
  // The resume point survives: the newest batch of the instance is never pruned.
  CHECK(db.s.lastSeq("inst") == db.seq);
  // A day later the rollups go too.
  now += 86400'000;
  for (int i = 0; i < 1000; ++i) {
    auto r = db.s.pruneStep(now);
    if (r.wrapped && r.deleted == 0) break;
  }
  CHECK(db.query("load1", kT0, now, 60'000, "avg").empty());
  CHECK(db.s.lastSeq("inst") == db.seq);
  CHECK(db.s.rowsPruned() > 0);
}

TEST_CASE("events: one per transition, none while a state persists") {
  EventDeriver d;
  std::vector<Event> ev;
  auto kinds = [&] {
    std::vector<std::string> k;
    for (const auto& e : ev) k.push_back(e.kind);
    ev.clear();
    return k;
  };
  auto leader = [](int64_t ts, uint64_t term, uint64_t leader_id, bool self) {
    auto s = sample(ts, 1);
    s.mutable_etcd()->set_has_leader(true);
    s.mutable_etcd()->set_leader_id(leader_id);
    s.mutable_etcd()->set_raft_term(term);
    s.mutable_etcd()->set_is_leader(self);
    s.mutable_etcd()->set_alarms_ok(true);
    s.mutable_host()->set_etcd_start_unix_ms(1000);
    return s;
  };
  d.onSample("n1", leader(1, 2, 7, true), 1, &ev);
  d.onSample("n2", leader(1, 2, 7, false), 1, &ev);
  CHECK(kinds().empty());  // the first term seen is the baseline
  d.onSample("n1", leader(2, 2, 7, true), 2, &ev);
  CHECK(kinds().empty());
  // n1 goes down: one event; still down: none; back: recovered.
  auto down = sample(3, 1);
  down.mutable_etcd()->set_reachable(false);
  down.mutable_etcd()->set_error("connection refused");
  d.onSample("n1", down, 3, &ev);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "MEMBER_UNREACHABLE");
  CHECK(ev[0].message.find("connection refused") != std::string::npos);
  ev.clear();
  d.onSample("n1", down, 4, &ev);
  CHECK(kinds().empty());
  // n2 sees a new leader in a higher term; n3 reports the same election: one event.
  d.onSample("n2", leader(5, 3, 9, false), 5, &ev);
  d.onSample("n3", leader(5, 3, 9, true), 5, &ev);
  CHECK(kinds() == std::vector<std::string>{"LEADER_CHANGE"});
  // n1 back with a new etcd process: recovered and restarted.
  auto back = leader(6, 3, 9, false);
  back.mutable_host()->set_etcd_start_unix_ms(5000);
  d.onSample("n1", back, 6, &ev);
  CHECK(kinds() == std::vector<std::string>{"MEMBER_RECOVERED", "ETCD_RESTART"});
  // Alarms come from the leader's list: raised once, cleared once.
  auto alarm = leader(7, 3, 9, true);
  auto* a = alarm.mutable_etcd()->add_alarms();
  a->set_member_id(9);
  a->set_alarm("NOSPACE");
  d.onSample("n3", alarm, 7, &ev);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "ALARM_RAISED");
  CHECK(ev[0].severity == "CRITICAL");
  CHECK(ev[0].message.find("defragment") != std::string::npos);
  ev.clear();
  d.onSample("n3", alarm, 8, &ev);
  auto follower = leader(8, 3, 9, false);  // a follower's empty list is not authoritative
  follower.mutable_host()->set_etcd_start_unix_ms(5000);
  d.onSample("n1", follower, 8, &ev);
  CHECK(kinds().empty());
  d.onSample("n3", leader(9, 3, 9, true), 9, &ev);
  CHECK(kinds() == std::vector<std::string>{"ALARM_CLEARED"});
  // Under-voltage onset and end.
  auto uv = leader(10, 3, 9, false);
  uv.mutable_host()->mutable_throttled()->set_under_voltage(true);
  d.onSample("n2", uv, 10, &ev);
  d.onSample("n2", uv, 11, &ev);
  CHECK(kinds() == std::vector<std::string>{"UNDER_VOLTAGE"});
  auto ok = leader(12, 3, 9, false);
  ok.mutable_host()->mutable_throttled();
  d.onSample("n2", ok, 12, &ev);
  CHECK(kinds() == std::vector<std::string>{"UNDER_VOLTAGE_CLEARED"});
}

TEST_CASE("events are stored with the batch that caused them and queried by time, kind and node") {
  Db db;
  EventDeriver d;
  auto up = sample(kT0, 1);
  auto down = sample(kT0 + 1000, 1);
  down.mutable_etcd()->set_reachable(false);
  REQUIRE_FALSE(db.put({up, down}, kT0 + 1000, &d));
  REQUIRE_FALSE(db.s.addEvents({{kT0 + 2000, "AGENT_DISCONNECTED", "n1", "WARNING", "gone"}}));
  auto all = db.s.events(0, "", "", 100);
  REQUIRE(all.size() == 2);
  CHECK(all[0].e.kind == "MEMBER_UNREACHABLE");
  CHECK(all[0].e.ts_ms == kT0 + 1000);
  CHECK(db.s.events(kT0 + 1500, "", "", 100).size() == 1);
  CHECK(db.s.events(0, "AGENT_DISCONNECTED", "", 100).size() == 1);
  CHECK(db.s.events(0, "", "n2", 100).empty());
  CHECK(db.s.events(0, "", "", 1).size() == 1);
  CHECK(db.s.eventsStored() == 2);
}

TEST_CASE("a full database refuses commits cleanly, keeps answering reads, resumes with space") {
  Store::Options o;
  o.max_db_bytes = 256 * 1024;
  Db db(o);
  EventDeriver d;
  std::optional<std::string> err;
  int stored = 0;
  for (int i = 0; i < 10000 && !err; ++i) {
    std::vector<qw::wire::NodeSample> b;
    for (int j = 0; j < 10; ++j) b.push_back(fullSample(kT0 + (i * 10 + j) * 1000));
    err = db.put(b, kT0 + (i * 10 + 10) * 1000, &d);
    if (!err) ++stored;
  }
  REQUIRE(err);
  CHECK(db.s.lastErrorCode() == SQLITE_FULL);
  CHECK(stored > 0);
  // Nothing of the refused batch is stored; reads keep working.
  CHECK(db.s.lastSeq("inst") == uint64_t(stored));
  CHECK(db.query("load1", kT0, kT0 + 10'000'000, 60'000, "avg").size() > 0);
  // Space returns (here: a larger cap): the same batch commits, exactly once.
  sqlite3_exec(db.s.db(), "PRAGMA max_page_count=1000000", nullptr, nullptr, nullptr);
  std::vector<qw::wire::NodeSample> b{fullSample(kT0 + 99'000'000)};
  REQUIRE_FALSE(db.put(b, kT0 + 99'000'000, &d));
  CHECK(db.s.lastSeq("inst") == uint64_t(stored + 1));
}
