// Early warnings: the conditions (pure, from a ClusterInput) and the hysteresis (a fake clock).
#include <catch2/catch.hpp>

#include "../cluster_input.h"
#include "qw/aggregator/risk/table.h"
#include "qw/aggregator/risk/warnings.h"
#include "qw/aggregator/view/cluster_view.h"

using qw::aggregator::ClusterInput;
using qw::aggregator::computeClusterView;
using qw::aggregator::risk::defaultTable;
using qw::aggregator::risk::WarningTracker;
using W = qw::api::Warning;
using S = qw::api::ClusterView;

namespace {

std::vector<W> conditions(const ClusterInput& in) {
  auto base = in;
  base.warnings.emplace();  // the arithmetic alone, as the watch computes it
  return qw::aggregator::risk::warningConditions(in, computeClusterView(base), defaultTable());
}

const W* find(const std::vector<W>& ws, W::Code code, const std::string& member = "") {
  for (const auto& w : ws)
    if (w.code() == code && (member.empty() || w.member() == member)) return &w;
  return nullptr;
}

W holding(W::Code code, const std::string& member = "m2") {
  W w;
  w.set_code(code);
  w.set_member(member);
  w.set_severity(qw::api::WARNING);
  w.set_message("test");
  return w;
}

}  // namespace

TEST_CASE("a healthy cluster on the test machines' versions reads HEALTHY with INFO advisories") {
  auto in = plainCluster(3);
  in.nodes[0].etcd.set_version("3.4.23");
  in.nodes[1].etcd.set_version("3.5.16");
  in.nodes[2].etcd.set_version("3.6.5");
  for (auto& n : in.nodes) n.clock_synced = false;
  auto ws = conditions(in);
  for (const auto& w : ws) CHECK(w.severity() == qw::api::INFO);
  CHECK(find(ws, W::ETCD_VERSION, "m1"));
  CHECK(find(ws, W::ETCD_VERSION, "m1")->message().find("end of life") != std::string::npos);
  CHECK(find(ws, W::ETCD_VERSION, "m2"));
  CHECK(find(ws, W::ETCD_VERSION, "m2")->message().find("3.5.23") != std::string::npos);
  CHECK_FALSE(find(ws, W::ETCD_VERSION, "m3"));
  CHECK(find(ws, W::CLOCK_UNSYNCED, "m3"));
  auto v = computeClusterView(in);
  CHECK(v.state() == S::HEALTHY);
  CHECK(v.warnings_size() == static_cast<int>(ws.size()));
}

TEST_CASE("etcd 3.5.0 to 3.5.2 is a WARNING and makes the cluster DEGRADED") {
  auto in = plainCluster(3);
  in.nodes[1].etcd.set_version("3.5.2");
  auto ws = conditions(in);
  REQUIRE(find(ws, W::ETCD_VERSION, "m2"));
  CHECK(find(ws, W::ETCD_VERSION, "m2")->severity() == qw::api::WARNING);
  auto v = computeClusterView(in);
  CHECK(v.state() == S::DEGRADED);
}

TEST_CASE("parseEtcdVersion reads the major minor and patch") {
  using qw::aggregator::risk::parseEtcdVersion;
  auto v = parseEtcdVersion("3.5.16");
  REQUIRE(v);
  CHECK((v->major == 3 && v->minor == 5 && v->patch == 16));
  v = parseEtcdVersion("v3.4");
  REQUIRE(v);
  CHECK((v->major == 3 && v->minor == 4 && v->patch == 0));
  CHECK_FALSE(parseEtcdVersion(""));
  CHECK_FALSE(parseEtcdVersion("unknown"));
}

TEST_CASE("WAL fsync p99 warns at 0.5 s and is CRITICAL from 1 s") {
  auto in = plainCluster(3);
  in.nodes[1].signals.wal_fsync_p99_seconds = 0.3;
  CHECK_FALSE(find(conditions(in), W::HIGH_FSYNC));
  in.nodes[1].signals.wal_fsync_p99_seconds = 0.6;
  auto ws = conditions(in);
  REQUIRE(find(ws, W::HIGH_FSYNC, "m2"));
  CHECK(find(ws, W::HIGH_FSYNC, "m2")->severity() == qw::api::WARNING);
  CHECK(find(ws, W::HIGH_FSYNC, "m2")->node() == "n2");
  CHECK(find(ws, W::HIGH_FSYNC, "m2")->message().find("600 ms") != std::string::npos);
  CHECK(computeClusterView(in).state() == S::DEGRADED);
  in.nodes[1].signals.wal_fsync_p99_seconds = 1.2;
  CHECK(find(conditions(in), W::HIGH_FSYNC, "m2")->severity() == qw::api::CRITICAL);
}

TEST_CASE("WAL fsync p99 against the member's own heartbeat needs the heartbeat") {
  auto in = plainCluster(3);
  in.nodes[2].signals.wal_fsync_p99_seconds = 0.15;
  CHECK_FALSE(find(conditions(in), W::FSYNC_VS_HEARTBEAT));  // heartbeat unknown: not evaluated
  in.nodes[2].heartbeat_seconds = 0.1;
  auto ws = conditions(in);
  REQUIRE(find(ws, W::FSYNC_VS_HEARTBEAT, "m3"));
  CHECK(find(ws, W::FSYNC_VS_HEARTBEAT, "m3")->action().find("SSD") != std::string::npos);
  in.nodes[2].heartbeat_seconds = 0.5;  // k3s's 500 ms: 150 ms is below half of it
  CHECK_FALSE(find(conditions(in), W::FSYNC_VS_HEARTBEAT));
}

TEST_CASE("an absent measurement raises nothing") {
  auto in = plainCluster(3);
  in.nodes[0].signals.fs_avail_bytes = 1e6;          // no total: the ratio is unknown
  in.nodes[0].signals.cpu_temperature_celsius = 80;  // no trip point
  CHECK(conditions(in).empty());
}

TEST_CASE("disk nearly full temperature under-voltage and throttling") {
  auto in = plainCluster(3);
  auto& s = in.nodes[0].signals;
  s.fs_avail_bytes = 2e9;
  s.fs_total_bytes = 32e9;
  s.cpu_temperature_celsius = 81;
  s.temperature_trip_celsius = 85;
  s.under_voltage = 1;
  s.throttled = 1;
  auto ws = conditions(in);
  CHECK(find(ws, W::DISK_NEARLY_FULL, "m1"));
  CHECK(find(ws, W::DISK_NEARLY_FULL, "m1")->severity() == qw::api::WARNING);
  CHECK(find(ws, W::TEMPERATURE_NEAR_TRIP, "m1"));
  CHECK(find(ws, W::UNDER_VOLTAGE, "m1"));
  CHECK(find(ws, W::THROTTLED, "m1"));
  s.fs_avail_bytes = 0.5e9;
  CHECK(find(conditions(in), W::DISK_NEARLY_FULL, "m1")->severity() == qw::api::CRITICAL);
}

TEST_CASE("cluster-wide conditions: NOSPACE quorum lost even size leader disagreement") {
  auto in = plainCluster(3);
  in.alarms.insert({2, "NOSPACE"});
  in.alarms.insert({3, "CORRUPT"});
  auto ws = conditions(in);
  REQUIRE(find(ws, W::NOSPACE));
  CHECK(find(ws, W::NOSPACE)->member().empty());
  CHECK(find(ws, W::NOSPACE)->severity() == qw::api::CRITICAL);
  REQUIRE(find(ws, W::CORRUPT, "m3"));

  in = plainCluster(3);
  in.nodes[1].etcd.set_reachable(false);
  in.nodes[2].etcd.set_reachable(false);
  ws = conditions(in);
  CHECK(find(ws, W::INSUFFICIENT_MEMBERS));
  CHECK(find(ws, W::MEMBER_DOWN, "m2"));
  CHECK(find(ws, W::MEMBER_DOWN, "m3"));

  in = plainCluster(4);
  ws = conditions(in);
  REQUIRE(find(ws, W::EVEN_MEMBERS));
  CHECK(find(ws, W::EVEN_MEMBERS)->message().find("4 voting members") != std::string::npos);
  CHECK(find(conditions(plainCluster(2)), W::EVEN_MEMBERS)->message().find("no failure") !=
        std::string::npos);
  CHECK_FALSE(find(conditions(plainCluster(5)), W::EVEN_MEMBERS));

  in = plainCluster(3);
  in.nodes[2].etcd.set_leader_id(3);
  ws = conditions(in);
  REQUIRE(find(ws, W::LEADER_DISAGREEMENT));
  CHECK(find(ws, W::LEADER_DISAGREEMENT)->message().find("m1, m3") != std::string::npos);
}

TEST_CASE("a member that sees no leader and a learner") {
  auto in = plainCluster(3, 1);
  in.nodes[1].etcd.set_has_leader(false);
  auto ws = conditions(in);
  CHECK(find(ws, W::NO_LEADER, "m2"));
  CHECK(find(ws, W::LEARNER_NOT_PROMOTED, "m4"));
  CHECK_FALSE(find(ws, W::MEMBER_DOWN, "m4"));  // learners are not voters
}

TEST_CASE("leader changes count the last 15 minutes") {
  auto in = plainCluster(3);
  in.recent.known = true;
  in.recent.leader_changes = 10;
  in.recent.leader_changes_15m = 3;
  CHECK_FALSE(find(conditions(in), W::LEADER_CHANGES));
  in.recent.leader_changes_15m = 4;
  CHECK(find(conditions(in), W::LEADER_CHANGES));
}

TEST_CASE("hysteresis raises after the sustained window and clears after the calm one") {
  const auto& t = defaultTable();
  const auto* rule = t.warning(W::HIGH_FSYNC);
  REQUIRE(rule);
  REQUIRE(rule->raise_after_ms == 10000);
  REQUIRE(rule->clear_after_ms == 30000);
  WarningTracker tr;
  std::vector<W> on{holding(W::HIGH_FSYNC)};
  int raised = 0, cleared = 0;
  auto step = [&](int64_t ms, bool hold) {
    for (const auto& x : tr.update(hold ? on : std::vector<W>{}, ms, 1'700'000'000'000 + ms, t))
      (x.raised ? raised : cleared)++;
  };
  for (int64_t ms = 0; ms < 10000; ms += 1000) step(ms, true);
  CHECK(raised == 0);
  CHECK(tr.active().empty());
  step(10000, true);
  CHECK(raised == 1);
  REQUIRE(tr.active().size() == 1);
  CHECK_FALSE(tr.active()[0].raised_at().empty());
  // It flaps below the threshold and back: still one warning, no new event.
  step(11000, false);
  step(12000, true);
  for (int64_t ms = 13000; ms < 42000; ms += 1000) step(ms, false);
  CHECK(cleared == 0);
  CHECK(tr.active().size() == 1);
  step(43000, false);  // 30 s calm since 13 s
  CHECK(cleared == 1);
  CHECK(raised == 1);
  CHECK(tr.active().empty());
}

TEST_CASE("a condition must hold without a gap to be raised") {
  const auto& t = defaultTable();
  WarningTracker tr;
  std::vector<W> on{holding(W::HIGH_FSYNC)};
  int raised = 0;
  auto step = [&](int64_t ms, bool hold) {
    for (const auto& x : tr.update(hold ? on : std::vector<W>{}, ms, ms, t)) raised += x.raised;
  };
  for (int64_t ms = 0; ms <= 9000; ms += 1000) step(ms, true);
  step(9500, false);
  for (int64_t ms = 10000; ms < 20000; ms += 1000) step(ms, true);
  CHECK(raised == 0);
  step(20000, true);
  CHECK(raised == 1);
}

TEST_CASE("a window of zero raises at once and the newest message is shown") {
  const auto& t = defaultTable();
  WarningTracker tr;
  auto w = holding(W::NOSPACE, "");
  w.set_severity(qw::api::CRITICAL);
  auto x = tr.update({w}, 0, 0, t);
  REQUIRE(x.size() == 1);
  CHECK(x[0].raised);
  w.set_message("newer");
  CHECK(tr.update({w}, 1000, 1000, t).empty());
  CHECK(tr.active()[0].message() == "newer");
  auto fsync = holding(W::HIGH_FSYNC);
  tr.update({w, fsync}, 2000, 2000, t);
  tr.update({w, fsync}, 12000, 12000, t);
  REQUIRE(tr.active().size() == 2);
  CHECK(tr.active()[0].code() == W::NOSPACE);  // CRITICAL first
}

TEST_CASE("warning thresholds and windows are overridable") {
  auto t = defaultTable();
  REQUIRE_FALSE(qw::aggregator::risk::applyOverrides(
      "warning.HIGH_FSYNC.threshold = 0.1\nwarning.HIGH_FSYNC.raise_after_seconds = 2\n", "site",
      &t));
  CHECK(t.warning(W::HIGH_FSYNC)->threshold == 0.1);
  CHECK(t.warning(W::HIGH_FSYNC)->raise_after_ms == 2000);
  CHECK(t.version.find("+local") != std::string::npos);
  auto err = qw::aggregator::risk::applyOverrides("warning.NOPE.threshold = 1\n", "site", &t);
  REQUIRE(err);
  CHECK(err->find("site:1") != std::string::npos);
}
