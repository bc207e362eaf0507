#pragma once
// In-memory picture of the cluster: what each node last reported, and etcd's membership.
// Updated after each committed batch; read by the API and the cluster view.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qw/aggregator/model/cluster_identity.h"
#include "sample.pb.h"

namespace qw::aggregator {

struct NodeState {
  std::string name;
  std::string cluster_name;
  std::string instance_id;
  std::string agent_version;
  std::string failure_domain;
  std::string boot_id;
  std::string etcd_endpoint;  // the client URL the agent samples
  std::string etcd_flavor, etcd_data_dir, etcd_unit;
  bool connected = false;
  // When its agent's session ended (steady ms; -1: it did not, or no session yet this run). A
  // closed session ends the node's fresh data at once (view/cluster_view.h nodeFresh): the agent
  // and its etcd may be gone together, and a killed agent's socket says so within milliseconds.
  int64_t disconnected_steady_ms = -1;
  int64_t last_seen_wall_ms = 0;     // receive time of the newest sample
  int64_t last_seen_steady_ms = -1;  // -1: never seen by this process (loaded from the database)
  bool has_sample = false;
  qw::wire::NodeSample latest;
  qw::wire::EtcdMetrics metrics;  // the newest /metrics deltas (interval_ms > 0)
  bool has_metrics = false;
  uint64_t last_seq = 0;
  uint64_t backlog = 0;
  uint64_t dropped = 0;
  std::optional<uint64_t> spool_write_errors;  // the agent's spool file writes that failed
  std::string spool_last_write_error;
  uint64_t member_id = 0;  // etcd member this node runs (0: not known yet)
  // How the newest live sample was placed in history (placement.h); empty: none this run.
  std::string time_source;
  // etcd's effective configuration from the newest live sample that carried one (agents send
  // it when it changes and once a minute), and its receive time; none yet since this start.
  std::optional<qw::wire::EtcdConfig> etcd_config;
  int64_t etcd_config_wall_ms = 0;
  // The newest MVCC revision its etcd reported and when (it stays after etcd stopped answering:
  // a restore plan says which writes it loses against it); none yet since this start.
  std::optional<int64_t> last_revision;
  int64_t last_revision_wall_ms = 0;
  std::string last_etcd_version;  // the newest version its etcd reported ("" none yet)
  // The highest write rate measured on its data dir's disk since this start (bytes/s; 0: none):
  // a lower bound of what the disk can write, used for a defragmentation's expected stall.
  double disk_write_peak_bps = 0;
};

struct MemberInfo {
  uint64_t id = 0;
  std::string name;
  bool is_learner = false;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};

class Hub {
 public:
  NodeState& node(const std::string& name);
  const NodeState* findNode(const std::string& name) const;
  const std::map<std::string, NodeState>& nodes() const { return nodes_; }
  const std::map<uint64_t, MemberInfo>& members() const { return members_; }

  // Applies one committed sample of `node` received at (wall, steady) ms. Returns true when the
  // membership changed (so the caller persists it).
  bool applySample(const std::string& node, const qw::wire::NodeSample& s, int64_t wall_ms,
                   int64_t steady_ms);
  void setMembers(std::map<uint64_t, MemberInfo> m) { members_ = std::move(m); }
  // Which etcd cluster (by etcd's cluster id) this aggregator watches, and the ids it had.
  ClusterIdentity& identity() { return identity_; }
  const ClusterIdentity& identity() const { return identity_; }

 private:
  std::map<std::string, NodeState> nodes_;
  std::map<uint64_t, MemberInfo> members_;
  uint64_t members_term_ = 0;  // raft term of the member list we keep
  ClusterIdentity identity_;
};

}  // namespace qw::aggregator
