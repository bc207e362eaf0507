// Ingest throughput through the real path: the real aggregator binary, K simulated agents over
// loopback WebSockets sending full Raspberry-Pi-shaped samples (pipelined, acknowledged), points
// counted by the aggregator itself (/metrics). In the same run, the ceiling: bare batched SQLite
// inserts of as many points into the same schema's points table, no network, no decoding.
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "qw/aggregator/store/store.h"
#include "wire.pb.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

qw::wire::Histogram hist(uint64_t scale) {
  qw::wire::Histogram h;
  const double bounds[] = {0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,   0.128,
                           0.256, 0.512, 1.024, 2.048, 4.096, 8.192, INFINITY};
  uint64_t cum = 0;
  for (size_t i = 0; i < std::size(bounds); ++i) {
    cum += (i < 6 ? scale * (6 - i) : 0);
    h.add_upper_bounds(bounds[i]);
    h.add_counts(cum);
  }
  h.set_count(cum);
  h.set_sum(0.003 * static_cast<double>(cum));
  return h;
}

// What a Raspberry Pi 4 agent sends each second; every tenth carries the /metrics deltas.
qw::wire::NodeSample piSample(int64_t ts, uint64_t i) {
  qw::wire::NodeSample s;
  s.set_ts_unix_ms(ts);
  s.set_clock_synced(true);
  s.set_cycle(i);
  auto* e = s.mutable_etcd();
  e->set_reachable(true);
  e->set_health(true);
  e->set_has_leader(true);
  e->set_leader_id(0x8e9e05c52164694dULL);
  e->set_member_id(0x8e9e05c52164694dULL);
  e->set_raft_term(7);
  e->set_raft_index(100000 + i * 3);
  e->set_raft_applied_index(100000 + i * 3);
  e->set_db_size_bytes(25 << 20);
  e->set_db_size_in_use_bytes(20 << 20);
  e->set_version("3.5.16");
  e->set_status_latency_us(900 + static_cast<uint32_t>(i % 200));
  e->set_members_ok(true);
  for (int m = 0; m < 3; ++m) {
    auto* mem = e->add_members();
    mem->set_id(0x8e9e05c52164694dULL + static_cast<uint64_t>(m));
    mem->set_name("pi-" + std::to_string(m + 1));
    mem->add_peer_urls("https://10.0.0." + std::to_string(m + 11) + ":2380");
    mem->add_client_urls("https://10.0.0." + std::to_string(m + 11) + ":2379");
  }
  e->set_alarms_ok(true);
  if (i % 10 == 0) {
    auto* m = s.mutable_metrics();
    m->set_interval_ms(10000);
    m->set_leader_changes(0);
    m->set_proposals_pending(0);
    m->set_proposals_failed(0);
    m->set_slow_applies(0);
    m->set_heartbeat_send_failures(0);
    m->set_quota_backend_bytes(2147483648.0);
    m->set_db_total_size_bytes(25 << 20);
    *m->mutable_wal_fsync() = hist(3 + i % 5);
    *m->mutable_backend_commit() = hist(2 + i % 3);
    for (int p = 0; p < 2; ++p) {
      auto* pr = m->add_peer_rtt();
      pr->set_to("8e9e05c5216469" + std::to_string(50 + p));
      *pr->mutable_rtt() = hist(1);
      auto* pf = m->add_peer_sent_failures();
      pf->set_to(pr->to());
      pf->set_value(0);
    }
  }
  auto* d = s.mutable_disk();
  d->set_device("mmcblk0");
  d->set_partition("mmcblk0p2");
  d->set_interval_ms(1000);
  d->set_writes(40 + i % 7);
  d->set_write_bytes(200000 + i % 1000);
  d->set_write_time_ms(80);
  d->set_busy_ms(120);
  d->set_in_flight(i % 2);
  d->set_flushes(20);
  d->set_sectors_written_total(123456789 + i * 400);
  d->set_fs_avail_bytes(10ULL << 30);
  d->set_fs_total_bytes(30ULL << 30);
  d->set_etcd_write_bytes(150000);
  auto* h = s.mutable_host();
  auto* z = h->add_thermal();
  z->set_type("cpu-thermal");
  z->set_temp_celsius(55 + static_cast<double>(i % 10) / 10);
  auto* f = h->add_cpufreq();
  f->set_policy("policy0");
  f->set_cur_khz(1500000);
  f->set_max_khz(1500000);
  h->mutable_throttled();
  h->mutable_io_some()->set_avg10(0.5);
  h->mutable_io_full()->set_avg10(0.2);
  h->mutable_cpu_some()->set_avg10(3);
  h->mutable_memory_some()->set_avg10(0);
  h->set_load1(0.8);
  h->set_mem_total_bytes(4ULL << 30);
  h->set_mem_available_bytes(3ULL << 30);
  h->set_etcd_pid(812);
  h->set_etcd_start_unix_ms(1'700'000'000'000);
  h->set_cpus(4);
  return s;
}

double metricValue(const std::string& text, const std::string& name) {
  auto p = text.find("\n" + name + " ");
  if (p == std::string::npos) return -1;
  return std::strtod(text.c_str() + p + name.size() + 2, nullptr);
}

struct AgentResult {
  uint64_t acked = 0;
  std::string error;
};

void runAgent(int port, int idx, const std::vector<std::string>* frames, int window,
              std::atomic<int>* ready, const std::atomic<bool>* go, AgentResult* out) {
  try {
    net::io_context ioc;
    websocket::stream<tcp::socket> ws(ioc);
    ws.next_layer().connect({net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)});
    ws.binary(true);
    ws.handshake("127.0.0.1", "/v1/stream");
    qw::wire::AgentMessage hello;
    auto* h = hello.mutable_hello();
    h->set_cluster_name("bench");
    h->set_node_name("pi-" + std::to_string(idx + 1));
    h->set_agent_version("bench");
    h->set_instance_id("bench-instance-" + std::to_string(idx));
    h->set_protocol_version(1);
    h->set_next_seq(1);
    ws.write(net::buffer(hello.SerializeAsString()));
    beast::flat_buffer buf;
    ws.read(buf);
    qw::wire::AggregatorMessage m;
    if (!m.ParseFromArray(buf.data().data(), static_cast<int>(buf.size())) || !m.has_welcome())
      throw std::runtime_error("no Welcome");
    buf.consume(buf.size());
    ++*ready;
    while (!go->load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    size_t sent = 0;
    uint64_t acked = 0;
    while (acked < frames->size()) {
      while (sent < frames->size() && sent - acked < static_cast<size_t>(window))
        ws.write(net::buffer((*frames)[sent++]));
      ws.read(buf);
      if (!m.ParseFromArray(buf.data().data(), static_cast<int>(buf.size())))
        throw std::runtime_error("bad frame from the aggregator");
      buf.consume(buf.size());
      if (m.has_ack()) acked = std::max<uint64_t>(acked, m.ack().seq());
      if (m.has_error()) throw std::runtime_error("aggregator error: " + m.error().message());
    }
    out->acked = acked;
    ws.close(websocket::close_code::normal);
  } catch (const std::exception& e) {
    out->error = e.what();
  }
}

// The ceiling: the same number of points into a fresh database of the same schema, with
// prepared statements in transactions of `per_txn` points, over `series` series.
double ceiling(const std::string& dir, uint64_t points, uint64_t per_txn, int series) {
  qw::aggregator::Store::Options o;
  o.path = dir + "/ceiling.db";
  qw::aggregator::Store store(o);
  sqlite3* db = store.db();
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  for (int i = 1; i <= series; ++i) {
    std::string sql = "INSERT INTO series(id, node, metric) VALUES(" + std::to_string(i) +
                      ", 'n', 'm" + std::to_string(i) + "')";
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO points(series_id, ts_ms, value) VALUES(?,?,?)", -1,
                     &st, nullptr);
  auto t0 = Clock::now();
  uint64_t done = 0;
  int64_t ts = 1'700'000'000'000;
  while (done < points) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (uint64_t k = 0; k < per_txn && done < points; ++k, ++done) {
      int sid = static_cast<int>(done % static_cast<uint64_t>(series)) + 1;
      if (sid == 1) ts += 1000;
      sqlite3_bind_int64(st, 1, sid);
      sqlite3_bind_int64(st, 2, ts);
      sqlite3_bind_double(st, 3, static_cast<double>(done % 1000));
      sqlite3_step(st);
      sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  sqlite3_finalize(st);
  return static_cast<double>(points) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int agents = 8, batches = 250, per_batch = 10, window = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (a == "--agents")
      agents = v;
    else if (a == "--batches")
      batches = v;
    else if (a == "--samples-per-batch")
      per_batch = v;
    else if (a == "--window")
      window = v;
    else {
      std::fprintf(stderr,
                   "usage: %s [--agents K] [--batches N] [--samples-per-batch S] [--window W]\n",
                   argv[0]);
      return 2;
    }
  }
  qw::test::TempDir tmp("qw-bench-ingest");
  // Frames made up front: the agents' own serialisation is not the aggregator's cost.
  std::vector<std::vector<std::string>> frames(static_cast<size_t>(agents));
  int64_t t0 = 1'700'000'000'000;
  size_t bytes = 0;
  for (int a = 0; a < agents; ++a)
    for (int b = 0; b < batches; ++b) {
      qw::wire::AgentMessage m;
      auto* batch = m.mutable_batch();
      batch->set_seq(static_cast<uint64_t>(b + 1));
      for (int s = 0; s < per_batch; ++s) {
        uint64_t i = static_cast<uint64_t>(b * per_batch + s);
        *batch->add_samples() = piSample(t0 + static_cast<int64_t>(i) * 1000, i);
      }
      frames[static_cast<size_t>(a)].push_back(m.SerializeAsString());
      bytes += frames[static_cast<size_t>(a)].back().size();
    }
  // A long agent timeout: the clients hold their sessions silent until every one is connected.
  qw::test::Aggregator agg(tmp.path(),
                           {"--max-frame-bytes", "4194304", "--agent-timeout", "10min"});
  int port = agg.start();
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<AgentResult> results(static_cast<size_t>(agents));
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a)
    threads.emplace_back(runAgent, port, a, &frames[static_cast<size_t>(a)], window, &ready, &go,
                         &results[static_cast<size_t>(a)]);
  qw::test::waitFor([&] { return ready.load() == agents; }, std::chrono::seconds(20),
                    std::chrono::milliseconds(5));
  auto start = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& r : results)
    if (!r.error.empty()) {
      std::fprintf(stderr, "agent failed: %s\n", r.error.c_str());
      return 1;
    }
  auto metrics = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(port) + "/metrics").body;
  double points = metricValue(metrics, "quorumwatch_ingest_points_total");
  double samples = metricValue(metrics, "quorumwatch_ingest_samples_total");
  double txns = metricValue(metrics, "quorumwatch_ingest_transactions_total");
  double db_bytes = metricValue(metrics, "quorumwatch_db_size_bytes");
  agg.stop();
  double real = points / secs;
  uint64_t per_txn = txns > 0 ? static_cast<uint64_t>(points / txns) : 5000;
  int series = static_cast<int>(std::lround(points / samples * agents)) + 1;
  double ceil = ceiling(tmp.path(), static_cast<uint64_t>(points), std::max<uint64_t>(per_txn, 1),
                        std::max(series, 1));
  std::printf("ingest: %d agents x %d batches x %d samples = %.0f samples, %.1f MB of frames\n",
              agents, batches, per_batch, samples, static_cast<double>(bytes) / 1e6);
  std::printf(
      "ingest: real path %.0f points in %.2f s = %.0f points/s (%.0f samples/s), %.0f "
      "transactions (%.0f points each), database %.1f MB\n",
      points, secs, real, samples / secs, txns, points / std::max(txns, 1.0), db_bytes / 1e6);
  std::printf(
      "ingest: bare SQLite ceiling (same points into the same points table, same "
      "transaction size, no network/decoding/rollups/raw samples) %.0f points/s\n",
      ceil);
  std::printf("ingest: real / ceiling = %.2f (target >= 0.50); real >= 200000 points/s: %s\n",
              real / ceil, real >= 200000 ? "yes" : "no");
  return 0;
}
