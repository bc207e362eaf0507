#pragma once
// Where a sample sits on the history's time axis (README "History": "Time axis").
//
//  - AGENT_CLOCK: the agent's wall clock, once adjtimex says it is synchronised.
//  - MONOTONIC: receive time - (batch sent - sample taken), both on the agent's CLOCK_BOOTTIME,
//    so a backlog replayed after an outage keeps its spacing and its real position, to within
//    the network delay, whatever the agent's wall clock says (a Pi without an RTC before NTP).
//  - RECEIVE_TIME: agents without the monotonic fields: the receive time, the batch's samples
//    spread back by their wall-clock distance to the batch's newest sample.
// A batch whose samples were taken in an earlier boot than the session's (a file spool that
// survived a reboot) cannot use the monotonic clock across the boot: its samples go by their wall
// clock, shifted (keeping their spacing) so the newest sits before the current boot began
// (receive time - sent_mono_ms), and are reported as AGENT_CLOCK.
// The store then keeps one sample per node and millisecond (Store::commit).
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "wire.pb.h"

namespace qw::aggregator {

enum class TimeSource : uint8_t { kAgentClock, kMonotonic, kReceiveTime };
const char* timeSourceName(TimeSource s);  // "AGENT_CLOCK", "MONOTONIC", "RECEIVE_TIME"

struct Placement {
  int64_t ts_ms;
  TimeSource source;
};

// The offset between one agent's boot clock and this aggregator's wall clock, estimated from a
// session's frames as the smallest (receive time - sent_mono_ms) of the last minute: the frame
// least delayed by queues. A replayed backlog waits behind the aggregator's own commits, the last
// frames of a burst longest (331 ms measured for a minute of backlog under the sanitizers), so
// the receive time of each frame alone would place a burst late. A minute of clock drift between
// two crystals is a few milliseconds; an offset more than 5 s off the estimate (a clock stepped on
// either side) starts the estimate afresh.
class BootClockOffset {
 public:
  // The receive time to place this frame's batch with: sent_mono_ms + the estimate (<= recv_ms).
  int64_t placementRecv(int64_t recv_ms, int64_t sent_mono_ms);

 private:
  std::deque<std::pair<int64_t, int64_t>> window_;  // (recv, offset), offsets increasing
};

// One placement per sample of `b`, in order. `recv_ms`: the aggregator's wall clock when the
// batch arrived; `session_boot_key`: qw::bootKey of the session Hello's boot id (0: unknown).
std::vector<Placement> placeBatch(const qw::wire::Batch& b, int64_t recv_ms,
                                  uint64_t session_boot_key);

}  // namespace qw::aggregator
