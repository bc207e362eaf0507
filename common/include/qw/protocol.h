#pragma once
// Wire protocol negotiation (proto/wire.proto): what an agent announces in its Hello.
#include <cstdint>

namespace qw {

// 1: Hello/Batch/Flush/Ack. 2: the command channel (Command, CommandResult).
inline constexpr uint32_t kProtocolVersion = 2;
// In Hello.capabilities: the agent answers AggregatorMessage.command with CommandResults.
inline constexpr const char* kCapCommands = "commands.v1";
// The value of a credential in a config report.
inline constexpr const char* kRedacted = "<redacted>";

}  // namespace qw
