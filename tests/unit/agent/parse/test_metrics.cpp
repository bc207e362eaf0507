#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "../../fixture.h"
#include "qw/agent/parse/etcd_metrics.h"
#include "qw/agent/parse/prom_parse.h"

using qw::agent::extractEtcdMetrics;
using qw::agent::metricsDelta;
using qw::agent::parsePrometheusText;
using qw::agent::PromSample;

TEST_CASE("prometheus text: comments, labels with escapes, +Inf, exponents, timestamps") {
  std::string text =
      "# HELP x_total A help text with \\ and \"quotes\"\n"
      "# TYPE x_total counter\n"
      "x_total 3\n"
      "  \n"
      "h_bucket{le=\"+Inf\"} 7\n"
      "big 1.6777216e+07\n"
      "lbl{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\nbye\",empty=\"\"} -2.5 1700000000000\n"
      "nan NaN\n"
      "neg -Inf\n";
  std::vector<std::string> names;
  std::string path, msg, empty = "unset";
  double big = 0, inf = 0;
  auto r = parsePrometheusText(text, [&](const PromSample& s) {
    names.emplace_back(s.name);
    if (s.name == "big") big = s.value;
    if (s.name == "h_bucket") {
      CHECK(s.label("le") == "+Inf");
      inf = s.value;
    }
    if (s.name == "lbl") {
      path = s.label("path");
      msg = s.label("msg");
      empty = s.label("empty");
      CHECK(s.value == -2.5);
    }
    if (s.name == "nan") CHECK(std::isnan(s.value));
    if (s.name == "neg") CHECK(std::isinf(s.value));
  });
  CHECK(r.errors == 0);
  CHECK(r.samples == 6);
  CHECK(names.front() == "x_total");
  CHECK(big == 16777216.0);
  CHECK(inf == 7);
  CHECK(path == "C:\\dir");
  CHECK(msg == "say \"hi\"\nbye");
  CHECK(empty.empty());
}

TEST_CASE("prometheus text: garbage lines are counted and skipped, the rest parses") {
  auto r = parsePrometheusText(
      "ok 1\n{no_name} 1\nbad{x=\"unterminated} 1\nv notanumber\n"
      "t 1 2 3\nok2 2\n\x01\x02\n",
      [](const PromSample&) {});
  CHECK(r.samples == 2);
  CHECK(r.errors == 5);
  CHECK(r.first_error.rfind("line 2:", 0) == 0);
}

TEST_CASE("prometheus text: a name filter skips other lines unparsed") {
  std::vector<std::string> seen;
  auto r = parsePrometheusText(
      "# HELP keep_a x\nkeep_a{l=\"v\"} 1\nskip_b{broken 1\nskip_c notanumber\nkeep_d 2 17\n",
      [](std::string_view n) { return n.substr(0, 5) == "keep_"; },
      [&](const PromSample& s) { seen.emplace_back(s.name); });
  CHECK(r.samples == 2);
  CHECK(r.errors == 0);  // the malformed lines were never looked at
  CHECK(seen == std::vector<std::string>{"keep_a", "keep_d"});
}

TEST_CASE("etcd metrics: fed in pieces cut anywhere, the reader gives what the whole text gives") {
  for (const char* f : {"etcd-3.4.23/metrics_m1.txt", "etcd-3.5.16/metrics_m1.txt"}) {
    auto text = fixture(f);
    qw::wire::EtcdMetrics whole;
    REQUIRE_FALSE(extractEtcdMetrics(text, &whole));
    qw::agent::EtcdMetricsReader reader;  // reused: finish() readies it for the next body
    for (size_t piece : {size_t{1}, size_t{7}, size_t{100}, size_t{4096}, size_t{32768}}) {
      INFO(f << " in pieces of " << piece);
      for (size_t at = 0; at < text.size(); at += piece)
        reader.feed(std::string_view(text).substr(at, piece));
      qw::wire::EtcdMetrics pieces;
      REQUIRE_FALSE(reader.finish(&pieces));
      CHECK(pieces.SerializeAsString() == whole.SerializeAsString());
      CHECK(pieces.bytes() == text.size());
    }
  }
  // A last line without a newline still counts; errors name the line in the whole body.
  qw::agent::EtcdMetricsReader reader;
  reader.feed("etcd_server_has_leader 1\netcd_server_is_lea");
  reader.feed("der 0\nbroken{ 1\netcd_server_proposals_pending 4");
  qw::wire::EtcdMetrics m;
  REQUIRE_FALSE(reader.finish(&m));
  CHECK(m.has_leader() == 1);
  CHECK(m.is_leader() == 0);
  CHECK(m.proposals_pending() == 4);
  CHECK(m.parse_errors() == 0);  // "broken" is not a family the agent reads: never parsed
  reader.feed("etcd_server_has_leader 1\n\netcd_server_is_leader x\n");
  REQUIRE_FALSE(reader.finish(&m));
  CHECK(m.parse_errors() == 1);
  CHECK_FALSE(m.has_is_leader());
  reader.feed("a 1\n<ht");
  reader.feed("ml>");
  auto err = reader.finish(&m);
  REQUIRE(err);
  CHECK_THAT(*err, Catch::StartsWith("no etcd metrics in 10 bytes (line 2: "));
}

TEST_CASE("etcd metrics: every family read is the same with the name filter") {
  // The agent's filter must let through all the lines extractEtcdMetrics uses: compare with
  // what the full parse sees in the real captures.
  for (const char* f : {"etcd-3.4.23/metrics_m1.txt", "etcd-3.5.16/metrics_m1.txt"}) {
    INFO(f);
    auto text = fixture(f);
    qw::wire::EtcdMetrics m;
    REQUIRE_FALSE(extractEtcdMetrics(text, &m));
    uint64_t fsync_count = 0, commit_count = 0;
    double quota = 0;
    parsePrometheusText(text, [&](const PromSample& s) {
      if (s.name == "etcd_disk_wal_fsync_duration_seconds_count")
        fsync_count = static_cast<uint64_t>(s.value);
      if (s.name == "etcd_disk_backend_commit_duration_seconds_count")
        commit_count = static_cast<uint64_t>(s.value);
      if (s.name == "etcd_server_quota_backend_bytes") quota = s.value;
    });
    CHECK(m.wal_fsync().count() == fsync_count);
    CHECK(m.backend_commit().count() == commit_count);
    CHECK(m.quota_backend_bytes() == quota);
    CHECK(m.has_proposals_committed());
    CHECK(m.has_proposals_pending());
    CHECK(m.has_slow_applies());
    CHECK(m.has_heartbeat_send_failures());
    CHECK(m.has_db_in_use_bytes());
    CHECK(m.has_process_start_time_seconds());
  }
}

TEST_CASE("etcd 3.4 metrics: gauges, counters, histograms and peers") {
  qw::wire::EtcdMetrics m;
  REQUIRE_FALSE(extractEtcdMetrics(fixture("etcd-3.4.23/metrics_m1.txt"), &m));
  CHECK(m.parse_errors() == 0);
  CHECK(m.server_version() == "3.4.23");
  CHECK(m.has_leader() == 1);
  CHECK(m.is_learner() == 0);
  CHECK(m.leader_changes() == 1);
  CHECK(m.quota_backend_bytes() == 2147483648.0);
  CHECK(m.db_total_size_bytes() == 24576);
  REQUIRE(m.wal_fsync().upper_bounds_size() == 15);
  CHECK(m.wal_fsync().upper_bounds(0) == 0.001);
  CHECK(std::isinf(m.wal_fsync().upper_bounds(14)));
  CHECK(m.wal_fsync().counts(0) == 31);
  CHECK(m.wal_fsync().count() == 32);
  CHECK(m.backend_commit().count() > 0);
  CHECK(m.peer_rtt_size() == 2);  // two peers probed
  CHECK(m.peer_rtt(0).rtt().count() > 0);
  CHECK(m.has_process_start_time_seconds());
}

TEST_CASE("etcd 3.5 metrics: the same signals, peer RTT absent before the first probe") {
  qw::wire::EtcdMetrics m;
  REQUIRE_FALSE(extractEtcdMetrics(fixture("etcd-3.5.16/metrics_m1.txt"), &m));
  CHECK(m.parse_errors() == 0);
  CHECK(m.server_version() == "3.5.16");
  CHECK(m.quota_backend_bytes() == 16777216.0);
  CHECK(m.wal_fsync().count() == 57);
  CHECK(m.peer_rtt_size() == 0);  // unknown, not zero
  CHECK(m.has_leader_changes());
  qw::wire::EtcdMetrics learner;
  REQUIRE_FALSE(
      extractEtcdMetrics(fixture("etcd-3.5.16/learner-m4-metrics-excerpt.txt"), &learner));
  CHECK(learner.is_learner() == 1);
  CHECK(learner.has_leader() == 1);
  CHECK_FALSE(learner.has_wal_fsync());  // not in the excerpt: absent, not an empty 0
}

TEST_CASE("not etcd metrics at all is an error") {
  qw::wire::EtcdMetrics m;
  CHECK(extractEtcdMetrics("<html>oops</html>", &m));
  CHECK(extractEtcdMetrics("", &m));
}

namespace {
qw::wire::EtcdMetrics sample(uint64_t leader_changes, std::vector<uint64_t> buckets, double start) {
  qw::wire::EtcdMetrics m;
  m.set_leader_changes(leader_changes);
  m.set_has_leader(1);
  m.set_process_start_time_seconds(start);
  uint64_t total = buckets.empty() ? 0 : buckets.back();
  double bound = 0.001;
  for (auto b : buckets) {
    m.mutable_wal_fsync()->add_upper_bounds(bound);
    m.mutable_wal_fsync()->add_counts(b);
    bound *= 2;
  }
  m.mutable_wal_fsync()->set_count(total);
  m.mutable_wal_fsync()->set_sum(static_cast<double>(total) * 0.001);
  return m;
}
}  // namespace

TEST_CASE("deltas: none in the first scrape, differences later, resets are not negative") {
  auto a = sample(1, {10, 12, 12}, 100);
  auto first = metricsDelta(nullptr, a, 0);
  CHECK(first.interval_ms() == 0);
  CHECK_FALSE(first.has_leader_changes());
  CHECK_FALSE(first.has_wal_fsync());
  CHECK(first.has_leader() == 1);  // gauges travel

  auto b = sample(3, {15, 20, 21}, 100);
  auto d = metricsDelta(&a, b, 10000);
  CHECK(d.interval_ms() == 10000);
  CHECK_FALSE(d.counters_reset());
  CHECK(d.leader_changes() == 2);
  CHECK(d.wal_fsync().counts(0) == 5);
  CHECK(d.wal_fsync().counts(2) == 9);
  CHECK(d.wal_fsync().count() == 9);

  // etcd restarted without a start-time change visible (e.g. embedded in k3s): values went down.
  auto c = sample(1, {2, 2, 2}, 100);
  auto r = metricsDelta(&b, c, 10000);
  CHECK(r.counters_reset());
  CHECK(r.leader_changes() == 1);
  CHECK(r.wal_fsync().counts(0) == 2);

  // A new process start time is a restart even if a counter is back at its old value.
  auto e = sample(3, {15, 20, 21}, 200);
  auto s = metricsDelta(&b, e, 10000);
  CHECK(s.counters_reset());
  CHECK(s.leader_changes() == 3);
}
