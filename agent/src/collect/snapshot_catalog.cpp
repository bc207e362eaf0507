#include "qw/agent/collect/snapshot_catalog.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "qw/agent/sys/block_device.h"
#include "qw/log.h"
#include "qw/snapshot/bbolt.h"
#include "qw/snapshot/snapshot_file.h"

namespace qw::agent {

namespace {

int64_t wallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool endsWith(const std::string& s, const char* suffix) {
  std::string_view v(suffix);
  return s.size() >= v.size() && s.compare(s.size() - v.size(), v.size(), v) == 0;
}

struct Found {
  std::string path;
  struct stat st {};
};

// The regular files of `dir` (names starting with '.' skipped: k3s keeps metadata there).
std::vector<Found> listDir(const std::string& dir, std::string* error) {
  std::vector<Found> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    *error = dir + ": " + std::strerror(errno);
    return out;
  }
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    Found f;
    f.path = dir + (dir.back() == '/' ? "" : "/") + e->d_name;
    if (::lstat(f.path.c_str(), &f.st) != 0 || !S_ISREG(f.st.st_mode)) continue;
    out.push_back(std::move(f));
  }
  ::closedir(d);
  return out;
}

int64_t mtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

qw::wire::SnapshotCheck checkSnapshot(const std::string& path, uint64_t rate,
                                      const std::atomic<bool>* cancel,
                                      const std::function<void(uint64_t)>& progress) {
  qw::wire::SnapshotCheck c;
  auto t0 = std::chrono::steady_clock::now();
  if (endsWith(path, ".zip")) {
    c.set_state(qw::wire::SnapshotCheck::SKIPPED);
    c.set_reason(
        "a zipped snapshot (k3s --etcd-snapshot-compress): the agent does not unpack it, so it "
        "is not verified");
    return c;
  }
  qw::snapshot::TrailerOptions to;
  to.bytes_per_second = rate;
  to.chunk_bytes = 128 * 1024;  // short reads: etcd's fsync never waits behind a long one
  to.cancel = cancel;
  to.progress = [&](uint64_t done, uint64_t) {
    if (progress) progress(done);
  };
  auto tr = qw::snapshot::checkTrailer(path, to);
  if (tr.failed == qw::snapshot::TrailerFailure::kCancelled) {
    c.set_state(qw::wire::SnapshotCheck::PENDING);
    return c;
  }
  c.set_complete(tr.complete);
  c.set_complete_reason(tr.reason);
  c.set_sha256(tr.sha256);
  if (tr.failed != qw::snapshot::TrailerFailure::kOpen) {
    qw::snapshot::BboltOptions bo;
    bo.db_bytes = tr.db_bytes;  // 0 (no trailer): the reader decides from the size
    bo.bytes_per_second = rate;
    bo.cancel = cancel;
    auto info = qw::snapshot::readEtcdSnapshot(path, bo);
    if (info.failed == qw::snapshot::BboltFailure::kCancelled) {
      c.set_state(qw::wire::SnapshotCheck::PENDING);
      return c;
    }
    c.set_structure_ok(info.ok);
    c.set_structure_reason(info.error);
    if (info.ok) {
      c.set_revision(info.revision);
      if (info.live_keys_known) c.set_live_keys(static_cast<int64_t>(info.live_keys));
      c.set_total_keys(info.total_entries);
      if (info.consistent_index) c.set_consistent_index(*info.consistent_index);
      for (const auto& m : info.members) {
        c.add_member_ids(m.id);
        c.add_member_names(m.name);
      }
      c.set_cluster_version(info.cluster_version);
    }
  } else {
    c.set_structure_reason("not read: " + tr.reason);
  }
  c.set_state(qw::wire::SnapshotCheck::CHECKED);
  c.set_checked_at_ms(wallNowMs());
  c.set_check_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  return c;
}

SnapshotCatalogCollector::SnapshotCatalogCollector(SnapshotCatalogConfig cfg, IdleWorker& worker)
    : cfg_(std::move(cfg)), worker_(worker), state_(std::make_shared<State>()) {
  data_dir_ = cfg_.data_dir;
}

SnapshotCatalogCollector::~SnapshotCatalogCollector() { state_->cancel = true; }

void SnapshotCatalogCollector::collect(int64_t now_ms, qw::wire::NodeSample*) {
  if (cfg_.dirs.empty() || state_->in_flight) return;
  if (scanned_at_ >= 0 && now_ms - scanned_at_ < cfg_.scan_interval_ms) return;
  scanned_at_ = now_ms;
  postScan();
}

void SnapshotCatalogCollector::scanNow() {
  if (cfg_.dirs.empty()) return;
  if (state_->in_flight) {
    state_->rescan = true;
    return;
  }
  postScan();
}

void SnapshotCatalogCollector::postScan() {
  state_->in_flight = true;
  SnapshotCatalogConfig c = cfg_;
  c.data_dir = data_dir_;
  std::shared_ptr<State> state = state_;
  worker_.post(
      [c, state] {
        do {
          state->rescan = false;
          scan(c, state);
        } while (state->rescan && !state->cancel);
        return 0;
      },
      [state](int) { state->in_flight = false; });
}

void SnapshotCatalogCollector::adopt(State& state, const qw::wire::SnapshotFile& f) {
  struct stat st {};
  if (::stat(f.path().c_str(), &st) != 0) return;
  State::Known k;
  k.ino = static_cast<uint64_t>(st.st_ino);
  k.size = static_cast<uint64_t>(st.st_size);
  k.mtime_ns = mtimeNs(st);
  k.check = f.check();
  std::lock_guard<std::mutex> l(state.mu);
  state.adopted[f.path()] = k;
  auto* files = state.catalog.mutable_files();
  for (int i = 0; i < files->size(); ++i)
    if (files->Get(i).path() == f.path()) {
      files->DeleteSubrange(i, 1);
      break;
    }
  *files->Add() = f;
  // Newest first, as a scan lists them.
  for (int i = files->size() - 1; i > 0 && files->Get(i).mtime_ms() >= files->Get(i - 1).mtime_ms();
       --i)
    files->SwapElements(i, i - 1);
}

qw::wire::SnapshotCatalog SnapshotCatalogCollector::catalog() const {
  std::lock_guard<std::mutex> l(state_->mu);
  qw::wire::SnapshotCatalog c = state_->catalog;
  if (c.dirs().empty())
    for (const auto& d : cfg_.dirs) c.add_dirs(d);
  return c;
}

qw::wire::SnapshotPiece SnapshotCatalogCollector::readPiece(const State& state,
                                                            const qw::wire::ReadSnapshot& r,
                                                            std::string* error, uint64_t rate) {
  qw::wire::SnapshotPiece piece;
  bool listed = false;
  {
    std::lock_guard<std::mutex> l(state.mu);
    for (const auto& f : state.catalog.files())
      if (f.path() == r.path()) listed = true;
  }
  if (!listed) {
    *error = r.path() + " is not a snapshot of this node's catalogue";
    return piece;
  }
  int fd = ::open(r.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *error = r.path() + ": " + std::strerror(errno);
    return piece;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = r.path() + ": not a regular file";
    ::close(fd);
    return piece;
  }
  constexpr uint32_t kMaxPiece = 1u << 20;
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t want = std::min<uint64_t>(std::min(r.length(), kMaxPiece),
                                     r.offset() < size ? size - r.offset() : 0);
  std::string data(want, '\0');
  size_t got = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (got < want) {
    if (rate > 0 && got > 0) {  // paced: `got` bytes may take got/rate seconds
      auto due = t0 + std::chrono::microseconds(static_cast<uint64_t>(got) * 1'000'000 / rate);
      std::this_thread::sleep_until(due);
    }
    size_t ask = std::min<size_t>(want - got, 128 * 1024);
    ssize_t n = ::pread(fd, data.data() + got, ask, static_cast<off_t>(r.offset() + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = r.path() + ": read: " + std::strerror(errno);
      ::close(fd);
      return piece;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  piece.set_data(std::move(data));
  piece.set_size(size);
  piece.set_mtime_ms(mtimeNs(st) / 1'000'000);
  return piece;
}

void SnapshotCatalogCollector::scan(const SnapshotCatalogConfig& cfg,
                                    const std::shared_ptr<State>& state) {
  qw::wire::SnapshotCatalog cat;
  std::string data_disk;
  if (!cfg.data_dir.empty())
    data_disk = resolveBlockDeviceOfPath(cfg.sysfs_root, cfg.data_dir).disk;
  cat.set_data_disk(data_disk);
  std::vector<Found> files;
  for (const auto& d : cfg.dirs) {
    cat.add_dirs(d);
    std::string err;
    auto found = listDir(d, &err);
    if (!err.empty()) cat.add_dir_errors(err);
    for (auto& f : found) files.push_back(std::move(f));
  }
  // Newest first: the one a restore would pick is checked first.
  std::sort(files.begin(), files.end(), [](const Found& a, const Found& b) {
    return mtimeNs(a.st) != mtimeNs(b.st) ? mtimeNs(a.st) > mtimeNs(b.st) : a.path < b.path;
  });
  {
    std::lock_guard<std::mutex> l(state->mu);
    for (auto& [p, k] : state->adopted) state->known[p] = std::move(k);
    state->adopted.clear();
  }
  std::map<std::string, State::Known> known;
  std::vector<int> todo;
  for (const auto& f : files) {
    auto* e = cat.add_files();
    e->set_path(f.path);
    e->set_size(static_cast<uint64_t>(f.st.st_size));
    e->set_mtime_ms(mtimeNs(f.st) / 1'000'000);
    std::string disk =
        resolveBlockDevice(cfg.sysfs_root, major(f.st.st_dev), minor(f.st.st_dev)).disk;
    e->set_disk(disk);
    if (!disk.empty() && !data_disk.empty()) e->set_same_disk_as_data(disk == data_disk);
    State::Known k;
    k.ino = static_cast<uint64_t>(f.st.st_ino);
    k.size = static_cast<uint64_t>(f.st.st_size);
    k.mtime_ns = mtimeNs(f.st);
    auto it = state->known.find(f.path);
    if (it != state->known.end() && it->second.ino == k.ino && it->second.size == k.size &&
        it->second.mtime_ns == k.mtime_ns) {
      k.check = it->second.check;
    } else {
      k.check.set_state(qw::wire::SnapshotCheck::PENDING);
      todo.push_back(cat.files_size() - 1);
    }
    *e->mutable_check() = k.check;
    known[f.path] = std::move(k);
  }
  cat.set_scanned_at_ms(wallNowMs());
  state->known = known;  // files gone are forgotten
  {
    std::lock_guard<std::mutex> l(state->mu);
    state->catalog = cat;
  }
  for (int i : todo) {
    if (state->cancel) return;
    const std::string path = cat.files(i).path();
    auto progress = [&](uint64_t done) {
      std::lock_guard<std::mutex> l(state->mu);
      if (i < state->catalog.files_size() && state->catalog.files(i).path() == path)
        state->catalog.mutable_files(i)->mutable_check()->set_bytes_done(done);
    };
    auto check = checkSnapshot(path, cfg.bytes_per_second, &state->cancel, progress);
    if (check.state() == qw::wire::SnapshotCheck::PENDING) return;  // cancelled
    std::string verdict;
    if (check.state() == qw::wire::SnapshotCheck::SKIPPED)
      verdict = "skipped: " + check.reason();
    else if (check.complete() && check.structure_ok())
      verdict = "complete and sound, revision " + std::to_string(check.revision());
    else
      verdict = "fails: " + (check.complete() ? check.structure_reason() : check.complete_reason());
    qw::logger("snapshots")->info("{}: {} ({} ms)", path, verdict, check.check_ms());
    state->known[path].check = check;
    std::lock_guard<std::mutex> l(state->mu);
    if (i < state->catalog.files_size() && state->catalog.files(i).path() == path)
      *state->catalog.mutable_files(i)->mutable_check() = check;
  }
}

}  // namespace qw::agent
