#pragma once
// Reading procfs and sysfs files under configurable roots (tests hand fixture trees). Files are
// kept open and re-read from offset 0: one syscall each.
#include <optional>
#include <string>

namespace qw::agent {

// A procfs/sysfs file kept open and re-read from offset 0 (the kernel regenerates it).
class SysFile {
 public:
  SysFile() = default;
  explicit SysFile(std::string path) : path_(std::move(path)) {}
  SysFile(SysFile&& o) noexcept;
  SysFile& operator=(SysFile&& o) noexcept;
  SysFile(const SysFile&) = delete;
  SysFile& operator=(const SysFile&) = delete;
  ~SysFile();
  // Reads the whole file into `out`. False when missing or unreadable (see error()).
  bool read(std::string& out);
  const std::string& path() const { return path_; }
  // "No such file or directory" etc. for the last failure.
  std::string error() const;
  int lastErrno() const { return errno_; }

 private:
  std::string path_;
  int fd_ = -1;
  int errno_ = 0;
  int missing_skips_ = 0;  // reads left before a missing file is looked for again
};

// One read of a small procfs/sysfs file; nullopt when missing or unreadable.
std::optional<std::string> readSysFile(const std::string& path);
// Joins `rel` (a symlink target) onto `dir` and folds "." and "..", textually.
std::string joinNormalized(const std::string& dir, const std::string& rel);
std::string baseName(const std::string& path);
// The parent of `path` ("/" for a top-level path or one without a slash).
std::string dirName(const std::string& path);
bool pathExists(const std::string& path);

}  // namespace qw::agent
