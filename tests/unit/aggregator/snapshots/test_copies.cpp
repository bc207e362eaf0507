// The aggregator's copy store (snapshots/copies.h) on the real snapshot fixtures, and the snapshot
// warnings (risk/warnings.h) on hand-made keeper states.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "../../common/snapshot/snapshot_fixture.h"
#include "qw/aggregator/risk/table.h"
#include "qw/aggregator/risk/warnings.h"
#include "qw/aggregator/snapshots/copies.h"

using namespace qw::aggregator;

namespace {

mode_t modeOf(const std::string& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string copyIn(const CopyStore& store, const std::string& name, const std::string& data,
                   int64_t mtime_ms, const std::string& sha, SnapshotFileCheck* check) {
  CopyStore::Writer w;
  auto err = store.begin(name, &w);
  REQUIRE(!err);
  REQUIRE(!w.append(data));
  *check = store.finish(std::move(w), mtime_ms, sha);
  return store.dir() + "/" + name;
}

}  // namespace

TEST_CASE("copy store: a verified copy lands 0600 in a 0700 dir with the source mtime",
          "[snapshot-copies]") {
  snapfix::TempDir tmp;
  std::string dir = tmp.file("copies");
  ::mkdir(dir.c_str(), 0755);
  CopyStore store(dir, 2);
  REQUIRE(!store.open());
  CHECK(modeOf(dir) == 0700);
  std::string data = snapfix::readAll(snapfix::dir() + "/etcd-3.5.db");
  auto expect = snapfix::expect("etcd-3.5");
  SnapshotFileCheck check;
  auto path = copyIn(store, CopyStore::copyName("node-1", "/var/lib/x/snap-1"), data,
                     1'700'000'000'000, "", &check);
  INFO(check.reason);
  REQUIRE(check.ok);
  CHECK(check.revision == static_cast<int64_t>(snapfix::num(expect, "revision")));
  CHECK(check.live_keys == snapfix::num(expect, "live_keys"));
  CHECK(check.sha256 == expect.at("sha256"));
  CHECK(modeOf(path) == 0600);
  auto copies = store.scan();
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].source_node == "node-1");
  CHECK(copies[0].source_file == "snap-1");
  CHECK(copies[0].mtime_ms == 1'700'000'000'000);
}

TEST_CASE("copy store: a damaged or mismatching copy is refused and leaves nothing behind",
          "[snapshot-copies]") {
  snapfix::TempDir tmp;
  CopyStore store(tmp.file("copies"), 3);
  REQUIRE(!store.open());
  std::string data = snapfix::readAll(snapfix::dir() + "/etcd-3.4.db");
  SnapshotFileCheck check;
  std::string cut = data.substr(0, data.size() - 100);
  copyIn(store, "n__cut", cut, 1000, "", &check);
  CHECK_FALSE(check.ok);
  CHECK(check.reason.find("complete") == 0);
  copyIn(store, "n__other-sha", data, 1000, std::string(64, '0'), &check);
  CHECK_FALSE(check.ok);
  CHECK(check.reason.find("not the source's") != std::string::npos);
  CHECK(store.scan().empty());
  CHECK(std::distance(std::filesystem::directory_iterator(store.dir()),
                      std::filesystem::directory_iterator()) == 0);
}

TEST_CASE("copy store: only the newest copies are kept and an interrupted one is cleaned up",
          "[snapshot-copies]") {
  snapfix::TempDir tmp;
  CopyStore store(tmp.file("copies"), 2);
  REQUIRE(!store.open());
  std::string data = snapfix::readAll(snapfix::dir() + "/etcd-3.5.db");
  SnapshotFileCheck check;
  for (int i = 0; i < 4; ++i) {
    copyIn(store, "n__s" + std::to_string(i), data, 1000 + i * 1000, "", &check);
    REQUIRE(check.ok);
  }
  auto copies = store.scan();
  REQUIRE(copies.size() == 2);
  CHECK(copies[0].file == "n__s3");
  CHECK(copies[1].file == "n__s2");
  {
    CopyStore::Writer w;
    REQUIRE(!store.begin("n__s9", &w));
    REQUIRE(!w.append("half"));
    // A crash here leaves the incoming file; the next open removes it.
    std::filesystem::copy_file(store.dir() + "/.incoming-n__s9", store.dir() + "/.incoming-n__x");
  }
  CHECK(!std::filesystem::exists(store.dir() + "/.incoming-n__s9"));
  REQUIRE(!store.open());
  CHECK(!std::filesystem::exists(store.dir() + "/.incoming-n__x"));
  CHECK(CopyStore::copyName("a__b/c", "/x/../we ird") == "a_b_c__we_ird");
}

TEST_CASE("snapshot warnings: none verified then stale then on the data disk then drills",
          "[snapshot-copies]") {
  const auto& table = risk::defaultTable();
  auto codes = [&](const SnapshotHealth& h) {
    ClusterInput in;
    in.snapshots = h;
    qw::api::ClusterView view;
    std::set<std::string> out;
    for (const auto& w : risk::warningConditions(in, view, table))
      if (risk::isRecoverabilityWarning(w.code()))
        out.insert(qw::api::Warning::Code_Name(w.code()));
    return out;
  };
  SnapshotHealth h;
  CHECK(codes(h).empty());  // no catalogue yet: nothing can be said
  h.catalogue_known = true;
  CHECK(codes(h) == std::set<std::string>{"NO_VERIFIED_SNAPSHOT"});
  h.verified = 1;
  h.newest_verified_age_ms = 25LL * 3600 * 1000;
  h.all_on_data_disk = true;
  h.drills_enabled = true;
  CHECK(codes(h) == std::set<std::string>{"SNAPSHOT_STALE", "SNAPSHOT_SAME_DISK", "DRILL_STALE"});
  h.newest_verified_age_ms = 3600 * 1000;
  h.all_on_data_disk = false;
  h.last_passed_drill_age_ms = 3600 * 1000;
  CHECK(codes(h).empty());
  h.last_drill_failed = true;
  h.last_drill_error = "snapshot restore failed";
  CHECK(codes(h) == std::set<std::string>{"DRILL_FAILED"});
  h.last_drill_failed = false;
  h.last_passed_drill_age_ms = 8LL * 86400 * 1000;
  CHECK(codes(h) == std::set<std::string>{"DRILL_STALE"});
}
