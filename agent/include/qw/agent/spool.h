#pragma once
// Bounded spool of unacknowledged batches (DESIGN.md s4). Each batch gets the next sequence number
// when it is pushed and stays until the aggregator acknowledges it. When the byte budget is
// exceeded the oldest batches are dropped and counted; the count travels in every batch.
#include <cstdint>
#include <deque>
#include <string>

#include "wire.pb.h"

namespace qw::agent {

class Spool {
 public:
  struct Entry {
    uint64_t seq;
    std::string frame;  // serialized AgentMessage{batch}
  };

  Spool(size_t max_bytes, uint64_t first_seq = 1) : max_bytes_(max_bytes), next_seq_(first_seq) {}

  // Assigns seq, dropped_total and backlog, serializes, stores. Returns the seq.
  uint64_t push(qw::wire::Batch batch);
  // Forget every batch with seq <= `seq`.
  void ackUpTo(uint64_t seq);
  // The oldest batch with seq > `after`, or nullptr.
  const Entry* next(uint64_t after) const;

  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t nextSeq() const { return next_seq_; }
  uint64_t acked() const { return acked_; }

 private:
  size_t max_bytes_;
  uint64_t next_seq_;
  uint64_t acked_ = 0;
  uint64_t dropped_ = 0;
  size_t bytes_ = 0;
  std::deque<Entry> entries_;
};

}  // namespace qw::agent
