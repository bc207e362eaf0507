#pragma once
// Recovery plans (GET /api/v1/recovery/plan): the scenario read from the cluster view, then the
// ordered steps with the exact commands for each node's supervisor, the check after each, and
// what must not be done (ETCD_REFERENCE.md section 11). Pure: the caller passes the view, what
// the agents reported (etcd's command line, flavor, unit) and the snapshot catalogue's verdict.
// quorumwatch advises; nothing here runs a command.
//
// Scenarios: HEALTHY (nothing to do, the snapshot to rely on), MEMBER_DOWN and
// QUORUM_LOST_RECOVERABLE (the down members' disks may come back: bring them back, quorum returns
// by itself, never reset or restore), REPLACE_MEMBER (members named lost with ?lost= while the
// others keep quorum: remove, add as a learner, start empty, promote, one member at a time),
// RESTORE_FROM_SURVIVOR and RESTORE_FROM_SNAPSHOT (lost members without quorum: the same snapshot
// on every member under a new cluster token, from a fresh snapshot of a running survivor when it
// holds more than the newest verified snapshot, else from that snapshot, saying which writes are
// lost), NOSPACE (compact, defragment followers, move leadership, the old leader last, disarm),
// CORRUPT_MEMBER (replace the member, then disarm; never the other way round), LEARNER_STUCK,
// with the blind-restart and mixed-change guard-rails first. planDefrag is the routine
// defragmentation (GET /api/v1/recovery/defrag).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api.pb.h"
#include "sample.pb.h"

namespace qw::aggregator {

struct PlannerNode {
  std::string name;
  bool agent_connected = false;
  std::string flavor;                          // "etcd", "k3s", "kubeadm" ("" unknown)
  std::string unit;                            // the systemd unit the agent watches ("" none)
  std::string etcd_endpoint;                   // the client URL its agent samples
  std::optional<qw::wire::EtcdConfig> config;  // etcd's command line as last reported
  std::string etcd_version;                    // "3.5.16" ("" not reported)
  bool etcd_reachable = false;                 // its agent reached etcd in the newest sample
  int64_t etcd_pid = 0;                        // 0: not known
  std::optional<int64_t> revision;             // the newest MVCC revision it reported
  int64_t revision_wall_ms = 0;                // when
  std::optional<double> db_size, db_in_use, fs_avail, quota;  // bytes, from the newest sample
  double disk_write_peak_bps = 0;  // highest write rate measured on its data disk (0: none)
};

// A verified snapshot in the catalogue a restore can use.
struct SnapshotRef {
  std::string node, path, sha256;
  std::optional<int64_t> revision;
  int64_t mtime_ms = 0;
  bool drilled = false;
  std::string copy;  // a verified copy of it on the aggregator's host ("" none)
};

struct PlannerInput {
  qw::api::ClusterView view;
  std::vector<PlannerNode> nodes;
  std::map<std::string, int> restarts_10m;  // ETCD_RESTART events per node, last 10 minutes
  int blind_restarts = 3;         // restarts within 10 minutes that make the guard-rail (the risk
                                  // table's BLIND_RESTARTS threshold)
  std::vector<std::string> lost;  // nodes the operator says will not come back
  std::map<std::string, std::vector<std::string>> peer_urls;  // member name -> its peer URLs
  std::string newest_verified, newest_drilled;                // "NODE:PATH", "" none
  std::optional<SnapshotRef> restore_snapshot;  // the newest drilled, else verified, snapshot
  // Changes made during an incident (MIXED_CHANGE events' messages, newest first).
  std::vector<std::string> mixed_changes;
  double defrag_pause_seconds = 10;  // between members in a defragmentation plan
  int64_t now_ms = 0;
};

qw::api::RecoveryPlan planRecovery(const PlannerInput& in);
// The routine defragmentation: DEFRAG (every member healthy, no alarm, enough free disk, enough
// to gain), DEFRAG_NOT_NEEDED (little to gain) or DEFRAG_REFUSED (preconditions say why).
qw::api::RecoveryPlan planDefrag(const PlannerInput& in);

// The command that starts `n`'s etcd the way it was running: its systemd unit, k3s, the
// kubelet (kubeadm's static pod), or for a plain process the exact executable, arguments,
// ETCD_* environment and working directory the agent reported, detached, its output appended to
// DATA_DIR.log. "" with `*why` set when it cannot be spelled out (nothing reported, a redacted
// credential on the command line).
std::string startCommand(const PlannerNode& n, std::string* why);
// The command that starts `n`'s etcd as a new member of a running cluster: its reported command
// line with --initial-cluster-state existing and --initial-cluster `initial_cluster` (flags or
// ETCD_* variables, whichever it used). "" with `*why` set when that cannot be spelled out (a
// config file, a supervisor whose unit holds the flags, nothing reported).
std::string joinCommand(const PlannerNode& n, const std::string& initial_cluster, std::string* why);
// `etcdctl endpoint health` against `url`, with the client TLS files the flavor uses.
std::string healthCheck(const PlannerNode& n, const std::string& url);
// `etcdctl --endpoints=URLS` with those TLS files: the prefix of every etcdctl command.
std::string etcdctlFor(const PlannerNode& n, const std::string& urls);
// Single-quoted for sh.
std::string shellQuote(const std::string& s);

}  // namespace qw::aggregator
