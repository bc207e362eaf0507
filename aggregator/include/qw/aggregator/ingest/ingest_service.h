#pragma once
// What the aggregator does with agents' messages, transport-free (net/agent_session carries the
// bytes): a Hello records the agent and is answered with a Welcome, Batches are placed and
// committed in groups (one transaction for everything that arrived in one turn of the event
// loop), committed batches are acked, and commands go to an agent and their results come back.
// Tests drive it with a fake session and a fake clock.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "qw/aggregator/api/prometheus.h"
#include "qw/aggregator/ingest/placement.h"
#include "qw/aggregator/model/events.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/store/store.h"
#include "qw/time_util.h"
#include "wire.pb.h"

namespace qw::aggregator {

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

// One agent's session as ingest sees it, whatever the transport.
class AgentSession : public std::enable_shared_from_this<AgentSession> {
 public:
  virtual ~AgentSession() = default;
  virtual void send(const qw::wire::AggregatorMessage& m) = 0;
  // Sends an Error and closes the session once it is written.
  virtual void fail(const std::string& code, const std::string& message) = 0;
  virtual void close() = 0;
  // Batches up to `seq` are committed: ack at once, or within the agent's ack delay.
  virtual void ack(uint64_t seq, bool now) = 0;

  // How the agent reached us: what a pull of its snapshot (every Secret of the cluster) over this
  // session would cross.
  struct Link {
    std::string remote;      // "ADDRESS:PORT"
    bool encrypted = false;  // TLS
    bool loopback = false;   // the peer address is a loopback address
  };
  void setLink(Link l) { link_ = std::move(l); }
  const Link& link() const { return link_; }

  std::string name() const { return hello_.node_name().empty() ? "?" : hello_.node_name(); }
  const qw::wire::Hello& hello() const { return hello_; }
  const std::string& instance() const { return instance_; }
  bool helloSeen() const { return !instance_.empty(); }
  uint64_t bootKey() const { return boot_key_; }
  BootClockOffset& offset() { return offset_; }
  void setHello(qw::wire::Hello h);

  // The command channel: only an agent that named the capability in its Hello gets commands.
  bool supportsCommands() const;
  using CommandDone = std::function<void(CommandReply)>;
  // Sends `cmd` with this session's next id; `done` runs once, with the reassembled result, or
  // kNotConnected when the session ends first. Returns the id (for cancelCommand).
  uint64_t startCommand(qw::wire::Command cmd, CommandDone done);
  void cancelCommand(uint64_t id) { commands_.erase(id); }
  // One chunk of a result: appended in order; the last one completes the command.
  void onCommandResult(const qw::wire::CommandResult& r);
  // The session ended: every command still waiting is answered kNotConnected.
  void failCommands();
  static constexpr size_t kMaxResultBytes = 16 << 20;

 private:
  qw::wire::Hello hello_;
  Link link_;
  uint64_t boot_key_ = 0;   // qw::bootKey(hello_.boot_id())
  BootClockOffset offset_;  // this session's agent boot clock against our wall clock
  std::string instance_;
  struct PendingCommand {
    CommandDone done;
    std::string payload;
    uint32_t next_chunk = 0, count = 0;
  };
  uint64_t last_command_id_ = 0;
  std::map<uint64_t, PendingCommand> commands_;
};

struct IngestConfig {
  size_t max_frame_bytes = 1 << 20;  // told to agents in the Welcome
  std::string cluster_name;          // empty: any; else agents of other clusters are logged
  int64_t stale_after_ms = 5000;     // a node silent this long no longer vouches for its cluster id
};

class IngestService {
 public:
  IngestService(boost::asio::io_context& ioc, Store& store, Hub& hub, IngestConfig cfg,
                const Clock& clock);
  // The ack delay an agent asked for in its Hello, capped at 10 s (an agent's spool must not
  // hold committed batches for long).
  static uint32_t grantedAckDelayMs(const qw::wire::Hello& h) {
    return h.ack_delay_ms() < 10000 ? h.ack_delay_ms() : 10000;
  }

  // A valid Hello (ingest/protocol.h) on `s`: replaces an older session of the same instance,
  // records the agent and answers the Welcome (or fails the session when the store cannot).
  void onHello(const std::shared_ptr<AgentSession>& s, qw::wire::Hello h);
  // A Batch on a session past its Hello: queued for the next group commit.
  void onBatch(const std::shared_ptr<AgentSession>& s, qw::wire::Batch b);
  // Flush: ack everything committed now and every later batch at once (the session does it).
  void onClose(AgentSession* s);
  // Commits what is queued (runs posted after the first batch of a turn; also on Hello/stop).
  void flush();
  // No more events for closing sessions; commits what is pending and closes every session.
  void shutdown();
  bool stopping() const { return stopping_; }

  // Sends `cmd` (its id assigned per session) to the connected agent of `node` and waits up to
  // `timeout` for its complete result. An agent without the "commands.v1" capability is
  // answered kNotSupported at once; nothing is sent to it.
  boost::asio::awaitable<CommandReply> command(std::string node, qw::wire::Command cmd,
                                               std::chrono::milliseconds timeout);

  // The link of `node`'s connected agent; nullopt when none is connected.
  std::optional<AgentSession::Link> link(const std::string& node) const;

  void record(const std::vector<Event>& events);
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }
  // The counters with the store's totals (for /metrics).
  SelfStats stats() const;
  size_t sessions() const { return by_instance_.size(); }
  // Runs after every group commit that stored something (the cluster watch re-evaluates).
  void onCommitted(std::function<void()> f) { on_committed_ = std::move(f); }

 private:
  struct Pending {
    std::weak_ptr<AgentSession> conn;
    std::string instance_id;
    std::string node;
    qw::wire::Batch batch;
    int64_t recv_wall_ms;
    bool live;              // made after (or just before) the session began, not a replayed backlog
    uint64_t boot_key = 0;  // the session's boot (placement.h)
    int64_t place_recv_ms = 0;  // BootClockOffset::placementRecv; 0: recv_wall_ms
  };
  void enqueue(Pending p);
  // The batch's etcd cluster id against the one this aggregator watches; false: refused (the
  // session failed with cluster_mismatch, nothing stored) or not recordable.
  bool admitClusterId(const std::shared_ptr<AgentSession>& c, const qw::wire::Batch& b, bool live);

  boost::asio::io_context& ioc_;
  Store& store_;
  Hub& hub_;
  IngestConfig cfg_;
  const Clock& clock_;
  std::vector<Pending> pending_;
  bool flush_posted_ = false;
  std::map<std::string, std::weak_ptr<AgentSession>> by_instance_;
  Counters counters_;
  bool stopping_ = false;
  EventDeriver deriver_;
  std::function<void()> on_committed_;
  std::set<std::pair<std::string, uint64_t>> refused_;  // (node, cluster id) already reported
};

}  // namespace qw::aggregator
