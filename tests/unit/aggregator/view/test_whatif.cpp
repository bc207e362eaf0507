// "Safe to stop X?" on plain inputs (view/whatif.h).
#include <catch2/catch.hpp>

#include "../cluster_input.h"
#include "qw/aggregator/view/whatif.h"

using namespace qw::aggregator;
using W = qw::api::WhatIf;

namespace {

ClusterInput cluster(int n, int learners = 0) { return plainCluster(n, learners); }

bool mentions(const google::protobuf::RepeatedPtrField<std::string>& lines, const std::string& s) {
  for (const auto& l : lines)
    if (l.find(s) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("whatif: one follower of three is safe to stop and the advice says what remains") {
  auto w = whatIf(cluster(3), {"n3"});
  INFO(w.DebugString());
  CHECK(w.verdict() == W::SAFE);
  CHECK(w.safe());
  CHECK(w.failure_tolerance_now() == 1);
  CHECK(w.failure_tolerance_after() == 0);
  CHECK(w.state_after() == qw::api::ClusterView::CRITICAL);
  CHECK(w.reasons_size() == 0);
  CHECK(mentions(w.advice(), "tolerates no further failure"));
}

TEST_CASE("whatif: two of three is unsafe with the arithmetic as the reason") {
  auto w = whatIf(cluster(3), {"n2", "n3"});
  CHECK(w.verdict() == W::UNSAFE);
  CHECK_FALSE(w.safe());
  CHECK(w.failure_tolerance_after() == -1);
  CHECK(mentions(w.reasons(), "leaves 1 of 3 voting members healthy; quorum needs 2"));
}

TEST_CASE("whatif: another member down makes any stop unsafe") {
  auto in = cluster(5);
  in.nodes[1].etcd.set_reachable(false);
  in.nodes[1].etcd.set_error("connection refused");
  auto w = whatIf(in, {"n3"});
  CHECK(w.verdict() == W::UNSAFE);  // tolerance after would still be 0, but m2 is down
  CHECK(w.failure_tolerance_after() == 0);
  CHECK(mentions(w.reasons(),
                 "member m2 is already unhealthy (etcd unreachable: connection refused)"));
}

TEST_CASE("whatif: a member still catching up makes a stop unsafe") {
  auto in = cluster(5);
  in.nodes[3].etcd.set_raft_applied_index(5000 - 2000);  // within max_apply_lag: still healthy
  auto w = whatIf(in, {"n2"});
  CHECK(w.verdict() == W::UNSAFE);
  CHECK(mentions(w.reasons(), "member m4 is still catching up (2000 entries behind the leader)"));
}

TEST_CASE("whatif: the leader is safe to stop with advice to move leadership first") {
  auto w = whatIf(cluster(3), {"n1"});
  CHECK(w.verdict() == W::SAFE);
  CHECK(mentions(w.advice(), "m1 is the leader: move leadership first (etcdctl move-leader 2)"));
}

TEST_CASE("whatif: learners never count and a joining learner blocks stopping a voter") {
  auto in = cluster(3, 1);
  auto learner = whatIf(in, {"n4"});
  CHECK(learner.verdict() == W::SAFE);
  CHECK(learner.failure_tolerance_after() == 1);
  CHECK(mentions(learner.advice(), "m4 is a learner"));
  auto voter = whatIf(in, {"n3"});
  CHECK(voter.verdict() == W::UNSAFE);
  CHECK(mentions(voter.reasons(), "learner m4 is joining: promote it (etcdctl member promote 4)"));
}

TEST_CASE("whatif: an alarm makes a planned stop unsafe") {
  auto in = cluster(3);
  in.alarms.insert({2, "NOSPACE"});
  auto w = whatIf(in, {"n3"});
  CHECK(w.verdict() == W::UNSAFE);
  CHECK(mentions(w.reasons(), "alarm NOSPACE is raised on member 2"));
}

TEST_CASE("whatif: stale data cannot tell") {
  auto in = cluster(3);
  in.nodes[2].fresh = false;
  auto w = whatIf(in, {"n3"});
  CHECK(w.verdict() == W::UNKNOWN);
  CHECK_FALSE(w.safe());
  CHECK(mentions(w.reasons(), "no fresh data from n3"));
  in = cluster(3);
  in.nodes[0].fresh = in.nodes[1].fresh = false;
  auto v = whatIf(in, {"n3"});
  CHECK(v.verdict() == W::UNKNOWN);
  CHECK(mentions(v.reasons(), "the cluster view cannot tell"));
}

TEST_CASE("whatif: a shared failure domain is advice") {
  auto in = cluster(5);
  in.nodes[0].failure_domain = in.nodes[1].failure_domain = "psu-1";
  auto w = whatIf(in, {"n2"});
  CHECK(w.verdict() == W::SAFE);
  CHECK(mentions(w.advice(), "m2 shares failure domain psu-1 with m1"));
}
