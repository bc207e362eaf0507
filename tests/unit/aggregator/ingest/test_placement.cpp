// The history's time axis (placement.h): replayed batches, clock steps, spools from before a
// reboot and agents without the monotonic fields, on explicit clocks; and the store keeping one
// sample per node and millisecond, counting what it could not place exactly.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "qw/aggregator/ingest/placement.h"
#include "qw/aggregator/model/series.h"
#include "qw/aggregator/store/store.h"
#include "qw/ids.h"

using qw::aggregator::placeBatch;
using qw::aggregator::Store;
using qw::aggregator::TimeSource;

namespace {

constexpr int64_t kBoot = 1'700'000'000'000;  // aggregator wall time at the agent's boot (mono 0)
constexpr uint64_t kKey = 0x8d2c6e1f7b3a4c55;

// A sample taken at agent boot-clock `mono`, with a wall clock `wall` (unsynchronised unless said).
qw::wire::NodeSample at(int64_t mono, int64_t wall, bool synced = false) {
  qw::wire::NodeSample s;
  s.set_mono_ms(mono);
  s.set_ts_unix_ms(wall);
  s.set_clock_synced(synced);
  s.mutable_etcd()->set_reachable(true);
  s.mutable_etcd()->set_raft_index(100 + static_cast<uint64_t>(mono / 1000));
  s.mutable_etcd()->set_raft_applied_index(100 + static_cast<uint64_t>(mono / 1000));
  return s;
}

qw::wire::Batch batch(std::vector<qw::wire::NodeSample> v, std::optional<int64_t> sent_mono,
                      uint64_t key = kKey) {
  qw::wire::Batch b;
  for (auto& s : v) *b.add_samples() = std::move(s);
  if (sent_mono) b.set_sent_mono_ms(*sent_mono);
  b.set_boot_key(key);
  return b;
}

struct TempDb {
  std::string path;
  TempDb() {
    char tmpl[] = "/tmp/qw-place-XXXXXX";
    path = std::string(mkdtemp(tmpl)) + "/agg.db";
  }
  ~TempDb() { std::filesystem::remove_all(std::filesystem::path(path).parent_path()); }
};

struct Db {
  TempDb t;
  Store s{[this] {
    Store::Options o;
    o.path = t.path;
    o.background_checkpoint = false;
    return o;
  }()};
  uint64_t seq = 0;
  Store::Item put(qw::wire::Batch& b, int64_t recv, uint64_t session_key = kKey) {
    b.set_seq(++seq);
    std::vector<Store::Item> items{{"inst", "n1", &b, recv}};
    items[0].boot_key = session_key;
    auto err = s.commit(items);
    INFO(err.value_or(""));
    REQUIRE_FALSE(err);
    return items[0];
  }
  // Timestamps of the node's "reachable" series (a point in every sample), in order.
  std::vector<int64_t> stamps() {
    std::vector<int64_t> out;
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(s.db(),
                               "SELECT ts_ms FROM points JOIN series ON series.id = series_id "
                               "WHERE node = 'n1' AND metric = 'etcd_reachable' ORDER BY ts_ms",
                               -1, &st, nullptr) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) out.push_back(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return out;
  }
};

}  // namespace

TEST_CASE("bootKey takes the boot id's first 16 hex digits") {
  CHECK(qw::bootKey("8d2c6e1f-7b3a-4c55-9e0d-2f6a1b3c4d5e") == kKey);
  CHECK(qw::bootKey("8D2C6E1F-7B3A-4C55-9E0D-2F6A1B3C4D5E") == kKey);
  CHECK(qw::bootKey("") == 0);
  CHECK(qw::bootKey("8d2c6e1f-7b3a") == 0);  // too short
  CHECK(qw::bootKey("8d2c6e1f-7b3a-4c5x-9e0d") == 0);
}

TEST_CASE("one batch placed by the agent's boot clock, whatever its wall clock says") {
  // Wall clock a year behind (no RTC, no NTP yet); 3 samples 1 s apart, sent 50 ms after the
  // last, received 3 ms later.
  int64_t wrong = kBoot - 365LL * 86400 * 1000;
  auto b = batch({at(1000, wrong + 1000), at(2000, wrong + 2000), at(3000, wrong + 3000)}, 3050);
  int64_t recv = kBoot + 3050 + 3;
  auto p = placeBatch(b, recv, kKey);
  REQUIRE(p.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(p[static_cast<size_t>(i)].source == TimeSource::kMonotonic);
    CHECK(p[static_cast<size_t>(i)].ts_ms == kBoot + 1000 * (i + 1) + 3);  // true time + delay
  }
  CHECK(std::string(qw::aggregator::timeSourceName(p[0].source)) == "MONOTONIC");
}

TEST_CASE("a backlog replayed after a 10-minute outage keeps its spacing and real times") {
  Db db;
  // 600 one-sample batches made 1 s apart while the aggregator was away, replayed from 605 s
  // on, 2 ms apart, each received 4 ms after it was sent.
  int64_t worst = 0;
  std::set<int64_t> seen;
  for (int i = 0; i < 600; ++i) {
    int64_t mono = 1000LL * (i + 1);
    auto b = batch({at(mono, 42 + mono)}, 605'000 + 2 * i);
    int64_t recv = kBoot + 605'000 + 2 * i + 4;
    auto p = placeBatch(b, recv, kKey);
    REQUIRE(p.size() == 1);
    CHECK(p[0].source == TimeSource::kMonotonic);
    worst = std::max(worst, std::abs(p[0].ts_ms - (kBoot + mono)));
    seen.insert(p[0].ts_ms);
    auto item = db.put(b, recv);
    CHECK(item.time_source == TimeSource::kMonotonic);
  }
  CHECK(worst == 4);  // the network delay, nothing else
  CHECK(seen.size() == 600);
  auto ts = db.stamps();
  REQUIRE(ts.size() == 600);
  for (size_t i = 1; i < ts.size(); ++i) CHECK(ts[i] - ts[i - 1] == 1000);
  CHECK(db.s.pointsConflicts() == 0);
  // The 1 s series has a point in each of the 600 seconds.
  std::vector<Store::SeriesPoint> out;
  std::string agg;
  int metric = qw::aggregator::findMetric("etcd_reachable", &agg);
  REQUIRE(metric >= 0);
  REQUIRE_FALSE(db.s.querySeries("n1", metric, kBoot + 1000, kBoot + 600'999, 1000, "last", &out));
  CHECK(out.size() == 600);
}

TEST_CASE("the boot-clock offset is the least delayed frame's, so a queued burst is not late") {
  qw::aggregator::BootClockOffset off;
  // The first frame of a replay arrives 2 ms after it was sent; the next ones wait longer and
  // longer behind the aggregator's commits (up to 330 ms).
  CHECK(off.placementRecv(kBoot + 1002, 1000) == kBoot + 1002);
  for (int i = 1; i < 100; ++i) {
    int64_t sent = 1000 + i;
    CHECK(off.placementRecv(kBoot + sent + 2 + 3 * i, sent) == kBoot + sent + 2);
  }
  // A less delayed frame improves the estimate.
  CHECK(off.placementRecv(kBoot + 2000 + 1, 2000) == kBoot + 2001);
  // A minute later the old minimum has aged out: the newest frames' delay counts again.
  CHECK(off.placementRecv(kBoot + 70'000 + 9, 70'000) == kBoot + 70'009);
  // A clock stepped by 10 s starts afresh instead of placing everything 10 s off.
  CHECK(off.placementRecv(kBoot + 10'000 + 71'000 + 3, 71'000) == kBoot + 10'000 + 71'003);
}

TEST_CASE("a batch straddling a wall-clock step keeps order and spacing") {
  SECTION("stepped back an hour while unsynchronised") {
    auto b = batch({at(1000, kBoot + 1000), at(2000, kBoot + 2000),
                    at(3000, kBoot + 3000 - 3'600'000), at(4000, kBoot + 4000 - 3'600'000)},
                   4010);
    auto p = placeBatch(b, kBoot + 4011, kKey);
    for (size_t i = 0; i < 4; ++i) {
      CHECK(p[i].source == TimeSource::kMonotonic);
      CHECK(p[i].ts_ms == kBoot + 1000 * static_cast<int64_t>(i + 1) + 1);
    }
  }
  SECTION("NTP steps the clock forward and synchronises in the middle of a batch") {
    int64_t behind = kBoot - 86'400'000;  // fake-hwclock's last saved time, a day behind
    auto b = batch({at(1000, behind + 1000), at(2000, behind + 2000), at(3000, kBoot + 3000, true),
                    at(4000, kBoot + 4000, true)},
                   4010);
    auto p = placeBatch(b, kBoot + 4012, kKey);
    CHECK(p[0].source == TimeSource::kMonotonic);
    CHECK(p[1].source == TimeSource::kMonotonic);
    CHECK(p[2].source == TimeSource::kAgentClock);
    CHECK(p[3].source == TimeSource::kAgentClock);
    for (size_t i = 0; i < 4; ++i)
      CHECK(std::abs(p[i].ts_ms - (kBoot + 1000 * static_cast<int64_t>(i + 1))) <= 2);
    for (size_t i = 1; i < 4; ++i) CHECK(p[i].ts_ms > p[i - 1].ts_ms);
  }
}

TEST_CASE("a spool from before a reboot goes by its wall clock, before the new boot began") {
  Db db;
  const uint64_t old_key = 0x1111222233334444;
  // The node rebooted; the agent starts 5 s into the new boot and replays two batches of the
  // old boot whose wall clock (unsynchronised) runs ahead of the aggregator's.
  int64_t recv = kBoot + 5000 + 2;
  auto b1 = batch({at(900'000, kBoot + 60'000), at(901'000, kBoot + 61'000)}, 5000, old_key);
  auto p = placeBatch(b1, recv, kKey);
  CHECK(p[0].source == TimeSource::kAgentClock);
  CHECK(p[1].ts_ms == recv - 5000 - 1);  // the newest just before the boot (recv - sent_mono)
  CHECK(p[1].ts_ms - p[0].ts_ms == 1000);
  db.put(b1, recv);
  auto b2 = batch({at(902'000, kBoot + 62'000)}, 5001, old_key);
  auto item = db.put(b2, recv + 1);  // placed on the same millisecond as b1's newest
  CHECK(item.time_source == TimeSource::kAgentClock);
  auto ts = db.stamps();
  REQUIRE(ts.size() == 3);  // nothing lost, no millisecond shared
  CHECK(std::set<int64_t>(ts.begin(), ts.end()).size() == 3);
  CHECK(db.s.pointsConflicts() > 0);  // the move is counted
  // A batch of this boot after them is placed by its boot clock.
  auto b3 = batch({at(5500, 0)}, 5600);
  CHECK(placeBatch(b3, kBoot + 5601, kKey)[0].source == TimeSource::kMonotonic);
}

TEST_CASE("an agent without the monotonic fields gets the receive-time placement") {
  Db db;
  qw::wire::Batch b;
  for (int i = 0; i < 3; ++i) {
    auto s = at(0, 5000 + 1000 * i);
    s.clear_mono_ms();
    *b.add_samples() = s;
  }
  auto p = placeBatch(b, kBoot, 0);
  CHECK(p[0].source == TimeSource::kReceiveTime);
  CHECK(p[0].ts_ms == kBoot - 2000);
  CHECK(p[2].ts_ms == kBoot);
  // Two such batches replayed on the same instant collide: the store moves the second one's
  // samples to free milliseconds and counts them, losing none.
  db.put(b, kBoot, 0);
  qw::wire::Batch again = b;
  db.put(again, kBoot, 0);
  auto ts = db.stamps();
  CHECK(ts.size() == 6);
  CHECK(std::set<int64_t>(ts.begin(), ts.end()).size() == 6);
  CHECK(db.s.pointsConflicts() > 0);
}

TEST_CASE("a point colliding with one older than the samples' retention is refused and counted") {
  Db db;
  auto b = batch({at(1000, 0)}, 1000);
  db.put(b, kBoot + 1000);
  // Retention removed the sample row but kept its points (samples a day, points a week).
  REQUIRE(sqlite3_exec(db.s.db(), "DELETE FROM samples", nullptr, nullptr, nullptr) == SQLITE_OK);
  uint64_t before = db.s.pointsStored();
  auto b2 = batch({at(1000, 0)}, 1000);
  db.put(b2, kBoot + 1000);
  CHECK(db.s.pointsStored() == before);  // nothing overwritten
  CHECK(db.s.pointsConflicts() >= 1);
  CHECK(db.stamps().size() == 1);
}
