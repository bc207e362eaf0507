// Query latency through HTTP on a database holding N nodes x D days of 1 s samples: the real
// aggregator binary serves a 24 h series at 1-minute step (rollups), a 1 h raw series at 1 s step
// and a 24 h WAL fsync p99 at 1-minute step (merged bucket rollups); p50/p99 latency per query
// kind over keep-alive connections, and the aggregator's PSS and RSS at the end.
#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "harness.h"
#include "qw/aggregator/store/store.h"
#include "sample.pb.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s: %s\n", sql.c_str(), err ? err : "?");
    std::exit(1);
  }
}

struct Roll {
  int64_t n = 0;
  double sum = 0, mn = 0, mx = 0, last = 0;
  int64_t last_ts = 0;
};

// Fills the schema directly (the same tables the aggregator writes), series by series.
void generate(const std::string& path, int nodes, int days, int64_t end_ms, uint64_t* rows) {
  qw::aggregator::Store::Options o;
  o.path = path;
  { qw::aggregator::Store create(o); }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=OFF");
  const char* gauges[] = {"raft_index", "db_size_bytes", "cpu_temperature_celsius",
                          "disk_write_iops", "io_pressure_some_avg10"};
  const int64_t n_sec = static_cast<int64_t>(days) * 86400;
  const int64_t start = end_ms - n_sec * 1000;
  sqlite3_stmt *pt = nullptr, *ro = nullptr, *hp = nullptr, *hr = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO points VALUES(?,?,?)", -1, &pt, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO rollups VALUES(?,?,?,?,?,?,?,?)", -1, &ro, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO hist_points VALUES(?,?,?)", -1, &hp, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO hist_rollups VALUES(?,?,?)", -1, &hr, nullptr);
  int64_t sid = 0;
  for (int n = 0; n < nodes; ++n) {
    std::string node = "pi-" + std::to_string(n + 1);
    exec(db, "INSERT INTO nodes(name, cluster_name, first_seen_ms, last_seen_ms) VALUES('" + node +
                 "', 'bench', " + std::to_string(start) + ", " + std::to_string(end_ms) + ")");
    for (const char* g : gauges) {
      exec(db, "BEGIN");
      exec(db, "INSERT INTO series(node, metric) VALUES('" + node + "', '" + g + "')");
      sid = sqlite3_last_insert_rowid(db);
      Roll r;
      int64_t minute = start;
      auto flush = [&] {
        if (!r.n) return;
        sqlite3_bind_int64(ro, 1, sid);
        sqlite3_bind_int64(ro, 2, minute);
        sqlite3_bind_int64(ro, 3, r.n);
        sqlite3_bind_double(ro, 4, r.sum);
        sqlite3_bind_double(ro, 5, r.mn);
        sqlite3_bind_double(ro, 6, r.mx);
        sqlite3_bind_int64(ro, 7, r.last_ts);
        sqlite3_bind_double(ro, 8, r.last);
        sqlite3_step(ro);
        sqlite3_reset(ro);
        ++*rows;
        r = Roll{};
      };
      for (int64_t i = 0; i < n_sec; ++i) {
        int64_t ts = start + i * 1000;
        double v = std::string(g) == "raft_index"
                       ? static_cast<double>(100000 + i * 3)
                       : 50 + 10 * std::sin(static_cast<double>(i) / 600);
        sqlite3_bind_int64(pt, 1, sid);
        sqlite3_bind_int64(pt, 2, ts);
        sqlite3_bind_double(pt, 3, v);
        sqlite3_step(pt);
        sqlite3_reset(pt);
        ++*rows;
        if (ts - minute >= 60000) {
          flush();
          minute = ts;
        }
        if (!r.n) r.mn = r.mx = v;
        r.mn = std::min(r.mn, v);
        r.mx = std::max(r.mx, v);
        ++r.n;
        r.sum += v;
        r.last = v;
        r.last_ts = ts;
      }
      flush();
      exec(db, "COMMIT");
    }
    // WAL fsync bucket deltas every 10 s, and their per-minute sums.
    exec(db, "BEGIN");
    exec(db, "INSERT INTO series(node, metric) VALUES('" + node + "', 'wal_fsync_seconds')");
    sid = sqlite3_last_insert_rowid(db);
    const double bounds[] = {0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,   0.128,
                             0.256, 0.512, 1.024, 2.048, 4.096, 8.192, INFINITY};
    auto make = [&](uint64_t scale) {
      qw::wire::Histogram h;
      uint64_t cum = 0;
      for (size_t b = 0; b < std::size(bounds); ++b) {
        cum += b < 6 ? scale * (6 - b) : 0;
        h.add_upper_bounds(bounds[b]);
        h.add_counts(cum);
      }
      h.set_count(cum);
      return h;
    };
    std::string blob;
    for (int64_t i = 0; i < n_sec; i += 10) {
      auto h = make(static_cast<uint64_t>(3 + i % 7));
      blob = h.SerializeAsString();
      sqlite3_bind_int64(hp, 1, sid);
      sqlite3_bind_int64(hp, 2, start + i * 1000);
      sqlite3_bind_blob(hp, 3, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
      sqlite3_step(hp);
      sqlite3_reset(hp);
      ++*rows;
      if (i % 60 == 0) {
        auto m = make(static_cast<uint64_t>(6 * (3 + i % 7)));
        blob = m.SerializeAsString();
        sqlite3_bind_int64(hr, 1, sid);
        sqlite3_bind_int64(hr, 2, start + i * 1000);
        sqlite3_bind_blob(hr, 3, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
        sqlite3_step(hr);
        sqlite3_reset(hr);
        ++*rows;
      }
    }
    exec(db, "COMMIT");
  }
  for (auto* s : {pt, ro, hp, hr}) sqlite3_finalize(s);
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
}

struct Stats {
  std::vector<double> ms;
  size_t points = 0;
  void print(const char* what) {
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double q) {
      return ms[static_cast<size_t>(q * static_cast<double>(ms.size() - 1))];
    };
    std::printf(
        "query: %-44s %4zu requests, %5zu points each: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        what, ms.size(), points, pct(0.5), pct(0.99), ms.back());
  }
};

long kib(int pid, const char* file, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  long total = 0;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) total += std::atol(line.c_str() + std::strlen(key));
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 7, days = 7, requests = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (a == "--nodes")
      nodes = v;
    else if (a == "--days")
      days = v;
    else if (a == "--requests")
      requests = v;
    else {
      std::fprintf(stderr, "usage: %s [--nodes N] [--days D] [--requests R]\n", argv[0]);
      return 2;
    }
  }
  qw::test::TempDir tmp("qw-bench-query");
  qw::test::Aggregator agg(tmp.path());
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  int64_t end = now_ms / 60000 * 60000;
  uint64_t rows = 0;
  auto g0 = Clock::now();
  generate(agg.dbPath(), nodes, days, end, &rows);
  double gen = std::chrono::duration<double>(Clock::now() - g0).count();
  std::ifstream f(agg.dbPath(), std::ios::ate | std::ios::binary);
  std::printf(
      "query: generated %d nodes x %d days of 1 s samples (5 gauge series at 1 s and WAL "
      "fsync buckets every 10 s per node, with their rollups): %llu rows, %.0f MB, in %.0f s\n",
      nodes, days, static_cast<unsigned long long>(rows), static_cast<double>(f.tellg()) / 1e6,
      gen);
  int port = agg.start(std::chrono::seconds(60));
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  beast::flat_buffer buf;
  auto get = [&](const std::string& target, size_t* points) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    auto t0 = Clock::now();
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (res.result_int() != 200) {
      std::fprintf(stderr, "GET %s: %u %s\n", target.c_str(), res.result_int(), res.body().c_str());
      std::exit(1);
    }
    size_t n = 0;
    for (size_t p = res.body().find("\"ts\""); p != std::string::npos;
         p = res.body().find("\"ts\"", p + 1))
      ++n;
    *points = n;
    return ms;
  };
  std::string to = std::to_string(end / 1000);
  std::string day = std::to_string(end / 1000 - 86400), hour = std::to_string(end / 1000 - 3600);
  struct Kind {
    const char* name;
    std::string query;
    Stats st;
  } kinds[] = {
      {"24 h of raft_index at 1 m step (rollups)",
       "metric=raft_index&from=" + day + "&to=" + to + "&step=1m",
       {}},
      {"1 h of cpu_temperature at 1 s step (raw)",
       "metric=cpu_temperature_celsius&from=" + hour + "&to=" + to + "&step=1s",
       {}},
      {"24 h of wal_fsync p99 at 1 m step (buckets)",
       "metric=wal_fsync_p99_seconds&from=" + day + "&to=" + to + "&step=1m",
       {}},
  };
  // Warm-up: one pass over every node (page cache), not measured.
  size_t pts = 0;
  for (auto& k : kinds)
    for (int n = 0; n < nodes; ++n)
      get("/api/v1/nodes/pi-" + std::to_string(n + 1) + "/series?" + k.query, &pts);
  for (int i = 0; i < requests; ++i)
    for (auto& k : kinds) {
      std::string node = "pi-" + std::to_string(i % nodes + 1);
      k.st.ms.push_back(get("/api/v1/nodes/" + node + "/series?" + k.query, &k.st.points));
    }
  for (auto& k : kinds) k.st.print(k.name);
  int pid = agg.process().pid();
  long pss = kib(pid, "smaps_rollup", "Pss:"), rss = kib(pid, "status", "VmRSS:");
  std::printf("query: aggregator at the end: PSS %.1f MiB, RSS %.1f MiB (target p99 <= 10 ms)\n",
              static_cast<double>(pss) / 1024, static_cast<double>(rss) / 1024);
  agg.stop();
  return 0;
}
