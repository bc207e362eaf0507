// Planned maintenance windows (model/maintenance.h) and what the view and "safe to stop?" make of
// them, on plain inputs.
#include <catch2/catch.hpp>

#include "../cluster_input.h"
#include "qw/aggregator/model/maintenance.h"
#include "qw/aggregator/view/cluster_view.h"
#include "qw/aggregator/view/whatif.h"

using namespace qw::aggregator;
using W = qw::api::WhatIf;
using S = qw::api::ClusterView;

namespace {

bool mentions(const google::protobuf::RepeatedPtrField<std::string>& lines, const std::string& s) {
  for (const auto& l : lines)
    if (l.find(s) != std::string::npos) return true;
  return false;
}

qw::api::Warning warningOn(const std::string& node, qw::api::Severity sev) {
  qw::api::Warning w;
  w.set_code(qw::api::Warning::MEMBER_DOWN);
  w.set_severity(sev);
  w.set_node(node);
  w.set_member("m" + node.substr(1));
  w.set_message("member down");
  return w;
}

}  // namespace

TEST_CASE("maintenance: a window opens, is replaced, ends early or by itself") {
  MaintenanceBook b;
  b.start("n3", 1000, 60'000, "kernel");
  REQUIRE(b.active(2000).size() == 1);
  CHECK(b.active(2000)[0].until_wall_ms == 61'000);
  b.start("n3", 5000, 10'000, "again");  // replaced, not a second window
  auto a = b.active(6000);
  REQUIRE(a.size() == 1);
  CHECK(a[0].reason == "again");
  CHECK(findWindow(a, "n3"));
  CHECK_FALSE(findWindow(a, "n2"));
  CHECK(b.active(15'000).empty());  // ended by itself at its time
  CHECK_FALSE(b.end("n3"));
  b.start("n1", 0, 60'000, "");
  CHECK(b.end("n1"));
  CHECK(b.active(1).empty());
}

TEST_CASE("maintenance: the node's warnings are expected and do not make HEALTHY DEGRADED") {
  auto in = plainCluster(3);
  in.warnings = std::vector<qw::api::Warning>{warningOn("n3", qw::api::WARNING)};
  auto plain = computeClusterView(in);
  CHECK(plain.state() == S::DEGRADED);
  CHECK_FALSE(plain.warnings(0).expected());

  in.maintenance = {{"n3", in.now_wall_ms - 1000, in.now_wall_ms + 600'000, "kernel upgrade"}};
  auto v = computeClusterView(in);
  INFO(v.DebugString());
  CHECK(v.state() == S::HEALTHY);
  REQUIRE(v.warnings_size() == 1);
  CHECK(v.warnings(0).expected());
  REQUIRE(v.maintenance_size() == 1);
  CHECK(v.maintenance(0).node() == "n3");
  CHECK(v.maintenance(0).reason() == "kernel upgrade");
  CHECK(v.maintenance(0).remaining_seconds() == 600);
  CHECK(mentions(v.reasons(), "node n3 is in planned maintenance until"));

  // A CRITICAL warning on that node does not make the cluster AT_RISK either; on another it does.
  in.warnings = std::vector<qw::api::Warning>{warningOn("n3", qw::api::CRITICAL)};
  CHECK(computeClusterView(in).state() != S::AT_RISK);
  in.warnings = std::vector<qw::api::Warning>{warningOn("n2", qw::api::WARNING)};
  auto other = computeClusterView(in);
  CHECK(other.state() == S::DEGRADED);
  CHECK_FALSE(other.warnings(0).expected());
}

TEST_CASE("maintenance: the stopped member keeps its honest arithmetic and says why") {
  auto in = plainCluster(3);
  in.maintenance = {{"n3", in.now_wall_ms, in.now_wall_ms + 60'000, ""}};
  in.nodes[2].etcd.set_reachable(false);
  in.nodes[2].etcd.set_error("connection refused");
  auto v = computeClusterView(in);
  CHECK(v.failure_tolerance() == 0);
  CHECK(v.state() == S::CRITICAL);
  for (const auto& m : v.members())
    if (m.node() == "n3") CHECK(mentions(m.reasons(), "planned maintenance until"));
}

TEST_CASE("maintenance: can-stop counts a node in maintenance as down before it stops") {
  auto in = plainCluster(3);
  CHECK(whatIf(in, {"n1"}).verdict() == W::SAFE);
  in.maintenance = {{"n3", in.now_wall_ms, in.now_wall_ms + 60'000, ""}};
  auto w = whatIf(in, {"n1"});
  INFO(w.DebugString());
  CHECK(w.verdict() == W::UNSAFE);
  CHECK(w.failure_tolerance_after() == -1);
  CHECK(mentions(w.advice(), "n3 is in planned maintenance until"));
  CHECK(mentions(w.reasons(), "quorum needs 2"));
  // The node itself: stopping it is what the window is for.
  CHECK(whatIf(in, {"n3"}).verdict() == W::SAFE);
  // Five members: one in maintenance, one more may stop.
  auto five = plainCluster(5);
  five.maintenance = {{"n5", five.now_wall_ms, five.now_wall_ms + 60'000, ""}};
  auto w5 = whatIf(five, {"n4"});
  CHECK(w5.verdict() == W::SAFE);
  CHECK(w5.failure_tolerance_after() == 0);
}
