// Replacing members one at a time while the others keep quorum (recovery/parts.h): remove
// before add, a learner first, promoted once it caught up (ETCD_REFERENCE.md section 11).
#include <set>

#include "parts.h"

namespace qw::aggregator::recovery {

// The client URLs of `members` joined with commas, and a node to take the TLS files from.
std::string clientUrls(const PlannerInput& in, const std::vector<const qw::api::MemberView*>& ms,
                       const PlannerNode** via) {
  std::string urls;
  for (const auto* m : ms) {
    const PlannerNode* n = findNode(in, m->node());
    if (!n || n->etcd_endpoint.empty()) continue;
    urls += (urls.empty() ? "" : ",") + n->etcd_endpoint;
    *via = n;
  }
  return urls;
}

// The stop of `n`'s etcd before its data dir moves: a signal to the pid its agent reported, only
// while that pid is still the etcd holding this data dir (a pid is reused). "" when there is
// nothing known to stop.
std::string stopProcess(const PlannerNode& n, std::string* check) {
  if (n.flavor == "k3s" || n.flavor == "kubeadm" || !n.unit.empty() || n.etcd_pid <= 0 ||
      !n.config || !n.config->has_data_dir() || n.config->data_dir().empty())
    return "";
  const std::string pid = std::to_string(n.etcd_pid);
  const std::string holds =
      "grep -qF -- " + shellQuote(n.config->data_dir()) + " /proc/" + pid + "/cmdline 2>/dev/null";
  *check = "! " + holds;
  return "if " + holds + "; then kill " + pid + "; fi";
}

void replaceMembers(const PlannerInput& in, const std::vector<const qw::api::MemberView*>& gone,
                    qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  std::set<const qw::api::MemberView*> out(gone.begin(), gone.end());
  std::vector<const qw::api::MemberView*> keep;
  int voters = 0;
  for (const auto& m : v.members()) {
    voters += m.is_learner() ? 0 : 1;
    if (!out.count(&m) && m.healthy() && !m.is_learner()) keep.push_back(&m);
  }
  const PlannerNode* via = nullptr;
  const std::string urls = clientUrls(in, keep, &via);
  const std::string ctl = etcdctlFor(*via, urls);
  // The membership after each replacement: every voter kept (and the replaced ones, as they
  // come back under their names), name=peer URL.
  auto initialCluster = [&](const qw::api::MemberView& upto) {
    std::string list;
    for (const auto& m : v.members()) {
      if (m.is_learner() && &m != &upto) continue;
      auto it = in.peer_urls.find(m.name());
      if (it == in.peer_urls.end()) continue;
      for (const auto& u : it->second) list += (list.empty() ? "" : ",") + m.name() + "=" + u;
    }
    return list;
  };
  const std::string stamp = fileStamp(in.now_ms);
  for (const auto* m : gone) {
    const PlannerNode* n = findNode(in, m->node());
    const auto& peers = in.peer_urls.at(m->name());
    const std::string peer = peers.front();
    std::string peer_list;
    for (const auto& u : peers) peer_list += (peer_list.empty() ? "" : ",") + u;
    const std::string id = m->member_id();
    if (n) {
      std::string check;
      if (std::string stop = stopProcess(*n, &check); !stop.empty()) {
        auto* st = p->add_steps();
        st->set_node(m->node());
        st->set_why("stop member " + m->name() + "'s etcd (pid " + std::to_string(n->etcd_pid) +
                    ") if it still runs: its data is not to be trusted or kept");
        st->set_command(stop);
        st->set_check(check);
      }
    }
    auto* rm = p->add_steps();
    rm->set_why("remove member " + m->name() + " (" + id +
                "; retried while etcd refuses: it wants every started member connected for "
                "5 s). Remove before add: adding first would make the quorum " +
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
    if (n && !n->etcd_endpoint.empty())
      start->set_check(etcdctlFor(*n, n->etcd_endpoint) + " endpoint status");
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
  p->add_refusals("never add before remove: the quorum grows while a member is missing");
  p->add_refusals(
      "one change at a time: etcd allows one learner, and each change must be "
      "applied before the next");
  p->add_refusals("no other change (upgrade, flags, defragmentation) until every member is back");
}

}  // namespace qw::aggregator::recovery
