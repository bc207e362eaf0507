#include "qw/aggregator/snapshots/keeper.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "qw/aggregator/api/json.h"
#include "qw/aggregator/snapshots/drill.h"
#include "qw/log.h"

namespace qw::aggregator {

namespace net = boost::asio;

namespace {

// A coroutine that calls `f` where it runs. `f` is a parameter, so it lives in the coroutine's
// frame (a capturing lambda coroutine's captures would die with the lambda object).
template <class F>
net::awaitable<std::invoke_result_t<F&>> callHere(F f) {
  co_return f();
}

// Runs `f` on `pool` and resumes the caller on its own executor with the result.
template <class F>
net::awaitable<std::invoke_result_t<F&>> offload(net::thread_pool& pool, F f) {
  co_return co_await net::co_spawn(pool, callHere(std::move(f)), net::use_awaitable);
}

constexpr int64_t kRetryPullMs = 10 * 60 * 1000;

std::string mib(uint64_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  return b;
}

}  // namespace

SnapshotKeeper::SnapshotKeeper(net::io_context& ioc, IngestService& ingest,
                               SnapshotCatalog& catalog, const Clock& clock, KeeperConfig cfg,
                               Record record)
    : ioc_(ioc),
      ingest_(ingest),
      catalog_(catalog),
      clock_(clock),
      cfg_(std::move(cfg)),
      record_(std::move(record)),
      store_(cfg_.copy_dir, cfg_.keep_copies) {}

SnapshotKeeper::~SnapshotKeeper() {
  cancel_->store(true);
  copy_pool_.join();
  drill_pool_.join();
}

void SnapshotKeeper::shutdown() {
  stopping_ = true;
  cancel_->store(true);
}

std::optional<std::string> SnapshotKeeper::open() {
  if (cfg_.copy_dir.empty()) return std::nullopt;
  if (auto err = store_.open()) {
    copy_error_ = "copy store: " + *err;
    return copy_error_;
  }
  open_ = true;
  loadDrillLog();
  refreshCopies();
  return std::nullopt;
}

// The copies on disk, each verified again on the copy thread (a copy is read whole once per
// aggregator start; its result is kept while the file stays).
void SnapshotKeeper::refreshCopies() {
  std::vector<CopyState> next;
  for (auto& c : store_.scan()) {
    CopyState s;
    for (const auto& old : copies_)
      if (old.copy.file == c.file && old.copy.size == c.size && old.copy.mtime_ms == c.mtime_ms)
        s = old;
    if (s.copy.file.empty()) s.copy = c;
    next.push_back(std::move(s));
  }
  copies_ = std::move(next);
  for (const auto& c : copies_) {
    if (c.copy.check) continue;
    net::co_spawn(
        ioc_,
        [this, file = c.copy.file, path = c.copy.path]() -> net::awaitable<void> {
          auto job = [path] { return checkSnapshotFile(path); };
          auto check = co_await offload(copy_pool_, std::move(job));
          if (stopping_) co_return;
          for (auto& mine : copies_)
            if (mine.copy.file == file) {
              mine.copy.check = check;
              mine.status = check.ok ? "verified" : "failed";
            }
          if (!check.ok)
            qw::logger("snapshots")->warn("copy {} fails verification: {}", file, check.reason);
        },
        net::detached);
  }
}

std::optional<const SnapshotKeeper::CopyState*> SnapshotKeeper::newestVerifiedCopy() const {
  for (const auto& c : copies_)
    if (c.status == "verified") return &c;
  return std::nullopt;
}

net::awaitable<void> SnapshotKeeper::afterPoll(std::set<uint64_t> known_members) {
  if (!open_ || stopping_) co_return;
  auto list = catalog_.list(clock_.wallMs());
  for (const auto& s : list.snapshots()) {
    if (!s.verified()) continue;
    bool have = false;
    for (const auto& c : copies_)
      if (c.copy.check && c.copy.check->sha256 == s.sha256()) have = true;
    // A pull that failed is tried again after a while, not at every poll.
    auto failed = failed_at_.find(s.sha256());
    if (failed != failed_at_.end() && clock_.steadyMs() - failed->second < kRetryPullMs) break;
    if (!have && !pulling_) {
      pulling_ = true;
      co_await pull(s, known_members);
      pulling_ = false;
    }
    break;  // only the newest verified one
  }
  maybeDrill();
}

net::awaitable<void> SnapshotKeeper::pull(qw::api::Snapshot source, std::set<uint64_t> known) {
  auto log = qw::logger("snapshots");
  const std::string what = source.node() + ":" + source.path();
  auto link = ingest_.link(source.node());
  if (!link) co_return;  // asked again after the next poll
  if (!link->encrypted && !link->loopback && !cfg_.allow_plain_pull) {
    copy_error_ = "not pulling " + what + ": the agent's link (" + link->remote +
                  ") is neither TLS nor loopback and a snapshot holds every Secret of the "
                  "cluster; use TLS, or start the aggregator with --allow-plain-snapshot-pull";
    if (refused_.insert(what).second) log->warn("{}", copy_error_);
    co_return;
  }
  auto t0 = std::chrono::steady_clock::now();
  std::string name = CopyStore::copyName(source.node(), source.path());
  CopyStore::Writer w;
  if (auto err = store_.begin(name, &w)) {
    copy_error_ = "cannot copy " + what + ": " + *err;
    log->warn("{}", copy_error_);
    co_return;
  }
  auto fail = [&](const std::string& why) {
    failed_at_[source.sha256()] = clock_.steadyMs();
    copy_error_ = "copy of " + what + " failed: " + why;
    log->warn("{}", copy_error_);
    record_({{clock_.wallMs(), "SNAPSHOT_COPY_FAILED", source.node(), "WARNING", copy_error_}});
  };
  uint64_t offset = 0;
  int64_t mtime_ms = -1;
  uint64_t size = 0;
  log->info("copying {} ({}) off its node", what, mib(static_cast<uint64_t>(source.size_bytes())));
  for (;;) {
    if (stopping_) co_return;
    qw::wire::Command cmd;
    auto* r = cmd.mutable_read_snapshot();
    r->set_path(source.path());
    r->set_offset(offset);
    r->set_length(cfg_.piece_bytes);
    auto reply = co_await ingest_.command(source.node(), std::move(cmd), cfg_.piece_timeout);
    if (stopping_) co_return;
    if (reply.kind != CommandReply::Kind::kOk) {
      fail("at " + std::to_string(offset) +
           " bytes the agent answered: " + (reply.message.empty() ? "nothing" : reply.message));
      co_return;
    }
    qw::wire::SnapshotPiece piece;
    if (!piece.ParseFromString(reply.payload)) {
      fail("the agent sent a malformed piece");
      co_return;
    }
    if (mtime_ms < 0) {
      mtime_ms = piece.mtime_ms();
      size = piece.size();
    } else if (piece.mtime_ms() != mtime_ms || piece.size() != size) {
      fail("the file changed while it was copied");
      co_return;
    }
    if (!piece.data().empty()) {
      // Lambdas are named before co_await: g++ 12 destroys a temporary's captures twice there.
      auto write = [&w, data = piece.data()] { return w.append(data); };
      auto err = co_await offload(copy_pool_, std::move(write));
      if (err) {
        fail(*err);
        co_return;
      }
      offset += piece.data().size();
    }
    if (piece.data().empty() || offset >= size) break;
  }
  if (offset != size) {
    fail("got " + std::to_string(offset) + " of " + std::to_string(size) + " bytes");
    co_return;
  }
  auto finish = [this, w = std::move(w), mtime_ms, sha = source.sha256()]() mutable {
    return store_.finish(std::move(w), mtime_ms, sha);
  };
  auto check = co_await offload(copy_pool_, std::move(finish));
  if (stopping_) co_return;
  if (check.ok) {
    for (uint64_t id : check.member_ids)
      if (!known.count(id)) {
        check.ok = false;
        check.reason = "cluster: member id not of this cluster";
      }
  }
  if (!check.ok) {
    fail("the copy does not verify: " + check.reason);
    refreshCopies();
    co_return;
  }
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  copy_error_.clear();
  failed_at_.erase(source.sha256());
  std::string msg = "snapshot " + what + " copied to " + store_.dir() + "/" + name + " (" +
                    mib(size) + " in " + std::to_string(ms) + " ms, verified again)";
  log->info("{}", msg);
  record_({{clock_.wallMs(), "SNAPSHOT_COPIED", source.node(), "INFO", msg}});
  refreshCopies();
  for (auto& c : copies_)
    if (c.copy.file == name) {
      c.copy.check = check;
      c.status = "verified";
    }
}

void SnapshotKeeper::maybeDrill() {
  if (!drillsEnabled() || running_ || stopping_) return;
  auto newest = newestVerifiedCopy();
  if (!newest) return;
  const auto& sha = (*newest)->copy.check->sha256;
  bool drilled = false;
  int64_t last_ms = 0;
  for (const auto& d : drills_) {
    if (d.sha256() == sha) drilled = true;
    if (auto t = qw::parseTimeArg(d.started_at())) last_ms = std::max(last_ms, *t);
  }
  last_ms = std::max(last_ms, last_drill_started_ms_);
  bool due = cfg_.drill_every.count() > 0 && clock_.wallMs() - last_ms >= cfg_.drill_every.count();
  // A new copy is drilled once when it arrives (when drills are scheduled at all).
  if (cfg_.drill_every.count() > 0 && (!drilled || due)) {
    qw::api::Drill d;
    startDrill("schedule", &d);
  }
}

std::optional<std::string> SnapshotKeeper::startDrill(const std::string& trigger,
                                                      qw::api::Drill* out) {
  if (!open_) return "no copy store (--snapshot-store): nothing to drill";
  if (cfg_.etcd_bin_dirs.empty()) return "drills are off: no --etcd-bin-dir";
  if (running_)
    return "drill " + std::to_string(static_cast<int64_t>(running_->id())) + " of " +
           running_->copy() + " is running";
  auto newest = newestVerifiedCopy();
  if (!newest) return "no verified copy of a snapshot yet: nothing to drill";
  const CopyState& c = **newest;
  qw::api::Drill d;
  d.set_id(next_drill_id_++);
  d.set_copy(c.copy.file);
  d.set_source(c.copy.source_node + ":" + c.copy.source_file);
  d.set_sha256(c.copy.check->sha256);
  d.set_status("running");
  d.set_phase("queued");
  d.set_started_at(qw::rfc3339(clock_.wallMs()));
  d.set_trigger(trigger);
  d.set_size_bytes(static_cast<double>(c.copy.size));
  d.set_snapshot_cluster_version(c.copy.check->cluster_version);
  if (c.copy.check->revision) d.set_expected_revision(static_cast<double>(*c.copy.check->revision));
  if (c.copy.check->live_keys)
    d.set_expected_live_keys(static_cast<double>(*c.copy.check->live_keys));
  running_ = d;
  last_drill_started_ms_ = clock_.wallMs();
  *out = d;
  {
    std::lock_guard<std::mutex> l(progress_->mu);
    progress_->phase = "queued";
    progress_->percent = 0;
  }
  DrillConfig dc;
  dc.etcd_bin_dirs = cfg_.etcd_bin_dirs;
  dc.work_dir = store_.dir();
  dc.timeout = cfg_.drill_timeout;
  dc.memory_map_bytes = cfg_.drill_memory_map_bytes;
  dc.snapshot_cluster_version = c.copy.check->cluster_version;
  dc.expected_revision = c.copy.check->revision;
  dc.expected_live_keys = c.copy.check->live_keys;
  dc.progress = [p = progress_](const std::string& phase, int percent) {
    std::lock_guard<std::mutex> l(p->mu);
    p->phase = phase;
    p->percent = percent;
  };
  dc.cancel = cancel_.get();
  qw::logger("snapshots")
      ->info("drill {} of {} started ({})", static_cast<int64_t>(d.id()), c.copy.file, trigger);
  std::string path = c.copy.path;
  net::co_spawn(
      ioc_,
      [this, path, dc, d]() mutable -> net::awaitable<void> {
        auto job = [path, dc] { return runDrill(path, dc); };
        auto r = co_await offload(drill_pool_, std::move(job));
        if (stopping_) co_return;
        d.set_status(r.ok ? "passed" : "failed");
        d.set_phase("done");
        d.set_percent(100);
        d.set_finished_at(qw::rfc3339(clock_.wallMs()));
        d.set_error(r.error);
        d.set_tool(r.tool);
        d.set_etcd_version(r.etcd_version);
        d.set_version_matches(r.version_matches);
        if (r.restore_ms > 0) d.set_restore_ms(static_cast<double>(r.restore_ms));
        if (r.start_ms > 0) d.set_start_ms(static_cast<double>(r.start_ms));
        if (r.restore_ms > 0 && r.start_ms > 0)
          d.set_rto_ms(static_cast<double>(r.restore_ms + r.start_ms));
        if (r.revision) d.set_revision(static_cast<double>(*r.revision));
        if (r.live_keys) d.set_live_keys(static_cast<double>(*r.live_keys));
        for (const auto& n : r.notes) d.add_notes(n);
        finishDrill(std::move(d));
      },
      net::detached);
  return std::nullopt;
}

void SnapshotKeeper::finishDrill(qw::api::Drill d) {
  running_.reset();
  std::string msg = "restore drill of " + d.copy() + " " + d.status();
  if (d.status() == "passed")
    msg += ": revision " + std::to_string(static_cast<int64_t>(d.revision())) + ", " +
           std::to_string(static_cast<int64_t>(d.live_keys())) +
           " keys, restored and answering in " + std::to_string(static_cast<int64_t>(d.rto_ms())) +
           " ms with etcd " + d.etcd_version();
  else
    msg += ": " + d.error();
  auto log = qw::logger("snapshots");
  if (d.status() == "passed")
    log->info("{}", msg);
  else
    log->warn("{}", msg);
  record_({{clock_.wallMs(), d.status() == "passed" ? "DRILL_PASSED" : "DRILL_FAILED",
            d.source().substr(0, d.source().find(':')), d.status() == "passed" ? "INFO" : "WARNING",
            msg}});
  appendDrillLog(d);
  drills_.push_front(std::move(d));
  while (drills_.size() > cfg_.drill_log_size) drills_.pop_back();
}

void SnapshotKeeper::appendDrillLog(const qw::api::Drill& d) {
  std::string line;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(d, &line, o).ok()) return;
  std::ofstream f(store_.dir() + "/drills.jsonl", std::ios::app);
  f << line << "\n";
  if (!f) qw::logger("snapshots")->warn("cannot append to {}/drills.jsonl", store_.dir());
}

void SnapshotKeeper::loadDrillLog() {
  std::ifstream f(store_.dir() + "/drills.jsonl");
  std::string line;
  size_t bad = 0;
  while (std::getline(f, line)) {
    qw::api::Drill d;
    if (!google::protobuf::util::JsonStringToMessage(line, &d).ok()) {
      ++bad;  // a line cut off by a crash
      continue;
    }
    next_drill_id_ = std::max(next_drill_id_, d.id() + 1);
    drills_.push_front(std::move(d));
    while (drills_.size() > cfg_.drill_log_size) drills_.pop_back();
  }
  if (bad > 0)
    qw::logger("snapshots")
        ->warn("{}/drills.jsonl: {} unreadable lines skipped", store_.dir(), bad);
}

qw::api::DrillList SnapshotKeeper::drills() const {
  qw::api::DrillList l;
  if (running_) {
    auto* d = l.add_drills();
    *d = *running_;
    std::lock_guard<std::mutex> g(progress_->mu);
    d->set_phase(progress_->phase);
    d->set_percent(progress_->percent);
  }
  for (const auto& d : drills_) *l.add_drills() = d;
  if (drillsEnabled() && cfg_.drill_every.count() > 0) {
    int64_t last = last_drill_started_ms_;
    for (const auto& d : drills_)
      if (auto t = qw::parseTimeArg(d.started_at())) last = std::max(last, *t);
    l.set_next_scheduled(qw::rfc3339(std::max(clock_.wallMs(), last + cfg_.drill_every.count())));
  }
  std::string dirs;
  for (const auto& d : cfg_.etcd_bin_dirs) dirs += (dirs.empty() ? "" : ":") + d;
  l.set_etcd_bin_dirs(dirs);
  return l;
}

qw::api::SnapshotCopy SnapshotKeeper::toApi(const CopyState& c) const {
  qw::api::SnapshotCopy a;
  a.set_file(c.copy.file);
  a.set_source_node(c.copy.source_node);
  a.set_source_path(c.copy.source_file);
  a.set_size_bytes(static_cast<double>(c.copy.size));
  a.set_mtime(qw::rfc3339(c.copy.mtime_ms));
  a.set_age_seconds(static_cast<double>(clock_.wallMs() - c.copy.mtime_ms) / 1000.0);
  a.set_copied_at(qw::rfc3339(c.copy.copied_at_ms));
  a.set_status(c.status);
  a.set_verified(c.status == "verified");
  if (c.copy.check) {
    a.set_reason(c.copy.check->reason);
    a.set_sha256(c.copy.check->sha256);
    if (c.copy.check->revision) a.set_revision(static_cast<double>(*c.copy.check->revision));
    if (c.copy.check->live_keys) a.set_live_keys(static_cast<double>(*c.copy.check->live_keys));
    a.set_cluster_version(c.copy.check->cluster_version);
    for (const auto& d : drills_)
      if (d.sha256() == c.copy.check->sha256) {
        *a.mutable_last_drill() = d;
        break;
      }
  }
  return a;
}

void SnapshotKeeper::fill(qw::api::SnapshotList* l) const {
  l->set_copy_dir(store_.dir());
  l->set_copy_error(copy_error_);
  for (const auto& c : copies_) *l->add_copies() = toApi(c);
  // A file on a node is drilled when a drill of a copy with its SHA-256 passed last.
  std::map<std::string, const qw::api::Drill*> last;
  for (const auto& d : drills_)
    if (!last.count(d.sha256())) last[d.sha256()] = &d;
  for (auto& s : *l->mutable_snapshots()) {
    auto it = last.find(s.sha256());
    if (s.sha256().empty() || it == last.end()) continue;
    s.set_drilled(s.verified() && it->second->status() == "passed");
    s.set_last_drill(it->second->status() + " at " + it->second->finished_at());
    if (s.drilled() && l->newest_drilled().empty())
      l->set_newest_drilled(s.node() + ":" + s.path());
  }
}

SnapshotHealth SnapshotKeeper::health() const {
  SnapshotHealth h;
  auto list = catalog_.list(clock_.wallMs());
  h.catalogue_known = !list.nodes().empty();
  bool off_disk = false;
  for (const auto& s : list.snapshots()) {
    if (!s.verified()) continue;
    ++h.verified;
    if (!h.newest_verified_age_ms)
      h.newest_verified_age_ms = static_cast<int64_t>(s.age_seconds() * 1000);
    if (!s.has_same_disk_as_data() || !s.same_disk_as_data()) off_disk = true;
  }
  for (const auto& c : copies_) {
    if (c.status != "verified") continue;
    ++h.copies_verified;
    off_disk = true;
    int64_t age = clock_.wallMs() - c.copy.mtime_ms;
    if (!h.newest_verified_age_ms || age < *h.newest_verified_age_ms)
      h.newest_verified_age_ms = age;
  }
  h.all_on_data_disk = h.verified > 0 && !off_disk;
  h.drills_enabled = drillsEnabled();
  if (!drills_.empty()) {
    const auto& d = drills_.front();
    h.last_drill_failed = d.status() == "failed";
    h.last_drill_error = d.error();
    h.last_drill_copy = d.copy();
  }
  for (const auto& d : drills_)
    if (d.status() == "passed") {
      if (auto t = qw::parseTimeArg(d.finished_at()))
        h.last_passed_drill_age_ms = clock_.wallMs() - *t;
      break;
    }
  return h;
}

}  // namespace qw::aggregator
