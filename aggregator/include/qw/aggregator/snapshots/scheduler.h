#pragma once
// Scheduled snapshots where nobody else takes them (plain etcd, kubeadm; k3s takes its own every
// 12 h): when the newest verified snapshot of the cluster, whoever took it, is older than the
// interval, one agent is asked to take one (TakeSnapshot on the command channel: etcd's gateway
// stream, .part, fsync, rename, verified on the node). The node asked is a healthy voter with a
// snapshot dir, followers first (a snapshot makes etcd read its whole db; the leader has enough
// to do), then the most free disk; when it fails the next one is asked. Its catalogue is polled
// again at once, so the copy off the node (snapshots/keeper.h) follows in the same round.
// Runs on the server's io_context.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "api.pb.h"
#include "qw/aggregator/ingest/ingest_service.h"
#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/hub.h"
#include "qw/time_util.h"

namespace qw::aggregator {

struct SchedulerConfig {
  std::chrono::milliseconds every{12LL * 3600 * 1000};  // 0: no snapshots taken
  uint32_t keep = 5;                                    // per node, of the files it took
  std::string prefix = "quorumwatch-";
  std::chrono::milliseconds take_timeout{600000};
  std::chrono::milliseconds retry_after{600000};  // after a round in which every node failed
  size_t log_size = 20;
};

// The nodes that may take a snapshot now, in the order they are asked: connected, not k3s, with
// a snapshot dir in their catalogue, their member a healthy voter; followers first, then the
// most free space on the data disk. `*why_none` says, node by node, why none can. Pure.
std::vector<std::string> snapshotCandidates(const qw::api::ClusterView& view,
                                            const qw::api::SnapshotList& list,
                                            const std::map<std::string, NodeState>& nodes,
                                            std::string* why_none);

class SnapshotScheduler {
 public:
  using Record = std::function<void(const std::vector<Event>&)>;
  using Inputs = std::function<std::pair<qw::api::ClusterView, qw::api::SnapshotList>()>;
  // `repoll(node)`: ask that node's catalogue again (after a take).
  using Repoll = std::function<boost::asio::awaitable<void>(std::string node)>;
  SnapshotScheduler(boost::asio::io_context& ioc, IngestService& ingest, const Hub& hub,
                    const Clock& clock, SchedulerConfig cfg, Inputs inputs, Repoll repoll,
                    Record record);
  // After a catalogue poll: a take when one is due.
  boost::asio::awaitable<void> afterPoll();
  // POST /api/v1/snapshots: a take now, whatever the schedule. Fails while one runs or when no
  // node can take one; `*out` is the take started.
  std::optional<std::string> startNow(qw::api::SnapshotTake* out);
  void fill(qw::api::SnapshotList* l) const;
  void shutdown() { stopping_ = true; }
  bool taking() const { return running_.has_value(); }

 private:
  boost::asio::awaitable<void> take(std::string trigger, std::vector<std::string> candidates);
  void finish(qw::api::SnapshotTake t);

  boost::asio::io_context& ioc_;
  IngestService& ingest_;
  const Hub& hub_;
  const Clock& clock_;
  SchedulerConfig cfg_;
  Inputs inputs_;
  Repoll repoll_;
  Record record_;
  bool stopping_ = false;
  std::optional<qw::api::SnapshotTake> running_;
  std::deque<qw::api::SnapshotTake> takes_;  // finished, newest first
  int64_t failed_round_steady_ms_ = -1;      // when a round last failed on every node
  std::string not_possible_;                 // as of the last round
};

}  // namespace qw::aggregator
