#include "qw/agent/uplink/uplink.h"

#include <chrono>
#include <cstdlib>
#include <deque>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "qw/fs_util.h"
#include "qw/http_client.h"
#include "qw/log.h"
#include "qw/protocol.h"
#include "qw/time_util.h"

namespace qw::agent {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

struct Uplink::Session {
  explicit Session(net::any_io_executor ex) : signal(ex) {}
  net::steady_timer signal;         // wakes the writer (new batch, command result or reader died)
  std::deque<std::string> results;  // command result frames, sent between batches
  bool dead = false;
  std::string why;
};

Uplink::Uplink(net::any_io_executor ex, UplinkConfig cfg, Spool& spool, qw::wire::Hello hello)
    : ex_(ex),
      cfg_(std::move(cfg)),
      spool_(spool),
      hello_(std::move(hello)),
      backoff_(cfg_.backoff_base, cfg_.backoff_cap, std::random_device{}()),
      wake_(ex) {
  // The uplink speaks the protocol, so it says which. Tests simulate an agent of protocol 1 (no
  // capabilities, commands ignored) with QW_TEST_AGENT_PROTOCOL=1.
  const char* v = std::getenv("QW_TEST_AGENT_PROTOCOL");
  legacy_ = v && std::string(v) == "1";
  hello_.clear_capabilities();
  if (legacy_) {
    hello_.set_protocol_version(1);
  } else {
    hello_.set_protocol_version(qw::kProtocolVersion);
    hello_.add_capabilities(qw::kCapCommands);
  }
}

void Uplink::start() {
  net::co_spawn(
      ex_, [self = shared_from_this()] { return self->run(); }, net::detached);
}

void Uplink::stop() {
  stopping_ = true;
  wake_.cancel();
  if (current_) {
    current_->dead = true;
    current_->signal.cancel();
  }
}

void Uplink::notify() {
  if (current_) current_->signal.cancel();
}

void Uplink::flushAcks() {
  flush_wanted_ = true;
  notify();
}

net::awaitable<void> Uplink::run() {
  auto log = qw::logger("uplink");
  while (!stopping_) {
    std::string error;
    try {
      if (cfg_.url.tls()) {
        auto ws = std::make_shared<websocket::stream<TlsStream>>(beast::tcp_stream(ex_), cfg_.tls,
                                                                 cfg_.url.host);
        co_await session(ws);
      } else {
        auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(ex_);
        co_await session(ws);
      }
    } catch (const boost::system::system_error& e) {
      error = describeError(e.code());
    } catch (const std::exception& e) {
      error = e.what();
    }
    connected_ = false;
    if (stopping_) break;
    auto delay = backoff_.next();
    log->warn("aggregator {}: {}; retrying in {} ms ({} batches spooled)", cfg_.url.hostPort(),
              error.empty() ? "disconnected" : error, delay.count(), spool_.size());
    wake_.expires_after(delay);
    boost::system::error_code ec;
    co_await wake_.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

template <class WsStream>
net::awaitable<void> Uplink::session(std::shared_ptr<WsStream> ws) {
  auto log = qw::logger("uplink");
  auto& lowest = beast::get_lowest_layer(*ws);
  // The name lookup shares the connect deadline: a hung resolver is "resolve timeout", then the
  // usual backoff, never an uplink stuck before its first connect.
  boost::system::error_code resolve_ec;
  bool resolve_timed_out = false;
  auto endpoints = co_await qw::resolveWithDeadline(
      cfg_.url, std::chrono::steady_clock::now() + cfg_.connect_timeout, resolve_ec,
      &resolve_timed_out);
  if (resolve_timed_out) throw std::runtime_error("resolve timeout");
  if (resolve_ec) throw boost::system::system_error(resolve_ec);
  lowest.expires_after(cfg_.connect_timeout);
  co_await lowest.async_connect(endpoints, net::use_awaitable);
  if constexpr (!std::is_same_v<WsStream, websocket::stream<beast::tcp_stream>>) {
    boost::system::error_code ec;
    co_await ws->next_layer().handshake(ec);
    if (ec) throw boost::system::system_error(ec);
  }
  lowest.expires_never();
  websocket::stream_base::timeout to{};
  to.handshake_timeout = cfg_.connect_timeout;
  to.idle_timeout = cfg_.idle_timeout;
  to.keep_alive_pings = true;
  ws->set_option(to);
  std::string token = cfg_.token;
  ws->set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
    req.set(beast::http::field::user_agent, "quorumwatch-agent");
    if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
  }));
  ws->binary(true);
  ws->read_message_max(cfg_.max_frame_bytes);
  websocket::response_type res;
  boost::system::error_code ec;
  co_await ws->async_handshake(res, cfg_.url.hostPort(), cfg_.url.target,
                               net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    // Boost 1.74 does not fill `res` when the upgrade is declined, so no status to quote.
    if (ec == websocket::error::upgrade_declined)
      throw std::runtime_error(
          "the aggregator refused the WebSocket upgrade (wrong or missing token, wrong path, or "
          "too many agents; its log says which)");
    throw boost::system::system_error(ec);
  }

  qw::wire::AgentMessage hello;
  *hello.mutable_hello() = hello_;
  hello.mutable_hello()->set_next_seq(spool_.nextSeq());
  std::string frame = hello.SerializeAsString();
  co_await ws->async_write(net::buffer(frame), net::use_awaitable);

  beast::flat_buffer buf;
  co_await ws->async_read(buf, net::use_awaitable);
  qw::wire::AggregatorMessage first;
  if (!first.ParseFromArray(buf.data().data(), static_cast<int>(buf.size())))
    throw std::runtime_error("malformed Welcome from aggregator");
  if (first.has_error())
    throw std::runtime_error("aggregator refused: " + first.error().code() + ": " +
                             first.error().message());
  if (!first.has_welcome()) throw std::runtime_error("aggregator sent no Welcome");
  buf.consume(buf.size());
  const auto& welcome = first.welcome();
  uint64_t sent = welcome.has_stored() ? welcome.last_stored_seq() : 0;
  spool_.ackUpTo(sent);
  backoff_.reset();
  connected_ = true;
  log->info("connected to {} (instance {}, aggregator has up to seq {}, {} batches to send)",
            cfg_.url.hostPort(), hello_.instance_id(), sent, spool_.size());

  // An aggregator that grants no ack delay (or predates it) acks every batch at once.
  bool delayed_acks = welcome.ack_delay_ms() > 0;
  // Every frame sent from now on fits the aggregator's limit (it closes the session otherwise).
  const size_t max_frame =
      welcome.max_frame_bytes() > 0 ? welcome.max_frame_bytes() : cfg_.max_frame_bytes;
  bool flush_sent = false;
  auto st = std::make_shared<Session>(ex_);
  current_ = st;
  // Reader: acks release spool entries; any read error ends the session.
  net::co_spawn(
      ex_,
      [ws, st, this, max_frame]() -> net::awaitable<void> {
        beast::flat_buffer rbuf;
        for (;;) {
          boost::system::error_code rec;
          co_await ws->async_read(rbuf, net::redirect_error(net::use_awaitable, rec));
          if (rec) {
            st->why = describeError(rec);
            break;
          }
          qw::wire::AggregatorMessage m;
          if (!m.ParseFromArray(rbuf.data().data(), static_cast<int>(rbuf.size()))) {
            st->why = "malformed message from aggregator";
            break;
          }
          rbuf.consume(rbuf.size());
          if (m.has_ack()) {
            if (!st->dead) spool_.ackUpTo(m.ack().seq());
          } else if (m.has_command()) {
            if (legacy_ || st->dead) continue;  // protocol 1 knew no commands
            uint64_t id = m.command().id();
            // The result goes back on this session only (ids are per session); a handler that
            // finishes after the session died is dropped.
            auto done = [st, id, max_frame](CommandOutcome o) {
              if (st->dead) return;
              auto frames = resultFrames(id, o, max_frame);
              qw::logger("uplink")->debug("command {}: status {}, {} bytes in {} frames", id,
                                          static_cast<int>(o.status), o.payload.size(),
                                          frames.size());
              for (auto& f : frames) st->results.push_back(std::move(f));
              st->signal.cancel();
            };
            if (cfg_.commands)
              cfg_.commands->run(m.command(), done);
            else
              done({qw::wire::CommandResult::NOT_SUPPORTED, "no commands here", ""});
          } else if (m.has_error()) {
            st->why = "aggregator error: " + m.error().code() + ": " + m.error().message();
            break;
          }
        }
        st->dead = true;
        st->signal.cancel();
      },
      net::detached);

  bool result_turn = false;  // batches and result chunks take turns
  while (!st->dead && !stopping_) {
    // The next frame: a Flush once asked for, else the next spooled batch or result chunk.
    std::string out;
    uint64_t seq = 0;
    const auto* e = spool_.next(sent);
    if (flush_wanted_ && delayed_acks && !flush_sent) {
      qw::wire::AgentMessage f;
      f.mutable_flush();
      out = f.SerializeAsString();
      flush_sent = true;
    } else if (!st->results.empty() && (result_turn || !e)) {
      out = std::move(st->results.front());
      st->results.pop_front();
      result_turn = false;
    } else if (e) {
      seq = e->seq;
      out = e->frame;  // a copy: the spool may drop this entry while we write
      appendSentTime(&out, qw::bootTimeMs());
      result_turn = true;
      if (out.size() > max_frame) {
        // The aggregator would close the session and the batch would come back every time.
        log->error("batch {} is {} bytes, over the aggregator's frame limit of {}: not sent", seq,
                   out.size(), max_frame);
        sent = seq;
        continue;
      }
    }
    if (!out.empty()) {
      co_await ws->async_write(net::buffer(out), net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        st->why = describeError(ec);
        break;
      }
      if (seq) sent = seq;
      continue;
    }
    st->signal.expires_at(net::steady_timer::time_point::max());
    co_await st->signal.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  st->dead = true;
  current_.reset();
  connected_ = false;
  beast::error_code ignored;
  lowest.socket().close(ignored);  // ends the reader
  throw std::runtime_error(stopping_ ? "stopping" : (st->why.empty() ? "disconnected" : st->why));
}

}  // namespace qw::agent
