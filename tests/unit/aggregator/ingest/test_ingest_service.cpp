#include <unistd.h>

#include <algorithm>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <filesystem>

#include "qw/aggregator/ingest/ingest_service.h"
#include "qw/protocol.h"

using namespace qw::aggregator;
using namespace std::chrono_literals;

namespace {

struct FakeClock final : qw::Clock {
  int64_t wall = 1'700'000'000'000, steady = 5'000;
  int64_t wallMs() const override { return wall; }
  int64_t steadyMs() const override { return steady; }
};

struct FakeSession final : AgentSession {
  std::vector<qw::wire::AggregatorMessage> sent;
  std::vector<std::pair<uint64_t, bool>> acks;
  std::string failed;
  bool closed = false;
  void send(const qw::wire::AggregatorMessage& m) override { sent.push_back(m); }
  void fail(const std::string& code, const std::string&) override { failed = code; }
  void close() override { closed = true; }
  void ack(uint64_t seq, bool now) override { acks.emplace_back(seq, now); }
};

struct Fixture {
  std::string dir;
  boost::asio::io_context ioc;
  FakeClock clock;
  Hub hub;
  std::unique_ptr<Store> store;
  std::unique_ptr<IngestService> ingest;
  Fixture() {
    char tmpl[] = "/tmp/qw-ingest-XXXXXX";
    dir = mkdtemp(tmpl);
    Store::Options o;
    o.path = dir + "/agg.db";
    o.background_checkpoint = false;
    store = std::make_unique<Store>(o);
    ingest = std::make_unique<IngestService>(ioc, *store, hub, IngestConfig{4096, ""}, clock);
  }
  ~Fixture() {
    ingest.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  std::shared_ptr<FakeSession> hello(const std::string& instance, bool commands,
                                     uint64_t next_seq = 1, const std::string& node = "pi-1") {
    auto s = std::make_shared<FakeSession>();
    qw::wire::Hello h;
    h.set_instance_id(instance);
    h.set_node_name(node);
    h.set_cluster_name("test");
    h.set_agent_version("test");
    h.set_next_seq(next_seq);
    h.set_protocol_version(commands ? qw::kProtocolVersion : 1);
    if (commands) h.add_capabilities(qw::kCapCommands);
    ingest->onHello(s, h);
    return s;
  }
};

qw::wire::Batch batch(uint64_t seq) {
  qw::wire::Batch b;
  b.set_seq(seq);
  auto* s = b.add_samples();
  s->set_ts_unix_ms(1'700'000'000'000 + static_cast<int64_t>(seq) * 1000);
  s->mutable_etcd()->set_reachable(true);
  return b;
}

qw::wire::Batch clusterBatch(uint64_t seq, uint64_t cluster_id) {
  auto b = batch(seq);
  b.mutable_samples(0)->mutable_etcd()->set_cluster_id(cluster_id);
  return b;
}

}  // namespace

TEST_CASE(
    "ingest: another etcd cluster's agent is refused and a restore's new cluster id succeeds") {
  Fixture f;
  auto poll = [&] {
    f.ioc.restart();
    f.ioc.poll();
  };
  auto kinds = [&] {
    std::vector<std::string> out;
    for (const auto& e : f.store->events(0, "", "", 100)) out.push_back(e.e.kind);
    return out;
  };
  auto count = [](const std::vector<std::string>& v, const std::string& k) {
    return std::count(v.begin(), v.end(), k);
  };
  // The first id seen is adopted.
  auto a = f.hello("i-a", false, 1, "pi-1");
  f.ingest->onBatch(a, clusterBatch(1, 0xaaa));
  poll();
  CHECK(a->failed.empty());
  CHECK(f.hub.identity().current() == 0xaaa);
  auto b = f.hello("i-b", false, 1, "pi-2");
  f.ingest->onBatch(b, clusterBatch(1, 0xaaa));
  poll();
  CHECK(f.store->lastSeq("i-b") == 1u);

  // An agent of another cluster: refused, nothing stored, counted each time, reported once.
  auto x = f.hello("i-x", false, 1, "pi-9");
  f.ingest->onBatch(x, clusterBatch(1, 0xbbb));
  poll();
  CHECK(x->failed == "cluster_mismatch");
  CHECK_FALSE(f.store->lastSeq("i-x").has_value());
  x = f.hello("i-x", false, 1, "pi-9");
  f.ingest->onBatch(x, clusterBatch(1, 0xbbb));
  poll();
  CHECK(f.ingest->counters().cluster_refusals == 2);
  CHECK(count(kinds(), "AGENT_REFUSED") == 1);
  CHECK(f.ingest->counters().bad_frames == 0);

  // A known node moving to a new id while another node still answers with the current one is a
  // split, not a restore: refused too, and pi-1's history untouched.
  f.clock.steady += 1000;
  f.ingest->onBatch(a, clusterBatch(2, 0xccc));
  poll();
  CHECK(a->failed == "cluster_mismatch");
  CHECK(f.store->lastSeq("i-a") == 1u);
  CHECK(f.hub.identity().current() == 0xaaa);

  // Once no fresh node reports the old id (pi-2 silent past stale-after), a known node's new id
  // replaces it: CLUSTER_REPLACED, history kept.
  f.clock.steady += 10'000;
  a = f.hello("i-a", false, 2, "pi-1");
  f.ingest->onBatch(a, clusterBatch(2, 0xccc));
  poll();
  CHECK(a->failed.empty());
  CHECK(f.store->lastSeq("i-a") == 2u);
  CHECK(f.hub.identity().current() == 0xccc);
  CHECK(f.hub.identity().previous() == std::set<uint64_t>{0xaaa});
  CHECK(count(kinds(), "CLUSTER_REPLACED") == 1);
  // ... but an unknown node still is not let in with the old cluster's, nor another, id.
  x = f.hello("i-x", false, 1, "pi-9");
  f.ingest->onBatch(x, clusterBatch(1, 0xbbb));
  poll();
  CHECK(x->failed == "cluster_mismatch");

  // pi-2's backlog from before the restore is this cluster's history: accepted.
  b = f.hello("i-b", false, 5, "pi-2");
  f.ingest->onBatch(b, clusterBatch(2, 0xaaa));
  poll();
  CHECK(b->failed.empty());
  CHECK(f.store->lastSeq("i-b") == 2u);
  CHECK(f.hub.identity().current() == 0xccc);

  // The succession survives a restart.
  std::vector<Store::ClusterIdRecord> hist;
  REQUIRE_FALSE(f.store->clusterHistory(&hist));
  REQUIRE(hist.size() == 2);
  CHECK(hist[0].id == 0xaaa);
  CHECK(hist[0].replaced_by == 0xccc);
  CHECK(hist[0].replaced_ms.has_value());
  CHECK(hist[1].id == 0xccc);
  CHECK_FALSE(hist[1].replaced_ms.has_value());
  Hub reloaded;
  REQUIRE_FALSE(f.store->load(&reloaded));
  CHECK(reloaded.identity().current() == 0xccc);
  CHECK(reloaded.identity().previous() == std::set<uint64_t>{0xaaa});
}

TEST_CASE("ingest: Hello is welcomed, batches share one commit and are acked") {
  Fixture f;
  auto s = f.hello("i-1", false);
  REQUIRE(s->sent.size() == 1);
  REQUIRE(s->sent[0].has_welcome());
  CHECK_FALSE(s->sent[0].welcome().has_stored());
  CHECK(s->sent[0].welcome().max_frame_bytes() == 4096);
  REQUIRE(f.hub.findNode("pi-1"));
  CHECK(f.hub.findNode("pi-1")->connected);

  f.ingest->onBatch(s, batch(1));
  f.ingest->onBatch(s, batch(2));
  CHECK(s->acks.empty());  // not committed before the event loop turns
  f.ioc.poll();
  CHECK(f.ingest->counters().transactions == 1);  // group commit
  CHECK(f.ingest->counters().batches_stored == 2);
  REQUIRE(s->acks.size() == 2);
  CHECK(s->acks[1].first == 2);
  CHECK(f.store->lastSeq("i-1") == 2u);

  // A duplicate is acked again.
  f.ingest->onBatch(s, batch(2));
  f.ioc.restart();
  f.ioc.poll();
  CHECK(s->acks.size() == 3);

  // A new session of the instance replaces the old one and resumes after seq 2.
  auto s2 = f.hello("i-1", false, 3);
  CHECK(s->closed);
  CHECK(s2->sent[0].welcome().has_stored());
  CHECK(s2->sent[0].welcome().last_stored_seq() == 2);
  f.ingest->onClose(s.get());  // the old one's close does not disconnect the node
  CHECK(f.hub.findNode("pi-1")->connected);
  f.ingest->onClose(s2.get());
  CHECK_FALSE(f.hub.findNode("pi-1")->connected);
}

TEST_CASE("ingest: commands go to capable agents and results are reassembled") {
  Fixture f;
  auto ask = [&](std::chrono::milliseconds timeout = 5s) {
    qw::wire::Command c;
    c.mutable_get_config();
    return boost::asio::co_spawn(f.ioc, f.ingest->command("pi-1", c, timeout),
                                 boost::asio::use_future);
  };
  SECTION("not connected, and an old agent") {
    auto none = ask();
    f.ioc.poll();
    CHECK(none.get().kind == CommandReply::Kind::kNotConnected);
    auto old = f.hello("i-old", false);
    auto r = ask();
    f.ioc.restart();
    f.ioc.poll();
    auto reply = r.get();
    CHECK(reply.kind == CommandReply::Kind::kNotSupported);
    CHECK(reply.message.find("protocol 1") != std::string::npos);
    CHECK(old->sent.size() == 1);  // the Welcome only: nothing was sent
  }
  SECTION("chunks joined in order; ids per session") {
    auto s = f.hello("i-1", true);
    auto r = ask();
    f.ioc.poll();
    REQUIRE(s->sent.size() == 2);
    REQUIRE(s->sent[1].has_command());
    CHECK(s->sent[1].command().id() == 1);
    CHECK(s->sent[1].command().has_get_config());
    for (uint32_t i = 0; i < 3; ++i) {
      qw::wire::CommandResult c;
      c.set_id(1);
      c.set_status(qw::wire::CommandResult::OK);
      c.set_chunk_index(i);
      c.set_chunk_count(3);
      c.set_payload(std::string(1, static_cast<char>('a' + i)));
      s->onCommandResult(c);
    }
    f.ioc.restart();
    f.ioc.poll();
    auto reply = r.get();
    CHECK(reply.kind == CommandReply::Kind::kOk);
    CHECK(reply.payload == "abc");
    auto r2 = ask();
    f.ioc.restart();
    f.ioc.poll();
    CHECK(s->sent.back().command().id() == 2);
    qw::wire::CommandResult ns;
    ns.set_id(2);
    ns.set_status(qw::wire::CommandResult::NOT_SUPPORTED);
    s->onCommandResult(ns);
    f.ioc.restart();
    f.ioc.poll();
    CHECK(r2.get().kind == CommandReply::Kind::kNotSupported);
  }
  SECTION("out of order chunks fail, a closed session answers kNotConnected") {
    auto s = f.hello("i-1", true);
    auto r = ask();
    f.ioc.poll();
    qw::wire::CommandResult c;
    c.set_id(1);
    c.set_chunk_index(1);
    c.set_chunk_count(2);
    s->onCommandResult(c);
    f.ioc.restart();
    f.ioc.poll();
    CHECK(r.get().kind == CommandReply::Kind::kFailed);
    auto r2 = ask();
    f.ioc.restart();
    f.ioc.poll();
    f.ingest->onClose(s.get());
    f.ioc.restart();
    f.ioc.poll();
    CHECK(r2.get().kind == CommandReply::Kind::kNotConnected);
  }
  SECTION("no answer: timeout, and the late answer is dropped") {
    auto s = f.hello("i-1", true);
    auto r = ask(20ms);
    f.ioc.run_for(2s);
    CHECK(r.get().kind == CommandReply::Kind::kTimeout);
    qw::wire::CommandResult late;
    late.set_id(1);
    late.set_status(qw::wire::CommandResult::OK);
    s->onCommandResult(late);  // no one waits: nothing happens
  }
}
