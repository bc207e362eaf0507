#pragma once
// The trailer of an etcd snapshot file. `etcdctl snapshot save` (and etcd's snapshot client that
// k3s uses) writes the bbolt db and then 32 bytes: the SHA-256 of everything before them. A db
// is whole pages (multiples of 512 bytes), so a complete snapshot has size % 512 == 32.
// checkTrailer streams the file once, throttled if asked, without filling the page cache.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace qw::snapshot {

// Which check failed; each comes with its own reason in words.
enum class TrailerFailure {
  kNone,          // complete: the trailer is the SHA-256 of the db before it
  kPartName,      // NAME.part: etcdctl renames it to NAME only when the save is done
  kOpen,          // cannot open or stat the file, or it is not a regular file
  kSize,          // size % 512 != 32: no trailer (truncated, or a bare db)
  kRead,          // a read failed, or the file shrank while being read
  kHashMismatch,  // the trailer is not the SHA-256 of the db part
  kCancelled,     // the cancel flag was set
};
// "part_name", "open", "size", "read", "hash_mismatch", "cancelled", "none".
const char* toString(TrailerFailure f);

struct TrailerOptions {
  // Bytes per read (clamped to 4 KiB .. 64 MiB; 0 means the default).
  size_t chunk_bytes = size_t(1) << 20;
  // Reads at most this many bytes per second (sleeping between chunks); 0: as fast as it can.
  uint64_t bytes_per_second = 0;
  // Called after every chunk with the bytes read so far and the file's size.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // Checked before every chunk: when it reads true the check stops (kCancelled).
  const std::atomic<bool>* cancel = nullptr;
};

struct TrailerResult {
  bool complete = false;
  TrailerFailure failed = TrailerFailure::kNone;
  std::string reason;     // plain English; empty when complete
  uint64_t size = 0;      // of the file
  uint64_t db_bytes = 0;  // size - 32: the bbolt db before the trailer (0 when there is none)
  std::string sha256;     // hex SHA-256 of the db part, when it was read to the end
  std::string trailer;    // hex of the 32 bytes at the end, when they were read
  int64_t elapsed_ms = 0;
};

// Checks the file at `path`. Never throws for a bad file: the result says what is wrong.
TrailerResult checkTrailer(const std::string& path, const TrailerOptions& options = {});

}  // namespace qw::snapshot
