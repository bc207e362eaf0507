#include "qw/agent/uplink/commands.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "qw/protocol.h"
#include "qw/version.h"

namespace qw::agent {

CommandOutcome CommandTable::run(const qw::wire::Command& c) const {
  auto it = handlers_.find(static_cast<int>(c.kind_case()));
  if (c.kind_case() == qw::wire::Command::KIND_NOT_SET || it == handlers_.end())
    return {qw::wire::CommandResult::NOT_SUPPORTED,
            "this agent (" + std::string(qw::kVersion) + ") does not know this command", ""};
  try {
    return it->second(c);
  } catch (const std::exception& e) {
    return {qw::wire::CommandResult::FAILED, e.what(), ""};
  }
}

void CommandTable::run(const qw::wire::Command& c, const CommandDone& done) const {
  auto it = async_.find(static_cast<int>(c.kind_case()));
  if (c.kind_case() == qw::wire::Command::KIND_NOT_SET || it == async_.end()) {
    done(run(c));
    return;
  }
  try {
    it->second(c, done);
  } catch (const std::exception& e) {
    done({qw::wire::CommandResult::FAILED, e.what(), ""});
  }
}

void CommandTable::noteUnsupported(const std::string& what) {
  std::lock_guard<std::mutex> l(mu_);
  unsupported_.insert(what);
}

std::vector<std::string> CommandTable::unsupported() const {
  std::lock_guard<std::mutex> l(mu_);
  return {unsupported_.begin(), unsupported_.end()};
}

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

bool isSecret(const std::string& key, const std::string& value) {
  std::string k = lower(key);
  // By name: "token-file" and the TLS "-key" options name files, but a credential's location is
  // redacted too (conservative: the report travels beyond the node).
  for (const char* p : {"token", "secret", "password", "passwd", "credential", "private", "key"})
    if (contains(k, p)) return true;
  std::string v = lower(value);
  if (contains(v, "-----begin") || contains(v, "bearer ")) return true;
  // scheme://user:password@host
  if (auto s = v.find("://"); s != std::string::npos) {
    auto at = v.find('@', s + 3);
    auto slash = v.find('/', s + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash) &&
        v.find(':', s + 3) < at)
      return true;
  }
  return false;
}

void redact(qw::wire::ConfigReport* r) {
  for (auto& e : *r->mutable_entries())
    if (!e.value().empty() && isSecret(e.key(), e.value())) e.set_value(qw::kRedacted);
}

std::shared_ptr<CommandTable> makeAgentCommands(qw::wire::ConfigReport report) {
  auto table = std::make_shared<CommandTable>();
  redact(&report);
  size_t pad = 0;
  if (const char* p = std::getenv("QW_TEST_CONFIG_PAD_BYTES")) pad = std::strtoul(p, nullptr, 10);
  for (size_t n = 0, done = 0; done < pad; ++n) {
    auto* e = report.add_entries();
    e->set_key("test.padding." + std::to_string(n));
    e->set_value(std::string(100, static_cast<char>('a' + n % 26)));
    e->set_source("test");
    done += 100;
  }
  std::weak_ptr<CommandTable> weak = table;
  table->add(qw::wire::Command::kGetConfig, [report, weak](const qw::wire::Command&) {
    qw::wire::ConfigReport r = report;
    if (auto t = weak.lock())
      for (const auto& u : t->unsupported())
        if (std::find(r.unsupported().begin(), r.unsupported().end(), u) == r.unsupported().end())
          r.add_unsupported(u);
    return CommandOutcome{qw::wire::CommandResult::OK, "", r.SerializeAsString()};
  });
  return table;
}

std::vector<std::string> resultFrames(uint64_t id, const CommandOutcome& o, size_t max_frame) {
  max_frame = std::max<size_t>(max_frame, 256);
  std::string message = o.message.substr(0, 128);
  // Room for the envelope: oneof tag and length, id, status, message, chunk fields, payload tag
  // and length (each varint at most 10 bytes).
  const size_t overhead = 64 + message.size();
  const size_t per = max_frame - overhead;
  size_t count = o.payload.empty() ? 1 : (o.payload.size() + per - 1) / per;
  std::vector<std::string> frames;
  frames.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    qw::wire::AgentMessage m;
    auto* r = m.mutable_command_result();
    r->set_id(id);
    r->set_status(o.status);
    r->set_message(message);
    r->set_chunk_index(static_cast<uint32_t>(i));
    r->set_chunk_count(static_cast<uint32_t>(count));
    if (!o.payload.empty()) r->set_payload(o.payload.substr(i * per, per));
    frames.push_back(m.SerializeAsString());
  }
  return frames;
}

}  // namespace qw::agent
