#include "qw/aggregator/snapshots/copies.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "qw/snapshot/bbolt.h"
#include "qw/snapshot/snapshot_file.h"

namespace qw::aggregator {

namespace {

constexpr const char* kSeparator = "__";
// A copy being written: hidden from scan() until it is verified and renamed. Not NAME.part: our
// own trailer check refuses that name as an interrupted etcdctl save.
constexpr const char* kIncoming = ".incoming-";

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<std::string> fsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoText("open " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return errnoText("fsync " + dir);
  return std::nullopt;
}

int64_t mtimeMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

}  // namespace

SnapshotFileCheck checkSnapshotFile(const std::string& path) {
  auto t0 = std::chrono::steady_clock::now();
  SnapshotFileCheck c;
  auto tr = qw::snapshot::checkTrailer(path);
  c.size = tr.size;
  c.sha256 = tr.sha256;
  if (!tr.complete) {
    c.reason = "complete: " + tr.reason;
  } else {
    qw::snapshot::BboltOptions bo;
    bo.db_bytes = tr.db_bytes;
    auto info = qw::snapshot::readEtcdSnapshot(path, bo);
    if (!info.ok) {
      c.reason = "structure: " + info.error;
    } else {
      c.ok = true;
      c.revision = info.revision;
      if (info.live_keys_known) c.live_keys = info.live_keys;
      c.cluster_version = info.cluster_version;
      for (const auto& m : info.members) c.member_ids.push_back(m.id);
    }
  }
  c.check_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  return c;
}

std::optional<std::string> CopyStore::open() {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return errnoText("mkdir " + dir_);
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) return errnoText("stat " + dir_);
  if (!S_ISDIR(st.st_mode)) return dir_ + " is not a directory";
  // Every Secret of the cluster is in a snapshot: nobody but the aggregator's user reads them.
  if ((st.st_mode & 077) != 0 && ::chmod(dir_.c_str(), 0700) != 0)
    return errnoText("chmod 0700 " + dir_);
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind(kIncoming, 0) == 0) ::unlink((dir_ + "/" + name).c_str());  // a pull cut off
    }
    ::closedir(d);
  }
  return std::nullopt;
}

std::string CopyStore::copyName(const std::string& node, const std::string& source_path) {
  // Odd bytes become '_', and a run of '_' one: "__" separates the node from the file.
  auto clean = [](const std::string& s) {
    std::string out;
    for (char ch : s) {
      bool keep = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.';
      char c = keep ? ch : '_';
      if (c == '_' && !out.empty() && out.back() == '_') continue;
      out += c;
    }
    return out;
  };
  auto slash = source_path.rfind('/');
  std::string base = slash == std::string::npos ? source_path : source_path.substr(slash + 1);
  std::string file = clean(base);
  if (file.empty() || file[0] == '.') file = "snapshot" + file;
  return clean(node) + kSeparator + file;
}

std::vector<SnapshotCopy> CopyStore::scan() const {
  std::vector<SnapshotCopy> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name[0] == '.' || endsWith(name, ".part")) continue;  // incoming copies start with '.'
    auto sep = name.find(kSeparator);
    if (sep == std::string::npos) continue;  // not a copy of ours
    struct stat st {};
    std::string path = dir_ + "/" + name;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    SnapshotCopy c;
    c.file = name;
    c.path = path;
    c.source_node = name.substr(0, sep);
    c.source_file = name.substr(sep + 2);
    c.size = static_cast<uint64_t>(st.st_size);
    c.mtime_ms = mtimeMs(st);
    c.copied_at_ms =
        static_cast<int64_t>(st.st_ctim.tv_sec) * 1000 + st.st_ctim.tv_nsec / 1'000'000;
    out.push_back(std::move(c));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const SnapshotCopy& a, const SnapshotCopy& b) {
    return a.mtime_ms != b.mtime_ms ? a.mtime_ms > b.mtime_ms : a.file < b.file;
  });
  return out;
}

CopyStore::Writer::Writer(Writer&& o) noexcept
    : fd_(o.fd_), part_(std::move(o.part_)), final_(std::move(o.final_)), written_(o.written_) {
  o.fd_ = -1;
  o.part_.clear();
}

CopyStore::Writer& CopyStore::Writer::operator=(Writer&& o) noexcept {
  if (this != &o) {
    this->~Writer();
    new (this) Writer(std::move(o));
  }
  return *this;
}

CopyStore::Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
  if (!part_.empty()) ::unlink(part_.c_str());
}

std::optional<std::string> CopyStore::Writer::append(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoText("write " + part_);
    done += static_cast<size_t>(n);
  }
  written_ += data.size();
  return std::nullopt;
}

std::optional<std::string> CopyStore::begin(const std::string& name, Writer* w) const {
  Writer fresh;
  fresh.final_ = dir_ + "/" + name;
  fresh.part_ = dir_ + "/" + kIncoming + name;
  fresh.fd_ =
      ::open(fresh.part_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fresh.fd_ < 0) {
    std::string err = errnoText("create " + fresh.part_);
    fresh.part_.clear();
    return err;
  }
  ::fchmod(fresh.fd_, 0600);  // whatever the umask
  *w = std::move(fresh);
  return std::nullopt;
}

SnapshotFileCheck CopyStore::finish(Writer w, int64_t mtime_ms,
                                    const std::string& expect_sha256) const {
  SnapshotFileCheck c;
  if (::fsync(w.fd_) != 0) {
    c.reason = errnoText("fsync " + w.part_);
    return c;
  }
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = mtime_ms / 1000;
  times[0].tv_nsec = times[1].tv_nsec = (mtime_ms % 1000) * 1'000'000;
  ::futimens(w.fd_, times);
  ::close(w.fd_);
  w.fd_ = -1;
  c = checkSnapshotFile(w.part_);
  if (c.ok && !expect_sha256.empty() && c.sha256 != expect_sha256) {
    c.ok = false;
    c.reason = "complete: the copy's SHA-256 " + c.sha256 + " is not the source's " + expect_sha256;
  }
  if (!c.ok) return c;  // the Writer removes the .part
  if (::rename(w.part_.c_str(), w.final_.c_str()) != 0) {
    c.ok = false;
    c.reason = errnoText("rename " + w.part_);
    return c;
  }
  w.part_.clear();
  if (auto err = fsyncDir(dir_)) {
    c.ok = false;
    c.reason = *err;
    return c;
  }
  prune();
  return c;
}

void CopyStore::prune() const {
  auto copies = scan();
  for (size_t i = keep_; i < copies.size(); ++i) ::unlink(copies[i].path.c_str());
}

}  // namespace qw::aggregator
