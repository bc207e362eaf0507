// Defragmentation (GET /api/v1/recovery/defrag, and NOSPACE's plan): compaction first, then the
// followers one at a time with a pause, leadership moved to a defragmented healthy voter, the old
// leader last (ETCD_REFERENCE.md section 11: ahrtr/etcd-defrag's rules and the incidents behind
// them). A defragmentation blocks its member while it rewrites the db: the plan says for how long
// it expects, from the db size in use and the highest write rate measured on that member's disk.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "parts.h"
#include "qw/time_util.h"

namespace qw::aggregator::recovery {

namespace {

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return b;
}

// Seconds `n` is expected to stall: its db in use rewritten at the highest rate its disk was
// measured at, rounded up to the next whole second. Absent when either is not known.
std::optional<double> expectedStall(const PlannerNode& n) {
  if (!n.db_in_use || n.disk_write_peak_bps <= 0) return std::nullopt;
  return std::max(1.0, std::ceil(*n.db_in_use / n.disk_write_peak_bps));
}

}  // namespace

void defragSteps(const PlannerInput& in, double pause_seconds, bool alarm_active,
                 qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  const qw::api::MemberView* leader = nullptr;
  std::vector<const qw::api::MemberView*> followers, voters;
  for (const auto& m : v.members()) {
    if (m.is_learner()) continue;
    const PlannerNode* n = findNode(in, m.node());
    if (!n || n->etcd_endpoint.empty()) continue;
    voters.push_back(&m);
    if (m.is_leader())
      leader = &m;
    else
      followers.push_back(&m);
  }
  if (voters.empty()) return;
  auto node = [&](const qw::api::MemberView& m) { return findNode(in, m.node()); };
  auto ctlAt = [&](const qw::api::MemberView& m) {
    return etcdctlFor(*node(m), node(m)->etcd_endpoint);
  };
  const std::string one = ctlAt(leader ? *leader : *voters.front());
  auto* compact = p->add_steps();
  compact->set_why(
      "compact to the current revision: the history of every key becomes free space (a "
      "revision already compacted is fine)");
  compact->set_command("REV=$(" + one +
                       " endpoint status -w json | grep -o '\"revision\":[0-9]*' | head -1 | "
                       "cut -d: -f2) && " +
                       one +
                       " compact \"$REV\" 2>&1 | grep -qE 'compacted revision|required "
                       "revision has been compacted'");
  auto defrag = [&](const qw::api::MemberView& m, const std::string& why) {
    const PlannerNode* n = node(m);
    auto* d = p->add_steps();
    d->set_node(m.node());
    std::string text = why;
    if (auto stall = expectedStall(*n)) {
      d->set_expected_stall_seconds(*stall);
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.1f", n->disk_write_peak_bps / (1024.0 * 1024.0));
      text += "; expected stall about " + std::to_string(static_cast<int64_t>(*stall)) + " s (" +
              mib(*n->db_in_use) + " in use, its disk measured writing up to " + rate + " MiB/s)";
    } else {
      text += "; its stall cannot be estimated (no write rate measured on its disk yet)";
    }
    d->set_why(text);
    d->set_command(ctlAt(m) + " --command-timeout=10m defrag");
    d->set_check(alarm_active ? etcdctlFor(*n, n->etcd_endpoint) + " endpoint status"
                              : healthCheck(*n, n->etcd_endpoint));
    if (pause_seconds > 0) {
      auto* wait = p->add_steps();
      wait->set_why("pause: let " + m.name() + " catch up before the next member");
      wait->set_command("sleep " + std::to_string(static_cast<int64_t>(pause_seconds)));
    }
  };
  for (const auto* f : followers)
    defrag(*f, "defragment follower " + f->name() +
                   " (it stalls while it runs; the others keep serving)");
  if (!leader) return;
  if (!followers.empty()) {
    const auto* to = followers.front();
    auto* mv = p->add_steps();
    uint64_t id = std::strtoull(to->member_id().c_str(), nullptr, 16);
    mv->set_why("move leadership to " + to->name() +
                " (defragmented, healthy): defragmenting the leader would stall every write");
    mv->set_command(ctlAt(*leader) + " move-leader " + to->member_id());
    mv->set_check(ctlAt(*to) +
                  " endpoint status -w json | grep -q '\"leader\":" + std::to_string(id) + ",'");
  }
  defrag(*leader, "defragment " + leader->name() + ", the old leader, last");
}

}  // namespace qw::aggregator::recovery

namespace qw::aggregator {

qw::api::RecoveryPlan planDefrag(const PlannerInput& in) {
  using namespace recovery;
  qw::api::RecoveryPlan p;
  const auto& v = in.view;
  p.set_generated_at(qw::rfc3339(in.now_ms));
  p.set_cluster_state(qw::api::ClusterView::State_Name(v.state()));
  auto refuse = [&](const std::string& why) {
    p.set_scenario("DEFRAG_REFUSED");
    p.set_summary(why);
    p.clear_steps();
  };
  p.add_refusals(
      "no defragmentation while a member is down, an alarm is active or another change is "
      "under way: it stalls each member in turn");
  p.add_refusals("never two members at once, and the leader never while it leads");
  if (v.state() == qw::api::ClusterView::UNKNOWN || v.voting_members() == 0) {
    refuse("no etcd member has answered yet");
    return p;
  }
  for (const auto& a : v.alarms()) {
    refuse("alarm " + a.alarm() + " is active: follow GET /api/v1/recovery/plan instead");
    return p;
  }
  double best_gain = 0;
  std::string gains;
  for (const auto& m : v.members()) {
    if (m.is_learner()) continue;
    if (!m.healthy()) {
      refuse("member " + m.name() + " is not healthy: every member must be, first");
      return p;
    }
    const PlannerNode* n = findNode(in, m.node());
    if (!n || !n->db_size || !n->db_in_use) {
      refuse("member " + m.name() + "'s db size is not known");
      return p;
    }
    if (!n->fs_avail) {
      refuse("the free disk under member " + m.name() + "'s data dir is not known");
      return p;
    }
    if (*n->fs_avail < *n->db_size) {
      refuse("member " + m.name() + " has " + mib(*n->fs_avail) + " free, less than its db (" +
             mib(*n->db_size) + "): a defragmentation writes a whole new copy");
      return p;
    }
    const double gain = *n->db_size - *n->db_in_use;
    const double ratio = *n->db_size > 0 ? *n->db_in_use / *n->db_size : 1;
    // Worth it (ahrtr/etcd-defrag's rule): much to gain (in use under half the file and at
    // least 100 MiB free in it), or near the quota with a tenth of the file to gain.
    const bool near_quota = n->quota && *n->quota > 0 && *n->db_size >= 0.8 * *n->quota;
    const bool worth =
        (ratio < 0.5 && gain >= 100.0 * 1024 * 1024) || (near_quota && gain >= 0.1 * *n->db_size);
    gains += (gains.empty() ? "" : "; ") + m.name() + ": " + mib(*n->db_size) + " file, " +
             mib(*n->db_in_use) + " in use" + (near_quota ? ", near its quota" : "") +
             (worth ? "" : " (little to gain)");
    if (worth) best_gain = std::max(best_gain, gain);
  }
  p.add_preconditions("every voter healthy, no alarm, free disk at least the db size everywhere");
  p.add_preconditions(gains);
  if (best_gain <= 0) {
    p.set_scenario("DEFRAG_NOT_NEEDED");
    p.set_summary("little to gain: " + gains +
                  ". Defragment when in use is under half the file with 100 MiB or more to "
                  "free, or the file nears its quota");
    return p;
  }
  p.set_scenario("DEFRAG");
  p.set_summary("defragment every member, one at a time (" + gains +
                "): compaction first, followers with a pause between them, leadership moved, "
                "the old leader last. Each member stalls while it runs");
  if (!in.mixed_changes.empty()) {
    refuse("a change is under way (" + in.mixed_changes.front() + "): one change at a time");
    return p;
  }
  defragSteps(in, in.defrag_pause_seconds, false, &p);
  finalCheck(in, &p, "every voter is healthy after the defragmentation");
  return p;
}

}  // namespace qw::aggregator
