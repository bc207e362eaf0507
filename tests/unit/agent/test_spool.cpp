#include <catch2/catch.hpp>

#include "qw/agent/backoff.h"
#include "qw/agent/spool.h"

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
  CHECK(m.batch().dropped_total() == before);  // counted before this push dropped more
  CHECK(sp.dropped() > before);
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
