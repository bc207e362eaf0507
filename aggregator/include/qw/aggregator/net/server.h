#pragma once
// The aggregator's one port: WebSocket ingest at /v1/stream, the JSON API, /healthz and the page.
// A facade over the parts, one file per role: net/listener (accept, TLS), net/http_session
// (requests, upgrades), net/agent_session (one agent's stream), ingest/protocol (frames ->
// messages), ingest/ingest_service (Hello, batches, group commit, acks, commands), api/router
// and api/handlers_* (the routes).
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "qw/aggregator/api/prometheus.h"
#include "qw/aggregator/ingest/ingest_service.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/notify/webhook.h"
#include "qw/aggregator/snapshots/keeper.h"
#include "qw/aggregator/snapshots/scheduler.h"
#include "qw/aggregator/store/store.h"
#include "qw/aggregator/view/cluster_watch.h"
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
  std::chrono::milliseconds idle_timeout{2000};  // agent sessions: pings at half of it
  size_t max_series_points = 11000;              // a series answer never holds more points
  bool prune = true;                             // run retention in small steps from the event loop
  std::chrono::milliseconds command_timeout{5000};  // an agent's answer to a command, at most
  std::chrono::milliseconds snapshot_poll{60000};   // how often each agent's catalogue is asked
  KeeperConfig keeper;                              // copies off the node and restore drills
  SchedulerConfig scheduler;                        // snapshots taken through agents
  WebhookConfig webhook;                            // --notify-webhook (url empty: off)
  ViewConfig view;
};

class Router;
class Listener;
struct ApiContext;
struct HttpContext;

class Server {
 public:
  Server(boost::asio::io_context& ioc, Store& store, Hub& hub, ServerConfig cfg,
         const Clock& clock);
  ~Server();
  // Binds and starts accepting. Returns the bound endpoint. Throws on bind failure.
  boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& ep);
  // Stops accepting, closes agent sessions, commits what is pending.
  void shutdown();
  const Counters& counters() const { return ingest_->counters(); }
  const Store& store() const { return store_; }
  SnapshotKeeper& keeper() { return *keeper_; }
  // Sends `cmd` to the connected agent of `node` and waits up to `timeout` for its complete
  // result (IngestService::command).
  boost::asio::awaitable<CommandReply> command(std::string node, qw::wire::Command cmd,
                                               std::chrono::milliseconds timeout);
  static uint32_t grantedAckDelayMs(const qw::wire::Hello& h) {
    return IngestService::grantedAckDelayMs(h);
  }

 private:
  void schedulePrune(std::chrono::milliseconds after);
  void scheduleWatch();
  void scheduleSnapshotPoll(std::chrono::milliseconds after);
  boost::asio::awaitable<void> pollSnapshots();
  boost::asio::awaitable<void> pollSnapshotsOf(std::string node, std::set<uint64_t> known);
  std::set<uint64_t> knownMembers();

  boost::asio::io_context& ioc_;
  Store& store_;
  ServerConfig cfg_;
  const Clock& clock_;
  MaintenanceBook maintenance_;
  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<WebhookNotifier> notifier_;
  std::unique_ptr<ClusterWatch> watch_;
  std::unique_ptr<SnapshotCatalog> snapshots_;
  std::unique_ptr<SnapshotKeeper> keeper_;
  std::unique_ptr<SnapshotScheduler> scheduler_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<ApiContext> api_;
  std::unique_ptr<HttpContext> http_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<boost::asio::steady_timer> prune_timer_;
  std::unique_ptr<boost::asio::steady_timer> watch_timer_;
  std::unique_ptr<boost::asio::steady_timer> snapshot_timer_;
  bool polling_snapshots_ = false;
  bool stopping_ = false;
};

}  // namespace qw::aggregator
