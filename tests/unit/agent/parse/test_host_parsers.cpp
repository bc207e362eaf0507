// The pure procfs/sysfs parsers (parse/*.h) on literal text, and the shared string helpers they
// use (qw/strings.h).
#include <catch2/catch.hpp>

#include "qw/agent/parse/cpufreq.h"
#include "qw/agent/parse/diskstats.h"
#include "qw/agent/parse/loadavg.h"
#include "qw/agent/parse/meminfo.h"
#include "qw/agent/parse/pressure.h"
#include "qw/agent/parse/proc_pid.h"
#include "qw/agent/parse/proc_stat.h"
#include "qw/agent/parse/thermal.h"
#include "qw/agent/parse/throttled.h"
#include "qw/strings.h"

using namespace qw::agent;

TEST_CASE("parsers: sysfs block stat with 11, 15 and 17 counters") {
  auto old = parseBlockStat("1 0 8 2 3 0 24 5 0 7 7\n");
  REQUIRE(old);
  CHECK(old->writes == 3);
  CHECK(old->write_sectors == 24);
  CHECK_FALSE(old->flushes);
  auto full = parseBlockStat("1 0 8 2 3 0 24 5 1 7 7 0 0 0 0 4 9\n");
  REQUIRE(full);
  CHECK(full->in_flight == 1);
  CHECK(full->flushes == 4u);
  CHECK(full->flush_ms == 9u);
  CHECK(parseBlockStat("1 0 8 2 3 0 24 5 1 7 7 0 0 0 0\n"));
  CHECK_FALSE(parseBlockStat("1 2 3\n"));
  CHECK_FALSE(parseBlockStat("1 0 8 2 x 0 24 5 1 7 7\n"));
  CHECK_FALSE(parseBlockStat(""));
}

TEST_CASE("parsers: proc stat with odd comm, throttled forms, old diskstats, cpu pressure") {
  auto p = parseProcStat("7 (a) b) (c) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0");
  REQUIRE(p);
  CHECK(p->comm == "a) b) (c");
  CHECK(p->state == 'S');
  CHECK(p->start_ticks == 4242);
  CHECK_FALSE(parseProcStat("7 (etcd) S 1 2"));
  CHECK(parseThrottled("0x50005\n") == 0x50005u);
  CHECK(parseThrottled("50005") == 0x50005u);
  CHECK(parseThrottled("0") == 0u);
  CHECK_FALSE(parseThrottled("zz"));
  CHECK_FALSE(parseThrottled(""));
  CHECK_FALSE(parseThrottled("123456789"));
  // Kernel 4.x: 14 fields, no discard or flush columns.
  auto d = parseDiskstats("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n", "sda");
  REQUIRE(d);
  CHECK(d->writes == 5);
  CHECK(d->write_sectors == 7);
  CHECK_FALSE(d->flushes);
  CHECK_FALSE(parseDiskstats("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n", "sdb"));
  CHECK_FALSE(parseDiskstats("   8       0 sda 1 2 x 4 5 6 7 8 9 10 11\n", "sda"));
  std::optional<PressureLine> some, full;
  CHECK(parsePressure("some avg10=1.50 avg60=0.00 avg300=0.00 total=10\n", &some, &full));
  CHECK(some->avg10 == Approx(1.5));
  CHECK_FALSE(full);
  some.reset();
  CHECK_FALSE(parsePressure("some avg10=x avg60=0 avg300=0 total=1\n", &some, &full));
  CHECK(parseMilliCelsius("-5000\n") == Approx(-5.0));
  CHECK_FALSE(parseMilliCelsius("999999999"));
  CHECK(parseBootTime("cpu 1 2\nbtime 123\n") == 123u);
  auto m = parseMeminfo("MemTotal: 100 kB\nMemAvailable: 50 kB\n");
  CHECK(m.total == 102400u);
  CHECK_FALSE(m.swap_free);
}

TEST_CASE("parsers: cpu lists, kHz, load averages, io accounting, pi throttled bits") {
  CHECK(countCpuList("0-3\n") == 4u);
  CHECK(countCpuList("0,2-3") == 3u);
  CHECK(countCpuList("0") == 1u);
  CHECK(countCpuList("3-1,x") == 0u);
  CHECK(countCpuList("") == 0u);
  CHECK(parseKhz("1500000\n") == 1500000u);
  CHECK_FALSE(parseKhz("fast"));
  auto l = parseLoadavg("0.52 0.58 0.59 1/467 3999\n");
  REQUIRE(l);
  CHECK(l->l5 == Approx(0.58));
  CHECK_FALSE(parseLoadavg("0.52 x 0.59"));
  CHECK_FALSE(parseLoadavg("0.52"));
  CHECK(parseIoWriteBytes("rchar: 1\nwchar: 2\nread_bytes: 3\nwrite_bytes: 4096\n") == 4096u);
  CHECK_FALSE(parseIoWriteBytes("rchar: 1\n"));
  qw::wire::Throttled t;
  decodeThrottled(0xA0008, &t);
  CHECK(t.soft_temp_limit());
  CHECK_FALSE(t.under_voltage());
  CHECK(t.freq_capped_since_boot());
  CHECK(t.soft_temp_limit_since_boot());
  CHECK_FALSE(t.throttled_since_boot());
}

TEST_CASE("strings: trim, fields, split, numbers") {
  CHECK(qw::trim("  a b\t\r\n") == "a b");
  CHECK(qw::trim("\n\n").empty());
  auto f = qw::splitFields("  8  0\tsda ");
  REQUIRE(f.size() == 3);
  CHECK(f[2] == "sda");
  auto p = qw::split(std::string_view("a\0\0b", 4), '\0');
  REQUIRE(p.size() == 3);
  CHECK(p[1].empty());
  CHECK(p[2] == "b");
  CHECK(qw::split("", ',').empty());
  CHECK(qw::parseUint(" 42\n") == 42u);
  CHECK_FALSE(qw::parseUint("-1"));
  CHECK_FALSE(qw::parseUint(""));
  CHECK(qw::parseInt("-5000\n") == -5000);
  CHECK(qw::parseDouble("1.25") == Approx(1.25));
  CHECK_FALSE(qw::parseDouble("1.25 "));
  CHECK(qw::parseHex("0x1f") == 31u);
  CHECK_FALSE(qw::parseHex("0x"));
  CHECK(qw::startsWith("btime 1", "btime "));
  int lines = 0;
  qw::forEachLine("a\nb\nc", [&](std::string_view) { return ++lines < 2; });
  CHECK(lines == 2);
}
