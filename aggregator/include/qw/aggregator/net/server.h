#pragma once
// The aggregator's one port: WebSocket ingest at /v1/stream, the JSON API, /healthz and the page.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "qw/aggregator/api/prometheus.h"
#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/store/store.h"
#include "qw/aggregator/view/cluster_view.h"
#include "qw/time_util.h"

namespace qw::aggregator {

struct ServerConfig {
  // TLS for every connection (agents over wss://, the API over https://); null: plain TCP.
  // With a client CA configured in it, agents must present a certificate it signed.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string token;           // empty: no token (loopback only)
  bool allow_no_token = true;  // false when listening beyond loopback without a token
  size_t max_frame_bytes = 1 << 20;
  size_t max_agents = 256;
  std::chrono::milliseconds idle_timeout{30000};
  size_t max_series_points = 11000;  // a series answer never holds more points
  bool prune = true;                 // run retention in small steps from the event loop
  std::chrono::milliseconds command_timeout{5000};  // an agent's answer to a command, at most
  ViewConfig view;
};

using Counters = SelfStats;

// The outcome of a command sent to an agent (the command channel, proto/wire.proto).
struct CommandReply {
  enum class Kind {
    kOk,            // payload: the reassembled result
    kFailed,        // the agent tried and failed (message says why)
    kNotSupported,  // the agent predates commands, or does not know this kind
    kNotConnected,  // no session for that node now, or it ended while we waited
    kTimeout,
  };
  Kind kind = Kind::kOk;
  std::string message;
  std::string payload;
};

class Server {
 public:
  Server(boost::asio::io_context& ioc, Store& store, Hub& hub, ServerConfig cfg,
         const Clock& clock);
  ~Server();
  // Binds and starts accepting. Returns the bound endpoint. Throws on bind failure.
  boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& ep);
  // Stops accepting, closes agent sessions, commits what is pending.
  void shutdown();
  const Counters& counters() const { return counters_; }
  const Store& store() const { return store_; }
  // Sends `cmd` (its id is assigned here, per session) to the connected agent of `node` and
  // waits up to `timeout` for its complete result. An agent without the "commands.v1"
  // capability is answered kNotSupported at once; nothing is sent to it.
  boost::asio::awaitable<CommandReply> command(const std::string& node, qw::wire::Command cmd,
                                               std::chrono::milliseconds timeout);

  class AgentConn;
  // The ack delay an agent asked for in its Hello, capped at 10 s (an agent's spool must not hold
  // committed batches for long).
  static uint32_t grantedAckDelayMs(const qw::wire::Hello& h) {
    return h.ack_delay_ms() < 10000 ? h.ack_delay_ms() : 10000;
  }

 private:
  struct Pending {
    std::weak_ptr<AgentConn> conn;
    std::string instance_id;
    std::string node;
    qw::wire::Batch batch;
    int64_t recv_wall_ms;
    bool live;              // made after (or just before) the session began, not a replayed backlog
    uint64_t boot_key = 0;  // the session's boot (placement.h)
    int64_t place_recv_ms = 0;  // BootClockOffset::placementRecv; 0: recv_wall_ms
  };
  boost::asio::awaitable<void> acceptLoop();
  boost::asio::awaitable<void> handleConnection(boost::asio::ip::tcp::socket sock);
  template <class Stream>
  boost::asio::awaitable<void> serve(Stream stream, std::string remote);
  void enqueue(Pending p);
  void flush();
  void onHello(const std::shared_ptr<AgentConn>& c);
  void onClose(AgentConn* c);
  void schedulePrune(std::chrono::milliseconds after);
  void record(const std::vector<Event>& events);
  SelfStats stats();

  template <class Ws>
  friend class AgentConnImpl;
  friend class AgentConn;
  friend struct HttpHandler;

  boost::asio::io_context& ioc_;
  Store& store_;
  Hub& hub_;
  ServerConfig cfg_;
  const Clock& clock_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::vector<Pending> pending_;
  bool flush_posted_ = false;
  std::map<std::string, std::weak_ptr<AgentConn>> by_instance_;
  size_t agents_ = 0;
  Counters counters_;
  bool stopping_ = false;
  EventDeriver deriver_;
  std::unique_ptr<boost::asio::steady_timer> prune_timer_;
};

}  // namespace qw::aggregator
