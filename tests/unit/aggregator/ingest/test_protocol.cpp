#include <catch2/catch.hpp>

#include "qw/aggregator/ingest/protocol.h"

using namespace qw::aggregator;

namespace {

std::string helloFrame(const std::string& instance = "i-1", const std::string& node = "pi-1") {
  qw::wire::AgentMessage m;
  m.mutable_hello()->set_instance_id(instance);
  m.mutable_hello()->set_node_name(node);
  return m.SerializeAsString();
}

std::string batchFrame(uint64_t seq) {
  qw::wire::AgentMessage m;
  m.mutable_batch()->set_seq(seq);
  m.mutable_batch()->add_samples()->set_cycle(1);
  return m.SerializeAsString();
}

DecodedFrame decode(const std::string& f, bool hello_seen, size_t max = 1 << 20,
                    bool binary = true) {
  return decodeAgentFrame(f.data(), f.size(), binary, hello_seen, max);
}

}  // namespace

TEST_CASE("protocol: valid frames decode in order") {
  auto h = decode(helloFrame(), false);
  REQUIRE(h.ok);
  CHECK(h.msg.hello().node_name() == "pi-1");
  auto b = decode(batchFrame(3), true);
  REQUIRE(b.ok);
  CHECK(b.msg.batch().seq() == 3);
  qw::wire::AgentMessage f;
  f.mutable_flush();
  CHECK(decode(f.SerializeAsString(), true).ok);
  qw::wire::AgentMessage r;
  r.mutable_command_result()->set_id(1);
  CHECK(decode(r.SerializeAsString(), true).ok);
}

TEST_CASE("protocol: malformed, text, empty and oversized frames") {
  auto bad = decode(std::string("\xff\xff\xff\xff\x0f", 5), true);
  CHECK_FALSE(bad.ok);
  CHECK(bad.code == "bad_frame");
  CHECK(bad.message == "frame is not a valid AgentMessage");
  auto text = decode(batchFrame(1), true, 1 << 20, false);
  CHECK_FALSE(text.ok);
  CHECK(text.code == "bad_frame");
  auto empty = decode("", true);
  CHECK_FALSE(empty.ok);
  CHECK(empty.code == "protocol");
  CHECK(empty.message == "empty AgentMessage");
  auto big = batchFrame(1);
  auto over = decode(big, true, big.size() - 1);
  CHECK_FALSE(over.ok);
  CHECK(over.code == "frame_too_large");
  CHECK(over.message.find(std::to_string(big.size() - 1)) != std::string::npos);
  CHECK(decode(big, true, big.size()).ok);  // exactly the limit is fine
  CHECK(frameTooLarge(4096).code == "frame_too_large");
}

TEST_CASE("protocol: the first message must be a Hello, and only one") {
  for (const auto& f : {batchFrame(1)}) {
    auto d = decode(f, false);
    CHECK_FALSE(d.ok);
    CHECK(d.code == "protocol");
    CHECK(d.message == "Batch before Hello");
  }
  qw::wire::AgentMessage flush;
  flush.mutable_flush();
  CHECK(decode(flush.SerializeAsString(), false).message == "Flush before Hello");
  qw::wire::AgentMessage res;
  res.mutable_command_result()->set_id(1);
  CHECK(decode(res.SerializeAsString(), false).message == "CommandResult before Hello");
  CHECK(decode(helloFrame(), true).message == "second Hello on one session");
  CHECK(decode(helloFrame("", "pi-1"), false).message == "Hello without instance_id or node_name");
  CHECK(decode(helloFrame("i-1", ""), false).message == "Hello without instance_id or node_name");
}

TEST_CASE("protocol: capabilities") {
  qw::wire::Hello h;
  CHECK_FALSE(hasCapability(h, "commands.v1"));
  h.add_capabilities("other");
  h.add_capabilities("commands.v1");
  CHECK(hasCapability(h, "commands.v1"));
}
