// The aggregator's snapshot verdicts and catalogue events (snapshots/catalog.h), on hand-made
// agent answers.
#include <catch2/catch.hpp>

#include "qw/aggregator/snapshots/catalog.h"

using namespace qw::aggregator;
using C = qw::wire::SnapshotCheck;

namespace {

const int64_t kNow = 1'800'000'000'000;

qw::wire::SnapshotFile goodFile(const std::string& path, uint64_t member = 0xabc) {
  qw::wire::SnapshotFile f;
  f.set_path(path);
  f.set_size(20512);
  f.set_mtime_ms(kNow - 3600'000);
  f.set_disk("mmcblk0");
  f.set_same_disk_as_data(true);
  auto* c = f.mutable_check();
  c->set_state(C::CHECKED);
  c->set_complete(true);
  c->set_structure_ok(true);
  c->set_revision(42);
  c->set_live_keys(7);
  c->add_member_ids(member);
  c->add_member_names("m1");
  c->set_sha256(std::string(64, 'a'));
  return f;
}

std::vector<std::string> kinds(const std::vector<Event>& ev) {
  std::vector<std::string> k;
  for (const auto& e : ev) k.push_back(e.kind);
  return k;
}

}  // namespace

TEST_CASE("a complete sound snapshot of a known member is verified", "[snapshot-catalog]") {
  auto s = judgeSnapshot("n1", goodFile("/s/a"), {0xabc, 0xdef}, kNow);
  CHECK(s.status() == "verified");
  CHECK(s.verified());
  CHECK(s.reasons().empty());
  CHECK(s.revision() == 42);
  CHECK(s.live_keys() == 7);
  CHECK(s.member_ids(0) == "0000000000000abc");
  CHECK(s.age_seconds() == Approx(3600));
  CHECK(s.same_disk_as_data());
}

TEST_CASE("each failing check is named with its reason", "[snapshot-catalog]") {
  auto f = goodFile("/s/a");
  f.mutable_check()->set_complete(false);
  f.mutable_check()->set_complete_reason("the SHA-256 trailer does not match");
  auto s = judgeSnapshot("n1", f, {0xabc}, kNow);
  CHECK(s.status() == "failed");
  REQUIRE(s.reasons_size() == 1);
  CHECK(s.reasons(0) == "complete: the SHA-256 trailer does not match");

  auto other = judgeSnapshot("n1", goodFile("/s/b", 0x999), {0xabc}, kNow);
  CHECK(other.status() == "failed");
  REQUIRE(other.reasons_size() == 1);
  CHECK(other.reasons(0).find("another cluster") != std::string::npos);

  auto bad = goodFile("/s/c");
  bad.mutable_check()->set_structure_ok(false);
  bad.mutable_check()->set_structure_reason("page 3: id 9 in its header");
  auto b = judgeSnapshot("n1", bad, {0xabc}, kNow);
  CHECK(b.status() == "failed");
  CHECK(b.reasons_size() == 2);  // structure, and the cluster cannot be told
}

TEST_CASE("pending and skipped files are neither verified nor failed", "[snapshot-catalog]") {
  auto f = goodFile("/s/a");
  f.mutable_check()->Clear();
  f.mutable_check()->set_state(C::PENDING);
  f.mutable_check()->set_bytes_done(4096);
  auto p = judgeSnapshot("n1", f, {0xabc}, kNow);
  CHECK(p.status() == "pending");
  CHECK(p.bytes_done() == 4096);
  // No member history yet: the cluster check waits rather than fails.
  CHECK(judgeSnapshot("n1", goodFile("/s/a"), {}, kNow).status() == "pending");
  auto z = goodFile("/s/a.zip");
  z.mutable_check()->Clear();
  z.mutable_check()->set_state(C::SKIPPED);
  z.mutable_check()->set_reason("zipped");
  CHECK(judgeSnapshot("n1", z, {0xabc}, kNow).status() == "skipped");
}

TEST_CASE("files that appear change disappear or fail are events once", "[snapshot-catalog]") {
  SnapshotCatalog cat;
  qw::wire::SnapshotCatalog c;
  *c.add_files() = goodFile("/s/a");
  auto bad = goodFile("/s/b");
  bad.mutable_check()->set_complete(false);
  bad.mutable_check()->set_complete_reason("truncated");
  *c.add_files() = bad;
  auto ev = cat.update("n1", c, {0xabc}, kNow);
  CHECK(kinds(ev) ==
        std::vector<std::string>{"SNAPSHOT_ADDED", "SNAPSHOT_ADDED", "SNAPSHOT_FAILED"});
  // The same answer again: nothing new.
  CHECK(cat.update("n1", c, {0xabc}, kNow).empty());
  // /s/a rewritten, /s/b gone.
  qw::wire::SnapshotCatalog c2;
  auto a2 = goodFile("/s/a");
  a2.set_size(40992);
  *c2.add_files() = a2;
  ev = cat.update("n1", c2, {0xabc}, kNow);
  CHECK(kinds(ev) == std::vector<std::string>{"SNAPSHOT_CHANGED", "SNAPSHOT_GONE"});
  auto l = cat.list(kNow);
  REQUIRE(l.snapshots_size() == 1);
  CHECK(l.newest_verified() == "n1:/s/a");
  CHECK(l.verified() == 1);
  CHECK(l.failing() == 0);
  cat.noteError("n2", "not connected");
  l = cat.list(kNow);
  REQUIRE(l.nodes_size() == 2);
  CHECK(l.nodes(1).error() == "not connected");
}
