#pragma once
// Events derived at ingest from each node's stored samples, in the order the node produced them
// (a replayed backlog included, stamped with the sample's own time): leader changes, members
// unreachable and recovered, alarms raised and cleared, etcd restarts, under-voltage and
// throttling onsets, and changes: members added, removed or promoted, a member's version or
// effective configuration changed, its db file shrank (a defragmentation). A change made while a
// member is down or an alarm is active, and not part of that member's recovery, is a mixed change
// (WARNING; the MIXED_CHANGE guard-rail). Connection events (agent connected/disconnected, node
// reboot) come from the server. Each transition yields one event; a state that persists yields
// none.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sample.pb.h"

namespace qw::aggregator {

struct Event {
  int64_t ts_ms = 0;
  std::string kind;      // LEADER_CHANGE, MEMBER_UNREACHABLE, ...
  std::string node;      // empty: cluster-wide
  std::string severity;  // INFO, WARNING, CRITICAL
  std::string message;
  std::string code = {};    // WARNING_RAISED/CLEARED: the warning's code
  std::string member = {};  // the member it is about, when it is about one
};

class EventDeriver {
 public:
  // `ts_ms` is the sample's time on the series axis. Appends what changed to `out`.
  void onSample(const std::string& node, const qw::wire::NodeSample& s, int64_t ts_ms,
                std::vector<Event>* out);
  // Names the member ids in messages ("member 8e9e05c52164694d (node-2)").
  void setMemberName(uint64_t id, const std::string& node) { member_nodes_[id] = node; }

 private:
  struct NodeTrack {
    bool seen = false;
    bool up = false;
    std::string why_down;
    int64_t etcd_start_ms = 0;
    bool under_voltage = false;
    bool throttled = false;
    std::string version;     // etcd's, "" not seen yet
    std::string config_sig;  // its command line and ETCD_* environment, "" not seen yet
    int64_t db_size = -1;    // of the process started at etcd_start_ms
  };
  struct MemberTrack {
    std::string name;  // empty for a learner not started yet
    bool learner = false;
    std::vector<std::string> peers;
  };
  // Whether `m` is a member being recovered (by name or peer URL).
  bool recovering(const MemberTrack& m) const;
  std::string memberLabel(uint64_t id) const;
  // What makes now an incident ("" none): a member down, an alarm active.
  std::string incident() const;
  void membershipChanges(const qw::wire::EtcdSample& e, int64_t ts, std::vector<Event>* out);
  // A change event; WARNING and named a mixed change when made during an incident and not
  // `related` to it.
  void change(int kind, const std::string& node, const std::string& what, bool related, int64_t ts,
              std::vector<Event>* out);

  std::map<std::string, NodeTrack> nodes_;
  std::map<uint64_t, std::string> member_nodes_;
  uint64_t leader_term_ = 0;
  uint64_t leader_id_ = 0;
  bool alarms_known_ = false;
  std::set<std::pair<uint64_t, std::string>> alarms_;
  std::map<uint64_t, MemberTrack> members_;  // the newest authoritative member list
  bool members_known_ = false;
  uint64_t members_term_ = 0, cluster_id_ = 0;
  // Members removed, and nodes whose member was down or removed, during the current incident:
  // changes about them are that incident's recovery. Cleared when the incident ends.
  std::set<std::string> recovering_names_, recovering_peers_, recovering_nodes_;
  std::string during_;  // the incident of the sample being derived ("" none)
  bool nospace_in_incident_ = false;
};

}  // namespace qw::aggregator
