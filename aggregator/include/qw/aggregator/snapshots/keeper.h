#pragma once
// What the aggregator does with the cluster's snapshots beyond judging them (snapshots/catalog.h):
//  - a copy off the node: after each catalogue poll, the newest verified snapshot the aggregator
//    has no copy of is pulled over the command channel (ReadSnapshot, piece by piece), verified
//    again here and kept in its copy store (snapshots/copies.h). A pull over a link that is
//    neither TLS nor loopback is refused unless allowed: the file holds every Secret;
//  - restore drills (snapshots/drill.h) of the newest copy: once when it arrives, again when the
//    last drill is older than the drill interval, and on demand (POST /api/v1/drills). The drill
//    log is kept beside the copies (drills.jsonl) so it outlives a restart.
// Blocking work (writing, verifying, drilling) runs on threads of its own; every other member
// runs on the server's io_context.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "api.pb.h"
#include "qw/aggregator/ingest/ingest_service.h"
#include "qw/aggregator/model/cluster_input.h"
#include "qw/aggregator/model/events.h"
#include "qw/aggregator/snapshots/catalog.h"
#include "qw/aggregator/snapshots/copies.h"
#include "qw/time_util.h"

namespace qw::aggregator {

struct KeeperConfig {
  std::string copy_dir;  // empty: no copies, no drills
  size_t keep_copies = 3;
  bool allow_plain_pull = false;  // pull over a link that is neither TLS nor loopback
  uint32_t piece_bytes = 512 * 1024;
  std::chrono::milliseconds piece_timeout{30000};
  std::vector<std::string> etcd_bin_dirs;  // where drills find etcd; empty: no drills
  std::chrono::milliseconds drill_every{24 * 3600 * 1000};  // 0: only on demand
  std::chrono::milliseconds drill_timeout{300000};
  uint64_t drill_memory_map_bytes = 0;  // 0: sized to the host
  size_t drill_log_size = 100;          // drills remembered
};

class SnapshotKeeper {
 public:
  using Record = std::function<void(const std::vector<Event>&)>;
  SnapshotKeeper(boost::asio::io_context& ioc, IngestService& ingest, SnapshotCatalog& catalog,
                 const Clock& clock, KeeperConfig cfg, Record record);
  ~SnapshotKeeper();
  // Opens the copy store and the drill log, and verifies the copies found there again (in the
  // background). An error leaves copies and drills off; the rest of the aggregator runs.
  std::optional<std::string> open();
  void shutdown();

  // After a catalogue poll: pulls the newest verified snapshot when there is no copy of it yet,
  // then drills when one is due. `known_members`: every member id this cluster has had.
  boost::asio::awaitable<void> afterPoll(std::set<uint64_t> known_members);

  // Starts a drill of the newest verified copy now (trigger "api" or "schedule"). Fails when one
  // is running, when no verified copy exists, or when drills are off; `*out` is the queued drill.
  std::optional<std::string> startDrill(const std::string& trigger, qw::api::Drill* out);
  qw::api::DrillList drills() const;
  // The copies and drill status added to the catalogue's answer.
  void fill(qw::api::SnapshotList* l) const;
  // What the warnings and /metrics need.
  SnapshotHealth health() const;
  bool drillsEnabled() const { return open_ && !cfg_.etcd_bin_dirs.empty(); }

 private:
  struct CopyState {
    SnapshotCopy copy;
    std::string status = "checking";  // "verified", "failed", "checking"
  };
  boost::asio::awaitable<void> pull(qw::api::Snapshot source, std::set<uint64_t> known);
  void refreshCopies();
  std::optional<const CopyState*> newestVerifiedCopy() const;
  void maybeDrill();
  void finishDrill(qw::api::Drill d);
  void appendDrillLog(const qw::api::Drill& d);
  void loadDrillLog();
  qw::api::SnapshotCopy toApi(const CopyState& c) const;

  boost::asio::io_context& ioc_;
  IngestService& ingest_;
  SnapshotCatalog& catalog_;
  const Clock& clock_;
  KeeperConfig cfg_;
  Record record_;
  CopyStore store_;
  bool open_ = false;
  bool stopping_ = false;
  bool pulling_ = false;
  std::vector<CopyState> copies_;  // newest first
  std::string copy_error_;
  std::set<std::string> refused_;             // sources whose pull was refused (reported once)
  std::map<std::string, int64_t> failed_at_;  // sha256 -> steady ms of its last failed pull

  std::deque<qw::api::Drill> drills_;  // finished, newest first
  std::optional<qw::api::Drill> running_;
  double next_drill_id_ = 1;
  struct Progress {
    std::mutex mu;
    std::string phase;
    int percent = 0;
  };
  std::shared_ptr<Progress> progress_ = std::make_shared<Progress>();
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
  int64_t last_drill_started_ms_ = 0;

  boost::asio::thread_pool copy_pool_{1};
  boost::asio::thread_pool drill_pool_{1};
};

}  // namespace qw::aggregator
