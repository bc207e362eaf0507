#pragma once
// One agent's WebSocket session (ws or wss): reads frames (ingest/protocol.h decodes them),
// hands Hellos, Batches and command results to the IngestService, and writes its Welcome, Acks,
// Commands and Errors through a bounded queue.
#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "qw/aggregator/ingest/ingest_service.h"
#include "qw/aggregator/ingest/protocol.h"
#include "qw/log.h"
#include "qw/net_error.h"

namespace qw::aggregator {

template <class Ws>
class AgentSessionImpl final : public AgentSession {
 public:
  template <class Stream>
  AgentSessionImpl(IngestService& ingest, Stream&& stream, std::string remote,
                   size_t max_frame_bytes, std::chrono::milliseconds idle_timeout)
      : ingest_(ingest),
        ws_(std::move(stream)),
        remote_(std::move(remote)),
        max_frame_(max_frame_bytes),
        idle_timeout_(idle_timeout) {}

  boost::asio::awaitable<void> run(
      boost::beast::http::request<boost::beast::http::string_body> req) {
    namespace net = boost::asio;
    namespace websocket = boost::beast::websocket;
    using namespace std::chrono_literals;
    auto log = qw::logger("ingest");
    websocket::stream_base::timeout to{};
    to.handshake_timeout = 10s;
    to.idle_timeout = idle_timeout_;
    to.keep_alive_pings = true;
    ws_.set_option(to);
    // The frame limit is enforced below, piece by piece, so an oversized frame still gets its
    // Error message (Beast's own limit fails the stream and closes it with no word of why).
    ws_.read_message_max(0);
    ws_.binary(true);
    boost::system::error_code ec;
    co_await ws_.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    boost::beast::flat_buffer buf;
    auto self = std::static_pointer_cast<AgentSessionImpl>(shared_from_this());
    for (;;) {
      bool too_big = false;
      do {
        co_await ws_.async_read_some(buf, 64 * 1024, net::redirect_error(net::use_awaitable, ec));
        if (!ec && buf.size() > max_frame_) too_big = true;
      } while (!ec && !too_big && !ws_.is_message_done());
      if (ec) {
        if (ec != websocket::error::closed && ec != net::error::operation_aborted)
          log->info("agent {} ({}): {}", name(), remote_, describeNetError(ec));
        break;
      }
      auto d = too_big ? frameTooLarge(max_frame_)
                       : decodeAgentFrame(buf.data().data(), buf.size(), ws_.got_binary(),
                                          helloSeen(), max_frame_);
      buf.consume(buf.size());
      if (!d.ok) {
        ++ingest_.counters().bad_frames;
        fail(d.code, d.message);
        break;
      }
      auto& m = d.msg;
      if (m.has_hello()) {
        ingest_.onHello(self, std::move(*m.mutable_hello()));
        if (closed_) break;
      } else if (m.has_flush()) {
        ack_asap_ = true;
        sendAck();
      } else if (m.has_batch()) {
        ingest_.onBatch(self, std::move(*m.mutable_batch()));
      } else if (m.has_command_result()) {
        onCommandResult(m.command_result());
      }
    }
    // After fail() the write loop still owes the peer its Error message; it closes afterwards.
    if (!close_after_write_) closed_ = true;
    ingest_.onClose(this);
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
      auto self = std::static_pointer_cast<AgentSessionImpl>(shared_from_this());
      boost::asio::co_spawn(
          ws_.get_executor(), [self] { return self->writeLoop(); }, boost::asio::detached);
    }
  }

  void ack(uint64_t seq, bool now) override {
    if (closed_) return;
    ack_pending_ = std::max(ack_pending_, seq);
    auto delay = std::chrono::milliseconds(IngestService::grantedAckDelayMs(hello()));
    if (now || ack_asap_ || delay.count() == 0) {
      sendAck();
      return;
    }
    if (ack_timer_armed_) return;
    ack_timer_armed_ = true;
    if (!ack_timer_) ack_timer_ = std::make_unique<boost::asio::steady_timer>(ws_.get_executor());
    ack_timer_->expires_after(delay);
    auto self = std::static_pointer_cast<AgentSessionImpl>(shared_from_this());
    ack_timer_->async_wait([self](const boost::system::error_code&) {
      self->ack_timer_armed_ = false;
      self->sendAck();
    });
  }

  void fail(const std::string& code, const std::string& message) override {
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
    boost::beast::error_code ignored;
    boost::beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  boost::asio::awaitable<void> writeLoop() {
    namespace net = boost::asio;
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
      co_await ws_.async_close(boost::beast::websocket::close_code::policy_error,
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

  IngestService& ingest_;
  Ws ws_;
  std::string remote_;
  size_t max_frame_;
  std::chrono::milliseconds idle_timeout_;
  uint64_t ack_pending_ = 0, ack_sent_ = 0;  // committed / acknowledged up to
  bool ack_asap_ = false;                    // Flush received: no more delay
  bool ack_timer_armed_ = false;
  std::unique_ptr<boost::asio::steady_timer> ack_timer_;
  std::deque<std::string> outq_;
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
};

}  // namespace qw::aggregator
