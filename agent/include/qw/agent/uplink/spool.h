#pragma once
// Bounded spool of unacknowledged batches (DESIGN.md s4). Each batch gets the next sequence number
// when it is pushed and stays until the aggregator acknowledges it. When the byte budget is
// exceeded the oldest batches are dropped and counted; the count travels in every batch.
//
// The agent instance id belongs to the spool: a memory spool makes a new one per process; a file
// spool keeps the id, the next sequence number and the unacknowledged batches across agent
// restarts. The file is an append-only log (header, then batch/ack/drop records with a CRC-32),
// rewritten when it grows to several times its live content. It is written without fsync: it
// survives an agent crash or restart (page cache), not a power cut, and never adds an fsync
// stream to the disk etcd depends on. Put it on a tmpfs (/run) or a disk other than etcd's.
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>

#include "wire.pb.h"

namespace qw::agent {

// Stamps a spooled frame (a serialized AgentMessage{batch}) with the agent's CLOCK_BOOTTIME at the
// moment it is sent: appends an encoded AgentMessage{batch{sent_mono_ms}}, which a parser merges
// into the batch (protobuf: a message field that occurs twice is merged, a scalar's last value
// wins), so the spooled bytes need not be parsed and re-encoded at every send.
void appendSentTime(std::string* frame, int64_t sent_mono_ms);

class Spool {
 public:
  struct Entry {
    uint64_t seq;
    std::string frame;  // serialized AgentMessage{batch}
  };

  // Memory spool with a new random instance id.
  explicit Spool(size_t max_bytes);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // File spool: loads `path` if it exists (a torn tail is cut off, a foreign or corrupt file is
  // moved aside to PATH.corrupt), else creates it. Returns null and sets *error when the file
  // cannot be created. *note tells what was loaded.
  static std::unique_ptr<Spool> openFile(const std::string& path, size_t max_bytes,
                                         std::string* error, std::string* note);

  // Assigns seq, dropped_total and backlog, serializes, stores. Returns the seq.
  uint64_t push(qw::wire::Batch batch);
  // Forget every batch with seq <= `seq`.
  void ackUpTo(uint64_t seq);
  // The oldest batch with seq > `after`, or nullptr.
  const Entry* next(uint64_t after) const;

  const std::string& instanceId() const { return instance_id_; }
  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t nextSeq() const { return next_seq_; }
  uint64_t acked() const { return acked_; }
  uint64_t writeErrors() const { return write_errors_; }
  // The newest write error in words ("cannot write spool file ...: No space left on device").
  const std::string& lastWriteError() const { return last_write_error_; }

 private:
  Spool(size_t max_bytes, std::string instance_id);
  enum RecordType : uint8_t { kBatch = 1, kAck = 2, kDrop = 3 };
  void append(RecordType type, uint64_t seq, const std::string& payload);
  void rewrite();

  size_t max_bytes_;
  std::string instance_id_;
  uint64_t next_seq_ = 1;
  uint64_t acked_ = 0;
  uint64_t dropped_ = 0;
  size_t bytes_ = 0;
  std::deque<Entry> entries_;
  // File backing (null for a memory spool).
  std::string path_;
  FILE* file_ = nullptr;
  size_t file_bytes_ = 0;
  uint64_t write_errors_ = 0;
  std::string last_write_error_;
  void writeFailed(const std::string& what);
};

}  // namespace qw::agent
