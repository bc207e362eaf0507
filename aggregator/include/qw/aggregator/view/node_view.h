#pragma once
// A node's signals for the API and /metrics, derived from its newest sample and /metrics deltas.
#include "api.pb.h"
#include "qw/aggregator/model/hub.h"

namespace qw::aggregator {

// Fills the etcd-metrics and host fields of `v` (not connection or identity fields).
void fillNodeSignals(const NodeState& n, qw::api::NodeView* v);

}  // namespace qw::aggregator
