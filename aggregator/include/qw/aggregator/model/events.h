#pragma once
// Events derived at ingest from each node's stored samples, in the order the node produced them
// (a replayed backlog included, stamped with the sample's own time): leader changes, members
// unreachable and recovered, alarms raised and cleared, etcd restarts, under-voltage and
// throttling onsets. Connection events (agent connected/disconnected, node reboot) come from the
// server. Each transition yields one event; a state that persists yields none.
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
  };
  std::string memberLabel(uint64_t id) const;

  std::map<std::string, NodeTrack> nodes_;
  std::map<uint64_t, std::string> member_nodes_;
  uint64_t leader_term_ = 0;
  uint64_t leader_id_ = 0;
  bool alarms_known_ = false;
  std::set<std::pair<uint64_t, std::string>> alarms_;
};

}  // namespace qw::aggregator
