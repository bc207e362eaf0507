#pragma once

// A restore drill: restores an etcd snapshot into a scratch data dir with the real etcd tools,
// starts a throwaway single-member etcd on loopback ports and asks it for its revision and key
// count. A snapshot that passes proves more than a structural check can: this etcd accepts it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace qw::aggregator {

struct EtcdInstall {
  std::string dir;
  std::string version;  // "3.5.16", from `etcd --version`
  bool has_etcdutl = false;
};

// Runs `DIR/etcd --version` for each dir; dirs without a working etcd are left out.
std::vector<EtcdInstall> probeEtcdInstalls(const std::vector<std::string>& dirs);

struct DrillConfig {
  // Candidates. The one whose major.minor is the snapshot's cluster version wins, else the
  // newest; DrillResult::version_matches and notes say which happened.
  std::vector<std::string> etcd_bin_dirs;
  // A fresh subdir is made under it and removed afterwards on every path.
  std::string work_dir;
  std::chrono::milliseconds timeout{120000};
  // etcdutl's --initial-memory-map-size; 0 sizes it to the host.
  uint64_t memory_map_bytes = 0;
  std::string snapshot_cluster_version;  // "3.5.0" as read from the snapshot; may be empty
  std::optional<int64_t> expected_revision;
  std::optional<uint64_t> expected_live_keys;
  // Phases "restore" (0-40), "start" (40-90), "compare" (90-100), "done" (100). Called from the
  // drill's thread; may be empty.
  std::function<void(const std::string& phase, int percent)> progress;
  const std::atomic<bool>* cancel = nullptr;
};

struct DrillResult {
  bool ok = false;
  std::string error;
  std::string tool;  // "etcdutl" or "etcdctl"
  std::string etcd_version;
  std::string etcd_dir;
  bool version_matches = false;
  int64_t restore_ms = 0;
  int64_t start_ms = 0;  // etcd spawned to its first answer
  int64_t total_ms = 0;
  std::optional<int64_t> revision;
  std::optional<uint64_t> live_keys;
  std::optional<int64_t> expected_revision;
  std::optional<uint64_t> expected_live_keys;
  std::vector<std::string> notes;
  std::string work_subdir;  // already removed when runDrill returns
  int etcd_pid = 0;         // the last etcd started, already stopped and reaped; 0 if none
};

// Blocks for up to cfg.timeout plus the few seconds stopping etcd may take: run it on a worker
// thread.
DrillResult runDrill(const std::string& snapshot_path, const DrillConfig& cfg);

}  // namespace qw::aggregator
