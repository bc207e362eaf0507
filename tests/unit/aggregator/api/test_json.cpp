#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "qw/aggregator/api/json.h"

using namespace qw::aggregator;
using nlohmann::json;

TEST_CASE("json: the fast printer prints what protobuf's printer prints") {
  qw::api::Series s;
  s.set_node("pi-1 \"quoted\" \\ tab\t\x01");
  s.set_metric("wal_fsync_seconds");
  s.set_agg("p99");
  s.set_step_seconds(60);
  s.set_from(1700000000.123);
  s.set_to(1700086400);
  const double values[] = {0, 1, -1, 0.1, 1e-7, 1.5e300, 123456789.123456, 0.0015, 3.0 / 7};
  int64_t ts = 1700000000123;
  for (double v : values) {
    auto* p = s.add_points();
    p->set_ts(static_cast<double>(ts) / 1000.0);
    p->set_value(v);
    ts += 60'001;
  }
  CHECK(json::parse(toJsonFast(s)) == json::parse(toJson(s)));
  CHECK(json::parse(toJsonFast(qw::api::Series())) == json::parse(toJson(qw::api::Series())));

  // Enums, optional fields set and unset, nested and repeated messages, 64-bit integers.
  qw::api::ClusterView v;
  v.set_state(qw::api::ClusterView::CRITICAL);
  v.set_voting_members(3);
  v.set_failure_tolerance(-1);
  v.set_quorum_loss_probability(0.25);
  v.add_reasons("a");
  v.add_reasons("b\n");
  auto* m = v.add_members();
  m->set_name("m1");
  m->set_reachable(true);
  auto* w = v.add_warnings();
  w->set_code(qw::api::Warning::NOSPACE);
  v.add_members()->set_name("m2");  // reachable unset: absent in both
  INFO(toJsonFast(v));
  CHECK(json::parse(toJsonFast(v)) == json::parse(toJson(v)));
  auto parsed = json::parse(toJsonFast(v));
  CHECK(parsed["state"] == "CRITICAL");
  CHECK_FALSE(parsed["members"][1].contains("reachable"));
  CHECK_FALSE(parsed.contains("horizon_seconds"));

  qw::api::NodeList nodes;
  auto* n = nodes.add_nodes();
  n->set_name("pi-2");
  n->set_wal_fsync_p99_seconds(0.18);
  CHECK(json::parse(toJsonFast(nodes)) == json::parse(toJson(nodes)));
}

TEST_CASE("json: a value JSON cannot hold prints as protobuf prints it") {
  qw::api::SeriesPoint p;
  p.set_value(std::nan(""));
  CHECK(json::parse(toJsonFast(p)) == json::parse(toJson(p)));
  p.set_value(-INFINITY);
  CHECK(json::parse(toJsonFast(p)) == json::parse(toJson(p)));
}
