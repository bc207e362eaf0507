#pragma once
// A reader of bbolt files (etcd's backend) of our own, for etcd snapshots: it walks the page tree
// with pread (never the whole file in memory: snapshots are GBs and the agent lives under
// MemoryMax=64M), verifies the structure on the way and yields what etcd keeps in its buckets.
// The input is untrusted: a bad file gives an error in words, never a crash, an unbounded
// allocation or an unbounded loop.
//
// The bbolt format (little-endian), as this reader checks it:
//   page header (16 bytes): id u64, flags u16 (branch 0x01, leaf 0x02, meta 0x04, freelist 0x10),
//     count u16, overflow u32; a page with overflow N spans N+1 pages.
//   meta (pages 0 and 1, after the header): magic u32 0xED0CDAED, version u32 2, page size u32,
//     flags u32, root bucket (root pgid u64, sequence u64), freelist pgid u64, pgid u64 (pages in
//     use), txid u64, checksum u64 (FNV-1a 64 of the meta from magic to txid). The valid meta
//     with the higher txid is current.
//   branch element (16 bytes): pos u32, ksize u32, pgid u64; leaf element (16 bytes): flags u32
//     (0x01: the value is a bucket), pos u32, ksize u32, vsize u32; the key is at the element's
//     address + pos, a leaf's value right after its key.
//   bucket value: root pgid u64, sequence u64; root 0 is an inline bucket: a page (header and
//     leaf elements) follows in the value.
//   freelist page: count u16 (0xFFFF: the count is the first u64 after the header), then the
//     free page ids (u64). etcd persists no freelist (its meta says pgid 0xFFFFFFFFFFFFFFFF).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qw::snapshot {

// Which part of the file was wrong.
enum class BboltFailure {
  kNone,
  kOpen,       // cannot open or stat the file
  kRead,       // a read failed or came up short
  kMeta,       // no usable meta page (magic, version, checksum, page size, pointers)
  kPage,       // a page: id out of range, wrong header id, bad flags, elements outside the page
  kTree,       // the tree: a page reached twice, keys out of order, unbalanced, too deep
  kEtcd,       // bbolt is sound but a bucket does not hold what etcd writes
  kLimit,      // a page or the reader's memory over the limits in BboltOptions
  kCancelled,  // the cancel flag was set
};
// "open", "read", "meta", "page", "tree", "etcd", "limit", "cancelled", "none".
const char* toString(BboltFailure f);

struct BboltOptions {
  // Bytes of the file that are the db. 0: the file's size, less the 32-byte trailer when the
  // size says one follows (size % 512 == 32, an etcdctl snapshot).
  uint64_t db_bytes = 0;
  // Reads at most this many bytes per second; 0: as fast as it can.
  uint64_t bytes_per_second = 0;
  // Checked before every read: when it reads true the walk stops (kCancelled).
  const std::atomic<bool>* cancel = nullptr;
  // The largest page (with its overflow) read into memory; a larger one is kLimit. etcd's values
  // are at most its --max-request-bytes (1.5 MiB by default).
  size_t max_page_bytes = size_t(16) << 20;
  // The most page memory held at once (pages whose sub-buckets are being walked, branch child
  // lists); past it the walk stops with kLimit.
  size_t max_held_bytes = size_t(32) << 20;
  // The most memory for counting live keys (8 bytes a slot); past it the count is given up
  // (live_keys_known false, a note) and the rest of the walk goes on.
  size_t max_key_table_bytes = size_t(16) << 20;
  // Drops what was read from the page cache (POSIX_FADV_DONTNEED) so that reading a snapshot
  // does not push out etcd's own pages.
  bool drop_cache = true;
};

struct EtcdMember {
  uint64_t id = 0;       // the members bucket's key, hex
  std::string name;      // "name" in its JSON value; empty for a member that never started
  bool learner = false;  // "isLearner": true
};

// When !ok only the error, the notes and the bbolt facts read before the error are set.
struct EtcdSnapshotInfo {
  bool ok = false;  // the structure verified and the etcd buckets parsed
  BboltFailure failed = BboltFailure::kNone;
  std::string error;               // what was wrong, in words; empty when ok
  std::vector<std::string> notes;  // what was odd but not fatal (a corrupt meta page, the other
                                   // one used)

  // bbolt
  uint64_t db_bytes = 0;  // bytes of the file read as the db
  uint32_t page_size = 0;
  int meta_used = -1;  // 0 or 1
  uint64_t txid = 0;
  uint64_t high_water = 0;    // pages in use (the meta's pgid)
  uint64_t pages_walked = 0;  // reached: the metas, the freelist, every tree page and overflow
  bool freelist_persisted = false;
  uint64_t pages_free = 0;  // in the persisted freelist
  // In use but neither reached nor in a persisted freelist: with no freelist persisted (etcd)
  // these are the free pages.
  uint64_t pages_unreached = 0;

  // etcd
  std::vector<std::string> buckets;          // the root buckets, in key order
  std::vector<std::string> missing_buckets;  // which of key, meta, members are not there
  // etcd's revision, as a restore finds it: the highest main revision in `key`, or the finished
  // compaction's if higher (compaction removes a deleted key's tombstone, which may have been
  // the newest revision), and at least 1, where etcd's store starts (an empty keyspace; there
  // `snapshot status` prints 0). 0 only when !ok.
  int64_t revision = 0;
  int64_t compact_revision = 0;            // meta finishedCompactRev
  int64_t scheduled_compact_revision = 0;  // meta scheduledCompactRev
  bool live_keys_known = false;
  uint64_t live_keys = 0;    // keys whose newest revision is not a tombstone
  uint64_t key_entries = 0;  // entries in `key`: every revision kept, tombstones included
  uint64_t tombstones = 0;   // of them, deletions
  // Entries in every root bucket, what `etcdutl snapshot status` prints as totalKey.
  uint64_t total_entries = 0;
  // CRC-32C of every root bucket's name and its keys and values, in order: what
  // `etcdutl snapshot status` prints as hash.
  uint32_t status_hash = 0;
  std::optional<uint64_t> consistent_index;  // meta consistent_index
  std::optional<uint64_t> term;              // meta term (written from etcd 3.5)
  std::vector<std::string> meta_keys;        // every key of the meta bucket
  std::vector<EtcdMember> members;
  std::vector<uint64_t> removed_members;
  std::string cluster_version;  // cluster clusterVersion, e.g. "3.5.0"

  int64_t elapsed_ms = 0;
};

// Reads the etcd snapshot (or bbolt db) at `path`. Never throws for a bad file.
EtcdSnapshotInfo readEtcdSnapshot(const std::string& path, const BboltOptions& options = {});

}  // namespace qw::snapshot
