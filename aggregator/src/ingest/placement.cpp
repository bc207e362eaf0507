#include "qw/aggregator/ingest/placement.h"

#include <algorithm>

namespace qw::aggregator {

const char* timeSourceName(TimeSource s) {
  switch (s) {
    case TimeSource::kAgentClock:
      return "AGENT_CLOCK";
    case TimeSource::kMonotonic:
      return "MONOTONIC";
    case TimeSource::kReceiveTime:
      return "RECEIVE_TIME";
  }
  return "RECEIVE_TIME";
}

int64_t BootClockOffset::placementRecv(int64_t recv_ms, int64_t sent_mono_ms) {
  constexpr int64_t kWindowMs = 60'000, kStepMs = 5'000;
  int64_t offset = recv_ms - sent_mono_ms;
  if (!window_.empty() &&
      (offset < window_.front().second - kStepMs || offset > window_.front().second + kStepMs))
    window_.clear();
  while (!window_.empty() && window_.front().first < recv_ms - kWindowMs) window_.pop_front();
  while (!window_.empty() && window_.back().second >= offset) window_.pop_back();
  window_.emplace_back(recv_ms, offset);
  return sent_mono_ms + window_.front().second;
}

std::vector<Placement> placeBatch(const qw::wire::Batch& b, int64_t recv_ms,
                                  uint64_t session_boot_key) {
  std::vector<Placement> out;
  out.reserve(static_cast<size_t>(b.samples_size()));
  int64_t newest_wall = 0;
  bool any = false;
  for (const auto& s : b.samples()) {
    newest_wall = any ? std::max(newest_wall, s.ts_unix_ms()) : s.ts_unix_ms();
    any = true;
  }
  // Unknown on either side (0): a boot id the agent could not read; treated as the same boot.
  const bool same_boot =
      b.boot_key() == 0 || session_boot_key == 0 || b.boot_key() == session_boot_key;
  const bool sent = b.has_sent_mono_ms();
  // Samples of an earlier boot: their wall clock, the newest just before this boot began.
  int64_t earlier_boot_shift = 0;
  if (sent && !same_boot) {
    int64_t boot_began = recv_ms - std::max<int64_t>(0, b.sent_mono_ms());
    earlier_boot_shift = std::max<int64_t>(0, newest_wall - (boot_began - 1));
  }
  for (const auto& s : b.samples()) {
    if (s.clock_synced()) {
      out.push_back({s.ts_unix_ms(), TimeSource::kAgentClock});
    } else if (sent && s.has_mono_ms() && same_boot) {
      int64_t age = std::max<int64_t>(0, b.sent_mono_ms() - s.mono_ms());
      out.push_back({recv_ms - age, TimeSource::kMonotonic});
    } else if (sent && !same_boot) {
      out.push_back({s.ts_unix_ms() - earlier_boot_shift, TimeSource::kAgentClock});
    } else {
      out.push_back(
          {recv_ms - std::max<int64_t>(0, newest_wall - s.ts_unix_ms()), TimeSource::kReceiveTime});
    }
  }
  return out;
}

}  // namespace qw::aggregator
