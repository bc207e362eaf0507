#include "qw/agent/spool.h"

namespace qw::agent {

uint64_t Spool::push(qw::wire::Batch batch) {
  uint64_t seq = next_seq_++;
  batch.set_seq(seq);
  batch.set_dropped_total(dropped_);
  batch.set_backlog(static_cast<uint32_t>(entries_.size()));
  qw::wire::AgentMessage msg;
  *msg.mutable_batch() = std::move(batch);
  Entry e{seq, msg.SerializeAsString()};
  bytes_ += e.frame.size();
  entries_.push_back(std::move(e));
  // Keep at least the newest batch even if it alone exceeds the budget.
  while (bytes_ > max_bytes_ && entries_.size() > 1) {
    bytes_ -= entries_.front().frame.size();
    entries_.pop_front();
    ++dropped_;
  }
  return seq;
}

void Spool::ackUpTo(uint64_t seq) {
  if (seq > acked_) acked_ = seq;
  while (!entries_.empty() && entries_.front().seq <= seq) {
    bytes_ -= entries_.front().frame.size();
    entries_.pop_front();
  }
}

const Spool::Entry* Spool::next(uint64_t after) const {
  // Entries are in seq order; the spool is small enough that a scan from the front is cheap,
  // and in steady state the first entry is the answer.
  for (const auto& e : entries_)
    if (e.seq > after) return &e;
  return nullptr;
}

}  // namespace qw::agent
