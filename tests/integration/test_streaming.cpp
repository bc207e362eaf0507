// Streaming that never loses a sample (DESIGN.md s4): kill -9 the aggregator at random moments,
// spool overflow, and bad input, with the real agent and aggregator binaries on real etcd.
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <thread>

#include "../harness/harness.h"
#include "wire.pb.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

struct Stored {
  uint64_t batches = 0, distinct = 0, min_seq = 0, max_seq = 0, samples = 0, distinct_samples = 0;
  // History: samples on distinct milliseconds, points of the node's etcd_reachable series (one
  // per sample), and the worst placement error against the agent's wall clock (which is this
  // machine's synchronised clock, even when the agent is told to report it unsynchronised).
  uint64_t distinct_ts = 0, points = 0, worst_error_ms = 0;
};

Stored storedFor(const std::string& db_path, const std::string& instance,
                 const std::string& node = "") {
  sqlite3* db = nullptr;
  Stored s;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  auto one = [&](const char* sql, std::vector<uint64_t*> out) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
    sqlite3_bind_text(st, 1, instance.c_str(), -1, SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    for (size_t i = 0; i < out.size(); ++i)
      *out[i] = static_cast<uint64_t>(sqlite3_column_int64(st, static_cast<int>(i)));
    sqlite3_finalize(st);
  };
  one("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM batches WHERE instance_id=?",
      {&s.batches, &s.distinct, &s.min_seq, &s.max_seq});
  one("SELECT count(*), count(DISTINCT seq), count(DISTINCT ts_ms), "
      "coalesce(max(abs(ts_ms - agent_ms)), 0) FROM samples WHERE instance_id=?",
      {&s.samples, &s.distinct_samples, &s.distinct_ts, &s.worst_error_ms});
  sqlite3_close(db);
  if (!node.empty()) s.points = seriesPoints(db_path, node, "etcd_reachable");
  return s;
}

// A number field of an API answer, 0 when the answer is missing or an error object.
double num(const std::optional<json>& j, const char* key) {
  if (!j || !j->is_object() || !j->contains(key) || !(*j)[key].is_number()) return 0;
  return (*j)[key].get<double>();
}

}  // namespace

TEST_CASE("kill -9 of the aggregator at random moments loses and duplicates no batch",
          "[streaming]") {
  const int kills = envInt("QW_KILLS", 20);
  const unsigned seed =
      static_cast<unsigned>(envInt("QW_SEED", static_cast<int>(std::random_device{}())));
  INFO("QW_SEED=" << seed << " QW_KILLS=" << kills);
  std::mt19937 rng(seed);
  // Clocks reported unsynchronised: history is placed by the agents' boot clock (MONOTONIC).
  ClusterStack s("qw-kill", 3, {},
                 {"--fast-interval", "100ms", "--drain-timeout", "15s", "--assume-clock-unsynced"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));

  std::uniform_int_distribution<int> up(150, 1200), down(0, 400);
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(up(rng)));  // a random moment
    s.agg.kill9();
    std::this_thread::sleep_for(std::chrono::milliseconds(down(rng)));
    s.agg.start();
  }
  // One longer outage: the agents spool and replay their backlog afterwards.
  s.agg.kill9();
  std::this_thread::sleep_for(8s);
  s.agg.start();
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));

  uint64_t produced = 0, stored = 0, lost = 0, duplicated = 0, points_lost = 0, shared_ts = 0;
  uint64_t worst_ms = 0;
  int node_no = 0;
  for (auto& a : s.agents) {
    std::string node = "node-" + std::to_string(++node_no);
    auto p = stopAndReport(*a);
    INFO("agent log: " << a->process().log().substr(0, 4000));
    REQUIRE_FALSE(p.instance.empty());
    CHECK(p.unacked == 0);
    CHECK(p.dropped == 0);
    auto st = storedFor(s.agg.dbPath(), p.instance, node);
    CHECK(st.batches == p.batches);
    CHECK(st.distinct_ts == st.samples);  // no two samples of a node share a millisecond
    CHECK(st.points == p.batches);        // one etcd_reachable point per sample
    CHECK(st.worst_error_ms < 1000);
    points_lost += p.batches - std::min(p.batches, st.points);
    shared_ts += st.samples - std::min(st.samples, st.distinct_ts);
    worst_ms = std::max(worst_ms, st.worst_error_ms);
    CHECK(st.distinct == p.batches);
    CHECK(st.min_seq == 1);
    CHECK(st.max_seq == p.batches);
    CHECK(st.samples == p.batches);  // one sample per batch, each stored once
    CHECK(st.distinct_samples == p.batches);
    produced += p.batches;
    stored += st.distinct;
    lost += p.batches - std::min(p.batches, st.distinct);
    duplicated += st.samples - std::min(st.samples, st.distinct_samples);
  }
  std::printf(
      "streaming: %d kills survived, %llu batches produced, %llu stored, %llu lost, "
      "%llu duplicated (seed %u)\n"
      "streaming: points lost %llu, samples sharing a millisecond %llu, worst placement error "
      "%llu ms\n",
      kills + 1, static_cast<unsigned long long>(produced), static_cast<unsigned long long>(stored),
      static_cast<unsigned long long>(lost), static_cast<unsigned long long>(duplicated), seed,
      static_cast<unsigned long long>(points_lost), static_cast<unsigned long long>(shared_ts),
      static_cast<unsigned long long>(worst_ms));
  CHECK(points_lost == 0);
  CHECK(produced > 0);
  CHECK(lost == 0);
  CHECK(duplicated == 0);
}

TEST_CASE("a full spool drops the oldest batches and the API shows the count", "[streaming]") {
  ClusterStack s(
      "qw-overflow", 1, {},
      {"--fast-interval", "100ms", "--spool-max-bytes", "4096", "--drain-timeout", "15s"});
  REQUIRE(
      waitFor([&] { return num(getJson(s.port, "/api/v1/nodes/node-1"), "last_seq") >= 3; }, 20s));
  s.agg.kill9();
  std::this_thread::sleep_for(5s);  // ~50 batches of ~200 bytes into a 4 KiB spool
  s.agg.start();
  json node;
  REQUIRE(waitFor(
      [&] {
        auto n = getJson(s.port, "/api/v1/nodes/node-1");
        if (n) node = *n;
        return num(n, "dropped_batches") > 0 && (*n)["connected"] == true;
      },
      20s));
  // Batches made after the backlog drained carry the final drop count.
  double seq = num(node, "last_seq");
  REQUIRE(waitFor(
      [&] { return num(getJson(s.port, "/api/v1/nodes/node-1"), "last_seq") >= seq + 5; }, 20s));
  auto p = stopAndReport(*s.agents[0]);
  INFO("node: " << node.dump() << " agent log: " << s.agents[0]->process().log().substr(0, 3000));
  CHECK(p.unacked == 0);
  CHECK(p.dropped > 0);
  auto st = storedFor(s.agg.dbPath(), p.instance);
  // Everything not dropped arrived, exactly once. A dropped batch may still have been stored: the
  // aggregator can die between its commit and the ack, and the agent then drops the batch it
  // never saw acknowledged. So the drop count bounds what is missing; it is not exact.
  CHECK(st.distinct <= p.batches);
  CHECK(p.batches - st.distinct <= p.dropped);
  CHECK(st.samples == st.distinct);
  auto after = getJson(s.port, "/api/v1/nodes/node-1");
  REQUIRE(after);
  CHECK(num(after, "dropped_batches") == static_cast<double>(p.dropped));
  auto metrics = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  CHECK(metrics.body.find(
            "quorumwatch_node_spool_dropped_batches{cluster=\"test\",node=\"node-1\"} " +
            std::to_string(p.dropped)) != std::string::npos);
}

TEST_CASE(
    "a full database: commits refused and counted, reads answer, agents keep their spool, "
    "nothing lost once space returns",
    "[streaming][history]") {
  ClusterStack s("qw-dbfull", 3, {}, {"--fast-interval", "100ms", "--drain-timeout", "20s"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  s.agg.stop();
  s.agg.setExtra({"--db-max-bytes", "1048576"});
  s.agg.start();
  auto metric = [&](const std::string& name) {
    auto body = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics").body;
    auto p = body.find("\n" + name + " ");
    return p == std::string::npos ? -1.0 : std::strtod(body.c_str() + p + name.size() + 2, nullptr);
  };
  REQUIRE(waitFor([&] { return metric("quorumwatch_db_full_errors_total") > 0; }, 90s));
  // Reads keep working on a full database.
  int status = 0;
  CHECK(getJson(s.port, "/api/v1/nodes", &status));
  CHECK(status == 200);
  auto series =
      getJson(s.port, "/api/v1/nodes/node-1/series?metric=etcd_reachable&step=1s", &status);
  CHECK(status == 200);
  REQUIRE(series);
  CHECK((*series)["points"].size() > 0);
  CHECK(getJson(s.port, "/api/v1/events?since=0", &status));
  CHECK(status == 200);
  std::string log = s.agg.process().log();
  CHECK(log.find("full") != std::string::npos);
  // Space returns: the cap goes; the agents' spooled batches arrive, each exactly once.
  std::this_thread::sleep_for(2s);
  s.agg.stop();
  s.agg.setExtra({});
  s.agg.start();
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  uint64_t produced = 0;
  for (auto& a : s.agents) {
    auto p = stopAndReport(*a);
    INFO("agent log: " << a->process().log().substr(0, 3000));
    REQUIRE_FALSE(p.instance.empty());
    CHECK(p.unacked == 0);
    CHECK(p.dropped == 0);
    auto st = storedFor(s.agg.dbPath(), p.instance);
    CHECK(st.distinct == p.batches);
    CHECK(st.batches == p.batches);
    CHECK(st.samples == st.distinct_samples);
    produced += p.batches;
  }
  CHECK(produced > 0);
}

namespace {

// The HTTP answer to a WebSocket upgrade request (Boost 1.74's handshake does not keep it).
std::pair<int, std::string> upgradeAnswer(int port, const std::string& token) {
  net::io_context ioc;
  beast::tcp_stream s(ioc);
  s.expires_after(5s);
  s.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                   static_cast<unsigned short>(port)));
  beast::http::request<beast::http::empty_body> req{beast::http::verb::get, "/v1/stream", 11};
  req.set(beast::http::field::host, "127.0.0.1");
  req.set(beast::http::field::upgrade, "websocket");
  req.set(beast::http::field::connection, "upgrade");
  req.set(beast::http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(beast::http::field::sec_websocket_version, "13");
  if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
  beast::http::write(s, req);
  beast::flat_buffer b;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(s, b, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

// A hand-driven WebSocket client for bad-input tests.
struct RawClient {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  websocket::response_type res;
  beast::error_code ec;

  RawClient(int port, const std::string& token) {
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"),
                              static_cast<unsigned short>(port));
    beast::get_lowest_layer(ws).expires_after(5s);
    beast::get_lowest_layer(ws).socket().connect(ep, ec);
    if (ec) return;
    ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& r) {
      if (!token.empty()) r.set(beast::http::field::authorization, "Bearer " + token);
    }));
    ws.handshake(res, "127.0.0.1", "/v1/stream", ec);
  }
  void sendBinary(const std::string& bytes) {
    ws.binary(true);
    ws.write(net::buffer(bytes), ec);
  }
  void sendText(const std::string& text) {
    ws.text(true);
    ws.write(net::buffer(text), ec);
  }
  // Next message from the aggregator, or nullopt when the connection ends.
  std::optional<qw::wire::AggregatorMessage> read() {
    beast::flat_buffer b;
    ws.read(b, ec);
    if (ec) return std::nullopt;
    qw::wire::AggregatorMessage m;
    if (!m.ParseFromArray(b.data().data(), static_cast<int>(b.size()))) return std::nullopt;
    return m;
  }
  bool closedAfterError(const std::string& code) {
    auto m = read();
    bool got = m && m->has_error() && m->error().code() == code;
    auto end = read();
    return got && !end;
  }
  std::string hello(const std::string& node) {
    qw::wire::AgentMessage m;
    m.mutable_hello()->set_node_name(node);
    m.mutable_hello()->set_instance_id("bad-" + node);
    m.mutable_hello()->set_cluster_name("test");
    return m.SerializeAsString();
  }
};

}  // namespace

TEST_CASE(
    "wrong or missing token is 401 and malformed, text or oversized frames close only that "
    "session",
    "[streaming]") {
  TempDir tmp("qw-badinput");
  std::string token_file = writeTokenFile(tmp.path(), "s3cret-token");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  Aggregator agg(tmp.path(), {"--token-file", token_file, "--max-frame-bytes", "4096"});
  int port = agg.start();
  Agent good(tmp.path(), "good", etcd.clientUrl(0), agg.streamUrl(),
             {"--token-file", token_file, "--fast-interval", "100ms"});
  good.start();
  auto goodSeq = [&] { return num(getJson(port, "/api/v1/nodes/good"), "last_seq"); };
  REQUIRE(waitFor([&] { return goodSeq() >= 2; }, 20s));

  {
    RawClient none(port, "");
    CHECK(none.ec == websocket::error::upgrade_declined);
    auto [st1, body1] = upgradeAnswer(port, "");
    CHECK(st1 == 401);
    CHECK(body1.find("unauthorized") != std::string::npos);
    auto [st2, body2] = upgradeAnswer(port, "s3cret-tokem");
    CHECK(st2 == 401);
  }
  {
    RawClient c(port, "s3cret-token");
    REQUIRE_FALSE(c.ec);
    c.sendBinary("\xff\xff\xff\xff not protobuf");
    CHECK(c.closedAfterError("bad_frame"));
  }
  {
    RawClient c(port, "s3cret-token");
    REQUIRE_FALSE(c.ec);
    c.sendText("{\"hello\":{}}");
    CHECK(c.closedAfterError("bad_frame"));
  }
  {
    RawClient c(port, "s3cret-token");
    REQUIRE_FALSE(c.ec);
    c.sendBinary(c.hello("intruder"));
    auto w = c.read();
    REQUIRE(w);
    CHECK(w->has_welcome());
    qw::wire::AgentMessage big;
    big.mutable_batch()->set_seq(1);
    big.mutable_batch()->add_samples()->mutable_etcd()->set_error(std::string(10000, 'x'));
    c.sendBinary(big.SerializeAsString());
    CHECK(c.closedAfterError("frame_too_large"));  // frame over --max-frame-bytes
  }
  {
    RawClient c(port, "s3cret-token");
    REQUIRE_FALSE(c.ec);
    qw::wire::AgentMessage b;
    b.mutable_batch()->set_seq(1);
    c.sendBinary(b.SerializeAsString());
    CHECK(c.closedAfterError("protocol"));  // a batch before Hello
  }
  // The well-behaved agent kept streaming through all of it.
  double before = goodSeq();
  CHECK(waitFor([&] { return goodSeq() >= before + 5; }, 10s));
  auto n = getJson(port, "/api/v1/nodes/good");
  CHECK((*n)["connected"] == true);
  // Nothing from the bad sessions was stored.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(agg.dbPath().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT count(DISTINCT node) FROM batches", -1, &st, nullptr);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
  auto metrics = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  CHECK(metrics.body.find("quorumwatch_auth_failures_total 3") != std::string::npos);
  CHECK(metrics.body.find("quorumwatch_bad_frames_total 4") != std::string::npos);
}

TEST_CASE("acks wait out the agent's ack delay, are cumulative, and come at once after a Flush",
          "[streaming]") {
  TempDir tmp("qw-ackdelay");
  Aggregator agg(tmp.path());
  int port = agg.start();
  auto hello = [](const std::string& node, uint32_t delay_ms, uint64_t next_seq) {
    qw::wire::AgentMessage m;
    auto* h = m.mutable_hello();
    h->set_node_name(node);
    h->set_instance_id("inst-" + node);
    h->set_cluster_name("test");
    h->set_ack_delay_ms(delay_ms);
    h->set_next_seq(next_seq);
    return m.SerializeAsString();
  };
  auto batch = [](uint64_t seq) {
    qw::wire::AgentMessage m;
    m.mutable_batch()->set_seq(seq);
    auto* s = m.mutable_batch()->add_samples();
    s->set_cycle(seq);
    s->set_ts_unix_ms(1700000000000 + static_cast<int64_t>(seq) * 1000);
    return m.SerializeAsString();
  };
  // Sends `frame`; the next message must be an ack of `seq`, within 5 s (not a 10 s delay).
  auto promptAck = [](RawClient& c, const std::string& frame, uint64_t seq) {
    auto t0 = std::chrono::steady_clock::now();
    c.sendBinary(frame);
    auto a = c.read();
    REQUIRE(a);
    REQUIRE(a->has_ack());
    CHECK(a->ack().seq() == seq);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  };
  {
    RawClient c(port, "");
    REQUIRE_FALSE(c.ec);
    c.sendBinary(hello("delayed", 1500, 1));
    auto w = c.read();
    REQUIRE(w);
    REQUIRE(w->has_welcome());
    CHECK(w->welcome().ack_delay_ms() == 1500);
    for (uint64_t seq = 1; seq <= 5; ++seq) c.sendBinary(batch(seq));
    auto a = c.read();  // one ack covers all five
    REQUIRE(a);
    REQUIRE(a->has_ack());
    CHECK(a->ack().seq() == 5);
  }
  {
    // With the longest delay, a Flush makes the next ack immediate.
    RawClient c(port, "");
    REQUIRE_FALSE(c.ec);
    c.sendBinary(hello("flushed", 60000, 1));
    auto w = c.read();
    REQUIRE(w);
    CHECK(w->welcome().ack_delay_ms() == 10000);  // capped
    c.sendBinary(batch(1));
    qw::wire::AgentMessage f;
    f.mutable_flush();
    promptAck(c, f.SerializeAsString(), 1);
    promptAck(c, batch(2), 2);  // after a Flush every ack is immediate
  }
  {
    // A replayed backlog (below the Hello's next_seq) is acked at once whatever the delay.
    RawClient c(port, "");
    REQUIRE_FALSE(c.ec);
    c.sendBinary(hello("replay", 10000, 10));
    REQUIRE(c.read());
    promptAck(c, batch(3), 3);
  }
  {
    // Without a delay (older agents): one ack per batch.
    RawClient c(port, "");
    REQUIRE_FALSE(c.ec);
    c.sendBinary(hello("eager", 0, 1));
    auto w = c.read();
    REQUIRE(w);
    CHECK(w->welcome().ack_delay_ms() == 0);
    promptAck(c, batch(1), 1);
    promptAck(c, batch(2), 2);
  }
}

TEST_CASE("an agent stopped with a long ack delay drains its spool through a Flush",
          "[streaming]") {
  TempDir tmp("qw-ackflush");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  Aggregator agg(tmp.path());
  int port = agg.start();
  Agent a(tmp.path(), "node-1", etcd.clientUrl(0), agg.streamUrl(),
          {"--fast-interval", "200ms", "--ack-delay", "10s", "--drain-timeout", "8s"});
  a.start();
  REQUIRE(
      waitFor([&] { return num(getJson(port, "/api/v1/nodes/node-1"), "last_seq") >= 5; }, 20s));
  auto p = stopAndReport(a);
  INFO(a.process().log());
  REQUIRE_FALSE(p.instance.empty());
  CHECK(p.unacked == 0);  // the 10 s delay would have left several
  auto st = storedFor(agg.dbPath(), p.instance);
  CHECK(st.batches == p.batches);
}

TEST_CASE("the agent refuses a token file others can read", "[streaming]") {
  TempDir tmp("qw-tokenmode");
  std::string token_file = tmp.path() + "/token";
  std::ofstream(token_file) << "t\n";
  ::chmod(token_file.c_str(), 0644);
  Process p({binDir() + "/quorumwatch-agent", "--token-file", token_file}, tmp.path() + "/a.log");
  int status = p.stop(0, 10s);  // signal 0: just wait for it to exit
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(p.log().find("accessible by group or others") != std::string::npos);
}

TEST_CASE(
    "wss with client certificates: a verified agent streams, one without a certificate is "
    "refused",
    "[streaming][tls]") {
  TempDir tmp("qw-wss");
  auto certs = makeTestCertificates(tmp.path());
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  Aggregator agg(tmp.path(), {"--tls-cert", certs.server_cert, "--tls-key", certs.server_key,
                              "--client-ca", certs.ca});
  int port = agg.start();
  std::string wss = "wss://127.0.0.1:" + std::to_string(port) + "/v1/stream";
  Agent good(tmp.path(), "verified", etcd.clientUrl(0), wss,
             {"--aggregator-ca", certs.ca, "--aggregator-cert", certs.client_cert,
              "--aggregator-key", certs.client_key});
  good.start();
  Agent anon(tmp.path(), "anonymous", etcd.clientUrl(0), wss, {"--aggregator-ca", certs.ca});
  anon.start();

  auto tls = qw::makeClientTls(certs.ca, certs.client_cert, certs.client_key);
  std::string base = "https://127.0.0.1:" + std::to_string(port);
  nlohmann::json nodes;
  REQUIRE(waitFor(
      [&] {
        auto r = qw::httpFetchSync(base + "/api/v1/nodes", {}, tls);
        if (!r.ok || r.status != 200) return false;
        nodes = json::parse(r.body);
        for (const auto& n : nodes["nodes"])
          if (n["name"] == "verified" && n["connected"] == true && n["last_seq"].get<double>() >= 2)
            return true;
        return false;
      },
      20s));
  for (const auto& n : nodes["nodes"]) CHECK(n["name"] != "anonymous");
  // The API needs a client certificate too; plain http is not served.
  auto no_cert = qw::httpFetchSync(base + "/healthz", {}, qw::makeClientTls(certs.ca, "", ""));
  CHECK_FALSE((no_cert.ok && no_cert.status == 200));
  auto plain = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(port) + "/healthz");
  CHECK_FALSE((plain.ok && plain.status == 200));
  auto m = qw::httpFetchSync(base + "/metrics", {}, tls);
  REQUIRE(m.ok);
  CHECK(m.body.find("quorumwatch_tls_handshake_failures_total 0\n") == std::string::npos);
  CHECK(waitFor([&] { return anon.process().log().find("retrying") != std::string::npos; }, 10s));
}

namespace {

// A client WebSocket frame (FIN, binary, masked with a zero key as RFC 6455 allows).
std::string clientFrame(const std::string& payload) {
  std::string f;
  f.push_back(static_cast<char>(0x82));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  f.append(4, '\0');
  return f + payload;
}

}  // namespace

TEST_CASE("a session cut at every byte leaves the aggregator up and stores only whole batches",
          "[streaming]") {
  TempDir tmp("qw-cut");
  Aggregator agg(tmp.path());
  int port = agg.start();
  qw::wire::AgentMessage hello, batch;
  hello.mutable_hello()->set_node_name("cut");
  hello.mutable_hello()->set_instance_id("cut-instance");
  hello.mutable_hello()->set_cluster_name("test");
  batch.mutable_batch()->set_seq(1);
  batch.mutable_batch()->add_samples()->set_ts_unix_ms(1);
  const std::string request =
      "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const std::string frames =
      clientFrame(hello.SerializeAsString()) + clientFrame(batch.SerializeAsString());
  // A compliant client waits for the 101 before sending frames.
  auto open = [&](net::io_context& ioc, size_t request_bytes) {
    net::ip::tcp::socket s(ioc);
    s.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    net::write(s, net::buffer(request.data(), request_bytes));
    if (request_bytes == request.size()) {
      std::string got;
      char c;
      while (got.find("\r\n\r\n") == std::string::npos && net::read(s, net::buffer(&c, 1)) == 1)
        got += c;
      REQUIRE(got.rfind("HTTP/1.1 101", 0) == 0);
    }
    return s;
  };
  for (size_t cut = 0; cut < request.size() + frames.size(); ++cut) {
    net::io_context ioc;
    auto s = open(ioc, std::min(cut, request.size()));
    if (cut > request.size()) net::write(s, net::buffer(frames.data(), cut - request.size()));
    boost::system::error_code ec;
    s.close(ec);
  }
  // Every cut point was survived and nothing partial was stored; now the whole session, with the
  // connection kept open until the aggregator has committed (it acks after the commit).
  int status = 0;
  REQUIRE(getJson(port, "/healthz", &status));
  CHECK(status == 200);
  CHECK(storedFor(agg.dbPath(), "cut-instance").batches == 0);
  net::io_context ioc;
  auto whole = open(ioc, request.size());
  net::write(whole, net::buffer(frames));
  CHECK(waitFor(
      [&] {
        auto n = getJson(port, "/api/v1/nodes/cut");
        return n && n->contains("last_seq") && (*n)["last_seq"] == 1;
      },
      10s));
  auto st = storedFor(agg.dbPath(), "cut-instance");
  CHECK(st.batches == 1);
  CHECK(st.samples == 1);
  CHECK(agg.process().running());
}

TEST_CASE("an agent killed while the aggregator is down resends its file spool after a restart",
          "[streaming]") {
  TempDir tmp("qw-filespool");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  Aggregator agg(tmp.path());
  int port = agg.start();
  Agent agent(tmp.path(), "spooled", etcd.clientUrl(0), agg.streamUrl(),
              {"--fast-interval", "100ms", "--spool-file", tmp.path() + "/agent.spool",
               "--drain-timeout", "15s"});
  agent.start();
  REQUIRE(
      waitFor([&] { return num(getJson(port, "/api/v1/nodes/spooled"), "last_seq") >= 3; }, 20s));
  agg.kill9();
  std::this_thread::sleep_for(2s);  // ~20 batches spooled, unacknowledged
  agent.process().kill(SIGKILL);    // no drain: only the spool file keeps them
  agent.start();
  std::this_thread::sleep_for(1s);
  agg.start();
  REQUIRE(
      waitFor([&] { return num(getJson(port, "/api/v1/nodes/spooled"), "last_seq") >= 40; }, 20s));
  auto p = stopAndReport(agent);
  INFO("agent log: " << agent.process().log().substr(0, 3000));
  CHECK(p.unacked == 0);
  CHECK(p.dropped == 0);
  CHECK(agent.process().log().find("unacknowledged batches, next seq") != std::string::npos);
  auto st = storedFor(agg.dbPath(), p.instance);
  CHECK(st.min_seq == 1);  // the first run's batches carry the same instance id
  CHECK(st.max_seq == p.batches);
  CHECK(st.distinct == p.batches);
  CHECK(st.samples == p.batches);
}

TEST_CASE(
    "limits: beyond --max-agents an upgrade gets 503, a second session of an instance "
    "replaces the first",
    "[streaming]") {
  TempDir tmp("qw-limits");
  {
    Aggregator agg(tmp.path(), {"--max-agents", "1"});
    int port = agg.start();
    RawClient first(port, "");
    REQUIRE_FALSE(first.ec);
    first.sendBinary(first.hello("one"));
    auto w = first.read();
    REQUIRE(w);
    CHECK(w->has_welcome());
    auto [st, body] = upgradeAnswer(port, "");
    CHECK(st == 503);
    CHECK(body.find("too_many_agents") != std::string::npos);
    agg.stop();
  }
  TempDir tmp2("qw-replace");
  Aggregator agg(tmp2.path());
  int port = agg.start();
  RawClient a(port, ""), b(port, "");
  a.sendBinary(a.hello("twin"));
  REQUIRE(a.read());
  b.sendBinary(b.hello("twin"));  // same instance id
  auto wb = b.read();
  REQUIRE(wb);
  CHECK(wb->has_welcome());
  CHECK_FALSE(a.read());  // the older session was closed
  auto n = getJson(port, "/api/v1/nodes/twin");
  REQUIRE(n);
  CHECK((*n)["connected"] == true);
}

TEST_CASE("a node that comes back with another boot id is a NODE_REBOOT event",
          "[streaming][history]") {
  TempDir tmp("qw-reboot");
  Aggregator agg(tmp.path());
  int port = agg.start();
  auto session = [&](const std::string& instance, const std::string& boot) {
    RawClient c(port, "");
    REQUIRE_FALSE(c.ec);
    qw::wire::AgentMessage m;
    auto* h = m.mutable_hello();
    h->set_node_name("pi-1");
    h->set_instance_id(instance);
    h->set_cluster_name("test");
    h->set_boot_id(boot);
    c.sendBinary(m.SerializeAsString());
    auto w = c.read();
    REQUIRE(w);
    CHECK(w->has_welcome());
  };
  session("instance-a", "boot-a");
  session("instance-b", "boot-a");  // an agent restart: same boot
  session("instance-c", "boot-b");  // a reboot
  json ev;
  REQUIRE(waitFor(
      [&] {
        auto e = getJson(port, "/api/v1/events?since=0&node=pi-1");
        if (e) ev = *e;
        int reboots = 0, connects = 0;
        if (e)
          for (const auto& x : (*e)["events"]) {
            reboots += x["kind"] == "NODE_REBOOT";
            connects += x["kind"] == "AGENT_CONNECTED";
          }
        return reboots == 1 && connects == 3;
      },
      10s));
  INFO(ev.dump());
  bool disconnected = false;
  for (const auto& x : ev["events"]) {
    if (x["kind"] == "NODE_REBOOT")
      CHECK(x["message"].get<std::string>().find("boot-b") != std::string::npos);
    disconnected |= x["kind"] == "AGENT_DISCONNECTED";
  }
  CHECK(disconnected);
}
