// The cost of one cluster view with the risk engine: 7 voting members on 7 nodes in 3 failure
// domains, every node with a full set of signals (some past their thresholds), a learner, and the
// last hour's history (leader changes, a restart, a reboot). Prints the median and max of the
// per-view time over rounds of many views (target <= 50 us per view), of the engine alone, of the
// warning conditions (evaluated per ingest, not per view) and of a what-if.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "qw/aggregator/risk/engine.h"
#include "qw/aggregator/risk/warnings.h"
#include "qw/aggregator/view/cluster_view.h"
#include "qw/aggregator/view/whatif.h"

using namespace qw::aggregator;

namespace {

ClusterInput sevenMembers() {
  ClusterInput in;
  in.now_wall_ms = 1'700'000'000'000;
  in.risk_table = std::make_shared<risk::Table>(risk::defaultTable());
  in.recent.known = true;
  in.recent.leader_changes = 4;
  in.recent.etcd_restarts["n3"] = 1;
  in.recent.node_reboots["n5"] = 1;
  for (int i = 1; i <= 8; ++i) {
    MemberInfo mi;
    mi.id = 0x1000 + static_cast<uint64_t>(i);
    mi.name = "m" + std::to_string(i);
    mi.is_learner = i == 8;
    mi.peer_urls = {"http://10.0.0." + std::to_string(i) + ":2380"};
    mi.client_urls = {"http://10.0.0." + std::to_string(i) + ":2379"};
    in.members.push_back(mi);
    NodeInput n;
    n.name = "n" + std::to_string(i);
    n.failure_domain = "shelf-" + std::to_string(i % 3);
    n.member_id = mi.id;
    n.fresh = true;
    n.etcd.set_reachable(true);
    n.etcd.set_member_id(mi.id);
    n.etcd.set_has_leader(true);
    n.etcd.set_leader_id(0x1001);
    n.etcd.set_raft_index(123456);
    n.etcd.set_raft_applied_index(123450);
    n.etcd.set_alarms_ok(true);
    auto& s = n.signals;
    s.etcd_reachable = 1;
    s.wal_fsync_p99_seconds = 0.004 * i * i;
    s.backend_commit_p99_seconds = 0.01 * i;
    s.peer_rtt_p99_seconds = 0.002 * i;
    s.cpu_temperature_celsius = 60 + 3 * i;
    s.temperature_trip_celsius = 85;
    s.under_voltage = i == 4 ? 1 : 0;
    s.throttled = 0;
    s.io_pressure_some_avg10 = 5.0 * i;
    s.fs_avail_bytes = 4e9 / i;
    s.fs_total_bytes = 32e9;
    s.db_quota_used_ratio = 0.1;
    s.apply_lag = 3;
    in.nodes.push_back(n);
  }
  return in;
}

template <class F>
void measure(const char* what, F&& f) {
  constexpr int kRounds = 30, kPerRound = 2000;
  std::vector<double> us;
  for (int r = 0; r < kRounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kPerRound; ++i) f();
    auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / kPerRound);
  }
  std::sort(us.begin(), us.end());
  std::printf("risk: %-46s median %.2f us, min %.2f us, max %.2f us (%d rounds of %d)\n", what,
              us[us.size() / 2], us.front(), us.back(), kRounds, kPerRound);
}

}  // namespace

int main() {
  auto in = sevenMembers();
  // The API's path: the warnings are the watch's, evaluated per ingest (measured below), not per
  // view.
  auto base = in;
  base.warnings.emplace();
  base.risk_table = nullptr;
  auto arithmetic_view = computeClusterView(base);
  in.warnings = risk::warningConditions(in, arithmetic_view, *in.risk_table);
  auto view = computeClusterView(in);
  std::printf("risk: 7 voters + 1 learner: state %s, probability %.3g, %d factors\n",
              qw::api::ClusterView::State_Name(view.state()).c_str(),
              view.quorum_loss_probability(), view.factors_size());
  size_t sink = 0;
  measure("cluster view with the risk engine", [&] {
    auto v = computeClusterView(in);
    sink += static_cast<size_t>(v.factors_size());
  });
  auto arithmetic = in;
  arithmetic.risk_table = nullptr;
  measure("cluster view without the risk engine", [&] {
    auto v = computeClusterView(arithmetic);
    sink += static_cast<size_t>(v.members_size());
  });
  measure("risk engine alone (assess)", [&] {
    auto a = risk::assess(in, view, *in.risk_table);
    sink += a.factors.size();
  });
  measure("warning conditions (each ingest evaluation)", [&] {
    auto w = risk::warningConditions(in, arithmetic_view, *in.risk_table);
    sink += w.size();
  });
  measure("whatif (stop one voter)", [&] {
    auto w = whatIf(in, {"n2"});
    sink += static_cast<size_t>(w.reasons_size());
  });
  return sink == 0 ? 1 : 0;
}
