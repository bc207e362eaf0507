#pragma once
// What the quorum view and the risk engine read (view/cluster_view.h builds it from the hub at one
// instant): plain data, so "pretend node X is down" is an edit of a copy, and both are pure
// functions of it.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/model/maintenance.h"
#include "qw/aggregator/model/signals.h"
#include "sample.pb.h"

namespace qw::aggregator {

namespace risk {
struct Table;
}

// The cluster's snapshots as the aggregator's keeper sees them (snapshots/keeper.h): what the
// snapshot warnings and factors are computed from. Ages are at the time of the answer.
struct SnapshotHealth {
  bool catalogue_known = false;  // at least one agent answered its catalogue
  size_t verified = 0;           // verified files on the nodes
  size_t copies_verified = 0;    // verified copies in the aggregator's store
  // Every verified file lives on the same disk as that node's etcd data dir, and the aggregator
  // holds no verified copy: one dead disk takes the data and its backups together.
  bool all_on_data_disk = false;
  std::optional<int64_t> newest_verified_age_ms;  // of the newest verified file or copy
  bool drills_enabled = false;
  std::optional<int64_t> last_passed_drill_age_ms;
  bool last_drill_failed = false;
  std::string last_drill_error;
  std::string last_drill_copy;
};

// What the event log says about the last hour (the risk engine's window of recent history).
struct RecentHistory {
  bool known = false;  // false: the log could not be read (the engine then leaves these out)
  int leader_changes = 0;
  int leader_changes_15m = 0;                    // the newest quarter of it (the mixin's window)
  std::map<std::string, int> etcd_restarts;      // by node
  std::map<std::string, int> node_reboots;       // by node
  std::map<std::string, int> etcd_restarts_10m;  // by node, the newest 10 minutes (guard-rail)
  // Mixed changes (model/events.h) of the newest 30 minutes, newest first: their messages.
  std::vector<std::string> mixed_changes;
};

// One node as the view needs it.
struct NodeInput {
  std::string name;
  std::string failure_domain;
  std::string etcd_endpoint;
  uint64_t member_id = 0;  // the member this node runs (hub's mapping; 0: not known)
  bool fresh = false;
  int64_t silent_ms = -1;         // since its newest sample; -1: none since the aggregator started
  int64_t disconnected_ms = -1;   // since its agent's session ended; -1: connected (or unknown)
  int64_t last_seen_wall_ms = 0;  // receive time of its newest sample
  std::string etcd_data_dir;
  std::optional<bool> clock_synced;  // from its newest sample
  // etcd's live timing (the agent's EtcdConfig; absent: not learned) and where it came from.
  std::optional<double> heartbeat_seconds, election_seconds, snapshot_count;
  std::string timing_source;
  std::string flavor;         // etcd, k3s, kubeadm (the agent's Hello)
  qw::wire::EtcdSample etcd;  // its newest etcd answer (meaningful when fresh)
  MemberSignals signals;
};

using AlarmSet = std::set<std::pair<uint64_t, std::string>>;  // (member id, alarm)

struct ClusterInput {
  std::string cluster_name;
  uint64_t max_apply_lag = 5000;
  std::vector<MemberInfo> members;  // etcd's member list, voters and learners
  std::vector<NodeInput> nodes;
  AlarmSet alarms;          // clusterAlarms() of the fresh nodes
  uint64_t cluster_id = 0;  // etcd's cluster id watched (model/cluster_identity.h); 0: none yet
  std::vector<uint64_t> previous_cluster_ids;
  int64_t now_wall_ms = 0;
  // The risk engine's inputs (risk/engine.h); without a table the probability stays absent.
  std::shared_ptr<const risk::Table> risk_table;
  RecentHistory recent;
  // The warnings raised now, after hysteresis (view/cluster_watch.h). Absent: the view reports
  // the conditions holding in this input as they are (unit tests, a view without a watch).
  std::optional<std::vector<qw::api::Warning>> warnings;
  std::optional<SnapshotHealth> snapshots;     // absent: not known (unit tests, no keeper)
  std::vector<MaintenanceWindow> maintenance;  // planned stops open now (model/maintenance.h)
};

}  // namespace qw::aggregator
