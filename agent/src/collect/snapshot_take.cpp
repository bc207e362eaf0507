#include "qw/agent/collect/snapshot_take.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <limits>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "qw/agent/sys/block_device.h"
#include "qw/http_client.h"
#include "qw/log.h"
#include "qw/tls_client.h"

namespace qw::agent {

namespace net = boost::asio;

namespace {

constexpr uint64_t kSpaceMargin = 64ull << 20;

int64_t wallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string mib(uint64_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  return b;
}

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

bool writeAll(int fd, std::string_view bytes, std::string* error) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::optional<std::string> fsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoText("open " + dir);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) return "fsync " + dir + ": " + std::strerror(saved);
  return std::nullopt;
}

std::optional<uint64_t> freeBytes(const std::string& dir) {
  struct statvfs v {};
  if (::statvfs(dir.c_str(), &v) != 0) return std::nullopt;
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

std::string joinPath(const std::string& dir, const std::string& name) {
  return dir + (!dir.empty() && dir.back() == '/' ? "" : "/") + name;
}

// Files of `dir` made by takeSnapshot with `prefix` (PREFIX + 16-character UTC time + suffix).
std::vector<std::string> ownFiles(const std::string& dir, const std::string& prefix,
                                  const std::string& suffix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() != prefix.size() + 16 + suffix.size() ||
        n.compare(0, prefix.size(), prefix) != 0 ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());  // oldest first: the time sorts as text
  return out;
}

struct StreamAborted : std::exception {};

}  // namespace

bool validSnapshotPrefix(const std::string& prefix) {
  if (prefix.empty() || prefix == "." || prefix == ".." || prefix.size() > 100) return false;
  return std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string takenSnapshotName(const std::string& prefix, int64_t wall_ms) {
  std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y%m%dT%H%M%SZ", &tm);
  return prefix + b + ".db";
}

std::optional<std::string> takeSnapshot(const SnapshotTakeConfig& cfg,
                                        const qw::wire::TakeSnapshot& req,
                                        qw::wire::SnapshotTaken* out) {
  auto log = qw::logger("snapshots");
  if (cfg.flavor == "k3s")
    return "this is a k3s node: k3s takes its own snapshots (etcd-snapshot-schedule-cron)";
  if (cfg.dir.empty()) return "the agent has no --snapshot-dir to write a snapshot to";
  const std::string prefix = req.prefix().empty() ? "quorumwatch-" : req.prefix();
  if (!validSnapshotPrefix(prefix))
    return "snapshot name prefix \"" + prefix + "\" is not [A-Za-z0-9._-]+";
  auto url = parseUrl(cfg.etcd_endpoint);
  if (!url) return "cannot parse the etcd endpoint " + cfg.etcd_endpoint;
  auto avail = freeBytes(cfg.dir);
  if (!avail) return errnoText("statvfs " + cfg.dir);
  const uint64_t need = req.expected_bytes() * 2 + kSpaceMargin;
  if (req.expected_bytes() > 0 && *avail < need)
    return "not enough free space in " + cfg.dir + ": " + mib(*avail) + " free, " + mib(need) +
           " needed (twice the db size of " + mib(req.expected_bytes()) + " plus 64 MiB)";
  // .part files of this prefix are leftovers of a take that was cut off: never a snapshot.
  for (const auto& n : ownFiles(cfg.dir, prefix, ".db.part"))
    if (::unlink(joinPath(cfg.dir, n).c_str()) == 0)
      log->info("removed {}, left by a snapshot that did not finish", joinPath(cfg.dir, n));

  const std::string name = takenSnapshotName(prefix, wallNowMs());
  const std::string path = joinPath(cfg.dir, name);
  const std::string part = path + ".part";
  if (::access(path.c_str(), F_OK) == 0) return path + " exists already (one a second at most)";
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errnoText("create " + part);
  std::string error;
  auto fail = [&](std::string why) {
    if (fd >= 0) ::close(fd);
    fd = -1;
    ::unlink(part.c_str());
    return std::optional<std::string>(std::move(why));
  };

  auto t0 = std::chrono::steady_clock::now();
  // Written back every 4 MiB: the dirty pages of a large snapshot never pile up into one long
  // flush that etcd's own WAL fsync would wait behind.
  uint64_t unsynced = 0;
  GatewaySnapshotDecoder dec([&](std::string_view bytes) {
    std::string werr;
    if (!writeAll(fd, bytes, &werr)) {
      error = "write " + part + ": " + werr;
      throw StreamAborted{};
    }
    unsynced += bytes.size();
    if (unsynced >= (4u << 20)) {
      if (::fdatasync(fd) != 0) {
        error = errnoText("fdatasync " + part);
        throw StreamAborted{};
      }
      unsynced = 0;
    }
  });
  std::shared_ptr<TlsClientContext> tls;
  try {
    if (url->tls()) tls = makeClientTls(cfg.etcd_cacert, cfg.etcd_cert, cfg.etcd_key);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  HttpResult result;
  {
    net::io_context ioc;
    HttpSession session(*url, tls);
    HttpRequest get;
    get.method = "POST";
    get.body = "{}";
    get.timeout = std::chrono::seconds(req.timeout_s() > 0 ? req.timeout_s() : 600);
    get.read_chunk = 64 * 1024;
    get.body_limit = std::numeric_limits<uint64_t>::max();
    get.on_body = [&](std::string_view piece) {
      if (auto e = dec.feed(piece)) {
        error = *e;
        throw StreamAborted{};
      }
    };
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          result = co_await session.fetch("/v3/maintenance/snapshot", get);
        },
        [&](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const StreamAborted&) {
          } catch (const std::exception& x) {
            error = x.what();
          }
          if (error.empty()) error = "the snapshot stream ended with an exception";
        });
    ioc.run();
  }
  if (!error.empty()) return fail(error);
  if (!result.ok) return fail("etcd's snapshot stream: " + result.error);
  if (auto e = dec.finish()) return fail(*e);
  if (result.status != 200) return fail("etcd answered HTTP " + std::to_string(result.status));
  if (::fsync(fd) != 0) return fail(errnoText("fsync " + part));
  if (::close(fd) != 0) {
    fd = -1;
    return fail(errnoText("close " + part));
  }
  fd = -1;
  if (::rename(part.c_str(), path.c_str()) != 0) return fail(errnoText("rename " + part));
  if (auto e = fsyncDir(cfg.dir)) return e;
  auto t1 = std::chrono::steady_clock::now();

  auto check = checkSnapshot(path, cfg.verify_rate, nullptr, {});
  auto t2 = std::chrono::steady_clock::now();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errnoText("stat " + path);
  auto* f = out->mutable_file();
  f->set_path(path);
  f->set_size(static_cast<uint64_t>(st.st_size));
  f->set_mtime_ms(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000);
  std::string disk = resolveBlockDevice(cfg.sysfs_root, major(st.st_dev), minor(st.st_dev)).disk;
  f->set_disk(disk);
  if (!cfg.data_dir.empty()) {
    std::string data_disk = resolveBlockDeviceOfPath(cfg.sysfs_root, cfg.data_dir).disk;
    if (!disk.empty() && !data_disk.empty()) f->set_same_disk_as_data(disk == data_disk);
  }
  *f->mutable_check() = check;
  out->set_stream_ms(std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count());
  out->set_verify_ms(std::chrono::duration_cast<std::chrono::milliseconds>(t2 - t1).count());
  if (!check.complete() || !check.structure_ok()) {
    // Kept: etcd sent it, so it is evidence; the catalogue lists it as failing.
    return "the snapshot etcd sent (" + path + ") does not verify: " +
           (check.complete() ? check.structure_reason() : check.complete_reason());
  }
  if (req.keep() > 0) {
    auto mine = ownFiles(cfg.dir, prefix, ".db");
    size_t extra = mine.size() > req.keep() ? mine.size() - req.keep() : 0;
    for (size_t i = 0; i < extra; ++i) {
      if (mine[i] == name) continue;
      std::string old = joinPath(cfg.dir, mine[i]);
      if (::unlink(old.c_str()) == 0)
        out->add_removed(old);
      else
        log->warn("cannot remove {} (keeping {}): {}", old, req.keep(), std::strerror(errno));
    }
    if (out->removed_size() > 0) (void)fsyncDir(cfg.dir);
  }
  if (auto a = freeBytes(cfg.dir)) out->set_free_bytes(*a);
  return std::nullopt;
}

}  // namespace qw::agent
