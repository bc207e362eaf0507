#pragma once
// The quorum risk engine (DESIGN.md s7.2-7.4): pure, no I/O and no clock of its own. From the
// cluster input (the same one the quorum view reads), the view's membership arithmetic and a
// short window of recent history, it gives each healthy voting member a hazard over the horizon
// (the table's base rate times the multipliers that match), then the exact probability that more
// members fail than the cluster tolerates, with failure domains, and the reasons (factors).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/cluster_input.h"
#include "qw/aggregator/risk/table.h"

namespace qw::aggregator::risk {

// P(more than `tolerance` members fail within the horizon), exactly: each member fails on its own
// with probability member_p[i]; a named failure domain d (member_domain[i] = d, -1 for none)
// fails with probability domain_p[d] and takes all its members with it; everything independent.
// tolerance < 0: 1 (quorum is already lost).
double probabilityMoreThan(int tolerance, const std::vector<double>& member_p,
                           const std::vector<int>& member_domain,
                           const std::vector<double>& domain_p);

struct MemberRisk {
  std::string member, node, domain;
  double hazard_per_day = 0;  // base times the matching multipliers
  double p_fail = 0;          // 1 - exp(-hazard * horizon)
};

struct Assessment {
  std::optional<double> probability;  // absent when the view cannot tell (state UNKNOWN)
  uint32_t horizon_seconds = 0;
  std::string model_version;
  std::vector<qw::api::Factor> factors;  // strongest first; member "" for cluster-wide ones
  // Named failure domains holding more healthy voters than the cluster tolerates losing: one
  // of them failing alone loses quorum.
  std::vector<std::string> breaking_domains;
  std::vector<MemberRisk> members;  // the healthy voters the probability is over
};

// `view`: computeClusterView's membership arithmetic (members' health, tolerance, state).
Assessment assess(const ClusterInput& in, const qw::api::ClusterView& view, const Table& table);

}  // namespace qw::aggregator::risk
