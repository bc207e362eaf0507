#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "qw/snapshot/bbolt.h"
#include "qw/snapshot/sha256.h"
#include "qw/snapshot/snapshot_file.h"
#include "snapshot_fixture.h"

using qw::snapshot::BboltFailure;
using qw::snapshot::BboltOptions;
using qw::snapshot::EtcdSnapshotInfo;
using qw::snapshot::readEtcdSnapshot;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool anyNote(const EtcdSnapshotInfo& r, const std::string& part) {
  for (const auto& n : r.notes) {
    if (contains(n, part)) return true;
  }
  return false;
}

std::string fixturePath(const std::string& name) { return snapfix::dir() + "/" + name + ".db"; }

void putLe(std::string& s, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[at + size_t(i)] = char(v >> (8 * i));
}

std::string be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(v >> (56 - 8 * i));
  return s;
}
// An etcd revision key: main and sub big-endian around '_'.
std::string rev(uint64_t main, uint64_t sub = 0) { return be64(main) + "_" + be64(sub); }

// A protobuf mvccpb.KeyValue with key (1), mod_revision (3) and value (5), by hand.
std::string kv(const std::string& key, uint64_t mod, const std::string& value) {
  auto varint = [](uint64_t v) {
    std::string s;
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      s.push_back(char(v ? b | 0x80 : b));
    } while (v);
    return s;
  };
  std::string out = "\x0a" + varint(key.size()) + key;
  out += "\x18" + varint(mod);
  if (!value.empty()) out += "\x2a" + varint(value.size()) + value;
  return out;
}

// Builds bbolt files page by page, for the shapes real snapshots never have.
class DbBuilder {
 public:
  struct Elem {
    std::string key;
    std::string value;
    bool bucket = false;
  };

  explicit DbBuilder(size_t pages, uint32_t page_size = 4096)
      : ps_(page_size), data_(pages * page_size, '\0') {}

  void header(uint64_t id, uint16_t flags, uint16_t count, uint32_t overflow = 0) {
    size_t o = id * ps_;
    putLe(data_, o, id, 8);
    putLe(data_, o + 8, flags, 2);
    putLe(data_, o + 10, count, 2);
    putLe(data_, o + 12, overflow, 4);
  }

  static uint64_t fnv(const std::string& s, size_t at, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ uint8_t(s[at + i])) * 0x100000001b3ull;
    return h;
  }

  void meta(uint64_t id, uint64_t root, uint64_t pgid, uint64_t txid,
            uint64_t freelist = ~uint64_t(0)) {
    header(id, 0x04, 0);
    size_t m = id * ps_ + 16;
    putLe(data_, m, 0xED0CDAED, 4);
    putLe(data_, m + 4, 2, 4);
    putLe(data_, m + 8, ps_, 4);
    putLe(data_, m + 12, 0, 4);
    putLe(data_, m + 16, root, 8);
    putLe(data_, m + 24, 0, 8);
    putLe(data_, m + 32, freelist, 8);
    putLe(data_, m + 40, pgid, 8);
    putLe(data_, m + 48, txid, 8);
    putLe(data_, m + 56, fnv(data_, m, 56), 8);
  }
  void metas(uint64_t root, uint64_t pgid, uint64_t freelist = ~uint64_t(0)) {
    meta(0, root, pgid, 10, freelist);
    meta(1, root, pgid, 9, freelist);
  }

  // A leaf page's bytes (header and elements) for page id `id`, as a tree page or inline.
  static std::string leafBytes(uint64_t id, const std::vector<Elem>& elems) {
    std::string p(16 + 16 * elems.size(), '\0');
    putLe(p, 0, id, 8);
    putLe(p, 8, 0x02, 2);
    putLe(p, 10, elems.size(), 2);
    for (size_t i = 0; i < elems.size(); ++i) {
      size_t e = 16 + 16 * i;
      putLe(p, e, elems[i].bucket ? 1 : 0, 4);
      putLe(p, e + 4, p.size() - e, 4);
      putLe(p, e + 8, elems[i].key.size(), 4);
      putLe(p, e + 12, elems[i].value.size(), 4);
      p += elems[i].key + elems[i].value;
    }
    return p;
  }
  void leaf(uint64_t id, const std::vector<Elem>& elems) { place(id, leafBytes(id, elems)); }

  void branch(uint64_t id, const std::vector<std::pair<std::string, uint64_t>>& children) {
    std::string p(16 + 16 * children.size(), '\0');
    putLe(p, 0, id, 8);
    putLe(p, 8, 0x01, 2);
    putLe(p, 10, children.size(), 2);
    for (size_t i = 0; i < children.size(); ++i) {
      size_t e = 16 + 16 * i;
      putLe(p, e, p.size() - e, 4);
      putLe(p, e + 4, children[i].first.size(), 4);
      putLe(p, e + 8, children[i].second, 8);
      p += children[i].first;
    }
    place(id, p);
  }

  void freelist(uint64_t id, const std::vector<uint64_t>& ids, bool big_count = false) {
    std::string p(16, '\0');
    putLe(p, 0, id, 8);
    putLe(p, 8, 0x10, 2);
    putLe(p, 10, big_count ? 0xFFFF : ids.size(), 2);
    if (big_count) {
      p += std::string(8, '\0');
      putLe(p, 16, ids.size(), 8);
    }
    for (uint64_t v : ids) {
      p += std::string(8, '\0');
      putLe(p, p.size() - 8, v, 8);
    }
    place(id, p);
  }

  // A bucket's value: an inline bucket (its leaf inside) or a pointer to its root page.
  static std::string inlineBucket(const std::vector<Elem>& elems) {
    return std::string(16, '\0') + leafBytes(0, elems);
  }
  static std::string bucketAt(uint64_t root) {
    std::string v(16, '\0');
    putLe(v, 0, root, 8);
    return v;
  }

  std::string& bytes() { return data_; }
  // The db with the etcd trailer (its SHA-256) appended.
  std::string snapshot() const {
    auto d = qw::snapshot::Sha256::of(data_);
    return data_ + std::string(reinterpret_cast<const char*>(d.data()), d.size());
  }

 private:
  void place(uint64_t id, const std::string& page) {
    REQUIRE(page.size() <= ps_);
    data_.replace(id * ps_, page.size(), page);
  }

  uint32_t ps_;
  std::string data_;
};

// A small db with etcd's buckets: root leaf at page 2, `key` at page 3, the rest inline.
DbBuilder etcdLike(const std::vector<DbBuilder::Elem>& key_entries) {
  DbBuilder b(4);
  b.metas(2, 4);
  using E = DbBuilder::Elem;
  b.leaf(2, {E{"cluster", DbBuilder::inlineBucket({E{"clusterVersion", "3.5.0"}}), true},
             E{"key", DbBuilder::bucketAt(3), true},
             E{"members",
               DbBuilder::inlineBucket(
                   {E{"a1", R"({"id":161,"peerURLs":["http://10.0.0.1:2380"],"name":"pi-1"})"},
                    E{"b2", R"({"id":178,"peerURLs":["http://10.0.0.2:2380"],"isLearner":true})"},
                    E{"c3", R"({"id": 195, "name" : "pi \"three\"", "isLearner": false})"}}),
               true},
             E{"members_removed", DbBuilder::inlineBucket({E{"d4", "removed"}}), true},
             E{"meta",
               DbBuilder::inlineBucket({E{"consistent_index", be64(1234)},
                                        E{"finishedCompactRev", rev(3)},
                                        E{"scheduledCompactRev", rev(4)}, E{"term", be64(7)}}),
               true}});
  b.leaf(3, key_entries);
  return b;
}

std::vector<DbBuilder::Elem> someRevisions() {
  using E = DbBuilder::Elem;
  return {E{rev(2), kv("/a", 2, "1")},        E{rev(3), kv("/b", 3, "1")},
          E{rev(4), kv("/a", 4, "2")},        E{rev(5) + "t", kv("/b", 0, "")},
          E{rev(6, 0), kv("/c", 6, "1")},     E{rev(6, 1), kv("/d", 6, "1")},
          E{rev(7) + "t", kv("/c", 0, "")},   E{rev(8), kv("/c", 8, "again")},
          E{rev(9) + "t", kv("/gone", 0, "")}};
}

EtcdSnapshotInfo readBytes(const snapfix::TempDir& t, const std::string& data,
                           const BboltOptions& o = {}) {
  return readEtcdSnapshot(t.put("db", data), o);
}

}  // namespace

TEST_CASE("bbolt: the real snapshots read as etcd said") {
  for (const char* name : snapfix::kNames) {
    INFO(name);
    auto e = snapfix::expect(name);
    auto r = readEtcdSnapshot(fixturePath(name));
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.failed == BboltFailure::kNone);
    CHECK(r.error.empty());
    CHECK(r.notes.empty());
    CHECK(r.page_size == 4096);
    CHECK(r.db_bytes == snapfix::num(e, "status_total_size"));
    CHECK(r.high_water * r.page_size == r.db_bytes);
    // etcd persists no freelist: the pages not reached are its free pages.
    CHECK_FALSE(r.freelist_persisted);
    CHECK(r.pages_walked + r.pages_unreached == r.high_water);
    CHECK(r.missing_buckets.empty());
    // What etcdutl/etcdctl snapshot status printed.
    CHECK(r.revision == int64_t(snapfix::num(e, "status_revision")));
    CHECK(r.total_entries == snapfix::num(e, "status_total_key"));
    CHECK(r.status_hash == snapfix::num(e, "status_hash"));
    // What the running etcd said just before the save.
    CHECK(r.revision == int64_t(snapfix::num(e, "revision")));
    CHECK(r.live_keys_known);
    CHECK(r.live_keys == snapfix::num(e, "live_keys"));
    CHECK(r.compact_revision == int64_t(snapfix::num(e, "compact_revision")));
    CHECK(r.scheduled_compact_revision == r.compact_revision);
    REQUIRE(r.consistent_index.has_value());
    CHECK(*r.consistent_index == snapfix::num(e, "raft_index"));
    REQUIRE(r.members.size() == 1);
    CHECK(r.members[0].id == std::stoull(e["member_id"], nullptr, 16));
    CHECK(r.members[0].name == e["member_name"]);
    CHECK_FALSE(r.members[0].learner);
    CHECK(r.removed_members.empty());
    // totalKey counts every bucket's entries, not the live keys nor only `key`.
    CHECK(r.key_entries > r.live_keys);
    CHECK(r.key_entries < r.total_entries);
    CHECK(r.key_entries - r.tombstones >= r.live_keys);
    if (e["etcd_version"] == "3.4") {
      CHECK_FALSE(r.term.has_value());  // 3.4 keeps no term in meta
      CHECK(r.cluster_version == "3.4.0");
      CHECK(r.meta_keys == std::vector<std::string>{"consistent_index", "finishedCompactRev",
                                                    "scheduledCompactRev"});
    } else {
      REQUIRE(r.term.has_value());
      CHECK(*r.term == snapfix::num(e, "raft_term"));
      CHECK(r.cluster_version == "3.5.0");
      CHECK(r.meta_keys == std::vector<std::string>{"confState", "consistent_index",
                                                    "finishedCompactRev", "scheduledCompactRev",
                                                    "term"});
    }
  }
  // Two clusters: two member ids.
  auto a = readEtcdSnapshot(fixturePath("etcd-3.5"));
  auto b = readEtcdSnapshot(fixturePath("etcd-3.5-other"));
  REQUIRE(a.members.size() == 1);
  REQUIRE(b.members.size() == 1);
  CHECK(a.members[0].id != b.members[0].id);
  // The other cluster's key bucket has branch pages and a value over a page (overflow).
  CHECK(b.pages_walked > 10);
}

TEST_CASE("bbolt: the db without its trailer and a given db size read the same") {
  snapfix::TempDir t;
  auto data = snapfix::readAll(fixturePath("etcd-3.5-other"));
  auto want = readEtcdSnapshot(fixturePath("etcd-3.5-other"));
  auto bare = readBytes(t, data.substr(0, data.size() - 32));
  CHECK(bare.ok);
  CHECK(bare.db_bytes == data.size() - 32);
  CHECK(bare.revision == want.revision);
  CHECK(bare.status_hash == want.status_hash);
  BboltOptions o;
  o.db_bytes = data.size() - 32;
  auto given = readEtcdSnapshot(fixturePath("etcd-3.5-other"), o);
  CHECK(given.ok);
  CHECK(given.live_keys == want.live_keys);
  // A .part name or a flipped trailer is the trailer check's business: the db itself is sound.
  auto part = readBytes(t, data);
  CHECK(part.ok);
  auto flipped = data;
  flipped.back() = char(flipped.back() ^ 1);
  CHECK(readBytes(t, flipped).ok);
  CHECK(qw::snapshot::checkTrailer(t.put("x.db", flipped)).failed ==
        qw::snapshot::TrailerFailure::kHashMismatch);
  CHECK(qw::snapshot::checkTrailer(t.put("x.db.part", data)).failed ==
        qw::snapshot::TrailerFailure::kPartName);
}

TEST_CASE("bbolt: truncated snapshots are refused") {
  snapfix::TempDir t;
  for (const char* name : snapfix::kNames) {
    INFO(name);
    auto data = snapfix::readAll(fixturePath(name));
    const size_t db = data.size() - 32;
    for (size_t cut : {size_t(0), size_t(1), size_t(79), size_t(80), size_t(4096), size_t(4200),
                       size_t(8192), db / 2, db - 4096, db - 4096 + 32, db - 1}) {
      INFO("cut to " << cut);
      auto r = readBytes(t, data.substr(0, cut));
      CHECK_FALSE(r.ok);
      CHECK(r.failed == BboltFailure::kMeta);
      CHECK_FALSE(r.error.empty());
      if (cut >= 80) CHECK(contains(r.error, "past the end"));
    }
    // The trailer half gone: the db is whole.
    CHECK(readBytes(t, data.substr(0, db + 16)).ok);
  }
}

TEST_CASE("bbolt: one corrupt meta page reads with a note and both refuse") {
  snapfix::TempDir t;
  auto data = snapfix::readAll(fixturePath("etcd-3.5"));
  auto want = readEtcdSnapshot(fixturePath("etcd-3.5"));
  REQUIRE(want.meta_used == 0);  // WriteTo gives meta 1 the txid before meta 0's
  const size_t ps = 4096;

  auto m0 = data;
  m0[16 + 48] = char(m0[16 + 48] ^ 0x01);  // meta 0's txid: its checksum fails
  auto r0 = readBytes(t, m0);
  INFO(r0.error);
  REQUIRE(r0.ok);
  CHECK(r0.meta_used == 1);
  CHECK(r0.txid == want.txid - 1);
  CHECK(anyNote(r0, "meta page 0 is unusable (checksum"));
  CHECK(r0.revision == want.revision);
  CHECK(r0.live_keys == want.live_keys);

  auto m1 = data;
  m1[ps + 16 + 20] = char(m1[ps + 16 + 20] ^ 0x80);  // meta 1's root pgid
  auto r1 = readBytes(t, m1);
  REQUIRE(r1.ok);
  CHECK(r1.meta_used == 0);
  CHECK(anyNote(r1, "meta page 1 is unusable (checksum"));

  // Meta 0's page size damaged: meta 1 is found by trying the page sizes.
  auto ps0 = data;
  putLe(ps0, 16 + 8, 1000, 4);
  auto rp = readBytes(t, ps0);
  REQUIRE(rp.ok);
  CHECK(rp.meta_used == 1);
  CHECK(rp.page_size == 4096);

  auto magic = data;
  magic[16] = 'X';
  auto rm = readBytes(t, magic);
  REQUIRE(rm.ok);
  CHECK(anyNote(rm, "magic"));

  auto both = m0;
  both[ps + 16 + 20] = char(both[ps + 16 + 20] ^ 0x80);
  auto rb = readBytes(t, both);
  CHECK_FALSE(rb.ok);
  CHECK(rb.failed == BboltFailure::kMeta);
  CHECK(contains(rb.error, "no usable meta page: meta 0: checksum"));
  CHECK(contains(rb.error, "meta 1: checksum"));
}

TEST_CASE("bbolt: a damaged header or element array of any page in the tree is refused") {
  snapfix::TempDir t;
  for (const char* name : snapfix::kNames) {
    INFO(name);
    auto data = snapfix::readAll(fixturePath(name));
    auto want = readEtcdSnapshot(fixturePath(name));
    REQUIRE(want.ok);
    const size_t ps = want.page_size;
    uint64_t id_failures = 0, element_failures = 0;
    for (uint64_t p = 2; p < want.high_water; ++p) {
      INFO("page " << p);
      auto bad_id = data;
      putLe(bad_id, p * ps, p + 1000, 8);
      auto r = readBytes(t, bad_id);
      if (!r.ok) {
        ++id_failures;
        CHECK(r.failed == BboltFailure::kPage);
        CHECK(contains(r.error, "its header says page " + std::to_string(p + 1000)));
      }
      auto bad_elements = data;
      for (size_t i = 16; i < 48; ++i) bad_elements[p * ps + i] = char(0xff);
      auto e = readBytes(t, bad_elements);
      if (!e.ok) {
        ++element_failures;
        CHECK_FALSE(e.error.empty());
      }
    }
    // Every page reached but the metas, less the tails of overflowing pages (no header there:
    // the other cluster's 12000-byte value spans pages 15-17). Free pages are not read.
    uint64_t tails = std::string(name) == "etcd-3.5-other" ? 2 : 0;
    CHECK(id_failures == want.pages_walked - 2 - tails);
    CHECK(element_failures == id_failures);
  }
}

TEST_CASE("bbolt: random byte damage never crashes") {
  snapfix::TempDir t;
  std::mt19937_64 rng(1234);
  for (const char* name : snapfix::kNames) {
    auto data = snapfix::readAll(fixturePath(name));
    int refused = 0;
    for (int round = 0; round < 150; ++round) {
      auto bad = data;
      int flips = 1 + int(rng() % 8);
      for (int i = 0; i < flips; ++i) {
        size_t at = rng() % (data.size() - 32);
        bad[at] = char(rng());
      }
      auto r = readBytes(t, bad);
      if (!r.ok) {
        ++refused;
        CHECK_FALSE(r.error.empty());
        CHECK(r.failed != BboltFailure::kNone);
      }
    }
    // bbolt pages carry no checksum: damage in a value or a free page passes (the trailer is
    // what catches it); damage in headers and elements does not.
    CHECK(refused > 0);
  }
}

TEST_CASE("bbolt: garbage is refused") {
  snapfix::TempDir t;
  std::mt19937_64 rng(99);
  for (size_t n : {size_t(0), size_t(10), size_t(4096), size_t(4096 * 5 + 32), size_t(100000)}) {
    std::string noise(n, '\0');
    for (auto& c : noise) c = char(rng());
    auto r = readBytes(t, noise);
    CHECK_FALSE(r.ok);
    CHECK(r.failed == BboltFailure::kMeta);
    if (n >= 80) CHECK(contains(r.error, "magic"));
    auto z = readBytes(t, std::string(n, '\0'));
    CHECK(z.failed == BboltFailure::kMeta);
  }
  auto missing = readEtcdSnapshot(t.file("nothing.db"));
  CHECK(missing.failed == BboltFailure::kOpen);
  CHECK(contains(missing.error, "No such file"));
  CHECK(readEtcdSnapshot(t.file("")).failed == BboltFailure::kOpen);
}

TEST_CASE("bbolt: a sound meta pointing past the end is refused") {
  snapfix::TempDir t;
  DbBuilder b(4);
  b.metas(2, 1000);  // 1000 pages in use in a 4-page file
  b.leaf(2, {});
  auto r = readBytes(t, b.snapshot());
  CHECK(r.failed == BboltFailure::kMeta);
  CHECK(contains(r.error, "1000 pages of 4096 bytes are in use, past the end"));
  DbBuilder root(4);
  root.metas(7, 4);  // root bucket page outside the pages in use
  CHECK(contains(readBytes(t, root.snapshot()).error, "root bucket page 7 is outside"));
  DbBuilder fl(4);
  fl.metas(2, 4, 9);
  fl.leaf(2, {});
  CHECK(contains(readBytes(t, fl.snapshot()).error, "freelist page 9 is outside"));
}

TEST_CASE("bbolt: an etcd-like db built by hand yields every field") {
  snapfix::TempDir t;
  auto b = etcdLike(someRevisions());
  auto r = readBytes(t, b.snapshot());
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(r.buckets ==
        std::vector<std::string>{"cluster", "key", "members", "members_removed", "meta"});
  CHECK(r.missing_buckets.empty());
  CHECK(r.key_entries == 9);
  CHECK(r.tombstones == 3);
  // /a live (2), /b deleted, /c deleted then put again, /d live, /gone only a tombstone.
  CHECK(r.live_keys_known);
  CHECK(r.live_keys == 3);
  CHECK(r.revision == 9);
  CHECK(r.compact_revision == 3);
  CHECK(r.scheduled_compact_revision == 4);
  CHECK(r.consistent_index == std::optional<uint64_t>(1234));
  CHECK(r.term == std::optional<uint64_t>(7));
  CHECK(r.cluster_version == "3.5.0");
  REQUIRE(r.members.size() == 3);
  CHECK(r.members[0].id == 0xa1);
  CHECK(r.members[0].name == "pi-1");
  CHECK_FALSE(r.members[0].learner);
  CHECK(r.members[1].id == 0xb2);
  CHECK(r.members[1].name.empty());  // an unstarted learner has no name yet
  CHECK(r.members[1].learner);
  CHECK(r.members[2].name == "pi \"three\"");
  CHECK_FALSE(r.members[2].learner);
  CHECK(r.removed_members == std::vector<uint64_t>{0xd4});
  CHECK(r.total_entries == 1 + 9 + 3 + 1 + 4);
  CHECK(r.pages_walked == 4);

  // A finished compaction newer than every kept revision is the revision.
  auto c = etcdLike({DbBuilder::Elem{rev(2), kv("/a", 2, "1")}});
  auto rc = readBytes(t, c.snapshot());
  REQUIRE(rc.ok);
  CHECK(rc.revision == 3);
  CHECK(rc.live_keys == 1);
}

TEST_CASE("bbolt: an empty keyspace is at revision 1, as etcd restores it") {
  // A fresh etcd's snapshot: `key` is there but empty, meta has no compaction. etcd's store
  // starts at revision 1 and a restore of this file answers with header revision 1;
  // `snapshot status` prints 0.
  snapfix::TempDir t;
  using E = DbBuilder::Elem;
  auto fresh = [](std::vector<E> meta) {
    DbBuilder b(3);
    b.metas(2, 3);
    b.leaf(2, {E{"cluster", DbBuilder::inlineBucket({E{"clusterVersion", "3.4.0"}}), true},
               E{"key", DbBuilder::inlineBucket({}), true},
               E{"members", DbBuilder::inlineBucket({E{"a1", R"({"id":161,"name":"m1"})"}}), true},
               E{"meta", DbBuilder::inlineBucket(std::move(meta)), true}});
    return b;
  };
  auto r = readBytes(t, fresh({E{"consistent_index", be64(8)}}).snapshot());
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(r.missing_buckets.empty());
  CHECK(r.key_entries == 0);
  CHECK(r.live_keys_known);
  CHECK(r.live_keys == 0);
  CHECK(r.compact_revision == 0);
  CHECK(r.revision == 1);

  // Every key deleted and compacted away: the compaction's revision, not 1.
  auto c = readBytes(t, fresh({E{"consistent_index", be64(20)}, E{"finishedCompactRev", rev(12)},
                               E{"scheduledCompactRev", rev(12)}})
                            .snapshot());
  INFO(c.error);
  REQUIRE(c.ok);
  CHECK(c.key_entries == 0);
  CHECK(c.live_keys == 0);
  CHECK(c.revision == 12);
}

TEST_CASE("bbolt: missing etcd buckets are named") {
  snapfix::TempDir t;
  using E = DbBuilder::Elem;
  DbBuilder b(3);
  b.metas(2, 3);
  b.leaf(2, {E{"key", DbBuilder::inlineBucket({}), true}});
  auto r = readBytes(t, b.snapshot());
  REQUIRE(r.ok);
  CHECK(r.missing_buckets == std::vector<std::string>{"meta", "members"});
  CHECK(r.live_keys == 0);
  CHECK_FALSE(r.consistent_index.has_value());
  DbBuilder empty(3);
  empty.metas(2, 3);
  empty.leaf(2, {});
  auto re = readBytes(t, empty.snapshot());
  REQUIRE(re.ok);
  CHECK(re.missing_buckets == std::vector<std::string>{"key", "meta", "members"});
}

TEST_CASE("bbolt: page cycles and shared pages are refused") {
  snapfix::TempDir t;
  using E = DbBuilder::Elem;
  {
    DbBuilder b(4);  // root branch 2 -> branch 3 -> branch 2
    b.metas(2, 4);
    b.branch(2, {{"a", 3}});
    b.branch(3, {{"a", 2}});
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kTree);
    CHECK(contains(r.error, "page 2 is reached twice"));
  }
  {
    DbBuilder b(3);  // a branch that is its own child
    b.metas(2, 3);
    b.branch(2, {{"a", 2}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "page 2 is reached twice"));
  }
  {
    DbBuilder b(4);  // two elements of one branch share a leaf
    b.metas(2, 4);
    b.branch(2, {{"a", 3}, {"b", 3}});
    b.leaf(3, {E{"a", DbBuilder::inlineBucket({}), true}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "page 3 is reached twice"));
  }
  {
    DbBuilder b(4);  // two buckets share a root page
    b.metas(2, 4);
    b.leaf(2, {E{"a", DbBuilder::bucketAt(3), true}, E{"b", DbBuilder::bucketAt(3), true}});
    b.leaf(3, {E{"k", "v"}});
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kTree);
    CHECK(contains(r.error, "page 3 is reached twice"));
  }
  {
    DbBuilder b(3);  // a bucket whose root is the root bucket's page
    b.metas(2, 3);
    b.leaf(2, {E{"a", DbBuilder::bucketAt(2), true}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "page 2 is reached twice"));
  }
  {
    DbBuilder b(3);  // a bucket pointing at a meta page
    b.metas(2, 3);
    b.leaf(2, {E{"a", DbBuilder::bucketAt(1), true}});
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kPage);
    CHECK(contains(r.error, "points to page 1, a meta page"));
  }
}

TEST_CASE("bbolt: a chain of branches deeper than any real tree is refused") {
  snapfix::TempDir t;
  const uint64_t n = 200;
  DbBuilder b(n + 3);
  b.metas(2, n + 3);
  for (uint64_t p = 2; p < n + 2; ++p) b.branch(p, {{"a", p + 1}});
  b.leaf(n + 2, {});
  auto r = readBytes(t, b.snapshot());
  CHECK(r.failed == BboltFailure::kTree);
  CHECK(contains(r.error, "levels deep"));
}

TEST_CASE("bbolt: bad pages and elements and key order are refused") {
  snapfix::TempDir t;
  using E = DbBuilder::Elem;
  auto oneBucket = [](const std::vector<E>& elems) {
    DbBuilder b(4);
    b.metas(2, 4);
    b.leaf(2, {E{"b", DbBuilder::bucketAt(3), true}});
    b.leaf(3, elems);
    return b;
  };
  {
    auto b = oneBucket({E{"b", "1"}, E{"a", "2"}});
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kTree);
    CHECK(contains(r.error, "keys out of order"));
    CHECK(contains(r.error, "bucket \"b\""));
  }
  {
    auto b = oneBucket({E{"a", "1"}, E{"a", "2"}});  // a duplicate key
    CHECK(contains(readBytes(t, b.snapshot()).error, "keys out of order"));
  }
  {
    // Order across leaves: the second leaf starts before the first one ends.
    DbBuilder b(6);
    b.metas(2, 6);
    b.leaf(2, {E{"b", DbBuilder::bucketAt(3), true}});
    b.branch(3, {{"a", 4}, {"m", 5}});
    b.leaf(4, {E{"a", "1"}, E{"z", "2"}});
    b.leaf(5, {E{"m", "3"}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "keys out of order"));
  }
  {
    DbBuilder b(6);  // branch keys out of order
    b.metas(2, 6);
    b.leaf(2, {E{"b", DbBuilder::bucketAt(3), true}});
    b.branch(3, {{"m", 4}, {"a", 5}});
    b.leaf(4, {E{"m", "1"}});
    b.leaf(5, {E{"n", "3"}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "branch keys out of order"));
  }
  {
    DbBuilder b(7);  // unbalanced: a leaf and a branch under one branch
    b.metas(2, 7);
    b.leaf(2, {E{"b", DbBuilder::bucketAt(3), true}});
    b.branch(3, {{"a", 4}, {"m", 5}});
    b.leaf(4, {E{"a", "1"}});
    b.branch(5, {{"m", 6}});
    b.leaf(6, {E{"m", "1"}});
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kTree);
    CHECK(contains(r.error, "unbalanced"));
  }
  {
    auto b = oneBucket({E{"a", "1"}});
    b.header(3, 0x10, 1);  // a freelist where a leaf belongs
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kPage);
    CHECK(contains(r.error, "neither a branch (0x01) nor a leaf (0x02)"));
  }
  {
    auto b = oneBucket({E{"a", "1"}});
    putLe(b.bytes(), 3 * 4096 + 16 + 12, 5000, 4);  // the value runs off the page
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kPage);
    CHECK(contains(r.error, "runs past the page"));
  }
  {
    auto b = oneBucket({E{"a", "1"}, E{"b", "2"}});
    putLe(b.bytes(), 3 * 4096 + 16 + 4, 4, 4);  // the key inside the element array
    CHECK(contains(readBytes(t, b.snapshot()).error, "lies in the element array"));
  }
  {
    // Element 1 reads element 0's bytes again ("ax" after "a": in order, but overlapping). Left
    // in, one value could be read as the bucket of many elements, each of them again.
    auto b = oneBucket({E{"a", "x"}, E{"b", "y"}});
    putLe(b.bytes(), 3 * 4096 + 32 + 4, 16, 4);  // pos: back to element 0's data at byte 48
    putLe(b.bytes(), 3 * 4096 + 32 + 8, 2, 4);   // ksize
    putLe(b.bytes(), 3 * 4096 + 32 + 12, 0, 4);  // vsize
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kPage);
    CHECK(contains(r.error, "element 1's data at byte 48 overlaps the element before it"));
  }
  {
    auto b = oneBucket({E{"a", "1"}});
    b.header(3, 0x02, 300);  // more elements than the page holds
    CHECK(contains(readBytes(t, b.snapshot()).error, "300 elements do not fit"));
  }
  {
    auto b = oneBucket({E{"a", "1"}});
    b.header(3, 0x02, 1, 7);  // overflow past the pages in use
    CHECK(contains(readBytes(t, b.snapshot()).error, "spans 8 pages, past the 4 pages"));
  }
  {
    auto b = oneBucket({E{"a", "1"}});
    putLe(b.bytes(), 3 * 4096 + 16, 0x8, 4);  // unknown element flags
    CHECK(contains(readBytes(t, b.snapshot()).error, "unknown flags 0x8"));
  }
  {
    DbBuilder b(3);  // a plain key in the root bucket
    b.metas(2, 3);
    b.leaf(2, {E{"k", "v"}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "in the root bucket is not a bucket"));
  }
  {
    DbBuilder b(3);  // bucket values too short, inline pages that are no leaf
    b.metas(2, 3);
    b.leaf(2, {E{"a", "short", true}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "shorter than a bucket header"));
    std::string not_leaf = DbBuilder::inlineBucket({});
    putLe(not_leaf, 16 + 8, 0x01, 2);
    b.leaf(2, {E{"a", not_leaf, true}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "not a leaf's 0x02"));
    b.leaf(2, {E{"a", std::string(16, '\0') + "tiny", true}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "no page header"));
    std::string lying = DbBuilder::inlineBucket({E{"k", "v"}});
    putLe(lying, 16 + 10, 40, 2);  // 40 elements in a few bytes
    b.leaf(2, {E{"a", lying, true}});
    CHECK(contains(readBytes(t, b.snapshot()).error, "40 elements do not fit"));
  }
}

TEST_CASE("bbolt: etcd data that is not etcd's is refused") {
  snapfix::TempDir t;
  using E = DbBuilder::Elem;
  auto r = readBytes(t, etcdLike({E{"notarev", kv("/a", 2, "")}}).snapshot());
  CHECK(r.failed == BboltFailure::kEtcd);
  CHECK(contains(r.error, "is not a revision"));
  r = readBytes(t, etcdLike({E{rev(2), "\x0a\x7f"}}).snapshot());  // a key longer than the value
  CHECK(r.failed == BboltFailure::kEtcd);
  CHECK(contains(r.error, "not a KeyValue"));
  r = readBytes(t, etcdLike({E{rev(2), std::string("\x18\x05", 2)}}).snapshot());  // no key
  CHECK(contains(r.error, "not a KeyValue"));
  r = readBytes(t, etcdLike({E{rev(2) + "x", kv("/a", 2, "")}}).snapshot());  // not 't'
  CHECK(contains(r.error, "is not a revision"));

  DbBuilder b(3);
  b.metas(2, 3);
  b.leaf(2, {E{"meta", DbBuilder::inlineBucket({E{"consistent_index", "123"}}), true}});
  r = readBytes(t, b.snapshot());
  CHECK(r.failed == BboltFailure::kEtcd);
  CHECK(contains(r.error, "consistent_index is 3 bytes"));
  b.leaf(2, {E{"members", DbBuilder::inlineBucket({E{"xyz", "{}"}}), true}});
  CHECK(contains(readBytes(t, b.snapshot()).error, "not a hex member id"));
}

TEST_CASE("bbolt: a persisted freelist is read and checked") {
  snapfix::TempDir t;
  using E = DbBuilder::Elem;
  for (bool big : {false, true}) {
    DbBuilder b(7);
    b.metas(2, 7, 4);
    b.leaf(2, {E{"key", DbBuilder::bucketAt(3), true}});
    b.leaf(3, {E{rev(2), kv("/a", 2, "x")}});
    b.freelist(4, {5, 6}, big);
    auto r = readBytes(t, b.snapshot());
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.freelist_persisted);
    CHECK(r.pages_free == 2);
    CHECK(r.pages_walked == 5);
    CHECK(r.pages_unreached == 0);
    CHECK(r.notes.empty());
  }
  {
    DbBuilder b(7);  // page 6 neither used nor free
    b.metas(2, 7, 4);
    b.leaf(2, {});
    b.freelist(4, {3, 5});
    auto r = readBytes(t, b.snapshot());
    REQUIRE(r.ok);
    CHECK(anyNote(r, "neither in the tree nor in the freelist"));
  }
  {
    DbBuilder b(5);  // a free page in use
    b.metas(2, 5, 4);
    b.leaf(2, {E{"key", DbBuilder::bucketAt(3), true}});
    b.leaf(3, {});
    b.freelist(4, {3});
    auto r = readBytes(t, b.snapshot());
    CHECK(r.failed == BboltFailure::kTree);
    CHECK(contains(r.error, "page 3 (reached from bucket \"key\") is in the freelist"));
  }
  {
    DbBuilder b(5);  // the freelist lists itself, a meta page, a page past the end
    b.metas(2, 5, 4);
    b.leaf(2, {});
    b.freelist(4, {4});
    CHECK(contains(readBytes(t, b.snapshot()).error, "lists page 4, which is in use"));
    b.freelist(4, {3, 3});
    CHECK(contains(readBytes(t, b.snapshot()).error, "lists page 3, which is listed twice"));
    b.freelist(4, {1});
    CHECK(contains(readBytes(t, b.snapshot()).error, "lists page 1, a meta page"));
    b.freelist(4, {50});
    CHECK(contains(readBytes(t, b.snapshot()).error, "lists page 50, outside"));
    b.freelist(4, {});
    b.header(4, 0x10, 0xFFFF);
    putLe(b.bytes(), 4 * 4096 + 16, uint64_t(1) << 60, 8);  // a huge count
    CHECK(contains(readBytes(t, b.snapshot()).error, "ids do not fit"));
    b.header(4, 0x02, 0);
    CHECK(contains(readBytes(t, b.snapshot()).error, "not a freelist's 0x10"));
  }
}

TEST_CASE("bbolt: limits and cancel and throttle") {
  snapfix::TempDir t;
  auto path = fixturePath("etcd-3.5-other");
  auto want = readEtcdSnapshot(path);
  REQUIRE(want.ok);
  {
    BboltOptions o;
    o.max_key_table_bytes = 4096;  // smaller than the first table: counting is given up
    auto r = readEtcdSnapshot(path, o);
    REQUIRE(r.ok);
    CHECK_FALSE(r.live_keys_known);
    CHECK(r.live_keys == 0);
    CHECK(anyNote(r, "live keys not counted"));
    CHECK(r.key_entries == want.key_entries);
    CHECK(r.revision == want.revision);
    o.max_key_table_bytes = 8192;  // 1024 slots for 192 keys
    auto fits = readEtcdSnapshot(path, o);
    CHECK(fits.live_keys_known);
    CHECK(fits.live_keys == want.live_keys);
  }
  {
    BboltOptions o;
    o.max_page_bytes = 8192;  // the 12000-byte value's leaf spans 3 pages
    auto r = readEtcdSnapshot(path, o);
    CHECK(r.failed == BboltFailure::kLimit);
    CHECK(contains(r.error, "more than the reader's page limit (8192)"));
  }
  {
    BboltOptions o;
    o.max_held_bytes = 4096;
    auto r = readEtcdSnapshot(path, o);
    CHECK(r.failed == BboltFailure::kLimit);
  }
  {
    std::atomic<bool> cancel{true};
    BboltOptions o;
    o.cancel = &cancel;
    auto r = readEtcdSnapshot(path, o);
    CHECK(r.failed == BboltFailure::kCancelled);
  }
  {
    BboltOptions o;
    o.bytes_per_second = 100000;
    auto r = readEtcdSnapshot(path, o);
    REQUIRE(r.ok);
    // The walked pages (and two meta reads) at 100 kB/s.
    CHECK(r.elapsed_ms >= int64_t((r.pages_walked - 2) * 4096 * 1000 / 100000) - 20);
    CHECK(want.elapsed_ms < 200);
  }
}

TEST_CASE("bbolt: a refused file keeps no etcd data") {
  snapfix::TempDir t;
  auto data = snapfix::readAll(fixturePath("etcd-3.5-other"));
  data[7 * 4096 + 40] = char(data[7 * 4096 + 40] ^ 0xff);  // a child pgid of the key branch
  auto r = readBytes(t, data);
  CHECK(r.failed == BboltFailure::kPage);
  CHECK(contains(r.error, "of branch page 7 points to page"));
  CHECK(r.page_size == 4096);
  CHECK(r.pages_walked > 2);
  CHECK(r.buckets.empty());
  CHECK(r.revision == 0);
  CHECK(r.key_entries == 0);
  CHECK(r.cluster_version.empty());
}

TEST_CASE("bbolt: the live key count survives the key table growing") {
  // 3000 keys over 75 leaves under one branch; every third one deleted afterwards. The table
  // starts at 1024 slots and doubles twice.
  snapfix::TempDir t;
  using E = DbBuilder::Elem;
  const uint64_t keys = 3000, per_leaf = 40;
  std::vector<E> entries;
  uint64_t r = 1;
  for (uint64_t k = 0; k < keys; ++k)
    entries.push_back(E{rev(++r), kv("/k/" + std::to_string(k), r, "v")});
  for (uint64_t k = 0; k < keys; k += 3)
    entries.push_back(E{rev(++r) + "t", kv("/k/" + std::to_string(k), 0, "")});
  const uint64_t leaves = (entries.size() + per_leaf - 1) / per_leaf;
  REQUIRE(leaves < 200);  // one branch page holds them
  DbBuilder b(4 + leaves);
  b.metas(2, 4 + leaves);
  b.leaf(2, {E{"key", DbBuilder::bucketAt(3), true}});
  std::vector<std::pair<std::string, uint64_t>> children;
  for (uint64_t l = 0; l < leaves; ++l) {
    std::vector<E> part(
        entries.begin() + long(l * per_leaf),
        entries.begin() + long(std::min<uint64_t>(entries.size(), (l + 1) * per_leaf)));
    b.leaf(4 + l, part);
    children.emplace_back(part.front().key, 4 + l);
  }
  b.branch(3, children);
  auto res = readBytes(t, b.snapshot());
  INFO(res.error);
  REQUIRE(res.ok);
  CHECK(res.key_entries == entries.size());
  CHECK(res.tombstones == keys / 3);
  CHECK(res.live_keys_known);
  CHECK(res.live_keys == keys - keys / 3);
  CHECK(res.revision == int64_t(r));
  CHECK(res.pages_walked == 4 + leaves);
}
