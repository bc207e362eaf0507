#pragma once
// A node's view for the API (GET /api/v1/nodes): identity and connection from the hub, every
// signal from model/signals (deriveSignals of its newest sample and /metrics deltas).
#include <cstdint>

#include "api.pb.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/model/signals.h"

namespace qw::aggregator {

// The node's signals (one derivation: deriveSignals over n.latest and n.metrics).
MemberSignals nodeSignals(const NodeState& n);

// Sets each NodeView field named like a signal of signalTable() that `s` knows; unknown signals
// stay absent.
void fillSignalFields(const MemberSignals& s, qw::api::NodeView* v);

// The whole node view at wall-clock time now_wall_ms.
qw::api::NodeView buildNodeView(const NodeState& n, int64_t now_wall_ms);

// etcd's configuration as an agent reported it, received at received_wall_ms, for the API.
qw::api::EtcdConfig etcdConfigView(const qw::wire::EtcdConfig& c, int64_t received_wall_ms);

}  // namespace qw::aggregator
