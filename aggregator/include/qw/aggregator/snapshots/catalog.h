#pragma once
// The cluster's snapshot catalogue: what each agent's ListSnapshots answered (the files in its
// snapshot dirs with the checks its worker ran), judged here: a file is verified only when it is
// complete, structurally sound and of this cluster (every member id in its members bucket is one
// this cluster has had, restores included: Store::memberHistory). A file that appears, changes,
// disappears or fails its checks is an event. Pure: the caller passes the time and the history.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/events.h"
#include "wire.pb.h"

namespace qw::aggregator {

// The verdict on one file of `node` against the member ids this cluster has had.
qw::api::Snapshot judgeSnapshot(const std::string& node, const qw::wire::SnapshotFile& f,
                                const std::set<uint64_t>& known_members, int64_t now_ms);

class SnapshotCatalog {
 public:
  // `node`'s agent answered with `c`: replaces what it had and returns what changed as events.
  std::vector<Event> update(const std::string& node, const qw::wire::SnapshotCatalog& c,
                            const std::set<uint64_t>& known_members, int64_t now_ms);
  // The aggregator could not ask `node` (not connected, an old agent, a timeout): its files stay
  // as last seen, the reason is shown.
  void noteError(const std::string& node, const std::string& why);
  // Every file, newest first, with the per-node scan state.
  qw::api::SnapshotList list(int64_t now_ms) const;

 private:
  struct Entry {
    qw::wire::SnapshotFile file;
    int64_t first_seen_ms = 0;
    bool failure_reported = false;
  };
  struct NodeCat {
    qw::wire::SnapshotCatalog last;  // files moved into `files`
    std::map<std::string, Entry> files;
    std::set<uint64_t> known_members;  // as of the last update
    std::string error;
  };
  std::map<std::string, NodeCat> nodes_;
};

}  // namespace qw::aggregator
