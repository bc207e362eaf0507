#pragma once
// The aggregator's own snapshot copies: the cluster's newest verified snapshot pulled off its
// node over the command channel, so a dead SD card never takes the last good copy with it. A
// snapshot holds every Kubernetes Secret: the directory is 0700 and each copy 0600. A copy is
// written as .incoming-NAME, fsynced, verified again here (trailer and bbolt structure), renamed
// and the directory fsynced; only the newest `keep` are kept. The file operations are blocking: the
// caller runs them off its event loop (snapshots/keeper.h).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qw::aggregator {

// What our checks (qw/snapshot/) found in one file: complete and structurally sound.
struct SnapshotFileCheck {
  bool ok = false;
  std::string reason;  // why not
  std::string sha256;  // of the db part
  uint64_t size = 0;
  std::optional<int64_t> revision;
  std::optional<uint64_t> live_keys;
  std::string cluster_version;
  std::vector<uint64_t> member_ids;
  int64_t check_ms = 0;
};
SnapshotFileCheck checkSnapshotFile(const std::string& path);

struct SnapshotCopy {
  std::string file;  // name in the store's dir: SOURCENODE__SOURCEFILE
  std::string path;
  std::string source_node, source_file;
  uint64_t size = 0;
  int64_t mtime_ms = 0;                    // the source's, kept on the copy
  int64_t copied_at_ms = 0;                // the copy's change time
  std::optional<SnapshotFileCheck> check;  // absent until checked
};

class CopyStore {
 public:
  CopyStore(std::string dir, size_t keep) : dir_(std::move(dir)), keep_(keep) {}
  const std::string& dir() const { return dir_; }
  size_t keep() const { return keep_; }
  // Creates the directory (0700), tightens it if it is looser, removes copies cut off mid-write.
  std::optional<std::string> open();
  // The copies on disk, newest source mtime first (unchecked: check is absent).
  std::vector<SnapshotCopy> scan() const;
  // The name a copy of `node`'s `source_path` gets (path separators and odd bytes replaced).
  static std::string copyName(const std::string& node, const std::string& source_path);

  // One copy being written.
  class Writer {
   public:
    Writer() = default;
    Writer(Writer&& o) noexcept;
    Writer& operator=(Writer&& o) noexcept;
    ~Writer();  // an unfinished copy is removed
    std::optional<std::string> append(const std::string& data);
    uint64_t written() const { return written_; }

   private:
    friend class CopyStore;
    int fd_ = -1;
    std::string part_, final_;
    uint64_t written_ = 0;
  };
  // Opens .incoming-NAME (0600, truncated).
  std::optional<std::string> begin(const std::string& name, Writer* w) const;
  // fsync, check, and only when the check passes and its SHA-256 is `expect_sha256` (when not
  // empty): mtime set to `mtime_ms`, renamed into place, the directory fsynced, older copies
  // beyond `keep` removed. On failure the incoming file is removed and the check says why.
  SnapshotFileCheck finish(Writer w, int64_t mtime_ms, const std::string& expect_sha256) const;

 private:
  void prune() const;
  std::string dir_;
  size_t keep_;
};

}  // namespace qw::aggregator
