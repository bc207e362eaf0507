#pragma once
// Which etcd cluster this aggregator watches, by etcd's cluster id (EtcdSample.cluster_id).
// The first id seen is adopted. An agent whose etcd reports another id is refused while the
// cluster it would be mixed with is alive (a fresh, reachable node still reports the current
// id), or when the agent's node never belonged to this cluster: its samples would be merged
// into another cluster's history. When every known node moves to one new id together (a restore
// makes a new cluster id and new member ids), the new id succeeds the old one: recorded as a
// CLUSTER_REPLACED event, the history (member history included) kept, so snapshots taken before
// the restore still count as this cluster's. Pure: the caller passes the hub and the time.
#include <cstdint>
#include <set>
#include <string>

#include "wire.pb.h"

namespace qw::aggregator {

class Hub;

struct ClusterIdVerdict {
  enum class Kind {
    kAccept,   // the current id, an id this cluster had before (a replayed backlog), or none
    kAdopt,    // the first id this aggregator sees
    kReplace,  // a known node moved to a new id and no fresh node reports the old one
    kRefuse,   // another cluster's agent (reason says why)
  };
  Kind kind = Kind::kAccept;
  uint64_t old_id = 0, new_id = 0;
  std::string reason;
};

class ClusterIdentity {
 public:
  // `current` 0: none yet. `previous`: the ids this cluster had before (store order is irrelevant).
  void load(uint64_t current, std::set<uint64_t> previous);
  uint64_t current() const { return current_; }
  const std::set<uint64_t>& previous() const { return previous_; }

  // Judges a batch of `node` whose newest sample reports cluster `id` (0: no etcd answer in it).
  // `live`: the batch is the node's present, not a replayed backlog. A node is fresh when this
  // process received its newest sample at most `stale_after_ms` before `now_steady_ms`.
  ClusterIdVerdict judge(const std::string& node, uint64_t id, bool live, const Hub& hub,
                         int64_t now_steady_ms, int64_t stale_after_ms) const;
  // Makes a kAdopt or kReplace verdict current.
  void apply(const ClusterIdVerdict& v);

 private:
  uint64_t current_ = 0;
  std::set<uint64_t> previous_;
};

// The newest non-zero cluster id among a batch's samples (0: none).
uint64_t batchClusterId(const qw::wire::Batch& b);

}  // namespace qw::aggregator
