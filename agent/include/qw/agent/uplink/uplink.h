#pragma once
// WebSocket uplink to the aggregator (DESIGN.md s4): Hello -> Welcome(last stored seq) -> Batches
// from the spool after that seq; Acks release spool entries. Reconnects with full-jitter backoff.
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "qw/agent/uplink/backoff.h"
#include "qw/agent/uplink/commands.h"
#include "qw/agent/uplink/spool.h"
#include "qw/tls_client.h"
#include "qw/url.h"
#include "wire.pb.h"

namespace qw::agent {

struct UplinkConfig {
  Url url;
  std::string token;  // bearer token, empty for none
  std::shared_ptr<TlsClientContext> tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{30000};  // pings at half of it
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{30000};
  size_t max_frame_bytes = 1 << 20;  // read limit; also the send limit if the Welcome names none
  // Answers the aggregator's commands; null: every command is answered NOT_SUPPORTED.
  std::shared_ptr<CommandTable> commands;
};

class Uplink : public std::enable_shared_from_this<Uplink> {
 public:
  Uplink(boost::asio::any_io_executor ex, UplinkConfig cfg, Spool& spool, qw::wire::Hello hello);
  void start();
  void stop();
  // A batch was pushed to the spool.
  void notify();
  // Ask for every committed batch to be acknowledged now, and later ones at once (on stop, so
  // the drain does not wait out the ack delay). A no-op when acks are not delayed.
  void flushAcks();
  bool connected() const { return connected_; }

 private:
  struct Session;
  boost::asio::awaitable<void> run();
  template <class WsStream>
  boost::asio::awaitable<void> session(std::shared_ptr<WsStream> ws);

  boost::asio::any_io_executor ex_;
  UplinkConfig cfg_;
  Spool& spool_;
  qw::wire::Hello hello_;
  Backoff backoff_;
  boost::asio::steady_timer wake_;
  bool stopping_ = false;
  bool connected_ = false;
  bool flush_wanted_ = false;  // flushAcks() called; sent once per session
  bool legacy_ = false;        // tests: behave as an agent of protocol version 1
  std::shared_ptr<Session> current_;
};

}  // namespace qw::agent
