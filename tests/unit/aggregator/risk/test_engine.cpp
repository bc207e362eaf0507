// The risk engine (risk/engine.h) on plain inputs: exact probabilities against brute force,
// factors, failure domains, learners, stale data, AT_RISK, and the table's overrides.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <random>
#include <set>

#include "../cluster_input.h"
#include "qw/aggregator/api/prometheus.h"
#include "qw/aggregator/risk/engine.h"
#include "qw/aggregator/view/cluster_view.h"

using namespace qw::aggregator;
using State = qw::api::ClusterView;

namespace {

// Every failure subset of members and domains, summed: what probabilityMoreThan must equal.
double bruteForce(int tolerance, const std::vector<double>& p, const std::vector<int>& dom,
                  const std::vector<double>& q) {
  const size_t n = p.size(), d = q.size();
  double total = 0;
  for (uint64_t dm = 0; dm < (uint64_t{1} << d); ++dm)
    for (uint64_t mm = 0; mm < (uint64_t{1} << n); ++mm) {
      double pr = 1;
      for (size_t k = 0; k < d; ++k) pr *= (dm >> k & 1) ? q[k] : 1 - q[k];
      int failed = 0;
      for (size_t i = 0; i < n; ++i) {
        pr *= (mm >> i & 1) ? p[i] : 1 - p[i];
        bool down = (mm >> i & 1) || (dom[i] >= 0 && (dm >> dom[i] & 1));
        failed += down ? 1 : 0;
      }
      if (failed > tolerance) total += pr;
    }
  return total;
}

// plainCluster with the built-in risk table and a known (quiet) last hour.
ClusterInput cluster(int n, int learners = 0) {
  auto in = plainCluster(n, learners);
  in.risk_table = std::make_shared<risk::Table>(risk::defaultTable());
  in.recent.known = true;
  return in;
}

double binomialTail(int n, double p, int more_than) {
  double t = 0;
  for (int k = more_than + 1; k <= n; ++k)
    t += std::tgamma(n + 1) / (std::tgamma(k + 1) * std::tgamma(n - k + 1)) * std::pow(p, k) *
         std::pow(1 - p, n - k);
  return t;
}

const qw::api::Factor* findFactor(const State& v, const std::string& member,
                                  const std::string& rule) {
  for (const auto& f : v.factors())
    if (f.member() == member && f.rule() == rule) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("risk: the probability equals brute force over every failure subset") {
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> u(0.0, 0.6);
  for (int round = 0; round < 200; ++round) {
    int n = 1 + static_cast<int>(rng() % 7);
    int d = static_cast<int>(rng() % 4);
    std::vector<double> p(static_cast<size_t>(n)), q(static_cast<size_t>(d));
    std::vector<int> dom(static_cast<size_t>(n));
    for (auto& x : p) x = u(rng);
    for (auto& x : q) x = u(rng);
    for (auto& x : dom) x = d == 0 ? -1 : static_cast<int>(rng() % (d + 1)) - 1;
    int tolerance = static_cast<int>(rng() % (n + 1)) - 1;
    INFO("n " << n << " domains " << d << " tolerance " << tolerance);
    CHECK(std::abs(risk::probabilityMoreThan(tolerance, p, dom, q) -
                   bruteForce(tolerance, p, dom, q)) < 1e-12);
  }
  CHECK(risk::probabilityMoreThan(-1, {0.1}, {-1}, {}) == 1.0);
  CHECK(risk::probabilityMoreThan(3, {0.5, 0.5, 0.5}, {-1, -1, -1}, {}) == 0.0);
}

TEST_CASE("risk: 1 to 7 healthy members at the base rate") {
  const auto& t = risk::defaultTable();
  const double p = 1 - std::exp(-t.member_hazard_per_day * t.horizon_seconds / 86400.0);
  for (int n : {1, 2, 3, 4, 5, 7}) {
    auto v = computeClusterView(cluster(n));
    INFO(n << " members: " << v.DebugString());
    int tolerance = n - (n / 2 + 1);
    CHECK(v.failure_tolerance() == tolerance);
    REQUIRE(v.has_quorum_loss_probability());
    CHECK(v.horizon_seconds() == 86400);
    CHECK(v.risk_model_version() == t.version);
    CHECK(std::abs(v.quorum_loss_probability() - binomialTail(n, p, tolerance)) < 1e-12);
    CHECK(v.factors_size() == 0);
  }
  // One and two members tolerate no failure: CRITICAL already, with the probability beside it.
  CHECK(computeClusterView(cluster(2)).state() == State::CRITICAL);
  CHECK(computeClusterView(cluster(3)).state() == State::HEALTHY);
}

TEST_CASE("risk: a slow disk is a factor with its rule and raises the probability") {
  auto base = computeClusterView(cluster(3));
  auto in = cluster(3);
  in.nodes[1].signals.wal_fsync_p99_seconds = 0.18;
  auto v = computeClusterView(in);
  const auto* f = findFactor(v, "m2", "wal_fsync_p99.heartbeat");
  REQUIRE(f);
  CHECK(f->signal() == "wal_fsync_p99_seconds");
  CHECK(f->value() == Approx(0.18));
  CHECK(f->threshold() == Approx(0.1));
  CHECK(f->multiplier() == 5);
  CHECK_FALSE(f->action().empty());
  CHECK(v.factors_size() == 1);  // only the strongest rule of a signal counts
  CHECK(v.quorum_loss_probability() > base.quorum_loss_probability() * 2);
  CHECK(v.state() == State::HEALTHY);  // far below 1 %
}

TEST_CASE("risk: two failing Pis make a three-member cluster AT_RISK with the reason") {
  auto in = cluster(3);
  for (int i : {1, 2}) {
    auto& s = in.nodes[static_cast<size_t>(i)].signals;
    s.wal_fsync_p99_seconds = 1.2;
    s.under_voltage = 1;
    s.throttled = 1;
  }
  auto v = computeClusterView(in);
  INFO(v.DebugString());
  CHECK(v.state() == State::AT_RISK);
  CHECK(v.quorum_loss_probability() >= 0.01);
  bool said = false;
  for (const auto& r : v.reasons()) said |= r.find("quorum-loss probability") != std::string::npos;
  CHECK(said);
  REQUIRE(v.factors_size() == 6);
  CHECK(v.factors(0).multiplier() >= v.factors(5).multiplier());
  CHECK(v.factors(0).rule() == "wal_fsync_p99.critical");
}

TEST_CASE("risk: derived quantities and the recent history") {
  auto in = cluster(3);
  in.nodes[0].signals.cpu_temperature_celsius = 83;
  in.nodes[0].signals.temperature_trip_celsius = 85;
  in.nodes[1].signals.fs_avail_bytes = 2e9;
  in.nodes[1].signals.fs_total_bytes = 32e9;
  in.recent.node_reboots["n3"] = 1;
  in.recent.leader_changes = 5;
  auto v = computeClusterView(in);
  INFO(v.DebugString());
  CHECK(findFactor(v, "m1", "temperature.at_trip"));
  CHECK(findFactor(v, "m2", "fs_free.low"));
  CHECK(findFactor(v, "m3", "node_reboots"));
  const auto* lc = findFactor(v, "", "leader_changes.some");
  REQUIRE(lc);
  CHECK(lc->value() == 5);
  // An unknown history is no factor (not a 0 read as calm, not a guess).
  in.recent = {};
  auto quiet = computeClusterView(in);
  CHECK_FALSE(findFactor(quiet, "m3", "node_reboots"));
  CHECK_FALSE(findFactor(quiet, "", "leader_changes.some"));
}

TEST_CASE("risk: failure domains fail together and the breaking domain is named") {
  auto in = cluster(3);
  in.nodes[0].failure_domain = "shelf-a";
  in.nodes[1].failure_domain = "shelf-a";
  in.nodes[2].failure_domain = "shelf-b";
  auto flat = computeClusterView(cluster(3));
  auto v = computeClusterView(in);
  REQUIRE(v.breaking_failure_domains_size() == 1);
  CHECK(v.breaking_failure_domains(0) == "shelf-a");
  const auto& t = risk::defaultTable();
  const double days = t.horizon_seconds / 86400.0;
  const double p = 1 - std::exp(-t.member_hazard_per_day * days);
  const double q = 1 - std::exp(-t.domain_hazard_per_day * days);
  CHECK(std::abs(v.quorum_loss_probability() - bruteForce(1, {p, p, p}, {0, 0, -1}, {q})) < 1e-12);
  CHECK(v.quorum_loss_probability() > flat.quorum_loss_probability() * 10);
  // Five members, two per shelf and one alone: no single shelf breaks quorum.
  auto five = cluster(5);
  for (int i = 0; i < 5; ++i)
    five.nodes[static_cast<size_t>(i)].failure_domain = "shelf-" + std::to_string(i / 2);
  CHECK(computeClusterView(five).breaking_failure_domains_size() == 0);
}

TEST_CASE("risk: learners never count and unknown is absent") {
  auto v = computeClusterView(cluster(3, 1));
  CHECK(v.voting_members() == 3);
  CHECK(std::abs(v.quorum_loss_probability() -
                 computeClusterView(cluster(3)).quorum_loss_probability()) < 1e-15);
  // Too few fresh voters: the view cannot tell, and neither can the engine.
  auto in = cluster(3);
  in.nodes[0].fresh = false;
  in.nodes[1].fresh = false;
  auto unknown = computeClusterView(in);
  CHECK(unknown.state() == State::UNKNOWN);
  CHECK_FALSE(unknown.has_quorum_loss_probability());
  CHECK_FALSE(unknown.has_horizon_seconds());
  // Quorum lost: certain.
  in = cluster(3);
  for (int i : {1, 2}) {
    in.nodes[static_cast<size_t>(i)].etcd.set_reachable(false);
    in.nodes[static_cast<size_t>(i)].etcd.set_error("connection refused");
  }
  auto lost = computeClusterView(in);
  CHECK(lost.state() == State::QUORUM_LOST);
  CHECK(lost.quorum_loss_probability() == 1.0);
}

TEST_CASE("risk: table overrides change numbers and refuse what they do not know") {
  risk::Table t = risk::defaultTable();
  REQUIRE_FALSE(
      risk::applyOverrides("# site tuning\nat_risk_probability = 0.001\n"
                           "wal_fsync_p99.guidance.threshold = 0.02  # USB SSDs\n"
                           "horizon_seconds = 3600\n",
                           "site.conf", &t));
  CHECK(t.at_risk_probability == 0.001);
  CHECK(t.horizon_seconds == 3600);
  CHECK(t.version == risk::defaultTable().version + "+local");
  bool found = false;
  for (const auto& r : t.rules)
    if (r.id == "wal_fsync_p99.guidance") found = r.threshold == 0.02;
  CHECK(found);
  risk::Table before = t;
  auto err = risk::applyOverrides("member_hazard_per_day = 0.01\nno_such.multiplier = 2\n",
                                  "site.conf", &t);
  REQUIRE(err);
  CHECK(err->find("site.conf:2") != std::string::npos);
  CHECK(t.member_hazard_per_day == before.member_hazard_per_day);  // unchanged on error
  CHECK(risk::applyOverrides("at_risk_probability = 2", "f", &t));
  CHECK(risk::applyOverrides("horizon_seconds = soon", "f", &t));
  CHECK(risk::applyOverrides("just text", "f", &t));
  CHECK(risk::applyOverrides("apply_lag.multiplier = nan", "f", &t));
  // Only a version given: the numbers are the documented ones under another name.
  risk::Table named = risk::defaultTable();
  REQUIRE_FALSE(risk::applyOverrides("version = site-7\n", "f", &named));
  CHECK(named.version == "site-7");
  // Every rule's id is unique and every rule says why, what to do and where it comes from.
  std::set<std::string> ids;
  for (const auto& r : risk::defaultTable().rules) {
    CHECK(ids.insert(r.id).second);
    CHECK_FALSE(r.explanation.empty());
    CHECK_FALSE(r.action.empty());
    CHECK_FALSE(r.source.empty());
    // It reads a signal of the one derivation or one the engine derives (engine.cpp).
    static const std::set<std::string> derived = {"temperature_headroom_celsius",
                                                  "fs_avail_ratio",
                                                  "etcd_restarts_last_hour",
                                                  "node_reboots_last_hour",
                                                  "leader_changes_last_hour",
                                                  "no_verified_snapshot",
                                                  "newest_verified_snapshot_age_hours",
                                                  "last_drill_failed",
                                                  "no_drill_passed_7d"};
    CHECK((findSignal(r.signal.c_str()) || derived.count(r.signal)));
  }
}

TEST_CASE("risk: /metrics exports the probability and every factor's multiplier") {
  auto in = cluster(3);
  in.nodes[1].signals.wal_fsync_p99_seconds = 0.18;
  auto v = computeClusterView(in);
  Hub hub;
  auto text = renderMetrics(v, hub, SelfStats{}, ViewConfig{}, 0);
  INFO(text);
  CHECK(text.find("quorumwatch_quorum_loss_probability{cluster=\"\"} ") != std::string::npos);
  CHECK(text.find("quorumwatch_risk_factor_multiplier{cluster=\"\",member=\"m2\",rule=\"wal_fsync_"
                  "p99.heartbeat\"} 5") != std::string::npos);
}

TEST_CASE("risk: recoverability factors say what a loss would cost and leave the probability") {
  auto base = computeClusterView(cluster(3));
  for (const auto& f : base.factors()) CHECK(f.rule().rfind("recoverability.", 0) != 0);

  auto in = cluster(3);
  SnapshotHealth h;
  h.catalogue_known = true;
  h.drills_enabled = true;
  in.snapshots = h;  // no snapshot at all, no drill ever
  auto none = computeClusterView(in);
  const auto* f = findFactor(none, "", "recoverability.no_verified_snapshot");
  REQUIRE(f);
  CHECK(f->multiplier() == 1);
  CHECK(f->value() == 1);
  CHECK(findFactor(none, "", "recoverability.no_drill"));
  CHECK_FALSE(findFactor(none, "", "recoverability.snapshot_stale"));  // no age: unknown
  CHECK_FALSE(findFactor(none, "", "recoverability.drill_failed"));
  CHECK(none.quorum_loss_probability() == base.quorum_loss_probability());

  h.verified = 2;
  h.newest_verified_age_ms = 30LL * 3600 * 1000;
  h.last_drill_failed = true;
  h.last_passed_drill_age_ms = 8LL * 86400 * 1000;
  in.snapshots = h;
  auto stale = computeClusterView(in);
  CHECK_FALSE(findFactor(stale, "", "recoverability.no_verified_snapshot"));
  const auto* s = findFactor(stale, "", "recoverability.snapshot_stale");
  REQUIRE(s);
  CHECK(std::abs(s->value() - 30) < 1e-9);
  CHECK(findFactor(stale, "", "recoverability.drill_failed"));
  CHECK(findFactor(stale, "", "recoverability.no_drill"));

  h.newest_verified_age_ms = 3600 * 1000;
  h.last_drill_failed = false;
  h.last_passed_drill_age_ms = 3600 * 1000;
  in.snapshots = h;
  auto good = computeClusterView(in);
  for (const auto& g : good.factors()) CHECK(g.rule().rfind("recoverability.", 0) != 0);

  // Hazard factors rank first.
  in.snapshots = SnapshotHealth{true};
  in.nodes[0].signals.wal_fsync_p99_seconds = 0.2;
  auto both = computeClusterView(in);
  REQUIRE(both.factors_size() >= 2);
  CHECK(both.factors(0).rule() == "wal_fsync_p99.heartbeat");
  CHECK(both.factors(both.factors_size() - 1).rule().rfind("recoverability.", 0) == 0);
}
