#include "qw/aggregator/recovery/planner.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "qw/time_util.h"

namespace qw::aggregator {

namespace {

using State = qw::api::ClusterView;

const PlannerNode* findNode(const PlannerInput& in, const std::string& name) {
  for (const auto& n : in.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

std::string stateName(State::State s) { return State::State_Name(s); }

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

void finalCheck(const PlannerInput& in, qw::api::RecoveryPlan* p) {
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
  s->set_why("every voter answers again: quorum is back by itself, nothing was reset");
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

// Members whose data will not come back (?lost=) while the others keep quorum: each replaced in
// turn, remove before add, added as a learner and promoted once it caught up, one change at a
// time (ETCD_REFERENCE.md section 11).
void replaceLost(const PlannerInput& in, qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  std::set<std::string> lost(in.lost.begin(), in.lost.end());
  std::vector<const qw::api::MemberView*> gone, keep;
  for (const auto& m : v.members()) {
    if (lost.count(m.node()))
      gone.push_back(&m);
    else if (m.healthy() && !m.is_learner())
      keep.push_back(&m);
  }
  int voters = 0;
  for (const auto& m : v.members()) voters += m.is_learner() ? 0 : 1;
  p->add_preconditions(std::to_string(keep.size()) + " healthy voters outside the lost nodes, " +
                       std::to_string(voters) + " voters, quorum " +
                       std::to_string(v.quorum_size()));
  auto notPlanned = [&](const std::string& why) {
    p->set_scenario("NOT_PLANNED");
    p->set_summary(why);
    p->add_refusals(
        "never --force-new-cluster or a restore while another old member may still come back");
  };
  if (gone.empty()) return notPlanned("no member of the cluster runs on the nodes named lost");
  if (static_cast<int>(keep.size()) < v.quorum_size())
    return notPlanned(
        "the members left do not hold quorum: this needs a restore from a snapshot (or from a "
        "survivor's data), which this version does not plan yet. Follow etcd's op-guide: the same "
        "snapshot on every member, a new cluster token");
  std::string urls;
  const PlannerNode* via = nullptr;
  for (const auto* m : keep) {
    const PlannerNode* n = findNode(in, m->node());
    if (!n || n->etcd_endpoint.empty()) continue;
    urls += (urls.empty() ? "" : ",") + n->etcd_endpoint;
    via = n;
  }
  if (!via) return notPlanned("no healthy member's client URL is known");
  for (const auto* m : gone) {
    auto peers = in.peer_urls.find(m->name());
    if (peers == in.peer_urls.end() || peers->second.empty())
      return notPlanned("member " + m->name() + "'s peer URL is not known");
  }
  const std::string ctl = "etcdctl --endpoints=" + shellQuote(urls);
  // The membership after each replacement: every member kept (and the lost ones, as they come
  // back under their names), name=peer URL.
  auto initialCluster = [&](const qw::api::MemberView& upto) {
    std::string out;
    for (const auto& m : v.members()) {
      if (m.is_learner() && &m != &upto) continue;
      auto it = in.peer_urls.find(m.name());
      if (it == in.peer_urls.end()) continue;
      for (const auto& u : it->second) out += (out.empty() ? "" : ",") + m.name() + "=" + u;
    }
    return out;
  };
  p->set_scenario("REPLACE_MEMBER");
  p->set_summary(
      "quorum holds without the lost members: replace each in turn (remove it, add it back as a "
      "learner, start it with an empty data dir, promote it once it caught up); one change at a "
      "time, the next only once the previous member is a voter again");
  std::string stamp;  // 2026-12-03T113028Z: a file name without colons
  for (char c : qw::rfc3339(in.now_ms / 1000 * 1000))
    if (c != ':') stamp += c;
  for (const auto* m : gone) {
    const PlannerNode* n = findNode(in, m->node());
    auto peers = in.peer_urls.find(m->name());
    const std::string peer = peers->second.front();
    std::string peer_list;
    for (const auto& u : peers->second) peer_list += (peer_list.empty() ? "" : ",") + u;
    const std::string id = m->member_id();
    auto* rm = p->add_steps();
    rm->set_why("remove member " + m->name() + " (" + id +
                "; retried while etcd refuses: it wants every started member connected for "
                "5 s): its data is gone. Remove before add: adding first would make the quorum " +
                std::to_string((voters + 1) / 2 + 1) + " of " + std::to_string(voters + 1));
    const std::string removed = "! " + ctl + " member list | grep -q " + shellQuote("^" + id + ",");
    rm->set_command(retried(removed, ctl + " member remove " + id));
    rm->set_check(removed);
    rm->set_destructive(true);
    std::string data_dir = n && n->config && n->config->has_data_dir() ? n->config->data_dir() : "";
    if (!data_dir.empty()) {
      auto* mv = p->add_steps();
      mv->set_node(m->node());
      mv->set_why(
          "move what is left of its data dir aside (kept, not deleted): the new member "
          "starts empty");
      std::string aside = data_dir + ".replaced-" + stamp;
      mv->set_command("if [ -e " + shellQuote(data_dir) + " ]; then mv " + shellQuote(data_dir) +
                      " " + shellQuote(aside) + "; fi");
      mv->set_check("[ ! -e " + shellQuote(data_dir) + " ]");
    }
    auto* add = p->add_steps();
    add->set_why(
        "add it back as a learner: it cannot vote, so the quorum stays as it is while it "
        "catches up");
    // The peer URL then a comma: the list's next column (a port is never a prefix match).
    const std::string added = ctl + " member list | grep -qF -- " + shellQuote(peer + ",");
    add->set_command(retried(added, ctl + " member add " + shellQuote(m->name()) +
                                        " --learner --peer-urls=" + shellQuote(peer_list)));
    add->set_check(added);
    add->set_destructive(true);
    auto* start = p->add_steps();
    start->set_node(m->node());
    std::string why;
    std::string cmd = n ? joinCommand(*n, initialCluster(*m), &why) : "";
    if (!n) why = "no agent reports from it";
    start->set_command(cmd);
    start->set_why(cmd.empty() ? "start its etcd with an empty data dir as a member of the "
                                 "existing cluster: " +
                                     why
                               : "start its etcd with an empty data dir, joining the existing "
                                 "cluster (--initial-cluster-state existing)");
    // A learner serves no reads (endpoint health is one): its status says it is up.
    if (n && !n->etcd_endpoint.empty()) {
      std::string status = healthCheck(*n, n->etcd_endpoint);
      status.replace(status.rfind(" endpoint health"), 16, " endpoint status");
      start->set_check(status);
    }
    auto* promote = p->add_steps();
    promote->set_why(
        "promote it to a voter: etcd refuses until its log is 90% of the leader's, so this "
        "retries for a minute");
    const std::string find_id =
        ctl + " member list | grep -F -- " + shellQuote(peer + ",") + " | cut -d, -f1";
    const std::string voter =
        ctl + " member list | grep -F -- " + shellQuote(peer + ",") + " | grep -q ', false$'";
    promote->set_command(retried(voter, ctl + " member promote \"$(" + find_id + ")\""));
    promote->set_check(voter);
    promote->set_destructive(true);
  }
  finalCheck(in, p);
  p->add_refusals("never add before remove: the quorum grows while a member is missing");
  p->add_refusals(
      "one change at a time: etcd allows one learner, and each change must be "
      "applied before the next");
  p->add_refusals("no other change (upgrade, flags, defragmentation) until every member is back");
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
  const qw::api::MemberView* leader = nullptr;
  std::vector<const qw::api::MemberView*> followers;
  std::string all;
  const PlannerNode* any = nullptr;
  for (const auto& m : v.members()) {
    if (m.is_learner()) continue;
    if (!m.healthy()) {
      p->add_preconditions(m.name() + " is down: it must be back before the alarm can clear");
      bringBack(in, m, p);
    }
    const PlannerNode* n = findNode(in, m.node());
    if (!n || n->etcd_endpoint.empty()) continue;
    all += (all.empty() ? "" : ",") + n->etcd_endpoint;
    any = n;
    if (m.is_leader())
      leader = &m;
    else
      followers.push_back(&m);
  }
  if (!any) {
    p->set_scenario("NOT_PLANNED");
    p->set_summary("NOSPACE, and no member's client URL is known");
    return;
  }
  auto url = [&](const qw::api::MemberView& m) { return findNode(in, m.node())->etcd_endpoint; };
  auto ctlAt = [&](const std::string& u) {
    std::string c = healthCheck(*any, u);
    return c.substr(0, c.rfind(" endpoint health"));  // etcdctl with its endpoints and TLS
  };
  const std::string ctl = ctlAt(all);
  auto* stop = p->add_steps();
  stop->set_why(
      "stop the writer that filled the database (the largest prefixes: " + ctl +
      " get / --prefix --keys-only | cut -d/ -f2 | sort | uniq -c | sort -rn | head); delete "
      "what it wrote if it must go");
  auto* compact = p->add_steps();
  const std::string one = ctlAt(leader ? url(*leader) : any->etcd_endpoint);
  compact->set_why(
      "compact to the current revision: the history of every key becomes free space (a "
      "revision already compacted is fine)");
  compact->set_command("REV=$(" + one +
                       " endpoint status -w json | grep -o '\"revision\":[0-9]*' | head -1 | "
                       "cut -d: -f2) && " +
                       one +
                       " compact \"$REV\" 2>&1 | grep -qE 'compacted revision|required "
                       "revision has been compacted'");
  // Followers one at a time, then the leader once leadership moved to a defragmented follower.
  auto defrag = [&](const qw::api::MemberView& m, const std::string& why) {
    auto* d = p->add_steps();
    d->set_node(m.node());
    d->set_why(why);
    d->set_command(ctlAt(url(m)) + " --command-timeout=10m defrag");
    d->set_check(ctlAt(url(m)) + " endpoint status");
  };
  for (const auto* f : followers)
    defrag(*f, "defragment follower " + f->name() +
                   " (it stalls while it runs; the others keep serving)");
  if (leader) {
    if (!followers.empty()) {
      const auto* to = followers.front();
      auto* mv = p->add_steps();
      uint64_t id = std::strtoull(to->member_id().c_str(), nullptr, 16);
      mv->set_why("move leadership to " + to->name() +
                  " (defragmented): defragmenting the leader would stall every write");
      mv->set_command(ctlAt(url(*leader)) + " move-leader " + to->member_id());
      mv->set_check(ctlAt(url(*to)) +
                    " endpoint status -w json | grep -q '\"leader\":" + std::to_string(id) + ",'");
    }
    defrag(*leader, "defragment " + leader->name() + ", the old leader, last");
  }
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
  p.set_cluster_state(stateName(v.state()));
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

  if (v.state() == State::UNKNOWN || v.voting_members() == 0) {
    p.set_scenario("UNKNOWN");
    p.set_summary("no etcd member has answered yet: nothing can be planned");
    return p;
  }
  if (!in.lost.empty()) {
    replaceLost(in, &p);
    return p;
  }
  bool corrupt = false, nospace = false;
  for (const auto& a : v.alarms()) {
    corrupt |= a.alarm() == "CORRUPT";
    nospace |= a.alarm() == "NOSPACE";
  }
  if (nospace && !corrupt) {
    planNospace(in, &p);
    return p;
  }
  for (const auto& a : v.alarms()) {
    p.set_scenario("NOT_PLANNED");
    p.set_summary("alarm " + a.alarm() + " on member " + a.member_id() +
                  ": this version does not plan it yet");
    if (a.alarm() == "CORRUPT")
      p.add_refusals(
          "never disarm CORRUPT before the member is replaced: that hides a member "
          "whose data differs from the others'");
    if (a.alarm() == "NOSPACE")
      p.add_refusals(
          "restarting etcd frees no space: compact, defragment every member, then "
          "disarm");
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
  for (const auto* m : down) bringBack(in, *m, &p);
  finalCheck(in, &p);
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
