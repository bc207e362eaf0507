#pragma once
// Commands the aggregator may send on the stream (proto/wire.proto, capability "commands.v1"):
// a table from command kind to the handler that produces the result's payload, and the framing
// of a result into chunks that each fit the aggregator's frame limit.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "wire.pb.h"

namespace qw::agent {

struct CommandOutcome {
  qw::wire::CommandResult::Status status = qw::wire::CommandResult::OK;
  std::string message;  // why, for FAILED and NOT_SUPPORTED
  std::string payload;  // the serialized result message
};

using CommandHandler = std::function<CommandOutcome(const qw::wire::Command&)>;
using CommandDone = std::function<void(CommandOutcome)>;
// A handler whose work may block (disk reads): it hands the work to a worker and calls `done`
// on the agent's executor when finished, so the uplink's reader never waits on it.
using AsyncCommandHandler = std::function<void(const qw::wire::Command&, CommandDone done)>;

class CommandTable {
 public:
  void add(qw::wire::Command::KindCase kind, CommandHandler h) { handlers_[kind] = std::move(h); }
  void addAsync(qw::wire::Command::KindCase kind, AsyncCommandHandler h) {
    async_[kind] = std::move(h);
  }
  // NOT_SUPPORTED for a kind without a handler (also one this build does not know: its oneof
  // case reads as KIND_NOT_SET); FAILED when the handler throws. An async kind answers FAILED.
  CommandOutcome run(const qw::wire::Command& c) const;
  // Either kind: a sync handler's outcome is passed to `done` at once.
  void run(const qw::wire::Command& c, const CommandDone& done) const;
  // Something this node cannot probe, found while running (reported by GetConfig).
  void noteUnsupported(const std::string& what);
  std::vector<std::string> unsupported() const;

 private:
  std::map<int, CommandHandler> handlers_;
  std::map<int, AsyncCommandHandler> async_;
  mutable std::mutex mu_;
  std::set<std::string> unsupported_;
};

// Is this option a credential (its value must not leave the node)? Tokens, secrets, passwords,
// private and TLS keys, by name; by value, PEM blocks, bearer tokens and URLs with a password.
bool isSecret(const std::string& key, const std::string& value);
// Replaces the value of every credential entry with "<redacted>" (key and source stay).
void redact(qw::wire::ConfigReport* r);

// The agent's table: GetConfig answers `report` (redacted) plus what `table` noted unsupported.
// A test-only knob: $QW_TEST_CONFIG_PAD_BYTES pads the report with that many bytes of extra
// entries (key "test.padding.N", source "test") to make a result of many chunks.
std::shared_ptr<CommandTable> makeAgentCommands(qw::wire::ConfigReport report);

// The frames (serialized AgentMessage{command_result}) of one result, each at most `max_frame`
// bytes (a floor of 256 is applied); an empty payload still makes one frame.
std::vector<std::string> resultFrames(uint64_t id, const CommandOutcome& o, size_t max_frame);

}  // namespace qw::agent
