#pragma once
// Taking a snapshot of the local etcd member (the TakeSnapshot command, proto/wire.proto): etcd's
// gateway streams POST /v3/maintenance/snapshot as one JSON object a line,
// {"result":{"blob":"<base64>","remaining_bytes":"N"}}, 32 KiB of the db a line and last the
// 32-byte SHA-256 of everything before it (ETCD_REFERENCE.md section 3): written in order, the
// blobs are exactly the file `etcdctl snapshot save` writes. The file is DIR/NAME.part until it is
// whole and fsynced, then renamed (a restore must never pick a .part, k3s #8824), the dir fsynced,
// and verified like every catalogued file. Blocking: a job of the agent's transfer worker, with an
// io_context and an HTTP session of its own.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "qw/agent/collect/snapshot_catalog.h"
#include "qw/agent/parse/snapshot_stream.h"
#include "wire.pb.h"

namespace qw::agent {

struct SnapshotTakeConfig {
  std::string etcd_endpoint;  // the client URL the agent samples (http or https)
  std::string etcd_cacert, etcd_cert, etcd_key;
  std::string dir;     // where the file goes (the agent's first --snapshot-dir)
  std::string flavor;  // "k3s" refuses: k3s takes its own
  std::string data_dir;
  std::string sysfs_root = "/sys";
  uint64_t verify_rate = 0;  // read rate of the check after the take (0: unthrottled)
};

// Takes one snapshot as `req` asks. On success `*out` holds the file with its check; else the
// error says what failed (nothing is left behind but a removed .part). Blocking.
std::optional<std::string> takeSnapshot(const SnapshotTakeConfig& cfg,
                                        const qw::wire::TakeSnapshot& req,
                                        qw::wire::SnapshotTaken* out);

// The file name for a snapshot taken at `wall_ms`: PREFIX + "20261203T104728Z" + ".db".
std::string takenSnapshotName(const std::string& prefix, int64_t wall_ms);
// Whether `prefix` is usable in a file name ([A-Za-z0-9._-]+, not "." or "..").
bool validSnapshotPrefix(const std::string& prefix);

}  // namespace qw::agent
