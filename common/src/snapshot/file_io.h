#pragma once
// Private helpers of qw::snapshot: positional reads that retry, a byte-rate throttle and an
// owning file descriptor.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace qw::snapshot::detail {

// Owns a file descriptor (closed on destruction).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

// Reads up to `len` bytes at `offset`, retrying on EINTR and short reads. Returns the bytes read
// (fewer than `len` only at the end of the file) or -1 with errno set.
ssize_t preadFull(int fd, void* buf, size_t len, uint64_t offset);

// "No such file or directory" for errno `e`.
std::string errnoText(int e);

// Holds a byte rate: after account(n) the time since construction is at least the bytes so far
// divided by the rate (it sleeps for the difference). A rate of 0 never sleeps.
class Throttle {
 public:
  explicit Throttle(uint64_t bytes_per_second);
  void account(uint64_t bytes);

 private:
  uint64_t rate_;
  uint64_t bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace qw::snapshot::detail
