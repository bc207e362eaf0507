#include "qw/aggregator/snapshots/scheduler.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "qw/log.h"

namespace qw::aggregator {

namespace net = boost::asio;

namespace {

std::string mib(double n) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", n / (1 << 20));
  return b;
}

}  // namespace

std::vector<std::string> snapshotCandidates(const qw::api::ClusterView& view,
                                            const qw::api::SnapshotList& list,
                                            const std::map<std::string, NodeState>& nodes,
                                            std::string* why_none) {
  struct Candidate {
    std::string node;
    bool leader = false;
    double free = -1;
  };
  std::vector<Candidate> out;
  std::vector<std::string> why;
  for (const auto& entry : nodes) {
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    const std::string& name = entry.first;
    const NodeState& n = entry.second;
    auto no = [&](const std::string& reason) { why.push_back(name + ": " + reason); };
    if (!n.connected) {
      no("its agent is not connected");
      continue;
    }
    if (n.etcd_flavor == "k3s") {
      no("k3s takes its own snapshots");
      continue;
    }
    const qw::api::SnapshotNode* cat = nullptr;
    for (const auto& sn : list.nodes())
      if (sn.node() == name) cat = &sn;
    if (!cat || !cat->error().empty()) {
      no(cat ? "no catalogue: " + cat->error() : "no catalogue yet");
      continue;
    }
    if (cat->dirs().empty()) {
      no("its agent has no --snapshot-dir");
      continue;
    }
    const qw::api::MemberView* m = nullptr;
    for (const auto& mv : view.members())
      if (mv.node() == name) m = &mv;
    if (!m) {
      no("its etcd member is not known");
      continue;
    }
    if (!m->healthy() || m->is_learner()) {
      no(m->is_learner() ? "its member is a learner" : "its member is not healthy");
      continue;
    }
    Candidate c;
    c.node = name;
    c.leader = m->is_leader();
    if (n.has_sample && n.latest.has_disk() && n.latest.disk().has_fs_avail_bytes())
      c.free = static_cast<double>(n.latest.disk().fs_avail_bytes());
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    if (a.leader != b.leader) return !a.leader;
    return a.free > b.free;
  });
  std::vector<std::string> names;
  for (const auto& c : out) names.push_back(c.node);
  if (why_none) {
    why_none->clear();
    if (names.empty()) {
      if (why.empty()) why.push_back("no agent is connected");
      for (const auto& w : why) *why_none += (why_none->empty() ? "" : "; ") + w;
    }
  }
  return names;
}

SnapshotScheduler::SnapshotScheduler(net::io_context& ioc, IngestService& ingest, const Hub& hub,
                                     const Clock& clock, SchedulerConfig cfg, Inputs inputs,
                                     Repoll repoll, Record record)
    : ioc_(ioc),
      ingest_(ingest),
      hub_(hub),
      clock_(clock),
      cfg_(std::move(cfg)),
      inputs_(std::move(inputs)),
      repoll_(std::move(repoll)),
      record_(std::move(record)) {}

net::awaitable<void> SnapshotScheduler::afterPoll() {
  if (cfg_.every.count() <= 0 || running_ || stopping_) co_return;
  auto [view, list] = inputs_();
  if (list.has_newest_verified_age_seconds() &&
      list.newest_verified_age_seconds() * 1000 < static_cast<double>(cfg_.every.count()))
    co_return;
  if (failed_round_steady_ms_ >= 0 &&
      clock_.steadyMs() - failed_round_steady_ms_ < cfg_.retry_after.count())
    co_return;
  std::string why;
  auto candidates = snapshotCandidates(view, list, hub_.nodes(), &why);
  if (candidates.empty()) {
    bool any = false;  // before the first agent connects there is nothing to say
    for (const auto& [name, n] : hub_.nodes()) any |= n.connected;
    if (why != not_possible_ && any)
      qw::logger("snapshots")->warn("a snapshot is due and no node can take one: {}", why);
    not_possible_ = why;
    co_return;
  }
  not_possible_.clear();
  co_await take("schedule", std::move(candidates));
}

std::optional<std::string> SnapshotScheduler::startNow(qw::api::SnapshotTake* out) {
  if (stopping_) return "the aggregator is stopping";
  if (running_) return "a snapshot is being taken on " + running_->node();
  auto [view, list] = inputs_();
  std::string why;
  auto candidates = snapshotCandidates(view, list, hub_.nodes(), &why);
  if (candidates.empty()) return "no node can take a snapshot: " + why;
  qw::api::SnapshotTake t;
  t.set_node(candidates.front());
  t.set_status("running");
  t.set_trigger("api");
  t.set_started_at(qw::rfc3339(clock_.wallMs()));
  *out = t;
  running_ = t;  // a second request before the take starts is refused too
  net::co_spawn(ioc_, take("api", std::move(candidates)), net::detached);
  return std::nullopt;
}

net::awaitable<void> SnapshotScheduler::take(std::string trigger,
                                             std::vector<std::string> candidates) {
  auto log = qw::logger("snapshots");
  bool taken = false;
  for (const auto& node : candidates) {
    if (stopping_) co_return;
    qw::api::SnapshotTake t;
    t.set_node(node);
    t.set_status("running");
    t.set_trigger(trigger);
    t.set_started_at(qw::rfc3339(clock_.wallMs()));
    running_ = t;
    qw::wire::Command cmd;
    auto* r = cmd.mutable_take_snapshot();
    r->set_prefix(cfg_.prefix);
    r->set_keep(cfg_.keep);
    r->set_timeout_s(static_cast<uint32_t>(cfg_.take_timeout.count() / 1000));
    if (const auto* n = hub_.findNode(node);
        n && n->has_sample && n->latest.has_etcd() && n->latest.etcd().db_size_bytes() > 0)
      r->set_expected_bytes(static_cast<uint64_t>(n->latest.etcd().db_size_bytes()));
    log->info("asking {} to take a snapshot of etcd ({})", node, trigger);
    auto reply = co_await ingest_.command(node, std::move(cmd),
                                          cfg_.take_timeout + std::chrono::seconds(30));
    if (stopping_) co_return;
    qw::wire::SnapshotTaken got;
    if (!reply.payload.empty()) (void)got.ParseFromString(reply.payload);
    t.set_finished_at(qw::rfc3339(clock_.wallMs()));
    if (got.has_file()) {
      t.set_path(got.file().path());
      t.set_size_bytes(static_cast<double>(got.file().size()));
    }
    if (got.stream_ms() > 0) t.set_stream_ms(static_cast<double>(got.stream_ms()));
    if (got.verify_ms() > 0) t.set_verify_ms(static_cast<double>(got.verify_ms()));
    for (const auto& old : got.removed()) t.add_removed(old);
    if (reply.kind == CommandReply::Kind::kOk) {
      t.set_status("taken");
      std::string msg = "snapshot " + node + ":" + t.path() + " taken (" + mib(t.size_bytes()) +
                        ", streamed from etcd in " +
                        std::to_string(static_cast<int64_t>(t.stream_ms())) +
                        " ms, verified on the node)";
      if (t.removed_size() > 0)
        msg += "; " + std::to_string(t.removed_size()) + " older removed (keeping " +
               std::to_string(cfg_.keep) + ")";
      log->info("{}", msg);
      record_({{clock_.wallMs(), "SNAPSHOT_TAKEN", node, "INFO", msg}});
      finish(std::move(t));
      taken = true;
      co_await repoll_(node);
      break;
    }
    std::string why = reply.message.empty() ? "no answer" : reply.message;
    if (reply.kind == CommandReply::Kind::kTimeout) why = "no answer in time (" + why + ")";
    if (reply.kind == CommandReply::Kind::kNotSupported)
      why = "its agent predates TakeSnapshot (" + why + ")";
    t.set_status("failed");
    t.set_error(why);
    std::string msg = "snapshot on " + node + " not taken: " + why;
    log->warn("{}", msg);
    record_({{clock_.wallMs(), "SNAPSHOT_TAKE_FAILED", node, "WARNING", msg}});
    finish(std::move(t));
  }
  running_.reset();
  failed_round_steady_ms_ = taken ? -1 : clock_.steadyMs();
}

void SnapshotScheduler::finish(qw::api::SnapshotTake t) {
  running_.reset();
  takes_.push_front(std::move(t));
  while (takes_.size() > cfg_.log_size) takes_.pop_back();
}

void SnapshotScheduler::fill(qw::api::SnapshotList* l) const {
  auto* s = l->mutable_schedule();
  s->set_every_seconds(static_cast<double>(cfg_.every.count()) / 1000.0);
  s->set_keep(cfg_.keep);
  if (cfg_.every.count() > 0) {
    int64_t due = clock_.wallMs();
    if (l->has_newest_verified_age_seconds())
      due = std::max(due, clock_.wallMs() + cfg_.every.count() -
                              static_cast<int64_t>(l->newest_verified_age_seconds() * 1000));
    s->set_next_due(qw::rfc3339(due));
  }
  std::string why;
  auto [v, list] = inputs_();
  for (const auto& n : snapshotCandidates(v, list, hub_.nodes(), &why)) s->add_candidates(n);
  s->set_not_possible(why);
  if (running_) *s->add_takes() = *running_;
  for (const auto& t : takes_) *s->add_takes() = t;
}

}  // namespace qw::aggregator
