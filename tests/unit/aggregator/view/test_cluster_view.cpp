#include <catch2/catch.hpp>

#include "../../fixture.h"
#include "qw/agent/parse/etcd_parse.h"
#include "qw/aggregator/api/prometheus.h"
#include "qw/aggregator/view/cluster_view.h"

using qw::aggregator::computeClusterView;
using qw::aggregator::Hub;
using qw::aggregator::ViewConfig;
using State = qw::api::ClusterView;

namespace {

// Three members m1..m3 with ids 1..3 on nodes n1..n3; m1 leads. Built from a real member list.
struct Cluster {
  Hub hub;
  ViewConfig cfg;
  int64_t now = 100000;
  qw::wire::NodeSample base[3];

  Cluster() {
    qw::wire::EtcdSample members;
    REQUIRE_FALSE(
        qw::agent::parseMemberList(fixture("etcd-3.4.23/memberlist-3up-m1.json"), &members));
    for (int i = 0; i < 3; ++i) {
      auto& e = *base[i].mutable_etcd();
      e = members;
      e.set_reachable(true);
      e.set_member_id(members.members(i).id());
      e.set_leader_id(members.members(2).id());  // m1 is the third entry
      e.set_has_leader(true);
      e.set_raft_term(2);
      e.set_raft_index(100);
      e.set_raft_applied_index(100);
      e.set_alarms_ok(true);  // the alarm list answered (empty)
    }
    for (int i = 0; i < 3; ++i) report(i, base[i]);
  }
  void report(int i, const qw::wire::NodeSample& s) {
    hub.applySample("n" + std::to_string(i + 1), s, now, now);
  }
  qw::api::ClusterView view() { return computeClusterView(hub, cfg, 1'700'000'000'000, now); }
  const qw::api::MemberView& member(const qw::api::ClusterView& v, const std::string& name) {
    for (const auto& m : v.members())
      if (m.name() == name) return m;
    FAIL("no member " << name);
    throw;
  }
};

}  // namespace

TEST_CASE("three healthy members tolerate one failure") {
  Cluster c;
  auto v = c.view();
  CHECK(v.state() == State::HEALTHY);
  CHECK(v.voting_members() == 3);
  CHECK(v.quorum_size() == 2);
  CHECK(v.healthy_members() == 3);
  CHECK(v.failure_tolerance() == 1);
  CHECK(v.leader() == "m1");
  CHECK(c.member(v, "m1").is_leader());
  CHECK(c.member(v, "m1").member_id() == "d9f5a57125ac2b74");
  CHECK(c.member(v, "m2").node() == "n2");
  // The data's time (the oldest newest-sample of the fresh voters, received at wall 100 s), not
  // the time the view was computed.
  CHECK(v.updated_at() == "1970-01-01T00:01:40Z");
}

TEST_CASE("an unreachable member leaves tolerance 0 and says why") {
  Cluster c;
  qw::wire::NodeSample down;
  down.mutable_etcd()->set_reachable(false);
  down.mutable_etcd()->set_error("connection refused");
  c.report(1, down);  // n2 runs m2
  auto v = c.view();
  CHECK(v.state() == State::CRITICAL);
  CHECK(v.failure_tolerance() == 0);
  CHECK(v.healthy_members() == 2);
  auto m2 = c.member(v, "m2");
  CHECK_FALSE(m2.healthy());
  CHECK_FALSE(m2.reachable());
  CHECK(m2.node() == "n2");  // the node <-> member mapping survives the member's death
  REQUIRE(m2.reasons_size() >= 1);
  CHECK(m2.reasons(0) == "etcd unreachable: connection refused");
}

TEST_CASE("two members down and the survivor without leader: quorum lost") {
  Cluster c;
  qw::wire::NodeSample down;
  down.mutable_etcd()->set_reachable(false);
  down.mutable_etcd()->set_error("connection refused");
  c.report(0, down);
  c.report(1, down);
  auto lonely = c.base[2];
  lonely.mutable_etcd()->set_has_leader(false);
  lonely.mutable_etcd()->set_leader_id(0);
  lonely.mutable_etcd()->add_status_errors("etcdserver: no leader");
  c.report(2, lonely);
  auto v = c.view();
  CHECK(v.state() == State::QUORUM_LOST);
  CHECK(v.failure_tolerance() == -2);
  CHECK(v.leader().empty());
  CHECK(c.member(v, "m1").reasons(0) == "sees no leader (etcdserver: no leader)");
}

TEST_CASE("silent agents make the view UNKNOWN, not QUORUM_LOST") {
  Cluster c;
  c.now += c.cfg.stale_after_ms + 1;
  c.report(0, c.base[0]);  // only n1 is fresh
  auto v = c.view();
  CHECK(v.state() == State::UNKNOWN);
  CHECK(c.member(v, "m2").reasons(0).find("silent for") != std::string::npos);
}

TEST_CASE("a lagging member is unhealthy") {
  Cluster c;
  auto lag = c.base[1];
  lag.mutable_etcd()->set_raft_applied_index(1);
  c.cfg.max_apply_lag = 50;
  c.base[0].mutable_etcd()->set_raft_applied_index(100);
  c.report(1, lag);
  auto v = c.view();
  CHECK(v.failure_tolerance() == 0);
  CHECK(c.member(v, "m2").reasons(0).find("99 entries behind the leader") != std::string::npos);
}

TEST_CASE("NOSPACE is cluster-wide: CRITICAL with a warning, members stay healthy") {
  Cluster c;
  auto s = c.base[0];
  auto* a = s.mutable_etcd()->add_alarms();
  a->set_member_id(s.etcd().member_id());
  a->set_alarm("NOSPACE");
  c.report(0, s);
  auto v = c.view();
  CHECK(v.state() == State::CRITICAL);
  CHECK(v.failure_tolerance() == 1);
  CHECK(v.healthy_members() == 3);
  const qw::api::Warning* nospace = nullptr;
  for (const auto& w : v.warnings())
    if (w.code() == qw::api::Warning::NOSPACE) nospace = &w;
  REQUIRE(nospace);
  CHECK(nospace->severity() == qw::api::CRITICAL);
  CHECK(nospace->member().empty());
  CHECK(nospace->action().find("compact") < nospace->action().find("disarm"));
}

TEST_CASE("learners are listed but never vote") {
  Cluster c;
  qw::wire::EtcdSample l;
  REQUIRE_FALSE(
      qw::agent::parseMemberList(fixture("etcd-3.5.16/memberlist-learner-unstarted-m1.json"), &l));
  for (int i = 0; i < 3; ++i) {
    auto s = c.base[i];
    *s.mutable_etcd()->mutable_members() = l.members();
    s.mutable_etcd()->set_member_id(l.members(i + 1).id());
    s.mutable_etcd()->set_leader_id(l.members(1).id());
    c.report(i, s);
  }
  auto v = c.view();
  CHECK(v.members_size() == 4);
  CHECK(v.voting_members() == 3);
  CHECK(v.failure_tolerance() == 1);
  int learners = 0;
  for (const auto& m : v.members()) learners += m.is_learner();
  CHECK(learners == 1);
}

TEST_CASE("no member list yet: UNKNOWN") {
  Hub hub;
  auto v = computeClusterView(hub, ViewConfig{}, 0, 0);
  CHECK(v.state() == State::UNKNOWN);
  CHECK(v.voting_members() == 0);
}

TEST_CASE("a member its agent never reached maps to the node by client URL") {
  Cluster c;
  auto& n2 = c.hub.node("n2");
  n2.member_id = 0;                             // as if etcd on n2 was down since the agent started
  n2.etcd_endpoint = "http://127.0.0.1:24479";  // m2's client URL in the capture
  qw::wire::NodeSample down;
  down.mutable_etcd()->set_reachable(false);
  down.mutable_etcd()->set_error("TLS handshake failed");
  c.report(1, down);
  auto v = c.view();
  auto m2 = c.member(v, "m2");
  CHECK(m2.node() == "n2");
  CHECK(m2.reasons(0) == "etcd unreachable: TLS handshake failed");
}

TEST_CASE("/metrics leaves out a stale node's last values instead of showing them as live") {
  Cluster c;
  auto* d = c.base[1].mutable_disk();
  d->set_interval_ms(1000);
  d->set_writes(50);
  c.report(1, c.base[1]);
  qw::aggregator::SelfStats self;
  auto live = qw::aggregator::renderMetrics(c.view(), c.hub, self, c.cfg, c.now);
  CHECK(live.find("quorumwatch_node_etcd_reachable{cluster=\"default\",node=\"n2\"} 1") !=
        std::string::npos);
  CHECK(live.find("quorumwatch_node_disk_write_iops{cluster=\"default\",node=\"n2\"}") !=
        std::string::npos);
  // n2's agent goes silent; the others keep reporting.
  c.now += c.cfg.stale_after_ms + 1000;
  c.report(0, c.base[0]);
  c.report(2, c.base[2]);
  auto later = qw::aggregator::renderMetrics(c.view(), c.hub, self, c.cfg, c.now);
  INFO(later);
  CHECK(later.find("quorumwatch_node_etcd_reachable{cluster=\"default\",node=\"n2\"}") ==
        std::string::npos);
  CHECK(later.find("quorumwatch_node_disk_write_iops{cluster=\"default\",node=\"n2\"}") ==
        std::string::npos);
  CHECK(later.find("quorumwatch_node_seconds_since_seen{cluster=\"default\",node=\"n2\"} 6") !=
        std::string::npos);
  CHECK(later.find("quorumwatch_node_etcd_reachable{cluster=\"default\",node=\"n1\"} 1") !=
        std::string::npos);
}

TEST_CASE("what is not known is absent: a stale member has no reachable or raft index") {
  Cluster c;
  auto v = c.view();
  REQUIRE(c.member(v, "m2").has_reachable());
  CHECK(c.member(v, "m2").raft_index() == 100);
  CHECK_FALSE(v.has_quorum_loss_probability());  // this fixture's view has no risk table
  CHECK_FALSE(v.has_horizon_seconds());
  CHECK(v.factors_size() == 0);
  c.now += c.cfg.stale_after_ms + 1;
  v = c.view();
  for (const auto& m : v.members()) {
    INFO(m.name());
    CHECK_FALSE(m.has_reachable());
    CHECK_FALSE(m.has_raft_index());
    CHECK_FALSE(m.has_raft_applied_index());
  }
  CHECK(v.updated_at().empty());  // no fresh data: no data time
}

TEST_CASE("the view is a function of ClusterInput: a node pretended down changes only the input") {
  Cluster c;
  auto in = qw::aggregator::clusterInput(c.hub, c.cfg, 0, c.now);
  REQUIRE(computeClusterView(in).failure_tolerance() == 1);
  for (auto& n : in.nodes)
    if (n.name == "n2") n.fresh = false;
  auto v = computeClusterView(in);
  CHECK(v.failure_tolerance() == 0);
  CHECK(c.member(v, "m2").reasons(0).find("silent") != std::string::npos);
  CHECK(c.view().failure_tolerance() == 1);  // the hub is untouched
}

TEST_CASE("one alarm rule: the leader's list wins over a lagging follower's") {
  Cluster c;
  // n3 runs m1, the leader; n1 still lists a NOSPACE the leader has already cleared.
  auto leader = c.base[2];
  leader.mutable_etcd()->set_is_leader(true);
  c.report(2, leader);
  auto follower = c.base[0];
  auto* a = follower.mutable_etcd()->add_alarms();
  a->set_member_id(follower.etcd().member_id());
  a->set_alarm("NOSPACE");
  c.report(0, follower);
  auto v = c.view();
  CHECK(v.alarms_size() == 0);
  CHECK(v.state() == State::HEALTHY);
  // Without a fresh leader, every fresh member's list counts.
  c.now += c.cfg.stale_after_ms + 1;
  c.report(0, follower);
  c.report(1, c.base[1]);
  v = c.view();
  REQUIRE(v.alarms_size() == 1);
  CHECK(v.alarms(0).alarm() == "NOSPACE");
  auto text = qw::aggregator::renderMetrics(v, c.hub, {}, c.cfg, c.now);
  CHECK(text.find("quorumwatch_etcd_alarm{alarm=\"NOSPACE\",cluster=\"default\"} 1") !=
        std::string::npos);
}

TEST_CASE("a node whose agent session ended has no fresh data at once") {
  Cluster c;
  REQUIRE(c.view().failure_tolerance() == 1);
  c.hub.node("n3").disconnected_steady_ms = c.now - 1500;  // closed 1.5 s ago, well within stale
  auto v = c.view();
  CHECK(v.failure_tolerance() == 0);
  const qw::api::MemberView* on_n3 = nullptr;
  for (const auto& m : v.members())
    if (m.node() == "n3") on_n3 = &m;
  REQUIRE(on_n3);
  CHECK_FALSE(on_n3->healthy());
  REQUIRE(on_n3->reasons_size() > 0);
  CHECK(on_n3->reasons(0) == "agent on n3 disconnected 1 s ago");
  CHECK_FALSE(on_n3->has_reachable());           // unknown, not false
  c.hub.node("n3").disconnected_steady_ms = -1;  // a new session (onHello)
  CHECK(c.view().failure_tolerance() == 1);
}
