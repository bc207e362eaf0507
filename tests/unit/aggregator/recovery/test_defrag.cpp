// The defragmentation plan (recovery/planner.h planDefrag): its preconditions, when it is not
// worth it, the order (compaction, followers with a pause, leadership moved, the old leader
// last) and the expected stall per member from its db in use and its disk's measured write rate.
#include <catch2/catch.hpp>

#include "fixture.h"

using namespace qw::aggregator;
using namespace qw::test::recovery;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// `n` members with a 16 MiB quota, a 15 MiB file of which 1 MiB is in use, 1 GiB free, and a
// disk measured writing 8 MiB/s.
PlannerInput fragmented(int n) {
  auto in = cluster(n);
  for (auto& nd : in.nodes) {
    nd.db_size = 15 * kMiB;
    nd.db_in_use = 1 * kMiB;
    nd.fs_avail = 1024 * kMiB;
    nd.quota = 16 * kMiB;
    nd.disk_write_peak_bps = 8 * kMiB;
  }
  return in;
}

}  // namespace

TEST_CASE("defrag: compaction, followers one at a time with a pause, the leader last",
          "[recovery]") {
  for (int n : {3, 5}) {
    INFO(n << " members");
    auto in = fragmented(n);
    in.defrag_pause_seconds = 5;
    in.nodes[2].db_in_use = 20 * kMiB;  // m3: 20 MiB at 8 MiB/s is 3 s
    in.nodes[2].db_size = 40 * kMiB;
    in.nodes[2].quota = 48 * kMiB;
    in.nodes[1].disk_write_peak_bps = 0;  // m2: no rate measured
    auto p = planDefrag(in);
    INFO(p.DebugString());
    REQUIRE(p.scenario() == "DEFRAG");
    CHECK(p.steps(0).command().find(" compact \"$REV\"") != std::string::npos);
    // Followers m2..mN, each followed by a pause; then move-leader, then m1.
    int i = 1;
    for (int f = 2; f <= n; ++f) {
      const std::string url = "127.0.0.1:" + std::to_string(2379 + 10 * f);
      REQUIRE(i + 1 < p.steps_size());
      CHECK(p.steps(i).command() ==
            "etcdctl --endpoints='http://" + url + "' --command-timeout=10m defrag");
      CHECK(p.steps(i).check() == "etcdctl --endpoints='http://" + url + "' endpoint health");
      CHECK(p.steps(i + 1).command() == "sleep 5");
      i += 2;
    }
    CHECK(p.steps(i).command() == "etcdctl --endpoints='http://127.0.0.1:2389' move-leader a2");
    CHECK(p.steps(i + 1).command().find("2389' --command-timeout=10m defrag") != std::string::npos);
    CHECK(p.steps(i + 1).why().find("the old leader, last") != std::string::npos);
    // Expected stalls: m1 1 MiB at 8 MiB/s rounds up to 1 s, m3 3 s, m2 unknown (absent).
    CHECK(p.steps(i + 1).expected_stall_seconds() == 1);
    CHECK(p.steps(3).expected_stall_seconds() == 3);
    CHECK(p.steps(3).why().find("20.0 MiB in use") != std::string::npos);
    CHECK_FALSE(p.steps(1).has_expected_stall_seconds());
    CHECK(p.steps(1).why().find("cannot be estimated") != std::string::npos);
    CHECK(p.steps(p.steps_size() - 1).check().find("endpoint health") != std::string::npos);
  }
}

TEST_CASE("defrag: refused unless every member is healthy with room, skipped when small",
          "[recovery]") {
  auto down3 = fragmented(3);
  down(down3, 3);
  auto p = planDefrag(down3);
  CHECK(p.scenario() == "DEFRAG_REFUSED");
  CHECK(p.summary().find("m3 is not healthy") != std::string::npos);
  CHECK(p.steps_size() == 0);

  auto alarm = fragmented(3);
  alarm.view.add_alarms()->set_alarm("NOSPACE");
  CHECK(planDefrag(alarm).summary().find("follow GET /api/v1/recovery/plan") != std::string::npos);

  auto full = fragmented(3);
  full.nodes[1].fs_avail = 10 * kMiB;  // less than its 15 MiB file
  auto fp = planDefrag(full);
  CHECK(fp.scenario() == "DEFRAG_REFUSED");
  CHECK(fp.summary().find("less than its db") != std::string::npos);

  auto unknown = fragmented(3);
  unknown.nodes[0].db_in_use.reset();
  CHECK(planDefrag(unknown).summary().find("db size is not known") != std::string::npos);

  auto busy = fragmented(3);
  busy.mixed_changes = {"member m4 added"};
  CHECK(planDefrag(busy).scenario() == "DEFRAG_REFUSED");

  // Little to gain: a 200 MiB file with 150 MiB in use, far from its 2 GiB quota.
  auto small = fragmented(3);
  for (auto& nd : small.nodes) {
    nd.db_size = 200 * kMiB;
    nd.db_in_use = 150 * kMiB;
    nd.quota = 2048 * kMiB;
  }
  auto sp = planDefrag(small);
  CHECK(sp.scenario() == "DEFRAG_NOT_NEEDED");
  CHECK(sp.steps_size() == 0);
  // Much to gain: in use under half, 100 MiB or more to free.
  for (auto& nd : small.nodes) nd.db_in_use = 60 * kMiB;
  CHECK(planDefrag(small).scenario() == "DEFRAG");

  PlannerInput none;
  CHECK(planDefrag(none).scenario() == "DEFRAG_REFUSED");
}
