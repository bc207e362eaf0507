#include "qw/aggregator/net/server.h"

#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "api.pb.h"
#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/page.h"
#include "qw/aggregator/ingest/placement.h"
#include "qw/aggregator/model/quantile.h"
#include "qw/aggregator/model/series.h"
#include "qw/aggregator/view/node_view.h"
#include "qw/fs_util.h"
#include "qw/ids.h"
#include "qw/log.h"
#include "qw/net_error.h"
#include "qw/options.h"
#include "qw/protocol.h"
#include "qw/token.h"
#include "qw/version.h"

namespace qw::aggregator {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response jsonResponse(const Request& req, http::status st, std::string body) {
  Response res{st, req.version()};
  res.set(http::field::server, "quorumwatch-aggregator");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response errorResponse(const Request& req, http::status st, const std::string& error,
                       const std::string& detail) {
  return jsonResponse(req, st, errorJson(error, detail));
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query parameters of a target, percent-decoded ('+' stays '+': RFC 3339 offsets use it).
std::map<std::string, std::string> queryParams(const std::string& target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string::npos) return out;
  auto decode = [](std::string_view v) {
    std::string r;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '%' && i + 2 < v.size() && hexValue(v[i + 1]) >= 0 && hexValue(v[i + 2]) >= 0) {
        r += static_cast<char>(hexValue(v[i + 1]) * 16 + hexValue(v[i + 2]));
        i += 2;
      } else {
        r += v[i];
      }
    }
    return r;
  };
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    if (!part.empty())
      out[decode(part.substr(0, eq))] =
          eq == std::string_view::npos ? "" : decode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

void jsonString(std::string* out, const std::string& v) {
  *out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      *out += buf;
    } else {
      *out += static_cast<char>(c);
    }
  }
  *out += '"';
}

void jsonNumber(std::string* out, double v) {
  char buf[32];
  auto n = std::snprintf(buf, sizeof buf, "%.15g", std::isfinite(v) ? v : 0.0);
  out->append(buf, static_cast<size_t>(n));
}

bool authorized(const Request& req, const std::string& token) {
  auto h = req[http::field::authorization];
  std::string v(h.data(), h.size());
  const std::string prefix = "Bearer ";
  if (v.rfind(prefix, 0) != 0) return false;
  return constantTimeEquals(v.substr(prefix.size()), token);
}

}  // namespace

// One agent's session as the rest of the server sees it, whatever the transport.
class Server::AgentConn : public std::enable_shared_from_this<Server::AgentConn> {
 public:
  virtual ~AgentConn() = default;
  virtual void send(const qw::wire::AggregatorMessage& m) = 0;
  virtual void fail(const std::string& code, const std::string& message) = 0;
  virtual void close() = 0;
  // Batches up to `seq` are committed: ack at once, or within the agent's ack delay.
  virtual void ack(uint64_t seq, bool now) = 0;
  std::string name() const { return hello_.node_name().empty() ? "?" : hello_.node_name(); }
  const qw::wire::Hello& hello() const { return hello_; }
  const std::string& instance() const { return instance_; }

  // The command channel: only an agent that named the capability in its Hello gets commands.
  bool supportsCommands() const {
    for (const auto& c : hello_.capabilities())
      if (c == qw::kCapCommands) return true;
    return false;
  }
  using CommandDone = std::function<void(CommandReply)>;
  // Sends `cmd` with this session's next id; `done` runs once, with the reassembled result, or
  // kNotConnected when the session ends first. Returns the id (for cancelCommand).
  uint64_t startCommand(qw::wire::Command cmd, CommandDone done) {
    uint64_t id = ++last_command_id_;
    cmd.set_id(id);
    commands_[id].done = std::move(done);
    qw::wire::AggregatorMessage m;
    *m.mutable_command() = std::move(cmd);
    send(m);
    return id;
  }
  void cancelCommand(uint64_t id) { commands_.erase(id); }
  // One chunk of a result: appended in order; the last one completes the command.
  void onCommandResult(const qw::wire::CommandResult& r) {
    auto it = commands_.find(r.id());
    if (it == commands_.end()) return;  // timed out (or never asked): dropped
    auto& p = it->second;
    const uint32_t count = std::max<uint32_t>(1, r.chunk_count());
    CommandReply reply;
    if (r.chunk_index() != p.next_chunk || (p.next_chunk > 0 && count != p.count)) {
      reply = {CommandReply::Kind::kFailed,
               "result chunks out of order (got " + std::to_string(r.chunk_index()) + " of " +
                   std::to_string(count) + ", expected " + std::to_string(p.next_chunk) + ")",
               ""};
    } else if (p.payload.size() + r.payload().size() > kMaxResultBytes) {
      reply = {CommandReply::Kind::kFailed,
               "result larger than " + std::to_string(kMaxResultBytes) + " bytes", ""};
    } else {
      p.count = count;
      p.payload += r.payload();
      if (++p.next_chunk < count) return;
      using S = qw::wire::CommandResult;
      reply.kind = r.status() == S::OK              ? CommandReply::Kind::kOk
                   : r.status() == S::NOT_SUPPORTED ? CommandReply::Kind::kNotSupported
                                                    : CommandReply::Kind::kFailed;
      reply.message = r.message();
      reply.payload = std::move(p.payload);
    }
    auto done = std::move(p.done);
    commands_.erase(it);
    done(std::move(reply));
  }
  // The session ended: every command still waiting is answered kNotConnected.
  void failCommands() {
    auto pending = std::move(commands_);
    commands_.clear();
    for (auto& [id, p] : pending)
      p.done({CommandReply::Kind::kNotConnected, "the agent's session ended", ""});
  }

 protected:
  static constexpr size_t kMaxResultBytes = 16 << 20;
  struct PendingCommand {
    CommandDone done;
    std::string payload;
    uint32_t next_chunk = 0, count = 0;
  };
  uint64_t last_command_id_ = 0;
  std::map<uint64_t, PendingCommand> commands_;
  qw::wire::Hello hello_;
  uint64_t boot_key_ = 0;   // qw::bootKey(hello_.boot_id())
  BootClockOffset offset_;  // this session's agent boot clock against our wall clock
  std::string instance_;
};

// One agent's WebSocket session (ws or wss): reads Hello then Batches, writes Welcome, Acks and
// Errors through a bounded queue.
template <class Ws>
class AgentConnImpl final : public Server::AgentConn {
 public:
  template <class Stream>
  AgentConnImpl(Server* srv, Stream&& stream, std::string remote)
      : srv_(srv), ws_(std::move(stream)), remote_(std::move(remote)) {}

  net::awaitable<void> run(Request req) {
    auto log = qw::logger("ingest");
    websocket::stream_base::timeout to{};
    to.handshake_timeout = 10s;
    to.idle_timeout = srv_->cfg_.idle_timeout;
    to.keep_alive_pings = true;
    ws_.set_option(to);
    // The frame limit is enforced below, piece by piece, so an oversized frame still gets its
    // Error message (Beast's own limit fails the stream and closes it with no word of why).
    ws_.read_message_max(0);
    ws_.binary(true);
    boost::system::error_code ec;
    co_await ws_.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    beast::flat_buffer buf;
    const size_t max_frame = srv_->cfg_.max_frame_bytes;
    for (;;) {
      bool too_big = false;
      do {
        co_await ws_.async_read_some(buf, 64 * 1024, net::redirect_error(net::use_awaitable, ec));
        if (!ec && buf.size() > max_frame) too_big = true;
      } while (!ec && !too_big && !ws_.is_message_done());
      if (ec) {
        if (ec != websocket::error::closed && ec != net::error::operation_aborted)
          log->info("agent {} ({}): {}", name(), remote_, describeNetError(ec));
        break;
      }
      if (too_big) {
        fail("frame_too_large", "frame larger than --max-frame-bytes (" +
                                    std::to_string(max_frame) + " bytes, the Welcome says so)");
        break;
      }
      if (!ws_.got_binary()) {
        fail("bad_frame", "text frame received; the protocol uses binary protobuf frames");
        break;
      }
      qw::wire::AgentMessage m;
      if (!m.ParseFromArray(buf.data().data(), static_cast<int>(buf.size()))) {
        fail("bad_frame", "frame is not a valid AgentMessage");
        break;
      }
      buf.consume(buf.size());
      if (m.has_hello()) {
        if (!instance_.empty()) {
          fail("protocol", "second Hello on one session");
          break;
        }
        if (m.hello().instance_id().empty() || m.hello().node_name().empty()) {
          fail("protocol", "Hello without instance_id or node_name");
          break;
        }
        hello_ = m.hello();
        instance_ = hello_.instance_id();
        boot_key_ = qw::bootKey(hello_.boot_id());
        srv_->onHello(shared_from_this());
        if (closed_) break;
      } else if (m.has_command_result()) {
        if (instance_.empty()) {
          fail("protocol", "CommandResult before Hello");
          break;
        }
        onCommandResult(m.command_result());
      } else if (m.has_flush()) {
        if (instance_.empty()) {
          fail("protocol", "Flush before Hello");
          break;
        }
        ack_asap_ = true;
        sendAck();
      } else if (m.has_batch()) {
        if (instance_.empty()) {
          fail("protocol", "Batch before Hello");
          break;
        }
        // The batch made last before the Hello is at most one interval old: live too.
        bool live = m.batch().seq() + 1 >= hello_.next_seq();
        int64_t recv = srv_->clock_.wallMs();
        int64_t place_recv = m.batch().has_sent_mono_ms()
                                 ? offset_.placementRecv(recv, m.batch().sent_mono_ms())
                                 : 0;
        srv_->enqueue({weak_from_this(), instance_, hello_.node_name(),
                       std::move(*m.mutable_batch()), recv, live, boot_key_, place_recv});
      } else {
        fail("protocol", "empty AgentMessage");
        break;
      }
    }
    // After fail() the write loop still owes the peer its Error message; it closes afterwards.
    if (!close_after_write_) closed_ = true;
    srv_->onClose(this);
  }

  void send(const qw::wire::AggregatorMessage& m) override {
    if (closed_) return;
    outq_.push_back(m.SerializeAsString());
    if (outq_.size() > 100000) {  // a peer that never reads; bounded, then cut off
      close();
      return;
    }
    if (!writing_) {
      writing_ = true;
      auto self = std::static_pointer_cast<AgentConnImpl>(shared_from_this());
      net::co_spawn(
          ws_.get_executor(), [self] { return self->writeLoop(); }, net::detached);
    }
  }

  void ack(uint64_t seq, bool now) override {
    if (closed_) return;
    ack_pending_ = std::max(ack_pending_, seq);
    auto delay = std::chrono::milliseconds(Server::grantedAckDelayMs(hello_));
    if (now || ack_asap_ || delay.count() == 0) {
      sendAck();
      return;
    }
    if (ack_timer_armed_) return;
    ack_timer_armed_ = true;
    if (!ack_timer_) ack_timer_ = std::make_unique<net::steady_timer>(ws_.get_executor());
    ack_timer_->expires_after(delay);
    auto self = std::static_pointer_cast<AgentConnImpl>(shared_from_this());
    ack_timer_->async_wait([self](const boost::system::error_code&) {
      self->ack_timer_armed_ = false;
      self->sendAck();
    });
  }

  void fail(const std::string& code, const std::string& message) override {
    ++srv_->counters_.bad_frames;
    qw::logger("ingest")->warn("agent {} ({}): {}: {}; closing the session", name(), remote_, code,
                               message);
    qw::wire::AggregatorMessage m;
    m.mutable_error()->set_code(code);
    m.mutable_error()->set_message(message);
    send(m);
    close_after_write_ = true;
  }

  void close() override {
    closed_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  bool closed() const { return closed_; }

 private:
  net::awaitable<void> writeLoop() {
    boost::system::error_code ec;
    while (!outq_.empty() && !closed_) {
      std::string frame = std::move(outq_.front());
      outq_.pop_front();
      co_await ws_.async_write(net::buffer(frame), net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        close();
        break;
      }
    }
    writing_ = false;
    if (close_after_write_ && !closed_) {
      co_await ws_.async_close(websocket::close_code::policy_error,
                               net::redirect_error(net::use_awaitable, ec));
      close();
    }
  }

  void sendAck() {
    if (closed_ || ack_pending_ <= ack_sent_) return;
    qw::wire::AggregatorMessage m;
    m.mutable_ack()->set_seq(ack_pending_);
    ack_sent_ = ack_pending_;
    send(m);
  }

  Server* srv_;
  Ws ws_;
  std::string remote_;
  uint64_t ack_pending_ = 0, ack_sent_ = 0;  // committed / acknowledged up to
  bool ack_asap_ = false;                    // Flush received: no more delay
  bool ack_timer_armed_ = false;
  std::unique_ptr<net::steady_timer> ack_timer_;
  std::deque<std::string> outq_;
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
};

Server::Server(net::io_context& ioc, Store& store, Hub& hub, ServerConfig cfg, const Clock& clock)
    : ioc_(ioc), store_(store), hub_(hub), cfg_(std::move(cfg)), clock_(clock) {}

Server::~Server() = default;

tcp::endpoint Server::listen(const tcp::endpoint& ep) {
  acceptor_ = std::make_unique<tcp::acceptor>(ioc_);
  acceptor_->open(ep.protocol());
  acceptor_->set_option(net::socket_base::reuse_address(true));
  acceptor_->bind(ep);
  acceptor_->listen(net::socket_base::max_listen_connections);
  net::co_spawn(ioc_, acceptLoop(), net::detached);
  schedulePrune(2s);
  return acceptor_->local_endpoint();
}

void Server::shutdown() {
  stopping_ = true;
  if (acceptor_) {
    beast::error_code ignored;
    acceptor_->close(ignored);
  }
  if (prune_timer_) prune_timer_->cancel();
  flush();
  for (auto& [id, w] : by_instance_)
    if (auto c = w.lock()) c->close();
}

net::awaitable<void> Server::acceptLoop() {
  auto log = qw::logger("http");
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket sock =
        co_await acceptor_->async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ec == net::error::operation_aborted || stopping_) break;
      log->warn("accept: {}", ec.message());  // e.g. EMFILE: keep serving what we have
      net::steady_timer t(ioc_, 100ms);
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    net::co_spawn(ioc_, handleConnection(std::move(sock)), net::detached);
  }
}

struct HttpHandler {
  Server& s;
  Response operator()(const Request& req) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return errorResponse(req, http::status::method_not_allowed, "method_not_allowed",
                           "only GET is supported on " + path);
    if (path == "/healthz")
      return jsonResponse(req, http::status::ok,
                          std::string(R"({"status":"ok","version":")") + qw::kVersion + "\"}");
    if (path == "/api/v1/cluster") {
      auto v = computeClusterView(s.hub_, s.cfg_.view, s.clock_.wallMs(), s.clock_.steadyMs());
      return jsonResponse(req, http::status::ok, toJson(v));
    }
    if (path == "/metrics") {
      auto v = computeClusterView(s.hub_, s.cfg_.view, s.clock_.wallMs(), s.clock_.steadyMs());
      SelfStats self = s.stats();
      Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.keep_alive(req.keep_alive());
      res.body() = renderMetrics(v, s.hub_, self, s.cfg_.view, s.clock_.steadyMs());
      res.prepare_payload();
      return res;
    }
    if (path == "/api/v1/nodes") {
      qw::api::NodeList list;
      for (const auto& [name, n] : s.hub_.nodes()) *list.add_nodes() = nodeView(n);
      return jsonResponse(req, http::status::ok, toJson(list));
    }
    if (path == "/api/v1/metrics") {
      qw::api::MetricList list;
      for (const auto& d : metricCatalog()) {
        auto* m = list.add_metrics();
        m->set_name(d.name);
        m->set_kind(kindName(d.kind));
        m->set_unit(d.unit);
        m->set_help(d.help);
        m->set_default_agg(defaultAgg(d.kind));
      }
      return jsonResponse(req, http::status::ok, toJson(list));
    }
    if (path == "/api/v1/events") return events(req, target);
    const std::string prefix = "/api/v1/nodes/";
    const std::string series_suffix = "/series";
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size() + series_suffix.size() &&
        path.compare(path.size() - series_suffix.size(), series_suffix.size(), series_suffix) ==
            0 &&
        path.find('/', prefix.size()) == path.size() - series_suffix.size())
      return series(req, target,
                    path.substr(prefix.size(), path.size() - prefix.size() - series_suffix.size()));
    if (path.rfind(prefix, 0) == 0 && path.find('/', prefix.size()) == std::string::npos) {
      std::string name = path.substr(prefix.size());
      const auto* n = s.hub_.findNode(name);
      if (!n)
        return errorResponse(req, http::status::not_found, "not_found", "no node '" + name + "'");
      return jsonResponse(req, http::status::ok, toJson(nodeView(*n)));
    }
    if (path == "/" || path == "/index.html") {
      Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.keep_alive(req.keep_alive());
      res.body() = kDashboardPage;
      res.prepare_payload();
      return res;
    }
    return errorResponse(req, http::status::not_found, "not_found", "no such path: " + path);
  }

  // GET /api/v1/nodes/{name}/config: asks the node's agent over its stream.
  static std::optional<std::string> configNode(const Request& req) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    const std::string prefix = "/api/v1/nodes/", suffix = "/config";
    if (path.rfind(prefix, 0) != 0 || path.size() <= prefix.size() + suffix.size() ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0 ||
        path.find('/', prefix.size()) != path.size() - suffix.size())
      return std::nullopt;
    if (req.method() != http::verb::get && req.method() != http::verb::head) return std::nullopt;
    return path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  }

  net::awaitable<Response> nodeConfig(const Request& req, const std::string& name) {
    const auto* n = s.hub_.findNode(name);
    if (!n)
      co_return errorResponse(req, http::status::not_found, "not_found", "no node '" + name + "'");
    qw::wire::Command cmd;
    cmd.mutable_get_config();
    auto r = co_await s.command(name, std::move(cmd), s.cfg_.command_timeout);
    using K = CommandReply::Kind;
    switch (r.kind) {
      case K::kNotConnected:
        co_return errorResponse(req, http::status::service_unavailable, "agent_not_connected",
                                "the agent of node '" + name + "' is not connected: " + r.message);
      case K::kNotSupported:
        co_return errorResponse(req, http::status::not_implemented, "not_supported",
                                "node '" + name + "': " + r.message);
      case K::kTimeout:
        co_return errorResponse(req, http::status::gateway_timeout, "timeout",
                                "node '" + name + "': " + r.message);
      case K::kFailed:
        co_return errorResponse(req, http::status::bad_gateway, "command_failed",
                                "node '" + name + "': " + r.message);
      case K::kOk:
        break;
    }
    qw::wire::ConfigReport rep;
    if (!rep.ParseFromString(r.payload))
      co_return errorResponse(req, http::status::bad_gateway, "command_failed",
                              "node '" + name + "' sent a malformed config report");
    qw::api::NodeConfig out;
    out.set_node(name);
    out.set_agent_version(rep.agent_version());
    out.set_flavor(rep.flavor());
    out.set_flavor_reason(rep.flavor_reason());
    for (const auto& e : rep.entries()) {
      auto* o = out.add_entries();
      o->set_key(e.key());
      o->set_value(e.value());
      o->set_source(e.source());
    }
    for (const auto& u : rep.unsupported()) out.add_unsupported(u);
    co_return jsonResponse(req, http::status::ok, toJson(out));
  }

  Response bad(const Request& req, const std::string& detail) {
    return errorResponse(req, http::status::bad_request, "bad_request", detail);
  }

  // from/to/since: unix seconds or RFC 3339.
  static bool timeParam(const std::map<std::string, std::string>& q, const char* key, int64_t def,
                        int64_t* out, std::string* err) {
    auto it = q.find(key);
    if (it == q.end() || it->second.empty()) {
      *out = def;
      return true;
    }
    auto t = parseTimeArg(it->second);
    if (!t) {
      *err = std::string(key) + " must be unix seconds or RFC 3339, got '" + it->second + "'";
      return false;
    }
    *out = *t;
    return true;
  }

  Response series(const Request& req, const std::string& target, const std::string& node) {
    auto q = queryParams(target);
    if (!s.hub_.findNode(node))
      return errorResponse(req, http::status::not_found, "not_found", "no node '" + node + "'");
    auto mit = q.find("metric");
    if (mit == q.end() || mit->second.empty())
      return bad(req, "metric is required (GET /api/v1/metrics lists them)");
    std::string fixed_agg;
    int metric = findMetric(mit->second, &fixed_agg);
    if (metric < 0)
      return errorResponse(req, http::status::not_found, "not_found",
                           "no metric '" + mit->second + "' (GET /api/v1/metrics lists them)");
    const auto& def = metricCatalog()[static_cast<size_t>(metric)];
    int64_t now = s.clock_.wallMs();
    std::string err;
    int64_t to = 0, from = 0;
    if (!timeParam(q, "to", now, &to, &err)) return bad(req, err);
    if (!timeParam(q, "from", to - 3600'000, &from, &err)) return bad(req, err);
    if (from > to) return bad(req, "from is after to");
    int64_t step = 0;
    if (auto it = q.find("step"); it != q.end() && !it->second.empty()) {
      char* end = nullptr;
      double secs = std::strtod(it->second.c_str(), &end);
      if (end && *end == '\0' && std::isfinite(secs)) {
        step = static_cast<int64_t>(std::llround(secs * 1000));
      } else if (auto d = parseDuration(it->second)) {
        step = d->count();
      } else {
        return bad(req,
                   "step must be seconds or a duration like 10s, 1m, 1h; got '" + it->second + "'");
      }
      if (step < 1000) return bad(req, "step must be at least 1s");
    } else {
      // About 500 points; whole minutes (the rollups) once a step reaches a minute.
      step = std::max<int64_t>(1000, ((to - from) / 500 + 999) / 1000 * 1000);
      if (step >= 60'000) step = (step + 59'999) / 60'000 * 60'000;
    }
    int64_t buckets = (to - from) / step + 1;
    if (static_cast<size_t>(buckets) > s.cfg_.max_series_points)
      return bad(req, "from..to at step " + std::to_string(step / 1000) + "s is " +
                          std::to_string(buckets) + " points; at most " +
                          std::to_string(s.cfg_.max_series_points) + ": raise step");
    std::string agg = fixed_agg;
    if (auto it = q.find("agg"); it != q.end() && !it->second.empty()) {
      if (!fixed_agg.empty() && it->second != fixed_agg)
        return bad(req, mit->second + " is always " + fixed_agg);
      agg = it->second;
    }
    if (agg.empty()) agg = defaultAgg(def.kind);
    std::vector<Store::SeriesPoint> pts;
    if (auto e = s.store_.querySeries(node, metric, from, to, step, agg, &pts)) return bad(req, *e);
    std::string body;
    body.reserve(64 + pts.size() * 40);
    body += "{\"node\":";
    jsonString(&body, node);
    body += ",\"metric\":";
    jsonString(&body, mit->second);
    body += ",\"agg\":";
    jsonString(&body, agg);
    body += ",\"step_seconds\":";
    jsonNumber(&body, static_cast<double>(step) / 1000.0);
    body += ",\"from\":";
    jsonNumber(&body, static_cast<double>(from) / 1000.0);
    body += ",\"to\":";
    jsonNumber(&body, static_cast<double>(to) / 1000.0);
    body += ",\"points\":[";
    for (size_t i = 0; i < pts.size(); ++i) {
      if (i) body += ',';
      body += "{\"ts\":";
      jsonNumber(&body, static_cast<double>(pts[i].ts_ms) / 1000.0);
      body += ",\"value\":";
      jsonNumber(&body, pts[i].value);
      body += '}';
    }
    body += "]}";
    return jsonResponse(req, http::status::ok, std::move(body));
  }

  Response events(const Request& req, const std::string& target) {
    auto q = queryParams(target);
    int64_t since = 0;
    std::string err;
    if (!timeParam(q, "since", s.clock_.wallMs() - 86400'000, &since, &err)) return bad(req, err);
    int limit = 1000;
    if (auto it = q.find("limit"); it != q.end() && !it->second.empty()) {
      char* end = nullptr;
      long v = std::strtol(it->second.c_str(), &end, 10);
      if (!end || *end != '\0' || v < 1 || v > 10000)
        return bad(req, "limit must be an integer from 1 to 10000");
      limit = static_cast<int>(v);
    }
    std::string kind = q.count("kind") ? q["kind"] : "";
    std::string node = q.count("node") ? q["node"] : "";
    if (!node.empty() && !s.hub_.findNode(node))
      return errorResponse(req, http::status::not_found, "not_found", "no node '" + node + "'");
    qw::api::EventList list;
    for (const auto& se : s.store_.events(since, kind, node, limit)) {
      auto* e = list.add_events();
      e->set_id(static_cast<double>(se.id));
      e->set_ts(static_cast<double>(se.e.ts_ms) / 1000.0);
      e->set_at(rfc3339(se.e.ts_ms));
      e->set_kind(se.e.kind);
      e->set_node(se.e.node);
      e->set_severity(se.e.severity);
      e->set_message(se.e.message);
    }
    return jsonResponse(req, http::status::ok, toJson(list));
  }

  qw::api::NodeView nodeView(const NodeState& n) {
    qw::api::NodeView v;
    v.set_name(n.name);
    v.set_cluster_name(n.cluster_name);
    v.set_connected(n.connected);
    if (n.last_seen_wall_ms > 0) {
      v.set_last_seen_at(rfc3339(n.last_seen_wall_ms));
      v.set_seconds_since_seen((s.clock_.wallMs() - n.last_seen_wall_ms) / 1000.0);
    }
    v.set_instance_id(n.instance_id);
    v.set_agent_version(n.agent_version);
    v.set_failure_domain(n.failure_domain);
    v.set_member_id(n.member_id ? hex64(n.member_id) : "");
    v.set_last_seq(static_cast<double>(n.last_seq));
    v.set_backlog(static_cast<double>(n.backlog));
    v.set_dropped_batches(static_cast<double>(n.dropped));
    if (n.has_sample) {
      const auto& e = n.latest.etcd();
      v.set_etcd_reachable(e.reachable());
      v.set_etcd_error(e.error());
      v.set_etcd_version(e.version());
      if (e.reachable()) {
        v.set_db_size_bytes(static_cast<double>(e.db_size_bytes()));
        v.set_raft_applied_index(static_cast<double>(e.raft_applied_index()));
      }
      uint64_t errors = 0;
      for (const auto& se : n.latest.errors()) {
        errors += se.count();
        v.set_last_sampler_error(se.sampler() + ": " + se.last_error());
      }
      v.set_sampler_errors(static_cast<uint32_t>(errors));
    }
    fillNodeSignals(n, &v);
    return v;
  }
};

net::awaitable<void> Server::handleConnection(tcp::socket sock) {
  boost::system::error_code ec;
  std::string remote;
  {
    auto ep = sock.remote_endpoint(ec);
    remote = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  if (!cfg_.tls) {
    co_await serve(beast::tcp_stream(std::move(sock)), remote);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *cfg_.tls);
  beast::get_lowest_layer(stream).expires_after(10s);
  co_await stream.async_handshake(net::ssl::stream_base::server,
                                  net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    ++counters_.tls_failures;
    qw::logger("http")->info("TLS handshake with {} failed: {}", remote, describeNetError(ec));
    co_return;
  }
  co_await serve(std::move(stream), remote);
}

template <class Stream>
net::awaitable<void> Server::serve(Stream stream, std::string remote) {
  auto log = qw::logger("http");
  boost::system::error_code ec;
  beast::flat_buffer buf;
  HttpHandler handler{*this};
  auto& lowest = beast::get_lowest_layer(stream);
  for (;;) {
    lowest.expires_after(30s);
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    co_await http::async_read(stream, buf, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) break;
    Request req = parser.release();
    if (websocket::is_upgrade(req)) {
      std::string target(req.target());
      Response refuse;
      bool refused = true;
      if (target.substr(0, target.find('?')) != "/v1/stream") {
        refuse = errorResponse(req, http::status::not_found, "not_found",
                               "the agent stream is at /v1/stream");
      } else if (!cfg_.token.empty() && !authorized(req, cfg_.token)) {
        ++counters_.auth_failures;
        log->warn("agent from {}: missing or wrong bearer token; refused", remote);
        refuse = errorResponse(req, http::status::unauthorized, "unauthorized",
                               "a valid 'Authorization: Bearer <token>' header is required");
      } else if (cfg_.token.empty() && !cfg_.allow_no_token) {
        ++counters_.auth_failures;
        refuse = errorResponse(req, http::status::unauthorized, "unauthorized",
                               "no token configured and not listening on loopback");
      } else if (agents_ >= cfg_.max_agents) {
        refuse = errorResponse(
            req, http::status::service_unavailable, "too_many_agents",
            "the aggregator serves at most " + std::to_string(cfg_.max_agents) + " agents");
      } else {
        refused = false;
      }
      if (refused) {
        refuse.keep_alive(false);
        co_await http::async_write(stream, refuse, net::redirect_error(net::use_awaitable, ec));
        break;
      }
      lowest.expires_never();
      counters_.connected_agents = ++agents_;
      auto conn = std::make_shared<AgentConnImpl<websocket::stream<Stream>>>(
          this, std::move(stream), remote);
      co_await conn->run(std::move(req));
      counters_.connected_agents = --agents_;
      co_return;
    }
    Response res;
    if (auto node = HttpHandler::configNode(req)) {
      lowest.expires_never();  // the agent has cfg_.command_timeout to answer
      res = co_await handler.nodeConfig(req, *node);
    } else {
      res = handler(req);
    }
    bool keep = res.keep_alive();
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !keep) break;
  }
  lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
}

void Server::onHello(const std::shared_ptr<AgentConn>& c) {
  auto log = qw::logger("ingest");
  const auto& h = c->hello();
  // One session per agent instance: the newer one replaces the older (a reconnect after a
  // half-open TCP connection must not wait for the old session's idle timeout).
  if (auto it = by_instance_.find(h.instance_id()); it != by_instance_.end()) {
    if (auto old = it->second.lock(); old && old.get() != c.get()) {
      log->info("agent {}: new session for instance {} replaces the old one", h.node_name(),
                h.instance_id());
      old->close();
    }
  }
  by_instance_[h.instance_id()] = c;
  // Commit what is pending first so the Welcome's resume point covers every received batch.
  flush();
  int64_t now = clock_.wallMs();
  std::string previous_boot;
  if (auto err =
          store_.recordAgent(h.instance_id(), h.node_name(), h.cluster_name(), h.agent_version(),
                             h.boot_id(), h.failure_domain(), now, &previous_boot)) {
    ++counters_.commit_errors;
    log->error("agent {}: cannot record agent: {}", h.node_name(), *err);
    c->fail("store", "aggregator cannot write its database");
    return;
  }
  auto last = store_.lastSeq(h.instance_id());
  auto& n = hub_.node(h.node_name());
  n.cluster_name = h.cluster_name();
  n.instance_id = h.instance_id();
  n.agent_version = h.agent_version();
  n.failure_domain = h.failure_domain();
  n.boot_id = h.boot_id();
  n.etcd_endpoint = h.etcd_endpoint();
  n.etcd_flavor = h.etcd_flavor();
  n.etcd_data_dir = h.etcd_data_dir();
  n.etcd_unit = h.etcd_unit();
  n.connected = true;
  if (last) n.last_seq = *last;
  if (!cfg_.view.cluster_name.empty() && h.cluster_name() != cfg_.view.cluster_name)
    log->warn("agent {} reports cluster '{}', this aggregator watches '{}'", h.node_name(),
              h.cluster_name(), cfg_.view.cluster_name);
  qw::wire::AggregatorMessage m;
  auto* w = m.mutable_welcome();
  w->set_has_stored(last.has_value());
  w->set_last_stored_seq(last.value_or(0));
  w->set_aggregator_version(qw::kVersion);
  w->set_max_frame_bytes(static_cast<uint32_t>(cfg_.max_frame_bytes));
  w->set_ack_delay_ms(grantedAckDelayMs(h));
  c->send(m);
  log->info("agent {} connected (instance {}, version {}, protocol {}{}, resume after seq {})",
            h.node_name(), h.instance_id(), h.agent_version(), h.protocol_version(),
            c->supportsCommands() ? ", commands" : "", last.value_or(0));
  if (h.protocol_version() > qw::kProtocolVersion)
    log->info("agent {} speaks protocol {}, this aggregator {}: what both know is used",
              h.node_name(), h.protocol_version(), qw::kProtocolVersion);
  std::vector<Event> ev;
  if (!previous_boot.empty() && !h.boot_id().empty() && previous_boot != h.boot_id())
    ev.push_back(
        {now, "NODE_REBOOT", h.node_name(), "WARNING",
         h.node_name() + " rebooted (boot id " + h.boot_id() + ", was " + previous_boot + ")"});
  ev.push_back({now, "AGENT_CONNECTED", h.node_name(), "INFO",
                "agent " + h.agent_version() + " on " + h.node_name() + " connected (instance " +
                    h.instance_id() + ", resumes after batch " + std::to_string(last.value_or(0)) +
                    ")"});
  record(ev);
}

net::awaitable<CommandReply> Server::command(const std::string& node, qw::wire::Command cmd,
                                             std::chrono::milliseconds timeout) {
  std::shared_ptr<AgentConn> conn;
  if (const auto* n = hub_.findNode(node); n && n->connected)
    if (auto it = by_instance_.find(n->instance_id); it != by_instance_.end())
      conn = it->second.lock();
  if (!conn) co_return CommandReply{CommandReply::Kind::kNotConnected, "no agent connected", ""};
  if (!conn->supportsCommands())
    co_return CommandReply{CommandReply::Kind::kNotSupported,
                           "agent " + conn->hello().agent_version() + " (protocol " +
                               std::to_string(conn->hello().protocol_version()) +
                               ") does not support commands",
                           ""};
  struct Wait {
    explicit Wait(net::io_context& ioc) : timer(ioc) {}
    net::steady_timer timer;
    std::optional<CommandReply> reply;
  };
  auto w = std::make_shared<Wait>(ioc_);
  w->timer.expires_after(timeout);
  uint64_t id = conn->startCommand(std::move(cmd), [w](CommandReply r) {
    w->reply = std::move(r);
    w->timer.cancel();
  });
  if (!w->reply) {
    boost::system::error_code ec;
    co_await w->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  if (!w->reply) {
    conn->cancelCommand(id);
    co_return CommandReply{CommandReply::Kind::kTimeout,
                           "no complete answer within " + std::to_string(timeout.count()) + " ms",
                           ""};
  }
  co_return std::move(*w->reply);
}

void Server::onClose(AgentConn* c) {
  c->failCommands();
  if (c->instance().empty()) return;
  auto it = by_instance_.find(c->instance());
  if (it != by_instance_.end() && it->second.lock().get() == c) {
    by_instance_.erase(it);
    auto& n = hub_.node(c->hello().node_name());
    if (n.instance_id == c->instance()) n.connected = false;
    qw::logger("ingest")->info("agent {} disconnected", c->name());
    if (!stopping_)
      record({{clock_.wallMs(), "AGENT_DISCONNECTED", c->hello().node_name(), "WARNING",
               "agent on " + c->hello().node_name() +
                   " disconnected: its samples wait in its spool until it is back"}});
  }
}

void Server::record(const std::vector<Event>& events) {
  if (auto err = store_.addEvents(events)) {
    ++counters_.commit_errors;
    if (store_.lastErrorCode() == SQLITE_FULL) ++counters_.db_full_errors;
    qw::logger("store")->warn("cannot store {} events: {}", events.size(), *err);
  }
  counters_.events_stored = store_.eventsStored();
}

SelfStats Server::stats() {
  SelfStats self = counters_;
  self.connected_agents = agents_;
  self.points_stored = store_.pointsStored();
  self.points_conflicts = store_.pointsConflicts();
  self.events_stored = store_.eventsStored();
  self.rows_pruned = store_.rowsPruned();
  self.db_size_bytes = static_cast<uint64_t>(store_.dbSizeBytes());
  return self;
}

void Server::schedulePrune(std::chrono::milliseconds after) {
  if (!cfg_.prune || stopping_) return;
  if (!prune_timer_) prune_timer_ = std::make_unique<net::steady_timer>(ioc_);
  prune_timer_->expires_after(after);
  prune_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    auto r = store_.pruneStep(clock_.wallMs());
    if (r.deleted > 0) qw::logger("store")->debug("retention removed {} rows", r.deleted);
    // Busy while there is work, a short pause between series, a minute after a quiet round.
    schedulePrune(r.deleted > 0 ? 20ms : r.wrapped ? 60s : 5ms);
  });
}

void Server::enqueue(Pending p) {
  pending_.push_back(std::move(p));
  if (!flush_posted_) {
    flush_posted_ = true;
    // Everything that arrives before this runs shares one transaction (group commit).
    net::post(ioc_, [this] { flush(); });
  }
}

void Server::flush() {
  flush_posted_ = false;
  if (pending_.empty()) return;
  std::vector<Pending> batch;
  batch.swap(pending_);
  std::vector<Store::Item> items;
  items.reserve(batch.size());
  for (auto& p : batch) {
    items.push_back({p.instance_id, p.node, &p.batch, p.recv_wall_ms, false});
    items.back().boot_key = p.boot_key;
    items.back().place_recv_ms = p.place_recv_ms;
  }
  if (auto err = store_.commit(items, &deriver_)) {
    ++counters_.commit_errors;
    bool full = store_.lastErrorCode() == SQLITE_FULL;
    if (full) ++counters_.db_full_errors;
    qw::logger("store")->error(
        "commit of {} batches failed: {}{}; closing their sessions so the "
        "agents keep them in their spool and resend",
        items.size(), *err,
        full ? " (the database or its disk is full: free space, lower the "
               "retention or raise --db-max-bytes; reads keep working)"
             : "");
    for (auto& p : batch)
      if (auto c = p.conn.lock()) c->close();
    return;
  }
  ++counters_.transactions;
  counters_.points_stored = store_.pointsStored();
  counters_.events_stored = store_.eventsStored();
  int64_t steady = clock_.steadyMs();
  bool members_changed = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    if (items[i].stored) {
      ++counters_.batches_stored;
      counters_.samples_stored += static_cast<uint64_t>(p.batch.samples_size());
      auto& n = hub_.node(p.node);
      n.last_seq = std::max<uint64_t>(n.last_seq, p.batch.seq());
      n.backlog = p.batch.backlog();
      n.dropped = p.batch.dropped_total();
      // A replayed backlog is history (stored above); only live samples are the node's state,
      // or an old sample would look fresh because it arrived just now.
      if (p.live) {
        for (const auto& s : p.batch.samples())
          members_changed |= hub_.applySample(p.node, s, p.recv_wall_ms, steady);
        if (p.batch.samples_size() > 0) n.time_source = timeSourceName(items[i].time_source);
      }
    } else {
      ++counters_.batches_duplicate;
    }
    // A replayed backlog is acked at once so the agent's spool drains at the pace of the
    // commits; live batches within the agent's ack delay.
    if (auto c = p.conn.lock()) c->ack(p.batch.seq(), !p.live);
  }
  if (members_changed) {
    if (auto err = store_.saveMembers(hub_.members(), clock_.wallMs()))
      qw::logger("store")->error("cannot save the member list: {}", *err);
    else
      qw::logger("store")->info("etcd membership now has {} members", hub_.members().size());
  }
}

}  // namespace qw::aggregator
