#pragma once
// Frames from an agent -> validated qw::wire::AgentMessage (proto/wire.proto): the frame limit,
// binary frames only, a parseable message of a known kind, and the order (a Hello first and
// once). Pure functions: no session, no I/O; the fuzzer's entry point is decodeAgentFrame.
#include <cstddef>
#include <string>

#include "wire.pb.h"

namespace qw::aggregator {

struct DecodedFrame {
  bool ok = false;
  std::string code;     // when !ok: "frame_too_large", "bad_frame" or "protocol"
  std::string message;  // when !ok: for the Error message and the log
  qw::wire::AgentMessage msg;
};

// Decodes one complete frame. `binary`: the WebSocket frame's type; `hello_seen`: a Hello
// was accepted on this session before.
DecodedFrame decodeAgentFrame(const void* data, size_t size, bool binary, bool hello_seen,
                              size_t max_frame);

// The frame-limit error for a frame of more than `max_frame` bytes (also used while a frame is
// still being read, so an oversized one is refused before it is all in memory).
DecodedFrame frameTooLarge(size_t max_frame);

// Does the Hello name this capability (qw/protocol.h: kCapCommands)?
bool hasCapability(const qw::wire::Hello& h, const char* capability);

}  // namespace qw::aggregator
