#include "qw/agent/sys/sys_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace qw::agent {

SysFile::SysFile(SysFile&& o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_), errno_(o.errno_), missing_skips_(o.missing_skips_) {
  o.fd_ = -1;
}

SysFile& SysFile::operator=(SysFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    errno_ = o.errno_;
    missing_skips_ = o.missing_skips_;
    o.fd_ = -1;
  }
  return *this;
}

SysFile::~SysFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool SysFile::read(std::string& out) {
  out.clear();
  if (path_.empty()) {
    errno_ = ENOENT;
    return false;
  }
  if (fd_ < 0) {
    // A file that does not exist (no Pi firmware, no PSI) is looked for again every 60th read,
    // not on every cycle: the answer is the same and an open that fails is a syscall per second.
    if (errno_ == ENOENT && missing_skips_ > 0) {
      --missing_skips_;
      return false;
    }
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      errno_ = errno;
      if (errno_ == ENOENT) missing_skips_ = 59;
      return false;
    }
  }
  // procfs/sysfs regenerate the content for a read at offset 0; most files fit in one read.
  size_t cap = 4096;
  off_t off = 0;
  for (;;) {
    out.resize(static_cast<size_t>(off) + cap);
    ssize_t n = ::pread(fd_, out.data() + off, cap, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      errno_ = errno;
      ::close(fd_);  // reopen next time (a vanished process, a removed device)
      fd_ = -1;
      out.clear();
      return false;
    }
    off += n;
    if (n == 0 || static_cast<size_t>(n) < cap) break;
    if (off > (1 << 22)) break;  // nothing we read is that large; don't follow a runaway file
  }
  out.resize(static_cast<size_t>(off));
  errno_ = 0;
  return true;
}

std::string SysFile::error() const {
  return path_ + ": " + (errno_ ? std::strerror(errno_) : "unreadable");
}

std::optional<std::string> readSysFile(const std::string& path) {
  SysFile f(path);
  std::string s;
  if (!f.read(s)) return std::nullopt;
  return s;
}

std::string baseName(const std::string& p) {
  auto slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string dirName(const std::string& p) {
  auto slash = p.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? "/" : p.substr(0, slash);
}

std::string joinNormalized(const std::string& dir, const std::string& rel) {
  std::vector<std::string> parts;
  auto push = [&](const std::string& path) {
    size_t i = 0;
    while (i <= path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      std::string c = path.substr(i, j - i);
      if (c == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!c.empty() && c != ".") {
        parts.push_back(c);
      }
      i = j + 1;
    }
  };
  bool relative = !rel.empty() && rel[0] != '/';
  if (relative) push(dir);
  push(rel);
  bool absolute = !relative || (!dir.empty() && dir[0] == '/');
  std::string out;
  for (auto& p : parts) out += (out.empty() && !absolute ? "" : "/") + p;
  return out.empty() ? (absolute ? "/" : ".") : out;
}

bool pathExists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace qw::agent
