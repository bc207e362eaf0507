#include "qw/aggregator/ingest/protocol.h"

namespace qw::aggregator {

namespace {

DecodedFrame failure(std::string code, std::string message) {
  DecodedFrame d;
  d.code = std::move(code);
  d.message = std::move(message);
  return d;
}

}  // namespace

DecodedFrame frameTooLarge(size_t max_frame) {
  return failure("frame_too_large", "frame larger than --max-frame-bytes (" +
                                        std::to_string(max_frame) + " bytes, the Welcome says so)");
}

DecodedFrame decodeAgentFrame(const void* data, size_t size, bool binary, bool hello_seen,
                              size_t max_frame) {
  if (size > max_frame) return frameTooLarge(max_frame);
  if (!binary)
    return failure("bad_frame", "text frame received; the protocol uses binary protobuf frames");
  DecodedFrame d;
  if (!d.msg.ParseFromArray(data, static_cast<int>(size)))
    return failure("bad_frame", "frame is not a valid AgentMessage");
  using M = qw::wire::AgentMessage;
  switch (d.msg.msg_case()) {
    case M::kHello:
      if (hello_seen) return failure("protocol", "second Hello on one session");
      if (d.msg.hello().instance_id().empty() || d.msg.hello().node_name().empty())
        return failure("protocol", "Hello without instance_id or node_name");
      break;
    case M::kFlush:
      if (!hello_seen) return failure("protocol", "Flush before Hello");
      break;
    case M::kBatch:
      if (!hello_seen) return failure("protocol", "Batch before Hello");
      break;
    case M::kCommandResult:
      if (!hello_seen) return failure("protocol", "CommandResult before Hello");
      break;
    case M::MSG_NOT_SET:
      return failure("protocol", "empty AgentMessage");
  }
  d.ok = true;
  return d;
}

bool hasCapability(const qw::wire::Hello& h, const char* capability) {
  for (const auto& c : h.capabilities())
    if (c == capability) return true;
  return false;
}

}  // namespace qw::aggregator
