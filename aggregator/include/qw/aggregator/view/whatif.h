#pragma once
// "Is it safe to stop X?" (DESIGN.md s6 whatif, the CLI's can-stop): the quorum view of a copy
// of the input in which the named nodes' etcd members are stopped, and the rules an operator
// would check before a planned stop. Pure: ClusterInput in, WhatIf out.
#include <string>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/cluster_input.h"

namespace qw::aggregator {

// Applied-index distance to the leader at which another member counts as still catching up.
constexpr uint64_t kCatchingUpEntries = 1000;

qw::api::WhatIf whatIf(const ClusterInput& in, const std::vector<std::string>& down_nodes);

}  // namespace qw::aggregator
