#pragma once
// Timing advice (DESIGN.md s7.7, ETCD_REFERENCE.md s11 "Timing"): etcd's live
// --heartbeat-interval and --election-timeout, as the agents learned them from each member's
// process, against the measured peer RTT p99 and WAL fsync p99. The etcd tuning guide's rules:
// heartbeat about the round trip (never shorter than it), election >= 10x RTT and >= 5x heartbeat,
// the same on every member; and a disk whose fsync takes a good part of the heartbeat is a disk
// problem that no timeout fixes. Pure: a function of the cluster input.
#include "api.pb.h"
#include "qw/aggregator/model/cluster_input.h"

namespace qw::aggregator::risk {

qw::api::TimingAdvice timingAdvice(const ClusterInput& in);

}  // namespace qw::aggregator::risk
