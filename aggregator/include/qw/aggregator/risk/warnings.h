#pragma once
// Early warnings (DESIGN.md s7.6): the etcd mixin's alerts and what the mixin lacks, evaluated on
// every ingest with windows of seconds. Two pure parts:
//  - warningConditions: what holds now, from the cluster input and the view's membership
//    arithmetic (no clock, no history beyond the input's recent window);
//  - WarningTracker: hysteresis over those conditions with a caller's clock. A condition is raised
//    once it has held for its rule's raise_after, and cleared once it has been absent for its
//    clear_after, so a p99 that hovers around its threshold does not flap; every raise and clear
//    is a transition the caller records as an event.
// Thresholds and windows live in the risk table (risk/table.h, "warning.CODE.*" overrides).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/cluster_input.h"
#include "qw/aggregator/risk/table.h"

namespace qw::aggregator::risk {

// The conditions that hold in `in` now, one Warning each (code, severity, member, message with the
// measured value, action). `view` is computeClusterView's membership arithmetic for `in`.
std::vector<qw::api::Warning> warningConditions(const ClusterInput& in,
                                                const qw::api::ClusterView& view,
                                                const Table& table);

// The snapshot warnings (NO_VERIFIED_SNAPSHOT .. DRILL_FAILED) say whether the cluster could be
// recovered, not whether it serves: they show in warnings[] and /metrics with their severity, but
// do not make the state DEGRADED (a cluster without a drilled backup still has its quorum).
bool isRecoverabilityWarning(qw::api::Warning::Code code);

// "3.5.16" -> {3, 5, 16}; missing parts are 0; nullopt when it does not start with a number.
struct EtcdVersion {
  int major = 0, minor = 0, patch = 0;
};
std::optional<EtcdVersion> parseEtcdVersion(const std::string& v);

class WarningTracker {
 public:
  struct Transition {
    bool raised = false;  // false: cleared
    qw::api::Warning warning;
  };
  // The conditions holding at `now_ms` (a steady clock; `now_wall_ms` stamps raised_at). Returns
  // the raises and clears.
  std::vector<Transition> update(const std::vector<qw::api::Warning>& holding, int64_t now_ms,
                                 int64_t now_wall_ms, const Table& table);
  // The raised warnings, most severe first, with the newest message of each.
  std::vector<qw::api::Warning> active() const;

 private:
  struct Entry {
    qw::api::Warning latest;
    bool holding = false;
    bool raised = false;
    int64_t since_ms = 0;  // holding: since it began to hold; else since it stopped
  };
  std::map<std::pair<int, std::string>, Entry> entries_;  // (code, member)
};

}  // namespace qw::aggregator::risk
