#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "qw/snapshot/snapshot_file.h"
#include "snapshot_fixture.h"

using qw::snapshot::checkTrailer;
using qw::snapshot::TrailerFailure;
using qw::snapshot::TrailerOptions;
using qw::snapshot::TrailerResult;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("checkTrailer: the real snapshots are complete") {
  for (const char* name : snapfix::kNames) {
    INFO(name);
    auto e = snapfix::expect(name);
    auto path = snapfix::dir() + "/" + name + ".db";
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    TrailerOptions o;
    o.chunk_bytes = 4096;  // many chunks on a small file
    o.progress = [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); };
    TrailerResult r = checkTrailer(path, o);
    CHECK(r.complete);
    CHECK(r.failed == TrailerFailure::kNone);
    CHECK(r.reason.empty());
    CHECK(r.size == snapfix::num(e, "size"));
    CHECK(r.db_bytes == r.size - 32);
    CHECK(r.db_bytes == snapfix::num(e, "status_total_size"));
    CHECK(r.sha256 == e["sha256"]);  // sha256sum of the file less its last 32 bytes
    CHECK(r.trailer == r.sha256);
    REQUIRE(calls.size() >= 2);
    for (size_t i = 1; i < calls.size(); ++i) CHECK(calls[i].first > calls[i - 1].first);
    CHECK(calls.back() == std::make_pair(r.size, r.size));
    // The default chunk (1 MiB, larger than the file) gives the same answer.
    TrailerResult d = checkTrailer(path);
    CHECK(d.complete);
    CHECK(d.sha256 == r.sha256);
  }
}

TEST_CASE("checkTrailer: a .part name is an incomplete save") {
  snapfix::TempDir t;
  auto data = snapfix::readAll(snapfix::dir() + "/etcd-3.5.db");
  auto r = checkTrailer(t.put("snap.db.part", data));
  CHECK_FALSE(r.complete);
  CHECK(r.failed == TrailerFailure::kPartName);
  CHECK(contains(r.reason, ".part"));
  CHECK(contains(r.reason, "interrupted or is still running"));
  // The same bytes under the final name are complete.
  CHECK(checkTrailer(t.put("snap.db", data)).complete);
}

TEST_CASE("checkTrailer: truncated files are refused by size or by hash") {
  snapfix::TempDir t;
  for (const char* name : snapfix::kNames) {
    INFO(name);
    auto data = snapfix::readAll(snapfix::dir() + "/" + name + ".db");
    const size_t n = data.size();
    // Cuts whose size is not 32 past a multiple of 512: no trailer.
    for (size_t cut : {size_t(0), size_t(1), size_t(31), size_t(100), n / 2 + 1, n - 1}) {
      INFO("cut to " << cut);
      auto r = checkTrailer(t.put("cut.db", data.substr(0, cut)));
      CHECK_FALSE(r.complete);
      CHECK(r.failed == TrailerFailure::kSize);
      CHECK(contains(r.reason, "size " + std::to_string(cut) + " bytes"));
      CHECK(r.sha256.empty());
    }
    // The trailer cut off: a bare bbolt db, whole pages.
    auto bare = checkTrailer(t.put("bare.db", data.substr(0, n - 32)));
    CHECK(bare.failed == TrailerFailure::kSize);
    CHECK(contains(bare.reason, "whole pages"));
    // Only a trailer.
    CHECK(checkTrailer(t.put("only.db", data.substr(n - 32))).failed == TrailerFailure::kSize);
    // One page missing at the end: the size still fits, the hash does not.
    auto page = checkTrailer(t.put("page.db", data.substr(0, n - 4096)));
    CHECK(page.failed == TrailerFailure::kHashMismatch);
  }
}

TEST_CASE("checkTrailer: a changed trailer or db byte is a hash mismatch") {
  snapfix::TempDir t;
  auto data = snapfix::readAll(snapfix::dir() + "/etcd-3.4.db");
  auto good = checkTrailer(snapfix::dir() + "/etcd-3.4.db");
  REQUIRE(good.complete);
  for (size_t at : {data.size() - 1, data.size() - 32, size_t(0), size_t(5000), data.size() - 33}) {
    INFO("byte " << at);
    auto bad = data;
    bad[at] = char(bad[at] ^ 0x40);
    auto r = checkTrailer(t.put("flip.db", bad));
    CHECK_FALSE(r.complete);
    CHECK(r.failed == TrailerFailure::kHashMismatch);
    // Expected is the hash of the db part, found is what the last 32 bytes hold (short hex).
    CHECK(contains(r.reason, "expected " + r.sha256.substr(0, 12)));
    CHECK(contains(r.reason, "found " + r.trailer.substr(0, 12)));
    CHECK(r.sha256 != r.trailer);
    if (at >= data.size() - 32) CHECK(r.sha256 == good.sha256);  // the db part is untouched
  }
}

TEST_CASE("checkTrailer: garbage files are refused") {
  snapfix::TempDir t;
  std::mt19937_64 rng(7);
  std::string noise(512 * 9 + 32, '\0');
  for (auto& c : noise) c = char(rng());
  auto r = checkTrailer(t.put("random.db", noise));
  CHECK(r.failed == TrailerFailure::kHashMismatch);
  auto z = checkTrailer(t.put("zeros.db", std::string(512 * 4 + 32, '\0')));
  CHECK(z.failed == TrailerFailure::kHashMismatch);
  // A file that really is the SHA-256 of some bytes after them passes this check: the trailer
  // only says the file is whole. The bbolt reader says whether it is a db.
  CHECK(checkTrailer(t.put("empty.db", "")).failed == TrailerFailure::kSize);
}

TEST_CASE("checkTrailer: missing files and directories") {
  snapfix::TempDir t;
  auto r = checkTrailer(t.file("nothing-here.db"));
  CHECK(r.failed == TrailerFailure::kOpen);
  CHECK(contains(r.reason, "No such file"));
  auto d = checkTrailer(t.file(""));
  CHECK(d.failed == TrailerFailure::kOpen);
  CHECK(contains(d.reason, "not a regular file"));
}

TEST_CASE("checkTrailer: the cancel flag stops it") {
  auto path = snapfix::dir() + "/etcd-3.5-other.db";
  std::atomic<bool> cancel{true};
  TrailerOptions o;
  o.cancel = &cancel;
  auto r = checkTrailer(path, o);
  CHECK(r.failed == TrailerFailure::kCancelled);
  CHECK(contains(r.reason, "after 0 of"));
  // Cancelled from the progress callback after the first chunk.
  cancel = false;
  o.chunk_bytes = 4096;
  o.progress = [&](uint64_t, uint64_t) { cancel = true; };
  r = checkTrailer(path, o);
  CHECK(r.failed == TrailerFailure::kCancelled);
  CHECK(contains(r.reason, "after 4096 of"));
  CHECK(r.sha256.empty());
}

TEST_CASE("checkTrailer: the throttle holds the byte rate") {
  auto path = snapfix::dir() + "/etcd-3.5.db";  // 24576 db bytes
  TrailerOptions o;
  o.chunk_bytes = 4096;
  o.bytes_per_second = 100000;
  auto r = checkTrailer(path, o);
  CHECK(r.complete);
  CHECK(r.elapsed_ms >= 230);  // 24576 bytes at 100 kB/s: 246 ms
  CHECK(r.elapsed_ms < 5000);
  auto fast = checkTrailer(path);
  CHECK(fast.complete);
  CHECK(fast.elapsed_ms < 200);
}
