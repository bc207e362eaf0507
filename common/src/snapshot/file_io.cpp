#include "file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace qw::snapshot::detail {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

ssize_t preadFull(int fd, void* buf, size_t len, uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, p + done, len - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += size_t(n);
  }
  return ssize_t(done);
}

std::string errnoText(int e) {
  char buf[256];
  // The GNU strerror_r returns the text (which may or may not be buf).
  return strerror_r(e, buf, sizeof buf);
}

Throttle::Throttle(uint64_t bytes_per_second)
    : rate_(bytes_per_second), start_(std::chrono::steady_clock::now()) {}

void Throttle::account(uint64_t bytes) {
  if (rate_ == 0) return;
  bytes_ += bytes;
  // The time the bytes so far may take at the rate.
  auto due = std::chrono::duration<double>(double(bytes_) / double(rate_));
  auto elapsed = std::chrono::steady_clock::now() - start_;
  if (elapsed < due) std::this_thread::sleep_for(due - elapsed);
}

}  // namespace qw::snapshot::detail
