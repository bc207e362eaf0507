#include "qw/aggregator/ingest/ingest_service.h"

#include <algorithm>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api.pb.h"
#include "qw/aggregator/ingest/protocol.h"
#include "qw/fs_util.h"
#include "qw/ids.h"
#include "qw/log.h"
#include "qw/protocol.h"
#include "qw/version.h"

namespace qw::aggregator {

namespace net = boost::asio;

void AgentSession::setHello(qw::wire::Hello h) {
  hello_ = std::move(h);
  instance_ = hello_.instance_id();
  boot_key_ = qw::bootKey(hello_.boot_id());
}

bool AgentSession::supportsCommands() const { return hasCapability(hello_, qw::kCapCommands); }

uint64_t AgentSession::startCommand(qw::wire::Command cmd, CommandDone done) {
  uint64_t id = ++last_command_id_;
  cmd.set_id(id);
  commands_[id].done = std::move(done);
  qw::wire::AggregatorMessage m;
  *m.mutable_command() = std::move(cmd);
  send(m);
  return id;
}

void AgentSession::onCommandResult(const qw::wire::CommandResult& r) {
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

void AgentSession::failCommands() {
  auto pending = std::move(commands_);
  commands_.clear();
  for (auto& [id, p] : pending)
    p.done({CommandReply::Kind::kNotConnected, "the agent's session ended", ""});
}

IngestService::IngestService(net::io_context& ioc, Store& store, Hub& hub, IngestConfig cfg,
                             const Clock& clock)
    : ioc_(ioc), store_(store), hub_(hub), cfg_(std::move(cfg)), clock_(clock) {}

void IngestService::onHello(const std::shared_ptr<AgentSession>& c, qw::wire::Hello hello) {
  auto log = qw::logger("ingest");
  c->setHello(std::move(hello));
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
  if (auto err = store_.recordFlavor(h.node_name(), h.etcd_flavor(), now))
    log->warn("agent {}: cannot record its etcd flavor: {}", h.node_name(), *err);
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
  n.disconnected_steady_ms = -1;
  if (last) n.last_seq = *last;
  if (!cfg_.cluster_name.empty() && h.cluster_name() != cfg_.cluster_name)
    log->warn("agent {} reports cluster '{}', this aggregator watches '{}'", h.node_name(),
              h.cluster_name(), cfg_.cluster_name);
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
        {now, qw::api::Event::Kind_Name(qw::api::Event::NODE_REBOOT), h.node_name(),
         qw::api::Severity_Name(qw::api::WARNING),
         h.node_name() + " rebooted (boot id " + h.boot_id() + ", was " + previous_boot + ")"});
  ev.push_back({now, qw::api::Event::Kind_Name(qw::api::Event::AGENT_CONNECTED), h.node_name(),
                qw::api::Severity_Name(qw::api::INFO),
                "agent " + h.agent_version() + " on " + h.node_name() + " connected (instance " +
                    h.instance_id() + ", resumes after batch " + std::to_string(last.value_or(0)) +
                    ")"});
  record(ev);
}

void IngestService::onBatch(const std::shared_ptr<AgentSession>& c, qw::wire::Batch b) {
  // The batch made last before the Hello is at most one interval old: live too.
  bool live = b.seq() + 1 >= c->hello().next_seq();
  int64_t recv = clock_.wallMs();
  int64_t place_recv = b.has_sent_mono_ms() ? c->offset().placementRecv(recv, b.sent_mono_ms()) : 0;
  if (!admitClusterId(c, b, live)) return;
  enqueue({c, c->instance(), c->hello().node_name(), std::move(b), recv, live, c->bootKey(),
           place_recv});
}

bool IngestService::admitClusterId(const std::shared_ptr<AgentSession>& c, const qw::wire::Batch& b,
                                   bool live) {
  uint64_t id = batchClusterId(b);
  if (id == 0) return true;
  const std::string node = c->hello().node_name();
  auto& identity = hub_.identity();
  auto v = identity.judge(node, id, live, hub_, clock_.steadyMs(), cfg_.stale_after_ms);
  using K = ClusterIdVerdict::Kind;
  auto log = qw::logger("ingest");
  if (v.kind == K::kAccept) return true;
  if (v.kind == K::kRefuse) {
    ++counters_.cluster_refusals;
    if (refused_.insert({node, id}).second) {
      log->warn("agent {}: {}", node, v.reason);
      record({{clock_.wallMs(), qw::api::Event::Kind_Name(qw::api::Event::AGENT_REFUSED), node,
               qw::api::Severity_Name(qw::api::WARNING), v.reason}});
    } else {
      log->debug("agent {}: refused again: etcd cluster id {}", node, hex64(id));
    }
    // Its batches stay in its spool: nothing it sent is lost, and nothing is mixed in.
    c->fail("cluster_mismatch", v.reason);
    return false;
  }
  int64_t now = clock_.wallMs();
  if (auto err = store_.recordClusterId(v.new_id, v.old_id, now)) {
    ++counters_.commit_errors;
    log->error("agent {}: cannot record etcd cluster id {}: {}", node, hex64(v.new_id), *err);
    c->fail("store", "aggregator cannot write its database");
    return false;
  }
  identity.apply(v);
  if (v.kind == K::kAdopt) {
    log->info("watching etcd cluster {} (first reported by {})", hex64(v.new_id), node);
  } else {
    log->warn("{}", v.reason);
    record({{now, qw::api::Event::Kind_Name(qw::api::Event::CLUSTER_REPLACED), "",
             qw::api::Severity_Name(qw::api::WARNING), v.reason}});
  }
  return true;
}

std::optional<AgentSession::Link> IngestService::link(const std::string& node) const {
  if (const auto* n = hub_.findNode(node); n && n->connected)
    if (auto it = by_instance_.find(n->instance_id); it != by_instance_.end())
      if (auto conn = it->second.lock()) return conn->link();
  return std::nullopt;
}

net::awaitable<CommandReply> IngestService::command(std::string node, qw::wire::Command cmd,
                                                    std::chrono::milliseconds timeout) {
  std::shared_ptr<AgentSession> conn;
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

void IngestService::onClose(AgentSession* c) {
  c->failCommands();
  if (c->instance().empty()) return;
  auto it = by_instance_.find(c->instance());
  if (it != by_instance_.end() && it->second.lock().get() == c) {
    by_instance_.erase(it);
    auto& n = hub_.node(c->hello().node_name());
    if (n.instance_id == c->instance()) {
      n.connected = false;
      n.disconnected_steady_ms = clock_.steadyMs();
    }
    qw::logger("ingest")->info("agent {} disconnected", c->name());
    if (!stopping_)
      record({{clock_.wallMs(), qw::api::Event::Kind_Name(qw::api::Event::AGENT_DISCONNECTED),
               c->hello().node_name(), qw::api::Severity_Name(qw::api::WARNING),
               "agent on " + c->hello().node_name() +
                   " disconnected: its samples wait in its spool until it is back"}});
  }
}

void IngestService::shutdown() {
  stopping_ = true;
  flush();
  for (auto& [id, w] : by_instance_)
    if (auto c = w.lock()) c->close();
}

void IngestService::record(const std::vector<Event>& events) {
  if (auto err = store_.addEvents(events)) {
    ++counters_.commit_errors;
    if (store_.lastErrorCode() == SQLITE_FULL) ++counters_.db_full_errors;
    qw::logger("store")->warn("cannot store {} events: {}", events.size(), *err);
  }
  counters_.events_stored = store_.eventsStored();
}

SelfStats IngestService::stats() const {
  SelfStats self = counters_;
  self.points_stored = store_.pointsStored();
  self.points_conflicts = store_.pointsConflicts();
  self.events_stored = store_.eventsStored();
  self.rows_pruned = store_.rowsPruned();
  self.db_size_bytes = static_cast<uint64_t>(store_.dbSizeBytes());
  return self;
}

void IngestService::enqueue(Pending p) {
  pending_.push_back(std::move(p));
  if (!flush_posted_) {
    flush_posted_ = true;
    // Everything that arrives before this runs shares one transaction (group commit).
    net::post(ioc_, [this] { flush(); });
  }
}

void IngestService::flush() {
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
      if (p.batch.has_spool_write_errors()) n.spool_write_errors = p.batch.spool_write_errors();
      n.spool_last_write_error = p.batch.spool_last_write_error();
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
  if (on_committed_) on_committed_();
}

}  // namespace qw::aggregator
