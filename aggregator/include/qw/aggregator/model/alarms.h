#pragma once
// The one alarm rule, shared by the cluster view, the events and /metrics: etcd's alarms are
// cluster-wide and the leader's list is authoritative when the leader answered its alarm list (a
// lagging follower's view would make a cleared alarm flap). Without a fresh leader, every fresh
// member's list counts (view/cluster_view.h, clusterAlarms).
#include "sample.pb.h"

namespace qw::aggregator {

inline bool authoritativeAlarmList(const qw::wire::EtcdSample& e) {
  return e.reachable() && e.is_leader() && e.alarms_ok();
}

}  // namespace qw::aggregator
