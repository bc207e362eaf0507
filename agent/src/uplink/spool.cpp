#include "qw/agent/uplink/spool.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "qw/fs_util.h"

namespace qw::agent {

namespace {

constexpr char kMagic[8] = {'Q', 'W', 'S', 'P', 'O', 'O', 'L', '1'};
constexpr size_t kHeader = sizeof(kMagic) + 32;  // magic + instance id (hex)
constexpr size_t kRecordHead = 1 + 8 + 4 + 4;    // type, seq, length, crc32
constexpr uint32_t kMaxRecord = 64u << 20;

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

template <class T>
void put(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

template <class T>
T get(const char* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string record(uint8_t type, uint64_t seq, const std::string& payload) {
  std::string r;
  r.reserve(kRecordHead + payload.size());
  r.push_back(static_cast<char>(type));
  put<uint64_t>(r, seq);
  put<uint32_t>(r, static_cast<uint32_t>(payload.size()));
  uint32_t c = crc32(r.data(), r.size());
  c = crc32(payload.data(), payload.size(), c);
  put<uint32_t>(r, c);
  r += payload;
  return r;
}

}  // namespace

Spool::Spool(size_t max_bytes) : Spool(max_bytes, randomHexId()) {}

Spool::Spool(size_t max_bytes, std::string instance_id)
    : max_bytes_(max_bytes), instance_id_(std::move(instance_id)) {}

Spool::~Spool() {
  if (file_) std::fclose(file_);
}

std::unique_ptr<Spool> Spool::openFile(const std::string& path, size_t max_bytes,
                                       std::string* error, std::string* note) {
  auto data = readFile(path);
  std::unique_ptr<Spool> sp;
  if (data && data->size() >= kHeader && std::memcmp(data->data(), kMagic, sizeof kMagic) == 0) {
    sp.reset(new Spool(max_bytes, data->substr(sizeof kMagic, 32)));
    size_t off = kHeader, good = kHeader;
    uint64_t batches = 0;
    while (off + kRecordHead <= data->size()) {
      const char* h = data->data() + off;
      auto type = static_cast<uint8_t>(h[0]);
      auto seq = get<uint64_t>(h + 1);
      auto len = get<uint32_t>(h + 9);
      auto crc = get<uint32_t>(h + 13);
      if (len > kMaxRecord || off + kRecordHead + len > data->size()) break;
      std::string payload = data->substr(off + kRecordHead, len);
      uint32_t c = crc32(h, 13);
      if (crc32(payload.data(), payload.size(), c) != crc) break;
      if (type == kBatch) {
        sp->bytes_ += payload.size();
        sp->entries_.push_back({seq, std::move(payload)});
        sp->next_seq_ = std::max(sp->next_seq_, seq + 1);
        ++batches;
      } else if (type == kAck || type == kDrop) {
        while (!sp->entries_.empty() && sp->entries_.front().seq <= seq) {
          sp->bytes_ -= sp->entries_.front().frame.size();
          sp->entries_.pop_front();
        }
        if (type == kAck) sp->acked_ = std::max(sp->acked_, seq);
        if (type == kDrop && payload.size() == 8) sp->dropped_ = get<uint64_t>(payload.data());
        sp->next_seq_ = std::max(sp->next_seq_, seq + 1);
      } else {
        break;
      }
      off += kRecordHead + len;
      good = off;
    }
    *note = "spool " + path + ": instance " + sp->instance_id_ + ", " +
            std::to_string(sp->entries_.size()) + " unacknowledged batches, next seq " +
            std::to_string(sp->next_seq_);
    if (good < data->size())
      *note += " (cut " + std::to_string(data->size() - good) + " bytes of a torn or corrupt tail)";
  } else {
    if (data && !data->empty()) {
      std::rename(path.c_str(), (path + ".corrupt").c_str());
      *note = "spool " + path + " was not a quorumwatch spool; moved to " + path +
              ".corrupt, starting a new one";
    } else {
      *note = "spool " + path + ": new";
    }
    sp.reset(new Spool(max_bytes, randomHexId()));
  }
  sp->path_ = path;
  sp->rewrite();
  if (!sp->file_) {
    *error = "cannot write spool file " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  return sp;
}

void Spool::rewrite() {
  std::string tmp = path_ + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    writeFailed("cannot create " + tmp);
    return;
  }
  std::string out(kMagic, sizeof kMagic);
  out += instance_id_;
  // Keep the sequence position (an ack just below the oldest pending batch) and the drop count.
  uint64_t below = entries_.empty() ? next_seq_ - 1 : entries_.front().seq - 1;
  if (below > 0) out += record(kAck, below, "");
  if (dropped_ > 0) {
    std::string count;
    put<uint64_t>(count, dropped_);
    out += record(kDrop, 0, count);
  }
  for (const auto& e : entries_) out += record(kBatch, e.seq, e.frame);
  bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size() && std::fflush(f) == 0;
  if (!ok || std::rename(tmp.c_str(), path_.c_str()) != 0) {
    writeFailed(ok ? "cannot rename " + tmp + " to " + path_ : "cannot write " + tmp);
    std::fclose(f);
    return;
  }
  if (file_) std::fclose(file_);
  file_ = f;
  file_bytes_ = out.size();
}

void Spool::writeFailed(const std::string& what) {
  ++write_errors_;
  last_write_error_ = what + ": " + std::strerror(errno);
}

void Spool::append(RecordType type, uint64_t seq, const std::string& payload) {
  if (path_.empty()) return;
  if (file_bytes_ > 4 * bytes_ + (64 << 10)) rewrite();
  if (!file_) {
    rewrite();
    if (!file_) return;
  }
  std::string r = record(type, seq, payload);
  if (std::fwrite(r.data(), 1, r.size(), file_) != r.size() || std::fflush(file_) != 0) {
    writeFailed("cannot append to " + path_);
    std::fclose(file_);
    file_ = nullptr;  // the next append rewrites the whole file from memory
    return;
  }
  file_bytes_ += r.size();
}

void appendSentTime(std::string* frame, int64_t sent_mono_ms) {
  qw::wire::AgentMessage m;
  m.mutable_batch()->set_sent_mono_ms(sent_mono_ms);
  m.AppendToString(frame);
}

uint64_t Spool::push(qw::wire::Batch batch) {
  uint64_t seq = next_seq_++;
  batch.set_seq(seq);
  // Make room first, so the new batch's dropped_total already counts the drops it caused: the
  // newest batch always carries the final count. The newest batch is kept even if it alone
  // exceeds the budget. (Sizing with the old count: a varint may grow by a byte or two.)
  batch.set_dropped_total(dropped_);
  const size_t estimate = batch.ByteSizeLong() + 8;
  uint64_t dropped_upto = 0;
  while (!entries_.empty() && bytes_ + estimate > max_bytes_) {
    bytes_ -= entries_.front().frame.size();
    dropped_upto = entries_.front().seq;
    entries_.pop_front();
    ++dropped_;
  }
  if (dropped_upto) {
    std::string count;
    put<uint64_t>(count, dropped_);
    append(kDrop, dropped_upto, count);
  }
  batch.set_dropped_total(dropped_);
  batch.set_backlog(static_cast<uint32_t>(entries_.size()));
  if (!path_.empty()) {  // a file-backed spool says how its writes went (before this batch's)
    batch.set_spool_write_errors(write_errors_);
    if (!last_write_error_.empty()) batch.set_spool_last_write_error(last_write_error_);
  }
  qw::wire::AgentMessage msg;
  *msg.mutable_batch() = std::move(batch);
  Entry e{seq, msg.SerializeAsString()};
  bytes_ += e.frame.size();
  append(kBatch, seq, e.frame);
  entries_.push_back(std::move(e));
  return seq;
}

void Spool::ackUpTo(uint64_t seq) {
  if (seq > acked_) acked_ = seq;
  bool any = false;
  while (!entries_.empty() && entries_.front().seq <= seq) {
    bytes_ -= entries_.front().frame.size();
    entries_.pop_front();
    any = true;
  }
  if (any) append(kAck, seq, "");
}

const Spool::Entry* Spool::next(uint64_t after) const {
  // Entries are in seq order; in steady state the first entry is the answer.
  for (const auto& e : entries_)
    if (e.seq > after) return &e;
  return nullptr;
}

}  // namespace qw::agent
