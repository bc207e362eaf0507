#include "qw/snapshot/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include "file_io.h"
#include "qw/snapshot/sha256.h"

namespace qw::snapshot {

namespace {

constexpr size_t kTrailerBytes = 32;
constexpr size_t kMinChunk = size_t(4) << 10;
constexpr size_t kMaxChunk = size_t(64) << 20;

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The first 12 hex digits: enough to tell two hashes apart in a message.
std::string shortHex(const std::string& hex) { return hex.substr(0, 12); }

std::string sizeReason(uint64_t size) {
  std::string s = "size " + std::to_string(size) + " bytes";
  if (size < kTrailerBytes) return s + ": too short to hold even the 32-byte SHA-256 trailer";
  if (size == kTrailerBytes) return s + ": only a trailer, no bbolt db before it";
  s += " is not 32 more than a multiple of 512";
  if (size % 512 == 0) {
    return s +
           ": it is whole pages, a bbolt db with no SHA-256 trailer (a copy of member/snap/db, "
           "or a snapshot cut at a page boundary)";
  }
  return s + ": the file is truncated (an interrupted copy or save) or is not an etcd snapshot";
}

}  // namespace

const char* toString(TrailerFailure f) {
  switch (f) {
    case TrailerFailure::kNone:
      return "none";
    case TrailerFailure::kPartName:
      return "part_name";
    case TrailerFailure::kOpen:
      return "open";
    case TrailerFailure::kSize:
      return "size";
    case TrailerFailure::kRead:
      return "read";
    case TrailerFailure::kHashMismatch:
      return "hash_mismatch";
    case TrailerFailure::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

TrailerResult checkTrailer(const std::string& path, const TrailerOptions& options) {
  auto start = std::chrono::steady_clock::now();
  TrailerResult r;
  auto done = [&](TrailerFailure f, std::string reason) {
    r.failed = f;
    r.complete = f == TrailerFailure::kNone;
    r.reason = std::move(reason);
    r.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    return r;
  };

  if (endsWith(path, ".part")) {
    return done(TrailerFailure::kPartName,
                "the name ends in .part: etcdctl saves to NAME.part and renames it to NAME only "
                "once the snapshot is complete, so this save was interrupted or is still running");
  }
  detail::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return done(TrailerFailure::kOpen, "cannot open: " + detail::errnoText(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return done(TrailerFailure::kOpen, "cannot stat: " + detail::errnoText(errno));
  }
  if (!S_ISREG(st.st_mode)) return done(TrailerFailure::kOpen, "not a regular file");
  r.size = uint64_t(st.st_size);
  if (r.size % 512 != kTrailerBytes || r.size == kTrailerBytes) {
    return done(TrailerFailure::kSize, sizeReason(r.size));
  }
  r.db_bytes = r.size - kTrailerBytes;

  // Read once, front to back: the kernel may read ahead, and what was read is dropped from the
  // page cache so that hashing a GB snapshot does not push out etcd's own pages.
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  size_t chunk = options.chunk_bytes == 0 ? size_t(1) << 20
                                          : std::clamp(options.chunk_bytes, kMinChunk, kMaxChunk);
  std::vector<uint8_t> buf(chunk);
  detail::Throttle throttle(options.bytes_per_second);
  Sha256 hash;
  uint64_t off = 0;
  while (off < r.db_bytes) {
    if (options.cancel && options.cancel->load()) {
      return done(TrailerFailure::kCancelled, "cancelled after " + std::to_string(off) + " of " +
                                                  std::to_string(r.size) + " bytes");
    }
    size_t want = size_t(std::min<uint64_t>(chunk, r.db_bytes - off));
    ssize_t n = detail::preadFull(fd.get(), buf.data(), want, off);
    if (n < 0) {
      return done(TrailerFailure::kRead,
                  "read failed at byte " + std::to_string(off) + ": " + detail::errnoText(errno));
    }
    if (size_t(n) < want) {
      return done(TrailerFailure::kRead, "the file shrank while being read: it ended at byte " +
                                             std::to_string(off + uint64_t(n)) + " of " +
                                             std::to_string(r.size));
    }
    hash.update(buf.data(), want);
    ::posix_fadvise(fd.get(), off_t(off), off_t(want), POSIX_FADV_DONTNEED);
    off += want;
    throttle.account(want);
    if (options.progress) options.progress(off, r.size);
  }
  r.sha256 = toHex(hash.finish());

  uint8_t trailer[kTrailerBytes];
  ssize_t n = detail::preadFull(fd.get(), trailer, kTrailerBytes, r.db_bytes);
  if (n < 0) {
    return done(TrailerFailure::kRead, "read failed at byte " + std::to_string(r.db_bytes) + ": " +
                                           detail::errnoText(errno));
  }
  if (size_t(n) < kTrailerBytes) {
    return done(TrailerFailure::kRead, "the file shrank while being read: it ended at byte " +
                                           std::to_string(r.db_bytes + uint64_t(n)) + " of " +
                                           std::to_string(r.size));
  }
  ::posix_fadvise(fd.get(), off_t(r.db_bytes), off_t(kTrailerBytes), POSIX_FADV_DONTNEED);
  r.trailer = toHex(trailer, kTrailerBytes);
  if (options.progress) options.progress(r.size, r.size);
  if (r.trailer != r.sha256) {
    return done(TrailerFailure::kHashMismatch,
                "the SHA-256 trailer does not match: expected " + shortHex(r.sha256) +
                    " (the SHA-256 of the " + std::to_string(r.db_bytes) + " db bytes), found " +
                    shortHex(r.trailer) +
                    " in the last 32 bytes: the file was changed or damaged after it was saved");
  }
  return done(TrailerFailure::kNone, "");
}

}  // namespace qw::snapshot
