#include "qw/snapshot/bbolt.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

#include "file_io.h"

namespace qw::snapshot {

namespace {

constexpr uint32_t kMagic = 0xED0CDAED;
constexpr uint32_t kVersion = 2;
constexpr uint16_t kBranchPage = 0x01;
constexpr uint16_t kLeafPage = 0x02;
constexpr uint16_t kMetaPage = 0x04;
constexpr uint16_t kFreelistPage = 0x10;
constexpr uint32_t kBucketElement = 0x01;
constexpr size_t kHeaderBytes = 16;
constexpr size_t kElementBytes = 16;
constexpr size_t kMetaBytes = 64;          // magic .. checksum
constexpr size_t kMetaSummedBytes = 56;    // magic .. txid: what the checksum covers
constexpr size_t kBucketHeaderBytes = 16;  // root pgid, sequence
constexpr uint64_t kNoFreelist = ~uint64_t(0);
constexpr uint32_t kMinPageSize = 512;
constexpr uint32_t kMaxPageSize = 65536;
constexpr size_t kTrailerBytes = 32;
// Tree levels and bucket nesting together. bbolt's trees are balanced and etcd nests no
// buckets, so a real file is a few levels deep; the bound keeps the recursion's stack small.
constexpr int kMaxDepth = 64;
// The revision of etcd's mvcc store before its first write.
constexpr int64_t kFirstRevision = 1;

uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t le64(const uint8_t* p) { return uint64_t(le32(p)) | uint64_t(le32(p + 4)) << 32; }
uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

uint64_t fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string num(uint64_t v) { return std::to_string(v); }

// A key as it reads in a message: printable ASCII as is (at most 40 characters), else hex.
std::string printable(std::string_view k) {
  bool text = !k.empty();
  for (char c : k) text = text && c >= 0x20 && c < 0x7f;
  if (text) return "\"" + std::string(k.substr(0, 40)) + (k.size() > 40 ? "...\"" : "\"");
  std::string out = "0x";
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < k.size() && i < 20; ++i) {
    out += kDigits[uint8_t(k[i]) >> 4];
    out += kDigits[uint8_t(k[i]) & 0xf];
  }
  return k.size() > 20 ? out + "..." : out;
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as `etcdutl snapshot status` hashes.
class Crc32c {
 public:
  Crc32c() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
      table_[i] = c;
    }
  }
  void update(std::string_view s) {
    for (char ch : s) crc_ = table_[(crc_ ^ uint8_t(ch)) & 0xff] ^ (crc_ >> 8);
  }
  uint32_t value() const { return ~crc_; }

 private:
  uint32_t table_[256];
  uint32_t crc_ = ~0u;
};

// Which user keys are live, by a 64-bit hash of the key rather than the key itself: a snapshot
// can hold millions of keys of up to 1.5 MiB and the agent has 64 MB, so 8 bytes a key in an
// open-addressing table is what memory allows. Two keys with the same hash would count as one;
// for a million keys the chance is about 1 in 10^7. Revisions arrive oldest first (the `key`
// bucket is sorted by revision), so the newest one seen decides.
class KeyTable {
 public:
  explicit KeyTable(size_t max_bytes) {
    max_slots_ = 16;
    while (max_slots_ * 2 <= max_bytes / sizeof(uint64_t)) max_slots_ *= 2;
  }
  // False when the table would outgrow its limit: it is then given up for good.
  bool set(uint64_t h, bool tombstone) {
    if (given_up_) return false;
    if ((used_ + 1) * 10 > slots_.size() * 7 && !grow()) return false;
    if (insert(slots_, h, tombstone)) ++used_;
    return true;
  }
  bool givenUp() const { return given_up_; }
  uint64_t live() const {
    uint64_t n = 0;
    for (uint64_t s : slots_) n += (s != 0 && !(s & 1)) ? 1 : 0;
    return n;
  }

 private:
  static uint64_t tag(uint64_t h) {
    uint64_t t = h & ~uint64_t(1);
    return t == 0 ? 2 : t;
  }
  static size_t slotOf(uint64_t h, size_t mask) {
    h ^= h >> 33;  // a finalizer, so the low bits depend on all of the hash
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return size_t(h) & mask;
  }
  // True when the key was new.
  static bool insert(std::vector<uint64_t>& slots, uint64_t h, bool tombstone) {
    size_t mask = slots.size() - 1;
    uint64_t t = tag(h);
    // The slot from the tag, not the hash: growing re-inserts tags.
    for (size_t i = slotOf(t, mask);; i = (i + 1) & mask) {
      if (slots[i] == 0) {
        slots[i] = t | (tombstone ? 1 : 0);
        return true;
      }
      if ((slots[i] & ~uint64_t(1)) == t) {
        slots[i] = t | (tombstone ? 1 : 0);
        return false;
      }
    }
  }
  bool grow() {
    size_t n = slots_.empty() ? 1024 : slots_.size() * 2;
    if (n > max_slots_) {
      given_up_ = true;
      std::vector<uint64_t>().swap(slots_);
      return false;
    }
    std::vector<uint64_t> next(n, 0);
    for (uint64_t s : slots_) {
      if (s != 0) insert(next, s & ~uint64_t(1), s & 1);
    }
    slots_.swap(next);
    return true;
  }

  std::vector<uint64_t> slots_;
  size_t used_ = 0;
  size_t max_slots_;
  bool given_up_ = false;
};

struct Meta {
  uint32_t page_size = 0;
  uint64_t root = 0;
  uint64_t freelist = 0;
  uint64_t pgid = 0;
  uint64_t txid = 0;
};

bool validPageSize(uint32_t ps) {
  return ps >= kMinPageSize && ps <= kMaxPageSize && (ps & (ps - 1)) == 0;
}

// The problem with the meta page in `p` (its header and meta: 16 + 64 bytes), "" when it is
// sound. Fills `m` either way.
std::string metaProblem(const uint8_t* p, uint64_t id, Meta* m) {
  const uint8_t* b = p + kHeaderBytes;
  m->page_size = le32(b + 8);
  m->root = le64(b + 16);
  m->freelist = le64(b + 32);
  m->pgid = le64(b + 40);
  m->txid = le64(b + 48);
  if (le32(b) != kMagic) {
    return "magic " + hex(le32(b)) + " is not bbolt's 0xed0cdaed (not a bbolt file, or damaged)";
  }
  uint64_t sum = fnv1a64(b, kMetaSummedBytes);
  if (sum != le64(b + kMetaSummedBytes)) {
    return "checksum " + hex(le64(b + kMetaSummedBytes)) + " does not match its contents (" +
           hex(sum) + "): the page is damaged";
  }
  if (le64(p) != id) return "its header says page " + num(le64(p)) + ", not " + num(id);
  if (le16(p + 8) != kMetaPage) return "flags " + hex(le16(p + 8)) + " are not a meta page's";
  if (le32(b + 4) != kVersion) return "version " + num(le32(b + 4)) + ", not bbolt's 2";
  if (!validPageSize(m->page_size)) {
    return "page size " + num(m->page_size) + " is not a power of two from 512 to 65536";
  }
  return "";
}

// What a bucket walk needs to know of the bucket it is in.
struct BucketCtx {
  std::string_view name;  // "" for the root bucket
  int level = 0;          // 0: the root bucket, 1: a bucket in it, ...
  std::string last_key;   // for the order check across pages
  bool have_last = false;
  int leaf_level = -1;  // the tree level of its leaves, once one was seen
};

std::string bucketName(const BucketCtx& b) {
  return b.level == 0 ? "the root bucket" : "bucket " + printable(b.name);
}

// Memory held for a page or a child list, counted against max_held_bytes.
class Held {
 public:
  Held(size_t* counter, size_t bytes) : counter_(counter), bytes_(bytes) { *counter_ += bytes; }
  ~Held() { release(); }
  void release() {
    *counter_ -= bytes_;
    bytes_ = 0;
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

 private:
  size_t* counter_;
  size_t bytes_;
};

// Reads what etcd keeps from the entries the walk yields.
class EtcdCollector {
 public:
  EtcdCollector(EtcdSnapshotInfo* info, size_t max_key_table_bytes)
      : info_(info), keys_(max_key_table_bytes) {}

  // One entry of a bucket at `level` (0: a root bucket's name). "" when fine, else the problem.
  std::string entry(const BucketCtx& b, std::string_view key, std::string_view value,
                    bool is_bucket) {
    if (b.level == 0) {
      info_->buckets.emplace_back(key);
      crc_.update(key);
      return "";
    }
    if (b.level > 1) {
      if (!nested_noted_) {
        info_->notes.push_back("buckets nested below " + printable(b.name) +
                               ": etcd writes none; not read as etcd data");
        nested_noted_ = true;
      }
      return "";
    }
    ++info_->total_entries;
    crc_.update(key);
    if (!is_bucket) crc_.update(value);
    if (is_bucket) return "";
    if (b.name == "key") return keyEntry(key, value);
    if (b.name == "meta") return metaEntry(key, value);
    if (b.name == "members") return memberEntry(key, value);
    if (b.name == "members_removed") {
      auto id = hexId(key);
      if (!id) return "members_removed key " + printable(key) + " is not a hex member id";
      info_->removed_members.push_back(*id);
      return "";
    }
    if (b.name == "cluster" && key == "clusterVersion") info_->cluster_version = value;
    return "";
  }

  void finish() {
    info_->status_hash = crc_.value();
    info_->live_keys_known = !keys_.givenUp();
    info_->live_keys = info_->live_keys_known ? keys_.live() : 0;
    if (!info_->live_keys_known) {
      info_->notes.push_back("live keys not counted: more distinct keys than the key table's " +
                             num(table_bytes_) + " bytes hold (BboltOptions.max_key_table_bytes)");
    }
    if (compact_finished_ > info_->revision) info_->revision = compact_finished_;
    // etcd's store starts at revision 1 (its first write is 2) and a restore starts counting
    // from there, so an empty keyspace restores, and runs, at revision 1. `snapshot status`
    // prints 0 for it: it reports only the last key's revision.
    if (info_->revision < kFirstRevision) info_->revision = kFirstRevision;
  }

  void setTableBytes(size_t b) { table_bytes_ = b; }

 private:
  // A revision key: 8 bytes big-endian main, '_', 8 bytes big-endian sub (17 bytes).
  static bool revision(std::string_view k, int64_t* main) {
    if (k.size() < 17 || k[8] != '_') return false;
    uint64_t m = be64(reinterpret_cast<const uint8_t*>(k.data()));
    if (m > uint64_t(INT64_MAX)) return false;
    *main = int64_t(m);
    return true;
  }

  static std::optional<uint64_t> hexId(std::string_view s) {
    if (s.empty() || s.size() > 16) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return std::nullopt;
      v = v << 4 | uint64_t(d);
    }
    return v;
  }

  // Field 1 (key) of an mvccpb.KeyValue: protobuf wire format, read by hand.
  static bool kvKey(std::string_view v, std::string_view* key) {
    size_t i = 0;
    auto varint = [&](uint64_t* out) {
      uint64_t x = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (i >= v.size()) return false;
        uint8_t c = uint8_t(v[i++]);
        x |= uint64_t(c & 0x7f) << shift;
        if (!(c & 0x80)) {
          *out = x;
          return true;
        }
      }
      return false;
    };
    bool found = false;
    while (i < v.size()) {
      uint64_t tag = 0, n = 0;
      if (!varint(&tag)) return false;
      switch (tag & 7) {
        case 0:
          if (!varint(&n)) return false;
          break;
        case 1:
          if (v.size() - i < 8) return false;
          i += 8;
          break;
        case 2:
          if (!varint(&n) || n > v.size() - i) return false;
          if (tag >> 3 == 1) {
            *key = v.substr(i, size_t(n));
            found = true;
          }
          i += size_t(n);
          break;
        case 5:
          if (v.size() - i < 4) return false;
          i += 4;
          break;
        default:
          return false;  // groups (3, 4) and 6, 7: not in a KeyValue
      }
    }
    return found;
  }

  std::string keyEntry(std::string_view k, std::string_view v) {
    int64_t main = 0;
    bool tombstone = k.size() == 18 && k[17] == 't';
    if ((k.size() != 17 && !tombstone) || !revision(k, &main)) {
      return "key bucket key " + printable(k) +
             " is not a revision (8 bytes, '_', 8 bytes, maybe 't')";
    }
    std::string_view user;
    if (!kvKey(v, &user)) {
      return "key bucket revision " + num(uint64_t(main)) +
             ": the value is not a KeyValue with a key (protobuf field 1)";
    }
    ++info_->key_entries;
    if (tombstone) ++info_->tombstones;
    if (main > info_->revision) info_->revision = main;
    keys_.set(fnv1a64(reinterpret_cast<const uint8_t*>(user.data()), user.size()), tombstone);
    return "";
  }

  std::string metaEntry(std::string_view k, std::string_view v) {
    info_->meta_keys.emplace_back(k);
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    if (k == "consistent_index" || k == "term") {
      if (v.size() != 8) {
        return "meta " + std::string(k) + " is " + num(v.size()) + " bytes, not a u64's 8";
      }
      (k == "term" ? info_->term : info_->consistent_index) = be64(p);
    } else if (k == "finishedCompactRev" || k == "scheduledCompactRev") {
      int64_t rev = 0;
      if (v.size() != 17 || !revision(v, &rev)) {
        return "meta " + std::string(k) + " is not a revision (" + num(v.size()) + " bytes)";
      }
      if (k == "finishedCompactRev") {
        compact_finished_ = info_->compact_revision = rev;
      } else {
        info_->scheduled_compact_revision = rev;
      }
    }
    return "";
  }

  // A JSON string's value after "field": in `json` (a tolerant scan, not a JSON parser).
  static std::optional<std::string> jsonString(std::string_view json, std::string_view field) {
    std::string pat = "\"" + std::string(field) + "\"";
    size_t i = json.find(pat);
    if (i == std::string_view::npos) return std::nullopt;
    i += pat.size();
    while (i < json.size() && (json[i] == ' ' || json[i] == ':' || json[i] == '\t')) ++i;
    if (i >= json.size() || json[i] != '"') return std::nullopt;
    std::string out;
    for (++i; i < json.size() && json[i] != '"'; ++i) {
      char c = json[i];
      if (c == '\\' && i + 1 < json.size()) {
        char e = json[++i];
        if (e == 'n') {
          c = '\n';
        } else if (e == 't') {
          c = '\t';
        } else if (e == 'u') {
          c = '?';  // not decoded: member names are plain
          i += std::min<size_t>(4, json.size() - 1 - i);
        } else {
          c = e;  // \" \\ \/
        }
      }
      out += c;
    }
    return out;
  }

  std::string memberEntry(std::string_view k, std::string_view v) {
    auto id = hexId(k);
    if (!id) return "members key " + printable(k) + " is not a hex member id";
    EtcdMember m;
    m.id = *id;
    if (auto name = jsonString(v, "name")) m.name = *name;
    size_t l = v.find("\"isLearner\"");
    if (l != std::string_view::npos) {
      l += 11;
      while (l < v.size() && (v[l] == ' ' || v[l] == ':')) ++l;
      m.learner = v.substr(l, 4) == "true";
    }
    info_->members.push_back(std::move(m));
    return "";
  }

  EtcdSnapshotInfo* info_;
  KeyTable keys_;
  Crc32c crc_;
  int64_t compact_finished_ = 0;
  bool nested_noted_ = false;
  size_t table_bytes_ = 0;
};

class Reader {
 public:
  Reader(int fd, const BboltOptions& o, EtcdSnapshotInfo* info)
      : fd_(fd),
        o_(o),
        info_(info),
        throttle_(o.bytes_per_second),
        etcd_(info, o.max_key_table_bytes) {
    etcd_.setTableBytes(o.max_key_table_bytes);
  }

  bool run() {
    if (!openMeta()) return false;
    used_.assign(size_t(hwm_), false);
    free_.assign(size_t(hwm_), false);
    used_[0] = used_[1] = true;
    info_->pages_walked = 2;
    if (meta_.freelist != kNoFreelist && !readFreelist()) return false;
    BucketCtx root;
    if (!walkTree(meta_.root, root, 1, 0, "the meta's root bucket")) return false;
    etcd_.finish();
    info_->pages_unreached = hwm_ - info_->pages_walked - info_->pages_free;
    if (info_->freelist_persisted && info_->pages_unreached > 0) {
      info_->notes.push_back(num(info_->pages_unreached) +
                             " pages are neither in the tree nor in the freelist (leaked)");
    }
    return true;
  }

 private:
  bool fail(BboltFailure f, std::string why) {
    if (info_->failed == BboltFailure::kNone) {
      info_->failed = f;
      info_->error = std::move(why);
    }
    return false;
  }

  // Exactly `n` bytes at `off` of the db part.
  bool read(uint64_t off, uint8_t* buf, size_t n) {
    if (o_.cancel && o_.cancel->load()) {
      return fail(BboltFailure::kCancelled, "cancelled at byte " + num(off));
    }
    if (off > info_->db_bytes || n > info_->db_bytes - off) {
      return fail(BboltFailure::kRead, "bytes " + num(off) + ".." + num(off + n) +
                                           " are past the end of the db (" + num(info_->db_bytes) +
                                           " bytes)");
    }
    ssize_t got = detail::preadFull(fd_, buf, n, off);
    if (got < 0) {
      return fail(BboltFailure::kRead,
                  "read failed at byte " + num(off) + ": " + detail::errnoText(errno));
    }
    if (size_t(got) < n) {
      return fail(BboltFailure::kRead, "the file ended at byte " + num(off + uint64_t(got)) +
                                           " while reading " + num(n) + " bytes at " + num(off));
    }
    if (o_.drop_cache) ::posix_fadvise(fd_, off_t(off), off_t(n), POSIX_FADV_DONTNEED);
    throttle_.account(n);
    return true;
  }

  bool openMeta() {
    uint8_t buf[kHeaderBytes + kMetaBytes];
    if (info_->db_bytes < sizeof buf) {
      return fail(BboltFailure::kMeta,
                  "the db is " + num(info_->db_bytes) + " bytes: too small for a bbolt meta page");
    }
    Meta m[2];
    std::string problem[2];
    if (!read(0, buf, sizeof buf)) return false;
    problem[0] = metaProblem(buf, 0, &m[0]);
    // Meta 1 is one page in; the page size is meta 0's, or when meta 0 is bad, whichever page
    // size finds a sound meta 1.
    std::vector<uint32_t> sizes;
    if (validPageSize(m[0].page_size)) sizes.push_back(m[0].page_size);
    if (!problem[0].empty()) {
      for (uint32_t ps = kMinPageSize; ps <= kMaxPageSize; ps *= 2) {
        if (ps != m[0].page_size) sizes.push_back(ps);
      }
    }
    problem[1] = problem[0].empty() ? "the db ends before it"
                                    : "no sound meta 1 at any page size from 512 to 65536";
    for (uint32_t ps : sizes) {
      if (uint64_t(ps) + sizeof buf > info_->db_bytes) continue;
      if (!read(ps, buf, sizeof buf)) return false;
      Meta cand;
      std::string p = metaProblem(buf, 1, &cand);
      if (p.empty() && cand.page_size != ps) {
        p = "its page size " + num(cand.page_size) + " is not its offset " + num(ps);
      }
      if (p.empty() || ps == sizes.front()) {
        problem[1] = p;
        m[1] = cand;
      }
      if (p.empty()) break;
    }
    for (int i = 0; i < 2; ++i) {
      if (problem[i].empty()) problem[i] = pointerProblem(m[i]);
    }
    int use = -1;
    for (int i = 0; i < 2; ++i) {
      if (problem[i].empty() && (use < 0 || m[i].txid > m[use].txid)) use = i;
    }
    if (use < 0) {
      return fail(BboltFailure::kMeta,
                  "no usable meta page: meta 0: " + problem[0] + "; meta 1: " + problem[1]);
    }
    int other = 1 - use;
    if (!problem[other].empty()) {
      info_->notes.push_back("meta page " + num(uint64_t(other)) + " is unusable (" +
                             problem[other] + "); meta " + num(uint64_t(use)) + " (txid " +
                             num(m[use].txid) + ") used");
    }
    meta_ = m[use];
    ps_ = meta_.page_size;
    hwm_ = meta_.pgid;
    info_->meta_used = use;
    info_->page_size = ps_;
    info_->txid = meta_.txid;
    info_->high_water = hwm_;
    info_->freelist_persisted = meta_.freelist != kNoFreelist;
    if (hwm_ * ps_ < info_->db_bytes) {
      info_->notes.push_back("the db has " + num(info_->db_bytes - hwm_ * ps_) +
                             " bytes past its last page in use");
    }
    return true;
  }

  // A sound meta's pointers against the file: "" when they fit.
  std::string pointerProblem(const Meta& m) const {
    uint64_t pages = info_->db_bytes / m.page_size;
    if (m.pgid > pages) {
      return "it says " + num(m.pgid) + " pages of " + num(m.page_size) +
             " bytes are in use, past the end of the " + num(info_->db_bytes) +
             "-byte db (truncated?)";
    }
    if (m.root < 2 || m.root >= m.pgid) {
      return "its root bucket page " + num(m.root) + " is outside the " + num(m.pgid) +
             " pages in use";
    }
    if (m.freelist != kNoFreelist && (m.freelist < 2 || m.freelist >= m.pgid)) {
      return "its freelist page " + num(m.freelist) + " is outside the " + num(m.pgid) +
             " pages in use";
    }
    // The page-use bitmaps take 2 bits a page: bounded by the held-memory limit too.
    if (m.pgid / 4 > o_.max_held_bytes) {
      return num(m.pgid) + " pages in use: more than the reader's memory limit tracks";
    }
    return "";
  }

  // Marks page `id` and its overflow pages as used. `where` names who points to it.
  bool claim(uint64_t id, uint64_t overflow, const std::string& where) {
    for (uint64_t p = id; p <= id + overflow; ++p) {
      if (free_[size_t(p)]) {
        return fail(BboltFailure::kTree, "page " + num(p) + " (reached from " + where +
                                             ") is in the freelist: a free page in use");
      }
      if (used_[size_t(p)]) {
        return fail(BboltFailure::kTree, "page " + num(p) + " is reached twice (again from " +
                                             where + "): a cycle, or a page shared by two parents");
      }
      used_[size_t(p)] = true;
      ++info_->pages_walked;
    }
    return true;
  }

  // Reads page `id` with its overflow into `out` after checking where it may be.
  bool loadPage(uint64_t id, std::vector<uint8_t>* out, const std::string& where) {
    if (id < 2 || id >= hwm_) {
      return fail(BboltFailure::kPage,
                  where + " points to page " + num(id) + ", " +
                      (id < 2 ? "a meta page" : "outside the " + num(hwm_) + " pages in use"));
    }
    out->resize(ps_);
    if (!read(id * ps_, out->data(), ps_)) return false;
    const uint8_t* h = out->data();
    if (le64(h) != id) {
      return fail(BboltFailure::kPage, "page " + num(id) + " (from " + where +
                                           "): its header says page " + num(le64(h)) +
                                           " (damaged, or not the page the tree expects)");
    }
    uint64_t overflow = le32(h + 12);
    if (overflow >= hwm_ - id) {
      return fail(BboltFailure::kPage, "page " + num(id) + " spans " + num(overflow + 1) +
                                           " pages, past the " + num(hwm_) + " pages in use");
    }
    if (overflow + 1 > o_.max_page_bytes / ps_) {
      return fail(BboltFailure::kLimit, "page " + num(id) + " spans " + num((overflow + 1) * ps_) +
                                            " bytes, more than the reader's page limit (" +
                                            num(o_.max_page_bytes) + ")");
    }
    if (!claim(id, overflow, where)) return false;
    if (overflow > 0) {
      out->resize(size_t((overflow + 1) * ps_));
      if (!read((id + 1) * ps_, out->data() + ps_, size_t(overflow * ps_))) return false;
    }
    return true;
  }

  bool tooDeep(int depth, const std::string& where) {
    if (depth <= kMaxDepth) return false;
    fail(BboltFailure::kTree, where + " is more than " + num(kMaxDepth) +
                                  " levels deep: no real tree is, a crafted or damaged file");
    return true;
  }

  bool heldTooMuch(const std::string& where) {
    if (held_ <= o_.max_held_bytes) return false;
    fail(BboltFailure::kLimit, "at " + where + " the reader holds " + num(held_) +
                                   " bytes of pages, more than its limit (" +
                                   num(o_.max_held_bytes) + ")");
    return true;
  }

  // The subtree of bucket `b` at page `id`, `level` pages below the bucket's root.
  bool walkTree(uint64_t id, BucketCtx& b, int depth, int level, const std::string& where) {
    if (tooDeep(depth, where)) return false;
    std::vector<uint8_t> page;
    if (!loadPage(id, &page, where)) return false;
    Held held(&held_, page.size());
    if (heldTooMuch("page " + num(id))) return false;
    uint16_t flags = le16(page.data() + 8);
    std::string here = "page " + num(id) + " of " + bucketName(b);
    if (flags == kLeafPage) {
      if (b.leaf_level >= 0 && b.leaf_level != level) {
        return fail(BboltFailure::kTree, here + " is a leaf " + num(uint64_t(level)) +
                                             " levels down, the bucket's other leaves " +
                                             num(uint64_t(b.leaf_level)) + ": unbalanced");
      }
      b.leaf_level = level;
      return walkLeaf(page.data(), page.size(), b, depth, here);
    }
    if (flags != kBranchPage) {
      return fail(BboltFailure::kPage, here + " has flags " + hex(flags) +
                                           ": neither a branch (0x01) nor a leaf (0x02) page");
    }
    if (b.leaf_level >= 0 && level >= b.leaf_level) {
      return fail(BboltFailure::kTree, here + " is a branch " + num(uint64_t(level)) +
                                           " levels down, where the bucket has leaves: unbalanced");
    }
    size_t count = le16(page.data() + 10);
    if (count == 0) return fail(BboltFailure::kPage, here + " is a branch with no elements");
    if (!elementsFit(count, page.size(), here)) return false;
    std::vector<uint64_t> children;
    children.reserve(count);
    std::string_view prev;
    uint64_t data_end = 0;
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* e = page.data() + kHeaderBytes + i * kElementBytes;
      std::string_view key;
      if (!elementKey(page.data(), page.size(), count, i, le32(e), le32(e + 4), 0, &data_end, &key,
                      here)) {
        return false;
      }
      if (i > 0 && !(prev < key)) {
        return fail(BboltFailure::kTree, here + ": branch keys out of order at element " + num(i) +
                                             " (" + printable(key) + ")");
      }
      prev = key;
      children.push_back(le64(e + 8));
    }
    // The children's ids are all that is needed from here on: the page goes before descending.
    Held held_children(&held_, children.size() * sizeof(uint64_t));
    std::vector<uint8_t>().swap(page);
    held.release();
    for (size_t i = 0; i < children.size(); ++i) {
      if (!walkTree(children[i], b, depth + 1, level + 1,
                    "element " + num(i) + " of branch page " + num(id))) {
        return false;
      }
    }
    return true;
  }

  bool elementsFit(size_t count, size_t span, const std::string& here) {
    if (kHeaderBytes + count * kElementBytes <= span) return true;
    return fail(BboltFailure::kPage,
                here + ": " + num(count) + " elements do not fit in its " + num(span) + " bytes");
  }

  // Element i's key (and for a leaf, value of `vsize` bytes right after it) inside the page.
  // bbolt writes the elements' data one after the other behind the element array; `data_end`
  // is where the previous element's ended. Data that overlaps would let one value be read as
  // many nested buckets (work exponential in the depth): refused.
  bool elementKey(const uint8_t* page, size_t span, size_t count, size_t i, uint64_t pos,
                  uint64_t ksize, uint64_t vsize, uint64_t* data_end, std::string_view* key,
                  const std::string& here) {
    uint64_t at = kHeaderBytes + i * kElementBytes + pos;
    if (at < kHeaderBytes + count * kElementBytes) {
      return fail(BboltFailure::kPage, here + ": element " + num(i) + "'s key at byte " + num(at) +
                                           " lies in the element array");
    }
    if (at > span || ksize > span - at || vsize > span - at - ksize) {
      return fail(BboltFailure::kPage, here + ": element " + num(i) + " (key " + num(ksize) +
                                           " bytes, value " + num(vsize) + " at byte " + num(at) +
                                           ") runs past the page's " + num(span) + " bytes");
    }
    if (at < *data_end) {
      return fail(BboltFailure::kPage, here + ": element " + num(i) + "'s data at byte " + num(at) +
                                           " overlaps the element before it (to byte " +
                                           num(*data_end) + ")");
    }
    if (ksize == 0) {
      return fail(BboltFailure::kPage, here + ": element " + num(i) + " has an empty key");
    }
    *data_end = at + ksize + vsize;
    *key = std::string_view(reinterpret_cast<const char*>(page) + at, size_t(ksize));
    return true;
  }

  // The elements of a leaf page (a tree page or an inline bucket's) of bucket `b`.
  bool walkLeaf(const uint8_t* page, size_t span, BucketCtx& b, int depth,
                const std::string& here) {
    size_t count = le16(page + 10);
    if (!elementsFit(count, span, here)) return false;
    uint64_t data_end = 0;
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* e = page + kHeaderBytes + i * kElementBytes;
      uint32_t flags = le32(e);
      uint32_t vsize = le32(e + 12);
      std::string_view key;
      if (!elementKey(page, span, count, i, le32(e + 4), le32(e + 8), vsize, &data_end, &key,
                      here)) {
        return false;
      }
      std::string_view value(key.data() + key.size(), vsize);
      if (flags & ~kBucketElement) {
        return fail(BboltFailure::kPage,
                    here + ": element " + num(i) + " has unknown flags " + hex(flags));
      }
      if (b.have_last && !(std::string_view(b.last_key) < key)) {
        return fail(BboltFailure::kTree, here + ": key " + printable(key) +
                                             " is not after the one before it (" +
                                             printable(b.last_key) + "): keys out of order");
      }
      b.last_key.assign(key);
      b.have_last = true;
      bool is_bucket = flags & kBucketElement;
      if (b.level == 0 && !is_bucket) {
        return fail(BboltFailure::kTree,
                    here + ": " + printable(key) + " in the root bucket is not a bucket");
      }
      std::string problem = etcd_.entry(b, key, value, is_bucket);
      if (!problem.empty()) return fail(BboltFailure::kEtcd, problem);
      if (is_bucket && !walkBucket(b, key, value, depth + 1)) return false;
    }
    return true;
  }

  // The bucket named `name` whose header is `value`, inside bucket `parent`.
  bool walkBucket(const BucketCtx& parent, std::string_view name, std::string_view value,
                  int depth) {
    BucketCtx b;
    b.name = name;
    b.level = parent.level + 1;
    std::string where = bucketName(b);
    if (parent.level > 0) where += " in " + bucketName(parent);
    if (tooDeep(depth, where)) return false;
    if (value.size() < kBucketHeaderBytes) {
      return fail(BboltFailure::kPage, where + ": its value is " + num(value.size()) +
                                           " bytes, shorter than a bucket header");
    }
    const auto* v = reinterpret_cast<const uint8_t*>(value.data());
    uint64_t root = le64(v);
    if (root != 0) return walkTree(root, b, depth + 1, 0, where);
    // Inline: a leaf page inside the value.
    const uint8_t* page = v + kBucketHeaderBytes;
    size_t span = value.size() - kBucketHeaderBytes;
    std::string here = "inline " + where;
    if (span < kHeaderBytes) {
      return fail(BboltFailure::kPage, here + ": " + num(span) + " bytes, no page header");
    }
    if (le16(page + 8) != kLeafPage) {
      return fail(BboltFailure::kPage,
                  here + ": page flags " + hex(le16(page + 8)) + ", not a leaf's 0x02");
    }
    return walkLeaf(page, span, b, depth + 1, here);
  }

  bool readFreelist() {
    std::vector<uint8_t> page;
    if (!loadPage(meta_.freelist, &page, "the meta's freelist")) return false;
    std::string here = "freelist page " + num(meta_.freelist);
    if (le16(page.data() + 8) != kFreelistPage) {
      return fail(BboltFailure::kPage,
                  here + " has flags " + hex(le16(page.data() + 8)) + ", not a freelist's 0x10");
    }
    uint64_t count = le16(page.data() + 10);
    size_t at = kHeaderBytes;
    if (count == 0xFFFF) {
      if (page.size() < kHeaderBytes + 8) return fail(BboltFailure::kPage, here + ": no count");
      count = le64(page.data() + kHeaderBytes);
      at += 8;
    }
    if (count > (page.size() - at) / 8) {
      return fail(BboltFailure::kPage, here + ": " + num(count) + " ids do not fit in its " +
                                           num(page.size()) + " bytes");
    }
    info_->freelist_persisted = true;
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t id = le64(page.data() + at + i * 8);
      if (id < 2 || id >= hwm_) {
        return fail(BboltFailure::kPage,
                    here + " lists page " + num(id) + ", " +
                        (id < 2 ? "a meta page" : "outside the " + num(hwm_) + " pages in use"));
      }
      if (used_[size_t(id)] || free_[size_t(id)]) {
        return fail(BboltFailure::kTree, here + " lists page " + num(id) + ", which is " +
                                             (used_[size_t(id)] ? "in use" : "listed twice"));
      }
      free_[size_t(id)] = true;
      ++info_->pages_free;
    }
    return true;
  }

  int fd_;
  const BboltOptions& o_;
  EtcdSnapshotInfo* info_;
  detail::Throttle throttle_;
  EtcdCollector etcd_;
  Meta meta_;
  uint64_t ps_ = 0;
  uint64_t hwm_ = 0;
  std::vector<bool> used_;
  std::vector<bool> free_;
  size_t held_ = 0;
};

}  // namespace

const char* toString(BboltFailure f) {
  switch (f) {
    case BboltFailure::kNone:
      return "none";
    case BboltFailure::kOpen:
      return "open";
    case BboltFailure::kRead:
      return "read";
    case BboltFailure::kMeta:
      return "meta";
    case BboltFailure::kPage:
      return "page";
    case BboltFailure::kTree:
      return "tree";
    case BboltFailure::kEtcd:
      return "etcd";
    case BboltFailure::kLimit:
      return "limit";
    case BboltFailure::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

EtcdSnapshotInfo readEtcdSnapshot(const std::string& path, const BboltOptions& options) {
  auto start = std::chrono::steady_clock::now();
  EtcdSnapshotInfo info;
  auto done = [&] {
    info.ok = info.failed == BboltFailure::kNone;
    info.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    return info;
  };
  detail::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
    info.failed = BboltFailure::kOpen;
    info.error = "cannot open: " + detail::errnoText(errno);
    return done();
  }
  if (!S_ISREG(st.st_mode)) {
    info.failed = BboltFailure::kOpen;
    info.error = "not a regular file";
    return done();
  }
  uint64_t size = uint64_t(st.st_size);
  if (options.db_bytes != 0) {
    info.db_bytes = std::min(options.db_bytes, size);
  } else {
    info.db_bytes = size % 512 == kTrailerBytes ? size - kTrailerBytes : size;
  }
  Reader reader(fd.get(), options, &info);
  if (!reader.run()) {
    // What the etcd buckets gave before the error is part of a tree that did not verify: only
    // the bbolt facts and the error stay.
    EtcdSnapshotInfo partial;
    partial.failed = info.failed;
    partial.error = std::move(info.error);
    partial.notes = std::move(info.notes);
    partial.db_bytes = info.db_bytes;
    partial.page_size = info.page_size;
    partial.meta_used = info.meta_used;
    partial.txid = info.txid;
    partial.high_water = info.high_water;
    partial.pages_walked = info.pages_walked;
    partial.freelist_persisted = info.freelist_persisted;
    partial.pages_free = info.pages_free;
    info = std::move(partial);
  } else {
    for (const char* want : {"key", "meta", "members"}) {
      bool found = false;
      for (const auto& b : info.buckets) found = found || b == want;
      if (!found) info.missing_buckets.emplace_back(want);
    }
  }
  return done();
}

}  // namespace qw::snapshot
