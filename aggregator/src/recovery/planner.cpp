#include "qw/aggregator/recovery/planner.h"
#include "parts.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "qw/time_util.h"

namespace qw::aggregator {
namespace recovery {

const PlannerNode* findNode(const PlannerInput& in, const std::string& name) {
  for (const auto& n : in.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

std::string fileStamp(int64_t now_ms) {
  std::string stamp;
  for (char c : qw::rfc3339(now_ms / 1000 * 1000))
    if (c != ':' && c != '-') stamp += c;
  return stamp;
}

void bringBack(const PlannerInput& in, const qw::api::MemberView& m, qw::api::RecoveryPlan* p) {
  const PlannerNode* n = findNode(in, m.node());
  auto* s = p->add_steps();
  s->set_node(m.node());
  std::string who = "member " + m.name() + (m.node().empty() ? "" : " on " + m.node());
  if (!n) {
    s->set_why("bring " + who +
               " back: no agent reports from it, so start its etcd the way it is normally "
               "started, with its data dir as it is");
    return;
  }
  if (!n->agent_connected) {
    s->set_why("bring node " + n->name +
               " back (power, network): its agent is silent too, so the " +
               "node itself is down; its etcd starts with it, data dir as it is");
  } else {
    std::string why;
    std::string cmd = startCommand(*n, &why);
    s->set_command(cmd);
    s->set_why(cmd.empty() ? "start " + who + "'s etcd with its data dir as it is: " + why
                           : "start " + who + "'s etcd again, with its data dir as it is");
  }
  if (!n->etcd_endpoint.empty()) s->set_check(healthCheck(*n, n->etcd_endpoint));
}

void finalCheck(const PlannerInput& in, qw::api::RecoveryPlan* p, const std::string& why) {
  std::vector<std::string> urls;
  const PlannerNode* any = nullptr;
  for (const auto& m : in.view.members()) {
    if (m.is_learner()) continue;
    const PlannerNode* n = findNode(in, m.node());
    if (!n || n->etcd_endpoint.empty()) continue;
    urls.push_back(n->etcd_endpoint);
    any = n;
  }
  if (!any) return;
  std::string joined;
  for (const auto& u : urls) joined += (joined.empty() ? "" : ",") + u;
  auto* s = p->add_steps();
  s->set_why(why);
  s->set_check(healthCheck(*any, joined));
}

// `cmd` until it succeeds or `done` holds, for a minute: etcd refuses a membership change until
// every started member has been connected for 5 s, and a promotion until the learner caught up.
// Checking `done` first makes it safe to run again (an add that went through but whose answer was
// lost is not added twice).
std::string retried(const std::string& done, const std::string& cmd) {
  return "for i in $(seq 1 60); do if " + done + "; then exit 0; fi; if " + cmd +
         "; then exit 0; fi; sleep 1; done; exit 1";
}

}  // namespace recovery

namespace {

using namespace recovery;
using State = qw::api::ClusterView;

// Why members cannot be replaced one by one ("" when they can): the others must hold quorum,
// and their client and the replaced members' peer URLs must be known.
std::string cannotReplace(const PlannerInput& in,
                          const std::vector<const qw::api::MemberView*>& gone) {
  std::set<const qw::api::MemberView*> out(gone.begin(), gone.end());
  std::vector<const qw::api::MemberView*> keep;
  for (const auto& m : in.view.members())
    if (!out.count(&m) && m.healthy() && !m.is_learner()) keep.push_back(&m);
  if (static_cast<int>(keep.size()) < in.view.quorum_size())
    return "the members left do not hold quorum";
  const PlannerNode* via = nullptr;
  if (clientUrls(in, keep, &via).empty()) return "no healthy member's client URL is known";
  for (const auto* m : gone) {
    auto peers = in.peer_urls.find(m->name());
    if (peers == in.peer_urls.end() || peers->second.empty())
      return "member " + m->name() + "'s peer URL is not known";
  }
  return "";
}

void notPlanned(qw::api::RecoveryPlan* p, const std::string& why) {
  p->set_scenario("NOT_PLANNED");
  p->set_summary(why);
  p->add_refusals(
      "never --force-new-cluster or a restore while another old member may still come back");
}

// Members whose data will not come back (?lost=): replaced one by one while the others keep
// quorum; brought back first when down members that are not lost would restore it; else a
// restore (restore.cpp).
void planLost(const PlannerInput& in, qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  std::set<std::string> lost(in.lost.begin(), in.lost.end());
  std::vector<const qw::api::MemberView*> gone, healthy, down;
  int voters = 0;
  for (const auto& m : v.members()) {
    if (!m.is_learner()) ++voters;
    if (lost.count(m.node()))
      gone.push_back(&m);
    else if (!m.is_learner())
      (m.healthy() ? healthy : down).push_back(&m);
  }
  p->add_preconditions(std::to_string(healthy.size()) + " healthy voters outside the lost nodes, " +
                       std::to_string(down.size()) + " down, " + std::to_string(voters) +
                       " voters, quorum " + std::to_string(v.quorum_size()));
  if (gone.empty()) return notPlanned(p, "no member of the cluster runs on the nodes named lost");
  if (static_cast<int>(healthy.size()) < v.quorum_size() &&
      static_cast<int>(healthy.size() + down.size()) >= v.quorum_size()) {
    // Quorum comes back without the lost members once the down ones are back: no restore.
    p->set_scenario("QUORUM_LOST_RECOVERABLE");
    p->set_summary(
        "quorum is lost, but the members that are down and not lost can restore it: bring them "
        "back with their data dirs as they are first; then ask again with ?lost= to replace the "
        "lost ones one at a time. No restore: it would throw away what they hold");
    for (const auto* m : down) bringBack(in, *m, p);
    p->add_refusals(
        "no --force-new-cluster, no snapshot restore, no k3s --cluster-reset while members "
        "that are not lost can come back");
    return;
  }
  if (static_cast<int>(healthy.size()) < v.quorum_size()) return planRestore(in, p);
  if (auto why = cannotReplace(in, gone); !why.empty()) return notPlanned(p, why);
  p->set_scenario("REPLACE_MEMBER");
  p->set_summary(
      "quorum holds without the lost members: replace each in turn (remove it, add it back as a "
      "learner, start it with an empty data dir, promote it once it caught up); one change at a "
      "time, the next only once the previous member is a voter again");
  replaceMembers(in, gone, p);
  finalCheck(in, p, "every voter is healthy again");
}

// A CORRUPT alarm: that member's data differs from the others'. Replace it while the others
// keep quorum, then disarm; never disarm first (that hides it) (ETCD_REFERENCE.md section 11).
void planCorrupt(const PlannerInput& in, qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  std::set<std::string> ids;
  for (const auto& a : v.alarms())
    if (a.alarm() == "CORRUPT") ids.insert(a.member_id());
  std::vector<const qw::api::MemberView*> bad;
  for (const auto& m : v.members())
    if (ids.count(m.member_id())) bad.push_back(&m);
  p->add_refusals(
      "never disarm CORRUPT before the member is replaced: that hides a member whose data "
      "differs from the others' (k3s's own check does this; do not imitate it)");
  p->add_refusals("never restore from a snapshot taken of the corrupt member");
  std::string names;
  for (const auto* m : bad) names += (names.empty() ? "" : ", ") + m->name();
  if (bad.empty() || bad.size() != ids.size())
    return notPlanned(p, "a CORRUPT alarm names a member this cluster's list does not hold");
  if (auto why = cannotReplace(in, bad); !why.empty())
    return notPlanned(p, "CORRUPT on " + names + ", and it cannot be replaced one by one: " + why +
                             ". Find which members agree (etcdctl endpoint hashkv --cluster) "
                             "before anything else");
  p->add_preconditions("CORRUPT on " + names + "; the other voters hold quorum without it");
  p->set_scenario("CORRUPT_MEMBER");
  p->set_summary(
      "member " + names +
      " raised CORRUPT: its data differs from the others'. Replace it (stop it, remove it, "
      "add it back as a learner with an empty data dir, promote it), then disarm the alarm");
  replaceMembers(in, bad, p);
  std::vector<const qw::api::MemberView*> voters;
  for (const auto& m : v.members())
    if (!m.is_learner()) voters.push_back(&m);
  const PlannerNode* via = nullptr;
  const std::string urls = clientUrls(in, voters, &via);
  auto* disarm = p->add_steps();
  disarm->set_why("disarm CORRUPT now that the member was replaced and is a voter again");
  disarm->set_command(etcdctlFor(*via, urls) + " alarm disarm");
  disarm->set_check("[ -z \"$(" + etcdctlFor(*via, urls) + " alarm list)\" ]");
  disarm->set_destructive(true);
  finalCheck(in, p, "every voter is healthy again, without the alarm");
}

// A learner that never became a voter: promote it once it caught up; a learner that cannot catch
// up is removed, its disk and network looked at, and added again.
void planLearner(const PlannerInput& in, const qw::api::MemberView& l, qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  p->set_scenario("LEARNER_STUCK");
  std::vector<const qw::api::MemberView*> voters;
  double leader_index = -1;
  for (const auto& m : v.members()) {
    if (m.is_learner() || !m.healthy()) continue;
    voters.push_back(&m);
    if (m.is_leader() && m.has_raft_index()) leader_index = m.raft_index();
  }
  std::string lag = "its log against the leader's is not known";
  if (leader_index > 0 && l.has_raft_applied_index())
    lag = "it applied " + std::to_string(static_cast<int64_t>(l.raft_applied_index())) + " of " +
          std::to_string(static_cast<int64_t>(leader_index)) + " entries";
  p->add_preconditions("learner " + l.name() + " is not promoted; " + lag);
  p->set_summary(
      "learner " + l.name() +
      " was never promoted: promote it once its log is 90% of the leader's; if it never gets "
      "there, its disk or network cannot keep up: remove it, look at WAL fsync and peer RTT on " +
      (l.node().empty() ? std::string("its node") : l.node()) + ", and add it again");
  if (!l.healthy()) bringBack(in, l, p);
  const PlannerNode* via = nullptr;
  const std::string urls = clientUrls(in, voters, &via);
  if (!via) return notPlanned(p, "no healthy voter's client URL is known");
  const std::string ctl = etcdctlFor(*via, urls);
  auto* promote = p->add_steps();
  promote->set_why(
      "promote " + l.name() +
      " (retried for a minute: etcd refuses while its log is behind). If it still refuses, "
      "remove it (" +
      ctl + " member remove " + l.member_id() +
      "), fix its disk or network, and add it again as a learner");
  const std::string voter =
      "! " + ctl + " member list | grep -q " + shellQuote("^" + l.member_id() + ",.*, true$");
  promote->set_command(retried(voter, ctl + " member promote " + l.member_id()));
  promote->set_check(voter);
  promote->set_destructive(true);
  p->add_refusals("never add a second learner: etcd allows one");
  p->add_refusals("never remove a voter to make room for it");
}

// NOSPACE (ETCD_REFERENCE.md section 11): writes refused cluster-wide. Stop the writer, compact,
// defragment every member (followers one at a time, then leadership moved to a defragmented
// follower and the old leader last), then disarm. Every member must be up: one offline member
// keeps the cluster blocked (k3s #5331), so a down member is brought back first.
void planNospace(const PlannerInput& in, qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  p->set_scenario("NOSPACE");
  p->set_summary(
      "etcd refuses writes cluster-wide: the database reached its quota. Stop what filled it, "
      "compact, defragment every member (followers first, the leader last after moving "
      "leadership away), then disarm the alarm. Restarting etcd frees nothing");
  std::vector<const qw::api::MemberView*> voters;
  for (const auto& m : v.members()) {
    if (m.is_learner()) continue;
    voters.push_back(&m);
    if (!m.healthy()) {
      p->add_preconditions(m.name() + " is down: it must be back before the alarm can clear");
      bringBack(in, m, p);
    }
  }
  const PlannerNode* via = nullptr;
  const std::string all = clientUrls(in, voters, &via);
  if (!via) return notPlanned(p, "NOSPACE, and no member's client URL is known");
  const std::string ctl = etcdctlFor(*via, all);
  auto* stop = p->add_steps();
  stop->set_why(
      "stop the writer that filled the database (the largest prefixes: " + ctl +
      " get / --prefix --keys-only | cut -d/ -f2 | sort | uniq -c | sort -rn | head); delete "
      "what it wrote if it must go");
  defragSteps(in, 0, true, p);
  auto* disarm = p->add_steps();
  disarm->set_why("disarm the alarm now that the space is free; writes work again");
  disarm->set_command(ctl + " alarm disarm");
  disarm->set_check("[ -z \"$(" + ctl + " alarm list)\" ]");
  disarm->set_destructive(true);
  p->add_refusals("do not restart etcd to clear it: a restart frees no space (kubernetes #96886)");
  p->add_refusals("do not disarm before the space is free: the next write raises it again");
  p->add_refusals(
      "do not raise --quota-backend-bytes past 8 GiB, and not as the fix: the writer would fill "
      "that too");
}

}  // namespace
qw::api::RecoveryPlan planRecovery(const PlannerInput& in) {
  qw::api::RecoveryPlan p;
  const auto& v = in.view;
  p.set_generated_at(qw::rfc3339(in.now_ms));
  p.set_cluster_state(State::State_Name(v.state()));
  for (const auto& l : in.lost) p.add_lost(l);
  p.set_snapshot(!in.newest_drilled.empty() ? in.newest_drilled : in.newest_verified);

  // Guard-rail first: a member restarted again and again is failing for a reason a restart
  // does not fix (disk, power), and each restart replays its WAL on the same bad disk.
  for (const auto& [node, count] : in.restarts_10m)
    if (count >= in.blind_restarts) {
      p.add_guard_rails("etcd on " + node + " restarted " + std::to_string(count) +
                        " times in 10 minutes: stop restarting it; look at disk and power "
                        "first (dmesg, the SD card or SSD, vcgencmd get_throttled)");
      auto* s = p.add_steps();
      s->set_node(node);
      s->set_why("stop restarting etcd on " + node +
                 " (its unit, a watchdog or a script restarting it in a loop) and look at disk "
                 "and power before anything else: a restart replays the WAL on the same disk");
    }
  // A planned stop is no failure: its member comes back when the work is done.
  for (const auto& m : v.maintenance())
    p.add_guard_rails("node " + m.node() + " is in planned maintenance until " + m.until() +
                      (m.reason().empty() ? "" : " (" + m.reason() + ")") +
                      ": its member is down by plan; bring it back when the work is done, do "
                      "not remove or replace it");
  // Do not mix recovery with other changes: each one made during this incident is named.
  for (const auto& c : in.mixed_changes)
    p.add_guard_rails(c +
                      ": do not mix recovery with other changes; finish or undo it first, "
                      "and make no other change until every member is back");

  if (v.state() == State::UNKNOWN || v.voting_members() == 0) {
    p.set_scenario("UNKNOWN");
    p.set_summary("no etcd member has answered yet: nothing can be planned");
    return p;
  }
  if (!in.lost.empty()) {
    planLost(in, &p);
    return p;
  }
  bool corrupt = false, nospace = false;
  for (const auto& a : v.alarms()) {
    corrupt |= a.alarm() == "CORRUPT";
    nospace |= a.alarm() == "NOSPACE";
  }
  if (corrupt) {
    planCorrupt(in, &p);
    return p;
  }
  if (nospace) {
    planNospace(in, &p);
    return p;
  }
  for (const auto& a : v.alarms()) {
    notPlanned(&p, "alarm " + a.alarm() + " on member " + a.member_id() +
                       ": this version does not know it");
    return p;
  }

  std::vector<const qw::api::MemberView*> down;
  int voters = 0;
  for (const auto& m : v.members()) {
    if (m.is_learner()) continue;
    ++voters;
    if (!m.healthy()) down.push_back(&m);
  }
  p.add_preconditions(std::to_string(voters - static_cast<int>(down.size())) + " of " +
                      std::to_string(voters) + " voters healthy, quorum is " +
                      std::to_string(v.quorum_size()));
  if (down.empty()) {
    for (const auto& w : v.warnings())
      if (w.code() == qw::api::Warning::LEARNER_NOT_PROMOTED)
        for (const auto& m : v.members())
          if (m.is_learner() && (m.name() == w.member() || m.member_id() == w.member())) {
            planLearner(in, m, &p);
            return p;
          }
    p.set_scenario("HEALTHY");
    p.set_summary(p.snapshot().empty()
                      ? "nothing to do; but no verified snapshot exists: a loss now could not be "
                        "undone (GET /api/v1/snapshots)"
                      : "nothing to do; the snapshot to rely on is " + p.snapshot());
    return p;
  }
  for (const auto* m : down) {
    const PlannerNode* n = findNode(in, m->node());
    std::string line = m->name() + (m->node().empty() ? "" : " on " + m->node()) + " is down";
    if (!m->reasons().empty()) line += " (" + m->reasons(0) + ")";
    if (n)
      line += n->agent_connected ? "; its agent answers, so the node is up"
                                 : "; its agent is silent too, so the node is down";
    p.add_preconditions(line);
  }
  bool quorum = v.healthy_members() >= v.quorum_size();
  p.set_scenario(quorum ? "MEMBER_DOWN" : "QUORUM_LOST_RECOVERABLE");
  if (quorum)
    p.set_summary("quorum holds (" + std::to_string(v.failure_tolerance()) +
                  " more may fail): bring the down member back with its data dir as it is; it "
                  "catches up from the leader");
  else
    p.set_summary(
        "quorum is lost, but the down members' disks may come back: bring them back with their "
        "data dirs as they are and quorum returns by itself. Do not reset, restore or "
        "re-create anything while that can happen. If a member's data is gone for good, ask "
        "again with ?lost=NODE");
  // A started member answers only once a majority runs: the starts before that have no check.
  int running = v.healthy_members();
  for (const auto* m : down) {
    bringBack(in, *m, &p);
    if (++running < v.quorum_size()) p.mutable_steps(p.steps_size() - 1)->set_check("");
  }
  finalCheck(in, &p, "every voter answers again: quorum is back by itself, nothing was reset");
  p.add_refusals(
      "no --force-new-cluster, no snapshot restore, no k3s --cluster-reset: the old members "
      "would come back into a cluster that no longer knows them, and writes acknowledged after "
      "the snapshot would be lost");
  p.add_refusals(
      "no member remove and add for a member whose disk may come back: remove first, add after, "
      "one change at a time, only once its data is known to be gone");
  p.add_refusals("no other change (upgrade, flags, defragmentation) until every member is back");
  return p;
}

}  // namespace qw::aggregator
