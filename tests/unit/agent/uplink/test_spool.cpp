#include <unistd.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "qw/agent/uplink/backoff.h"
#include "qw/agent/uplink/spool.h"

using qw::agent::Spool;

namespace {
qw::wire::Batch batchOf(int cycle) {
  qw::wire::Batch b;
  b.add_samples()->set_cycle(static_cast<uint64_t>(cycle));
  return b;
}
}  // namespace

TEST_CASE("spool numbers batches, resends after a resume point and forgets acked ones") {
  Spool sp(1 << 20);
  for (int i = 0; i < 5; ++i) CHECK(sp.push(batchOf(i)) == static_cast<uint64_t>(i + 1));
  CHECK(sp.size() == 5);
  REQUIRE(sp.next(0));
  CHECK(sp.next(0)->seq == 1);
  CHECK(sp.next(3)->seq == 4);
  CHECK(sp.next(5) == nullptr);
  sp.ackUpTo(3);
  CHECK(sp.size() == 2);
  CHECK(sp.next(0)->seq == 4);
  qw::wire::AgentMessage m;
  REQUIRE(m.ParseFromString(sp.next(0)->frame));
  CHECK(m.batch().seq() == 4);
  CHECK(m.batch().backlog() == 3);
}

TEST_CASE("a full spool drops the oldest and counts the drops") {
  Spool probe(1 << 20);
  probe.push(batchOf(1));
  size_t one = probe.bytes();
  Spool sp(one * 3 + one / 2);
  for (int i = 0; i < 10; ++i) sp.push(batchOf(i));
  CHECK(sp.bytes() <= one * 3 + one / 2);
  CHECK(sp.size() >= 2);
  CHECK(sp.dropped() + sp.size() == 10);
  CHECK(sp.next(0)->seq == sp.dropped() + 1);  // the oldest went first
  uint64_t before = sp.dropped();
  sp.push(batchOf(11));
  qw::wire::AgentMessage m;
  REQUIRE(m.ParseFromString(sp.next(10)->frame));
  CHECK(sp.dropped() > before);
  // The newest batch already counts the drops its own push caused, so the last batch the
  // aggregator stores always carries the agent's final count.
  CHECK(m.batch().dropped_total() == sp.dropped());
}

TEST_CASE("full-jitter backoff grows to the cap and resets") {
  using namespace std::chrono_literals;
  qw::agent::Backoff b(100ms, 1000ms, 42);
  for (int i = 0; i < 50; ++i) {
    auto d = b.next();
    CHECK(d >= 0ms);
    CHECK(d <= 1000ms);
  }
  CHECK(b.attempt() == 50);
  b.reset();
  CHECK(b.next() <= 100ms);
}

namespace {
struct TmpFile {
  std::string dir, path;
  TmpFile() {
    char tmpl[] = "/tmp/qw-spool-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/agent.spool";
  }
  ~TmpFile() { std::filesystem::remove_all(dir); }
};
}  // namespace

TEST_CASE("a file spool keeps instance id, next seq and unacknowledged batches across restarts") {
  TmpFile t;
  std::string err, note, id;
  {
    auto sp = Spool::openFile(t.path, 1 << 20, &err, &note);
    REQUIRE(sp);
    CHECK(note.find("new") != std::string::npos);
    id = sp->instanceId();
    for (int i = 0; i < 5; ++i) sp->push(batchOf(i));
    sp->ackUpTo(2);
  }
  auto sp = Spool::openFile(t.path, 1 << 20, &err, &note);
  REQUIRE(sp);
  CHECK(sp->instanceId() == id);
  CHECK(sp->size() == 3);
  CHECK(sp->next(0)->seq == 3);
  CHECK(sp->nextSeq() == 6);
  CHECK(sp->push(batchOf(9)) == 6);
  qw::wire::AgentMessage m;
  REQUIRE(m.ParseFromString(sp->next(5)->frame));
  CHECK(m.batch().samples(0).cycle() == 9);
}

TEST_CASE("a torn tail is cut, a foreign file is moved aside") {
  TmpFile t;
  std::string err, note;
  {
    auto sp = Spool::openFile(t.path, 1 << 20, &err, &note);
    for (int i = 0; i < 3; ++i) sp->push(batchOf(i));
  }
  {
    std::ofstream f(t.path, std::ios::app | std::ios::binary);
    f << "\x01garbage-that-is-not-a-whole-record";
  }
  auto sp = Spool::openFile(t.path, 1 << 20, &err, &note);
  REQUIRE(sp);
  CHECK(sp->size() == 3);
  CHECK(note.find("torn or corrupt tail") != std::string::npos);
  sp.reset();
  {
    std::ofstream f(t.path, std::ios::trunc);
    f << "hello, not a spool";
  }
  auto fresh = Spool::openFile(t.path, 1 << 20, &err, &note);
  REQUIRE(fresh);
  CHECK(fresh->size() == 0);
  CHECK(std::filesystem::exists(t.path + ".corrupt"));
  CHECK(note.find("moved to") != std::string::npos);
}

TEST_CASE("drops and the sequence position survive a compaction and a reload") {
  TmpFile t;
  std::string err, note;
  Spool probe(1 << 20);
  probe.push(batchOf(1));
  size_t one = probe.bytes();
  uint64_t dropped = 0;
  {
    auto sp = Spool::openFile(t.path, one * 3, &err, &note);
    for (int i = 0; i < 2000; ++i) sp->push(batchOf(i));  // many rewrites on the way
    dropped = sp->dropped();
    CHECK(dropped > 1900);
    sp->ackUpTo(sp->nextSeq() - 1);
  }
  CHECK(std::filesystem::file_size(t.path) < 64 * 1024 + 8 * one);
  auto sp = Spool::openFile(t.path, one * 3, &err, &note);
  CHECK(sp->size() == 0);
  CHECK(sp->dropped() == dropped);
  CHECK(sp->push(batchOf(1)) == 2001);
}

TEST_CASE("an unwritable spool file is a clear start-up error") {
  std::string err, note;
  CHECK_FALSE(Spool::openFile("/nonexistent-dir/agent.spool", 1 << 20, &err, &note));
  CHECK(err.find("cannot write spool file") != std::string::npos);
}

TEST_CASE("the send time is stamped on a spooled frame without re-encoding it") {
  Spool sp(1 << 20);
  qw::wire::Batch b = batchOf(7);
  b.mutable_samples(0)->set_mono_ms(1234);
  b.set_boot_key(0x8d2c6e1f7b3a4c55);
  sp.push(b);
  std::string frame = sp.next(0)->frame;
  size_t plain = frame.size();
  qw::agent::appendSentTime(&frame, 5000);
  CHECK(frame.size() - plain <= 8);  // a few bytes per send
  qw::wire::AgentMessage m;
  REQUIRE(m.ParseFromString(frame));
  REQUIRE(m.has_batch());
  CHECK(m.batch().seq() == 1);
  REQUIRE(m.batch().samples_size() == 1);  // merged, not replaced
  CHECK(m.batch().samples(0).cycle() == 7);
  CHECK(m.batch().samples(0).mono_ms() == 1234);
  CHECK(m.batch().boot_key() == 0x8d2c6e1f7b3a4c55);
  CHECK(m.batch().sent_mono_ms() == 5000);
  // A replay stamps the spooled bytes afresh: only the newest stamp counts.
  qw::agent::appendSentTime(&frame, 9000);
  REQUIRE(m.ParseFromString(frame));
  CHECK(m.batch().sent_mono_ms() == 9000);
  CHECK(m.batch().samples_size() == 1);
}

TEST_CASE("a spool file that cannot be written says so in every batch, and nothing is lost") {
  TmpFile t;
  std::string err, note;
  auto sp = Spool::openFile(t.path, 4096, &err, &note);
  REQUIRE(sp);
  qw::wire::AgentMessage first;
  sp->push(batchOf(0));
  REQUIRE(first.ParseFromString(sp->next(0)->frame));
  CHECK(first.batch().has_spool_write_errors());
  CHECK(first.batch().spool_write_errors() == 0);
  // The directory goes away: appends still reach the open (unlinked) file, and the next
  // compaction cannot create its new file.
  std::filesystem::remove_all(t.dir);
  int pushes = 0;
  while (sp->writeErrors() == 0 && pushes < 100000) sp->push(batchOf(++pushes));
  REQUIRE(sp->writeErrors() > 0);
  CHECK(sp->lastWriteError().find("No such file or directory") != std::string::npos);
  uint64_t seq = sp->push(batchOf(1));
  qw::wire::AgentMessage m;
  REQUIRE(m.ParseFromString(sp->next(seq - 1)->frame));
  CHECK(m.batch().spool_write_errors() == sp->writeErrors());
  CHECK(m.batch().spool_last_write_error() == sp->lastWriteError());
  CHECK(sp->next(seq - 1)->seq == seq);  // the batch itself is kept in memory
}

TEST_CASE("an in-memory spool reports no write errors (absent, not 0)") {
  Spool sp(1 << 20);
  sp.push(batchOf(0));
  qw::wire::AgentMessage m;
  REQUIRE(m.ParseFromString(sp.next(0)->frame));
  CHECK_FALSE(m.batch().has_spool_write_errors());
}
