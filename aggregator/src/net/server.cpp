#include "qw/aggregator/net/server.h"

#include "qw/aggregator/api/handlers.h"
#include "qw/aggregator/api/router.h"
#include "qw/aggregator/net/http_session.h"
#include "qw/aggregator/net/listener.h"
#include "qw/aggregator/snapshots/catalog.h"
#include "qw/log.h"

#include <set>

#include <boost/asio/co_spawn.hpp>

namespace qw::aggregator {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

Server::Server(net::io_context& ioc, Store& store, Hub& hub, ServerConfig cfg, const Clock& clock)
    : ioc_(ioc), store_(store), cfg_(std::move(cfg)), clock_(clock) {
  ingest_ = std::make_unique<IngestService>(
      ioc_, store_, hub,
      IngestConfig{cfg_.max_frame_bytes, cfg_.view.cluster_name, cfg_.view.stale_after_ms}, clock_);
  watch_ = std::make_unique<ClusterWatch>(
      hub, cfg_.view, store_, clock_, [this](const std::vector<Event>& e) { ingest_->record(e); });
  ingest_->onCommitted([this] { watch_->evaluate(); });
  if (!cfg_.webhook.url.empty()) {
    std::string err;
    auto target = parseWebhookUrl(cfg_.webhook.url, &err);
    if (!target) throw std::runtime_error("--notify-webhook: " + err);
    notifier_ = std::make_unique<WebhookNotifier>(ioc_, cfg_.webhook, *target);
    watch_->setNotify([this](qw::api::Notification n) { notifier_->notify(std::move(n)); });
    qw::logger("notify")->info("notifications go to {}://{}:{}", target->tls ? "https" : "http",
                               target->host, target->port);
  }
  snapshots_ = std::make_unique<SnapshotCatalog>();
  keeper_ =
      std::make_unique<SnapshotKeeper>(ioc_, *ingest_, *snapshots_, clock_, cfg_.keeper,
                                       [this](const std::vector<Event>& e) { ingest_->record(e); });
  if (auto err = keeper_->open())
    qw::logger("snapshots")->error("{}: no copies off the nodes and no restore drills", *err);
  watch_->setSnapshotHealth([this] { return keeper_->health(); });
  scheduler_ = std::make_unique<SnapshotScheduler>(
      ioc_, *ingest_, hub, clock_, cfg_.scheduler,
      [this] { return std::make_pair(watch_->view(), snapshots_->list(clock_.wallMs())); },
      [this](std::string node) { return pollSnapshotsOf(std::move(node), knownMembers()); },
      [this](const std::vector<Event>& e) { ingest_->record(e); });
  router_ = std::make_unique<Router>();
  api_ = std::make_unique<ApiContext>(ApiContext{hub, store_, *ingest_, *watch_, clock_, cfg_.view,
                                                 cfg_.max_series_points, cfg_.command_timeout,
                                                 nullptr, snapshots_.get(), keeper_.get(),
                                                 cfg_.token, scheduler_.get(), &maintenance_});
  watch_->setMaintenance(&maintenance_);
  api_->stats = [this] {
    SelfStats self = ingest_->stats();
    self.connected_agents = http_->agents;
    if (notifier_) {
      auto n = notifier_->stats();
      self.webhook = true;
      self.webhook_queued = n.queued;
      self.webhook_delivered = n.delivered;
      self.webhook_rejected = n.rejected;
      self.webhook_dropped = n.dropped;
      self.webhook_failed_attempts = n.failed_attempts;
    }
    return self;
  };
  addClusterRoutes(*router_, *api_);
  addMaintenanceRoutes(*router_, *api_);
  addNodeRoutes(*router_, *api_);
  addHistoryRoutes(*router_, *api_);
  addSnapshotRoutes(*router_, *api_);
  addRecoveryRoutes(*router_, *api_);
  http_ = std::make_unique<HttpContext>(HttpContext{cfg_, *ingest_, *router_, 0});
  listener_ = std::make_unique<Listener>(ioc_, cfg_.tls, *http_);
}

Server::~Server() = default;

tcp::endpoint Server::listen(const tcp::endpoint& ep) {
  auto bound = listener_->listen(ep);
  schedulePrune(2s);
  scheduleWatch();
  scheduleSnapshotPoll(2s);
  return bound;
}

void Server::shutdown() {
  stopping_ = true;
  listener_->close();
  if (prune_timer_) prune_timer_->cancel();
  if (watch_timer_) watch_timer_->cancel();
  if (snapshot_timer_) snapshot_timer_->cancel();
  keeper_->shutdown();
  scheduler_->shutdown();
  if (notifier_) notifier_->shutdown();
  ingest_->shutdown();
}

net::awaitable<CommandReply> Server::command(std::string node, qw::wire::Command cmd,
                                             std::chrono::milliseconds timeout) {
  return ingest_->command(std::move(node), std::move(cmd), timeout);
}

// Once a second besides every commit: a node that goes silent, and a warning whose clear window
// ends, change the warnings without a sample arriving.
void Server::scheduleWatch() {
  if (stopping_) return;
  if (!watch_timer_) watch_timer_ = std::make_unique<net::steady_timer>(ioc_);
  watch_timer_->expires_after(1s);
  watch_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    watch_->evaluate();
    scheduleWatch();
  });
}

// Every agent's snapshot catalogue, asked over the command channel (the agent answers from
// memory; its checks run in the background). One round at a time.
void Server::scheduleSnapshotPoll(std::chrono::milliseconds after) {
  if (stopping_) return;
  if (!snapshot_timer_) snapshot_timer_ = std::make_unique<net::steady_timer>(ioc_);
  snapshot_timer_->expires_after(after);
  snapshot_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (!polling_snapshots_) {
      polling_snapshots_ = true;
      net::co_spawn(ioc_, pollSnapshots(),
                    [this](std::exception_ptr) { polling_snapshots_ = false; });
    }
    scheduleSnapshotPoll(cfg_.snapshot_poll);
  });
}

std::set<uint64_t> Server::knownMembers() {
  std::set<uint64_t> known;
  std::vector<Store::MemberRecord> history;
  if (auto err = store_.memberHistory(&history))
    qw::logger("snapshots")->warn("member history: {}", *err);
  for (const auto& m : history) known.insert(m.info.id);
  return known;
}

net::awaitable<void> Server::pollSnapshots() {
  std::set<uint64_t> known = knownMembers();
  std::vector<std::string> names;
  for (const auto& [name, n] : api_->hub.nodes()) names.push_back(name);
  for (const auto& name : names) {
    if (stopping_) co_return;
    co_await pollSnapshotsOf(name, known);
  }
  if (!stopping_) co_await scheduler_->afterPoll();
  if (!stopping_) co_await keeper_->afterPoll(std::move(known));
}

net::awaitable<void> Server::pollSnapshotsOf(std::string name, std::set<uint64_t> known) {
  qw::wire::Command cmd;
  cmd.mutable_list_snapshots();
  auto r = co_await ingest_->command(name, std::move(cmd), cfg_.command_timeout);
  if (stopping_) co_return;
  if (r.kind != CommandReply::Kind::kOk) {
    snapshots_->noteError(name, r.message.empty() ? "no answer" : r.message);
    co_return;
  }
  qw::wire::SnapshotCatalog cat;
  if (!cat.ParseFromString(r.payload)) {
    snapshots_->noteError(name, "the agent sent a malformed snapshot catalogue");
    co_return;
  }
  auto events = snapshots_->update(name, cat, known, clock_.wallMs());
  for (const auto& e : events) qw::logger("snapshots")->info("{}: {}", name, e.message);
  if (!events.empty()) ingest_->record(events);
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

}  // namespace qw::aggregator
