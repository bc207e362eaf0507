// Restore drills (snapshots/drill.h) with the real etcd 3.4 of /usr/bin and the etcd 3.5 that
// scripts/deps.sh puts in the cache, on the real snapshot fixtures. A case whose etcd is not
// installed warns and passes.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "../../common/snapshot/snapshot_fixture.h"
#include "qw/aggregator/snapshots/drill.h"
#include "qw/snapshot/bbolt.h"

using namespace qw::aggregator;
namespace fs = std::filesystem;

namespace {

const std::string kEtcd34 = "/usr/bin";

std::string etcd35() {
  const char* cache = getenv("QW_CACHE_DIR");
  const char* home = getenv("HOME");
  std::string base = cache ? cache : std::string(home ? home : "") + "/.cache/quorumwatch";
  return base + "/etcd-3.5/root/usr/bin";
}

bool installed(const std::string& dir) { return access((dir + "/etcd").c_str(), X_OK) == 0; }

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool dead(int pid) { return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH; }

bool empty(const std::string& dir) { return fs::is_empty(dir); }

// A config for the fixture NAME: its cluster version read from the file, its expected numbers.
DrillConfig configFor(const std::string& name, std::vector<std::string> dirs,
                      const snapfix::TempDir& work) {
  auto e = snapfix::expect(name);
  DrillConfig cfg;
  cfg.etcd_bin_dirs = std::move(dirs);
  cfg.work_dir = work.file("");
  cfg.timeout = std::chrono::seconds(20);
  cfg.snapshot_cluster_version =
      qw::snapshot::readEtcdSnapshot(snapfix::dir() + "/" + name + ".db").cluster_version;
  cfg.expected_revision = static_cast<int64_t>(snapfix::num(e, "revision"));
  cfg.expected_live_keys = snapfix::num(e, "live_keys");
  return cfg;
}

std::string fixture(const std::string& name) { return snapfix::dir() + "/" + name + ".db"; }

// Whichever etcd is here for cases that need any one; 3.5 first.
std::optional<std::pair<std::string, std::string>> anyEtcd() {
  if (installed(etcd35())) return std::make_pair(std::string("etcd-3.5"), etcd35());
  if (installed(kEtcd34)) return std::make_pair(std::string("etcd-3.4"), kEtcd34);
  return std::nullopt;
}

bool sameMinor(const std::string& a, const std::string& b) {
  return a.substr(0, a.rfind('.')) == b.substr(0, b.rfind('.'));
}

}  // namespace

TEST_CASE("probe finds etcd 3.4 and 3.5 with their versions and skips a dir without etcd",
          "[drill]") {
  snapfix::TempDir none;
  auto found = probeEtcdInstalls({kEtcd34, none.file(""), etcd35()});
  size_t want = 0;
  if (installed(kEtcd34)) {
    REQUIRE(found.size() > want);
    CHECK(found[want].dir == kEtcd34);
    CHECK(found[want].version.rfind("3.4.", 0) == 0);
    CHECK_FALSE(found[want].has_etcdutl);
    ++want;
  } else {
    WARN("no etcd in /usr/bin");
  }
  if (installed(etcd35())) {
    REQUIRE(found.size() > want);
    CHECK(found[want].dir == etcd35());
    CHECK(found[want].version.rfind("3.5.", 0) == 0);
    CHECK(found[want].has_etcdutl);
    ++want;
  } else {
    WARN("no etcd 3.5 in " + etcd35());
  }
  CHECK(found.size() == want);
}

TEST_CASE("a drill of the etcd 3.4 fixture restores with etcdctl and gives the expected numbers",
          "[drill]") {
  if (!installed(kEtcd34)) {
    WARN("no etcd in /usr/bin: skipped");
    SUCCEED();
    return;
  }
  snapfix::TempDir work;
  // With 3.5 on offer too, the 3.4 one still wins if it matches the snapshot.
  auto cfg = configFor("etcd-3.4", {etcd35(), kEtcd34}, work);
  auto r = runDrill(fixture("etcd-3.4"), cfg);
  INFO(r.error);
  CHECK(r.ok);
  CHECK(r.error.empty());
  CHECK(r.tool == "etcdctl");
  CHECK(r.etcd_dir == kEtcd34);
  CHECK(r.version_matches == sameMinor(cfg.snapshot_cluster_version, r.etcd_version));
  CHECK(r.revision == cfg.expected_revision);
  CHECK(r.live_keys == cfg.expected_live_keys);
  CHECK(r.start_ms > 0);
  CHECK(r.total_ms >= r.restore_ms + r.start_ms);
  CHECK(dead(r.etcd_pid));
  CHECK(empty(work.file("")));
}

TEST_CASE("a drill of the etcd 3.5 fixture restores with etcdutl and gives the expected numbers",
          "[drill]") {
  if (!installed(etcd35())) {
    WARN("no etcd 3.5 in " + etcd35() + ": skipped");
    SUCCEED();
    return;
  }
  snapfix::TempDir work;
  auto cfg = configFor("etcd-3.5", {kEtcd34, etcd35()}, work);
  auto r = runDrill(fixture("etcd-3.5"), cfg);
  INFO(r.error);
  CHECK(r.ok);
  CHECK(r.tool == "etcdutl");
  CHECK(r.etcd_dir == etcd35());
  CHECK(r.version_matches);
  CHECK(r.revision == cfg.expected_revision);
  CHECK(r.live_keys == cfg.expected_live_keys);
  bool noted = false;
  for (const auto& n : r.notes) noted |= contains(n, "memory map");
  CHECK(noted);
  CHECK(dead(r.etcd_pid));
  CHECK(empty(work.file("")));
}

TEST_CASE("a wrong expected revision fails the drill naming both numbers and cleans up",
          "[drill]") {
  auto etcd = anyEtcd();
  if (!etcd) {
    WARN("no etcd installed: skipped");
    SUCCEED();
    return;
  }
  snapfix::TempDir work;
  auto cfg = configFor(etcd->first, {etcd->second}, work);
  const int64_t rev = *cfg.expected_revision;
  cfg.expected_revision = rev + 1;
  auto r = runDrill(fixture(etcd->first), cfg);
  CHECK_FALSE(r.ok);
  CHECK(contains(r.error, "revision " + std::to_string(rev)));
  CHECK(contains(r.error, "expected " + std::to_string(rev + 1)));
  CHECK(r.revision == rev);
  CHECK_FALSE(r.work_subdir.empty());
  CHECK_FALSE(fs::exists(r.work_subdir));
  CHECK(dead(r.etcd_pid));
}

TEST_CASE("a damaged snapshot fails the restore's hash check and cleans up", "[drill]") {
  snapfix::TempDir tmp, work;
  SECTION("bytes flipped in the middle of a 3.5 snapshot with the newest etcd") {
    if (!installed(etcd35())) {
      WARN("no etcd 3.5: skipped");
      SUCCEED();
      return;
    }
    auto data = snapfix::readAll(fixture("etcd-3.5"));
    for (size_t i = data.size() / 2; i < data.size() / 2 + 8; ++i) data[i] ^= 0x5a;
    auto cfg = configFor("etcd-3.5", {kEtcd34, etcd35()}, work);
    cfg.snapshot_cluster_version.clear();  // unknown: the newest etcd is taken
    auto r = runDrill(tmp.put("flipped.db", data), cfg);
    CHECK_FALSE(r.ok);
    CHECK(r.tool == "etcdutl");
    CHECK(r.etcd_dir == etcd35());
    CHECK_FALSE(r.version_matches);
    CHECK(contains(r.error, "snapshot restore failed: Error: expected sha256"));
    CHECK(r.etcd_pid == 0);
  }
  SECTION("a 3.4 snapshot cut short") {
    if (!installed(kEtcd34)) {
      WARN("no etcd in /usr/bin: skipped");
      SUCCEED();
      return;
    }
    auto data = snapfix::readAll(fixture("etcd-3.4"));
    auto cfg = configFor("etcd-3.4", {kEtcd34}, work);
    auto r = runDrill(tmp.put("cut.db", data.substr(0, data.size() - 4096)), cfg);
    CHECK_FALSE(r.ok);
    CHECK(r.tool == "etcdctl");
    CHECK(contains(r.error, "snapshot restore failed: "));
    CHECK(contains(r.error, "corrupted or truncated"));
  }
  CHECK(empty(work.file("")));
}

TEST_CASE("cancel from another thread while etcd starts stops it and cleans up", "[drill]") {
  auto etcd = anyEtcd();
  if (!etcd) {
    WARN("no etcd installed: skipped");
    SUCCEED();
    return;
  }
  snapfix::TempDir work;
  auto cfg = configFor(etcd->first, {etcd->second}, work);
  std::atomic<bool> cancel{false}, starting{false};
  cfg.cancel = &cancel;
  cfg.progress = [&](const std::string& phase, int) {
    if (phase == "start") starting = true;
  };
  std::thread canceller([&] {
    while (!starting) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancel = true;
  });
  auto r = runDrill(fixture(etcd->first), cfg);
  canceller.join();
  CHECK_FALSE(r.ok);
  CHECK(r.error == "cancelled");
  CHECK(r.etcd_pid > 0);
  CHECK(dead(r.etcd_pid));
  CHECK(empty(work.file("")));
}

TEST_CASE("a drill that runs out of time says in which phase", "[drill]") {
  auto etcd = anyEtcd();
  if (!etcd) {
    WARN("no etcd installed: skipped");
    SUCCEED();
    return;
  }
  snapfix::TempDir work;
  auto cfg = configFor(etcd->first, {etcd->second}, work);
  // Probing the etcd alone takes longer.
  cfg.timeout = std::chrono::milliseconds(1);
  auto r = runDrill(fixture(etcd->first), cfg);
  CHECK_FALSE(r.ok);
  CHECK(r.error == "timed out after 0.001 s in restore");
  CHECK(r.etcd_pid == 0);
  CHECK(empty(work.file("")));
}

TEST_CASE("a drill without etcd says where it looked", "[drill]") {
  snapfix::TempDir none, work;
  DrillConfig cfg;
  cfg.work_dir = work.file("");
  auto r = runDrill(fixture("etcd-3.5"), cfg);
  CHECK_FALSE(r.ok);
  CHECK(contains(r.error, "no --etcd-bin-dir given"));
  cfg.etcd_bin_dirs = {none.file("")};
  r = runDrill(fixture("etcd-3.5"), cfg);
  CHECK(r.error == "no etcd binary in --etcd-bin-dir " + none.file(""));
  CHECK(empty(work.file("")));
}

TEST_CASE("progress rises through the phases to 100", "[drill]") {
  auto etcd = anyEtcd();
  if (!etcd) {
    WARN("no etcd installed: skipped");
    SUCCEED();
    return;
  }
  snapfix::TempDir work;
  auto cfg = configFor(etcd->first, {etcd->second}, work);
  std::vector<std::pair<std::string, int>> seen;
  cfg.progress = [&](const std::string& phase, int pct) { seen.emplace_back(phase, pct); };
  auto r = runDrill(fixture(etcd->first), cfg);
  CHECK(r.ok);
  REQUIRE(seen.size() >= 4);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].second > seen[i - 1].second);
  CHECK(seen.front() == std::make_pair(std::string("restore"), 0));
  CHECK(seen[1] == std::make_pair(std::string("start"), 40));
  CHECK(seen[seen.size() - 2] == std::make_pair(std::string("compare"), 90));
  CHECK(seen.back() == std::make_pair(std::string("done"), 100));
}
