#include <catch2/catch.hpp>

#include "qw/agent/uplink/commands.h"

using namespace qw::agent;
using qw::wire::CommandResult;

TEST_CASE("commands: unknown kinds are NOT_SUPPORTED, a throwing handler FAILED") {
  CommandTable t;
  qw::wire::Command c;
  c.set_id(7);
  CHECK(t.run(c).status == CommandResult::NOT_SUPPORTED);  // no kind (unknown to this build)
  c.mutable_get_config();
  CHECK(t.run(c).status == CommandResult::NOT_SUPPORTED);  // no handler
  t.add(qw::wire::Command::kGetConfig,
        [](const qw::wire::Command&) -> CommandOutcome { throw std::runtime_error("boom"); });
  auto o = t.run(c);
  CHECK(o.status == CommandResult::FAILED);
  CHECK(o.message == "boom");
}

TEST_CASE("commands: credentials are redacted by name and by value, key and source stay") {
  CHECK(isSecret("token-file", "/etc/qw/token"));
  CHECK(isSecret("etcd-key", "/etc/etcd/key.pem"));
  CHECK(isSecret("s3-secret-access-key", "x"));
  CHECK(isSecret("Password", "x"));
  CHECK(isSecret("header", "Bearer abc"));
  CHECK(isSecret("pem", "-----BEGIN PRIVATE KEY-----"));
  CHECK(isSecret("aggregator", "wss://user:pw@host:9479/v1/stream"));
  CHECK_FALSE(isSecret("aggregator", "wss://host:9479/v1/stream"));
  CHECK_FALSE(isSecret("etcd-cert", "/etc/etcd/cert.pem"));
  CHECK_FALSE(isSecret("node-name", "pi-1"));
  qw::wire::ConfigReport r;
  auto* e = r.add_entries();
  e->set_key("aggregator-key");
  e->set_value("/k.pem");
  e->set_source("command line");
  auto* empty = r.add_entries();
  empty->set_key("etcd-key");
  r.add_entries()->set_key("node-name");
  r.mutable_entries(2)->set_value("pi-1");
  redact(&r);
  CHECK(r.entries(0).value() == "<redacted>");
  CHECK(r.entries(0).key() == "aggregator-key");
  CHECK(r.entries(0).source() == "command line");
  CHECK(r.entries(1).value().empty());  // unset stays visibly unset
  CHECK(r.entries(2).value() == "pi-1");
}

TEST_CASE("commands: GetConfig answers the redacted report and what was noted unsupported") {
  qw::wire::ConfigReport r;
  r.set_flavor("k3s");
  auto* e = r.add_entries();
  e->set_key("token-file");
  e->set_value("/t");
  auto t = makeAgentCommands(r);
  t->noteUnsupported("unit restarts: no systemd");
  t->noteUnsupported("unit restarts: no systemd");
  qw::wire::Command c;
  c.mutable_get_config();
  auto o = t->run(c);
  REQUIRE(o.status == CommandResult::OK);
  qw::wire::ConfigReport got;
  REQUIRE(got.ParseFromString(o.payload));
  CHECK(got.flavor() == "k3s");
  CHECK(got.entries(0).value() == "<redacted>");
  REQUIRE(got.unsupported_size() == 1);
  CHECK(got.unsupported(0) == "unit restarts: no systemd");
}

TEST_CASE("commands: a result is split into frames within the limit and joins back") {
  CommandOutcome o{CommandResult::OK, "", std::string(10000, 'x')};
  for (size_t i = 0; i < o.payload.size(); ++i) o.payload[i] = static_cast<char>(i * 7);
  for (size_t limit : {256u, 1000u, 4096u, 1u << 20}) {
    auto frames = resultFrames(42, o, limit);
    std::string joined;
    for (size_t i = 0; i < frames.size(); ++i) {
      CHECK(frames[i].size() <= limit);
      qw::wire::AgentMessage m;
      REQUIRE(m.ParseFromString(frames[i]));
      REQUIRE(m.has_command_result());
      CHECK(m.command_result().id() == 42);
      CHECK(m.command_result().chunk_index() == i);
      CHECK(m.command_result().chunk_count() == frames.size());
      joined += m.command_result().payload();
    }
    CHECK(joined == o.payload);
    if (limit == 1u << 20) CHECK(frames.size() == 1);
  }
  auto one = resultFrames(1, {CommandResult::NOT_SUPPORTED, std::string(1000, 'm'), ""}, 256);
  REQUIRE(one.size() == 1);
  CHECK(one[0].size() <= 256);
}
