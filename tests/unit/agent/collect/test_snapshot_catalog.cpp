// The agent's snapshot catalogue scan (collect/snapshot_catalog.h) on a real etcd 3.5 snapshot and
// garbage beside it, run synchronously.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "qw/agent/collect/snapshot_catalog.h"

using namespace qw::agent;
namespace fs = std::filesystem;
using C = qw::wire::SnapshotCheck;

namespace {

const qw::wire::SnapshotFile* file(const qw::wire::SnapshotCatalog& c, const std::string& name) {
  for (const auto& f : c.files())
    if (fs::path(f.path()).filename() == name) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("the snapshot scan checks each file once and names the bad ones", "[snapshot-scan]") {
  fs::path dir = fs::temp_directory_path() / ("qw-snapscan-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(std::string(QW_FIXTURES) + "/snapshots/etcd-3.5.db", dir / "etcd-snapshot-a");
  std::ofstream(dir / "garbage") << std::string(5000, 'x');
  std::ofstream(dir / ".metadata") << "k3s keeps this";
  fs::create_directories(dir / "subdir");

  SnapshotCatalogConfig cfg;
  cfg.dirs = {dir.string(), (dir / "missing").string()};
  cfg.sysfs_root = (dir / "no-sysfs").string();
  auto state = std::make_shared<SnapshotCatalogCollector::State>();
  SnapshotCatalogCollector::scan(cfg, state);
  auto cat = state->catalog;
  CHECK(cat.files_size() == 2);  // no dot files, no dirs
  REQUIRE(cat.dir_errors_size() == 1);
  CHECK(cat.dir_errors(0).find("missing") != std::string::npos);
  const auto* a = file(cat, "etcd-snapshot-a");
  REQUIRE(a);
  CHECK(a->check().state() == C::CHECKED);
  CHECK(a->check().complete());
  CHECK(a->check().structure_ok());
  CHECK(a->check().revision() == 68);  // etcd-3.5.expect
  CHECK(a->check().live_keys() == 42);
  CHECK(a->check().total_keys() == 67);  // what etcdutl snapshot status prints as totalKey
  REQUIRE(a->check().member_ids_size() == 1);
  CHECK(a->check().member_ids(0) == 0x924e24880daaeb3cull);
  CHECK(a->check().sha256() == "b119626283b794d28f7430347ebb5b6d8064034fed78cf3dbdec1aeea5e7eb76");
  CHECK_FALSE(a->has_same_disk_as_data());  // no sysfs: the disk is unknown, not guessed
  const auto* g = file(cat, "garbage");
  REQUIRE(g);
  CHECK(g->check().state() == C::CHECKED);
  CHECK_FALSE(g->check().complete());
  CHECK_FALSE(g->check().structure_ok());
  CHECK_FALSE(g->check().complete_reason().empty());

  // Unchanged files are not read again.
  int64_t at = a->check().checked_at_ms();
  SnapshotCatalogCollector::scan(cfg, state);
  const auto* a2 = file(state->catalog, "etcd-snapshot-a");
  REQUIRE(a2);
  CHECK(a2->check().checked_at_ms() == at);
  fs::remove_all(dir);
}

TEST_CASE("ReadSnapshot pieces come only from files of the catalogue", "[snapshot-scan]") {
  fs::path dir = fs::temp_directory_path() / ("qw-snappiece-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string src = std::string(QW_FIXTURES) + "/snapshots/etcd-3.5.db";
  fs::copy_file(src, dir / "etcd-snapshot-a");
  SnapshotCatalogConfig cfg;
  cfg.dirs = {dir.string()};
  cfg.sysfs_root = (dir / "no-sysfs").string();
  auto state = std::make_shared<SnapshotCatalogCollector::State>();
  SnapshotCatalogCollector::scan(cfg, state);

  qw::wire::ReadSnapshot r;
  r.set_path((dir / "etcd-snapshot-a").string());
  r.set_offset(1000);
  r.set_length(4096);
  std::string err;
  auto p = SnapshotCatalogCollector::readPiece(*state, r, &err);
  REQUIRE(err.empty());
  CHECK(p.size() == fs::file_size(src));
  CHECK(p.data().size() == 4096);
  std::ifstream in(src, std::ios::binary);
  std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(p.data() == whole.substr(1000, 4096));
  r.set_offset(whole.size() - 10);
  p = SnapshotCatalogCollector::readPiece(*state, r, &err);
  CHECK(p.data() == whole.substr(whole.size() - 10));  // short at the end
  r.set_length(64u << 20);
  r.set_offset(0);
  p = SnapshotCatalogCollector::readPiece(*state, r, &err);
  CHECK(p.data().size() == std::min<size_t>(whole.size(), 1u << 20));

  const std::vector<std::string> others = {"/etc/passwd",
                                           (dir / "etcd-snapshot-a").string() + "/../x",
                                           (dir / "etcd-snapshot-b").string()};
  for (const auto& other : others) {
    r.set_path(other);
    err.clear();
    SnapshotCatalogCollector::readPiece(*state, r, &err);
    CHECK(err.find("not a snapshot of this node's catalogue") != std::string::npos);
  }
  fs::remove_all(dir);
}
