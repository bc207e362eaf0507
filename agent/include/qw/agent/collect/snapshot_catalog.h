#pragma once
// The node's snapshot catalogue: every file in the snapshot dirs (k3s's server/db/snapshots, each
// --snapshot-dir), which disk it lives on against etcd's data dir, and what the checks of
// qw/snapshot/ found (the SHA-256 trailer, then the bbolt structure and what etcd keeps in it).
// The scan and the checks run on a worker thread of their own at idle CPU and I/O priority,
// throttled, so a multi-GB snapshot never holds up the unit poll or etcd's config read, and
// reading it does not raise etcd's fsync latency. A file is checked once per identity (inode,
// size, mtime); the catalogue answers ListSnapshots from memory (catalog() is thread-safe).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "qw/agent/collect/collector.h"
#include "qw/agent/sys/worker.h"
#include "wire.pb.h"

namespace qw::agent {

struct SnapshotCatalogConfig {
  std::vector<std::string> dirs;
  std::string data_dir;  // etcd's data dir ("" unknown: same_disk_as_data stays absent)
  std::string sysfs_root = "/sys";
  // Read rate of the checks and of the pieces the aggregator copies (0: unthrottled): at 4 MiB/s
  // in 128 KiB reads etcd's WAL fsync p99 stayed within 0.1% while a 100 MB snapshot was read
  // beside it; at 16 MiB/s it rose 56-78% (qw-bench-snapshot, README "Benchmarks").
  uint64_t bytes_per_second = 4ull << 20;
  int64_t scan_interval_ms = 60000;
};

class SnapshotCatalogCollector : public Collector {
 public:
  SnapshotCatalogCollector(SnapshotCatalogConfig cfg, IdleWorker& worker);
  ~SnapshotCatalogCollector() override;
  std::string_view name() const override { return "snapshots"; }
  int64_t intervalMs() const override { return cfg_.scan_interval_ms; }
  // etcd's data dir as the host sampler resolved it (before each collect()).
  void setDataDir(const std::string& d) { data_dir_ = d; }
  // Posts a scan when one is due and none is running; adds nothing to the sample.
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;
  // The newest catalogue (a file being checked is PENDING with its progress).
  qw::wire::SnapshotCatalog catalog() const;

  struct State;
  // A piece of a file the catalogue holds (the ReadSnapshot command): at most 1 MiB from
  // `offset`, with the file's size and mtime now, read in 128 KiB reads at `rate` bytes per
  // second (0: unthrottled). Any other path is refused with `*error` set, so the command cannot
  // read other files of the node. Blocking (a worker's job).
  static qw::wire::SnapshotPiece readPiece(const State& state, const qw::wire::ReadSnapshot& r,
                                           std::string* error, uint64_t rate = 0);
  std::shared_ptr<State> state() const { return state_; }

  // One scan of `cfg` (the worker's job, public for the tests): lists the dirs, reuses the check
  // of a file whose identity did not change since `previous`, checks the others one by one and
  // publishes into `state` after each. Blocking.
  static void scan(const SnapshotCatalogConfig& cfg, const std::shared_ptr<State>& state);
  // A file this agent made and checked (snapshot_take.h): listed at once, with its check, so the
  // aggregator can copy it before the next scan, and not read again by that scan. Thread-safe.
  static void adopt(State& state, const qw::wire::SnapshotFile& f);
  // A scan now (after a take), or as soon as the running one ends.
  void scanNow();

 private:
  void postScan();
  SnapshotCatalogConfig cfg_;
  IdleWorker& worker_;
  std::string data_dir_;
  int64_t scanned_at_ = -1;
  std::shared_ptr<State> state_;
};

// The checks of one file: the trailer (complete), then the bbolt structure. `rate` throttles the
// reads (0: unthrottled); a cancelled check comes back PENDING. Blocking.
qw::wire::SnapshotCheck checkSnapshot(const std::string& path, uint64_t rate,
                                      const std::atomic<bool>* cancel,
                                      const std::function<void(uint64_t)>& progress);

// Shared between the scan thread and the command handler.
struct SnapshotCatalogCollector::State {
  struct Known {
    uint64_t ino = 0, size = 0;
    int64_t mtime_ns = 0;
    qw::wire::SnapshotCheck check;
  };
  mutable std::mutex mu;
  qw::wire::SnapshotCatalog catalog;     // guarded by mu
  std::map<std::string, Known> known;    // path -> last check; the scan thread's own
  std::map<std::string, Known> adopted;  // guarded by mu: adopt() -> the next scan
  std::atomic<bool> in_flight{false};
  std::atomic<bool> rescan{false};  // scanNow() while a scan ran
  std::atomic<bool> cancel{false};  // set when the collector goes
};

}  // namespace qw::agent
