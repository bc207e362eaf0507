// Timing advice on recorded RTT and fsync figures (risk/advice.h).
#include <catch2/catch.hpp>

#include "../cluster_input.h"
#include "qw/aggregator/risk/advice.h"
#include "qw/aggregator/view/cluster_view.h"

using qw::aggregator::risk::timingAdvice;
using A = qw::api::TimingAdvice;

namespace {

qw::aggregator::ClusterInput timed(double hb, double el, double rtt, const char* flavor = "etcd") {
  auto in = plainCluster(3);
  for (auto& n : in.nodes) {
    n.heartbeat_seconds = hb;
    n.election_seconds = el;
    n.timing_source = "flag";
    n.flavor = flavor;
    n.signals.peer_rtt_p99_seconds = rtt;
    n.signals.wal_fsync_p99_seconds = 0.004;
  }
  return in;
}

bool mentions(const A& a, const std::string& text) {
  for (const auto& f : a.findings())
    if (f.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("no learned heartbeat: cannot tell") {
  auto a = timingAdvice(plainCluster(3));
  CHECK(a.verdict() == A::UNKNOWN);
  CHECK(mentions(a, "not known"));
  CHECK_FALSE(a.has_recommended_heartbeat_interval_seconds());
  CHECK(a.members_size() == 3);
  CHECK_FALSE(a.members(0).has_heartbeat_interval_seconds());
}

TEST_CASE("etcd's defaults on a LAN are OK") {
  auto a = timingAdvice(timed(0.1, 1.0, 0.002));
  CHECK(a.verdict() == A::OK);
  CHECK(a.settings_size() == 0);
  CHECK(a.recommended_heartbeat_interval_seconds() == Approx(0.1));
  CHECK(a.recommended_election_timeout_seconds() == Approx(1.0));
}

TEST_CASE("a 25 ms heartbeat over a 200 ms round trip must change") {
  auto a = timingAdvice(timed(0.025, 0.25, 0.2));
  CHECK(a.verdict() == A::CHANGE);
  CHECK(mentions(a, "shorter than the slowest peer round trip"));
  CHECK(mentions(a, "below 10x the peer round trip"));
  CHECK(a.recommended_heartbeat_interval_seconds() == Approx(0.3));
  CHECK(a.recommended_election_timeout_seconds() == Approx(2.0));
  REQUIRE(a.settings_size() == 1);
  CHECK(a.settings(0).flavor() == "etcd");
  CHECK(a.settings(0).how().find("--heartbeat-interval=300 --election-timeout=2000") !=
        std::string::npos);
}

TEST_CASE("k3s and kubeadm get their own settings") {
  auto a = timingAdvice(timed(0.5, 1.0, 0.002, "k3s"));
  CHECK(a.verdict() == A::CHANGE);  // election below 5x heartbeat
  REQUIRE(a.settings_size() == 1);
  CHECK(a.settings(0).how().find("--etcd-arg=heartbeat-interval=500 "
                                 "--etcd-arg=election-timeout=2500") != std::string::npos);
  a = timingAdvice(timed(0.1, 0.4, 0.002, "kubeadm"));
  REQUIRE(a.settings_size() == 1);
  CHECK(a.settings(0).how().find("/etc/kubernetes/manifests/etcd.yaml") != std::string::npos);
}

TEST_CASE("members with different timings must be made equal") {
  auto in = timed(0.1, 1.0, 0.002);
  in.nodes[1].heartbeat_seconds = 0.5;
  in.nodes[1].election_seconds = 5.0;
  auto a = timingAdvice(in);
  CHECK(a.verdict() == A::CHANGE);
  CHECK(mentions(a, "different timings"));
  CHECK(a.recommended_heartbeat_interval_seconds() == Approx(0.5));
  CHECK(a.recommended_election_timeout_seconds() == Approx(2.5));
}

TEST_CASE("a slow disk is named as the problem, not the timeouts") {
  auto in = timed(0.1, 1.0, 0.002);
  in.nodes[2].signals.wal_fsync_p99_seconds = 0.15;
  auto a = timingAdvice(in);
  CHECK(a.verdict() == A::SLOW_DISK);
  CHECK(mentions(a, "timeouts do not fix a slow disk: move etcd's data dir to an SSD"));
  CHECK(mentions(a, "on m3"));
}

TEST_CASE("learners and stale nodes' measurements are left out") {
  auto in = plainCluster(3, 1);
  for (auto& n : in.nodes) {
    n.heartbeat_seconds = 0.1;
    n.election_seconds = 1.0;
    n.signals.peer_rtt_p99_seconds = 0.002;
  }
  in.nodes[3].signals.peer_rtt_p99_seconds = 0.9;  // the learner
  in.nodes[2].fresh = false;
  in.nodes[2].signals.peer_rtt_p99_seconds = 0.8;  // stale
  auto a = timingAdvice(in);
  CHECK(a.verdict() == A::OK);
  CHECK(a.members_size() == 3);
}

TEST_CASE("the live timing comes from the agent's EtcdConfig and defaults only when provable") {
  qw::aggregator::Hub hub;
  qw::aggregator::ViewConfig cfg;
  auto timing = [&](const qw::wire::EtcdConfig& c) {
    hub.node("n1").etcd_config = c;
    return qw::aggregator::clusterInput(hub, cfg, 0, 0).nodes.at(0);
  };
  qw::wire::EtcdConfig c;
  c.add_args("etcd");
  c.add_args("--heartbeat-interval=25");
  c.set_heartbeat_interval_ms(25);
  c.add_sources("heartbeat_interval_ms=flag");
  c.set_env_known(true);
  c.set_flavor("etcd");
  auto n = timing(c);
  REQUIRE(n.heartbeat_seconds);
  CHECK(*n.heartbeat_seconds == Approx(0.025));
  CHECK(n.timing_source == "flag");
  REQUIRE(n.election_seconds);  // not set anywhere, argv and env read: etcd's default
  CHECK(*n.election_seconds == Approx(1.0));

  c.set_env_known(false);  // an ETCD_ELECTION_TIMEOUT could hide in an unreadable environment
  n = timing(c);
  CHECK_FALSE(n.election_seconds);
  CHECK(n.heartbeat_seconds);

  qw::wire::EtcdConfig k3s;
  k3s.add_args("k3s");
  k3s.set_env_known(true);
  k3s.set_flavor("k3s");
  n = timing(k3s);  // k3s without the agent's k3s-default values: unknown, not etcd's default
  CHECK_FALSE(n.heartbeat_seconds);
}
