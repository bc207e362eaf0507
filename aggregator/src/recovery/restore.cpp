// Restores (recovery/parts.h planRestore): lost members without quorum. Every member gets the
// same snapshot under a new cluster token (ETCD_REFERENCE.md section 11): a fresh snapshot of a
// survivor that still runs (`snapshot save` against one member needs no quorum) when it holds more
// than the newest verified snapshot, else the newest drilled (else verified) snapshot, saying which
// writes are lost. Plain etcd and systemd units restore with etcdutl (etcdctl on 3.4) into the data
// dir once the old one is moved aside; kubeadm the same with its manifests moved out and back; k3s
// with --cluster-reset on one server and the others' server/db moved aside before they rejoin.
#include <algorithm>
#include <cstdio>
#include <set>

#include "parts.h"
#include "qw/time_util.h"

namespace qw::aggregator::recovery {

namespace {

struct Version {
  int major = 0, minor = 0, patch = 0;
  bool known = false;
};

Version parseVersion(const std::string& s) {
  Version v;
  v.known = std::sscanf(s.c_str(), "%d.%d.%d", &v.major, &v.minor, &v.patch) == 3;
  return v;
}

// 3.5 moved the offline commands to etcdutl; 3.4 has them in etcdctl.
std::string offlineTool(const Version& v) {
  return v.known && v.major == 3 && v.minor <= 4 ? "etcdctl" : "etcdutl";
}

// --bump-revision with --mark-compacted: etcdctl from 3.4.27, etcdutl from 3.5.10.
bool canBump(const Version& v) {
  if (!v.known) return false;
  if (v.major != 3) return v.major > 3;
  if (v.minor == 4) return v.patch >= 27;
  if (v.minor == 5) return v.patch >= 10;
  return v.minor > 5;
}

// The value of flag `name` (no dashes) on the command line, else of its ETCD_* variable.
std::string flagValue(const qw::wire::EtcdConfig& c, const std::string& name) {
  for (int i = 1; i < c.args_size(); ++i) {
    const std::string& a = c.args(i);
    for (const std::string dashes : {"--", "-"}) {
      const std::string f = dashes + name;
      if (a == f && i + 1 < c.args_size()) return c.args(i + 1);
      if (a.rfind(f + "=", 0) == 0) return a.substr(f.size() + 1);
    }
  }
  std::string var = "ETCD_";
  for (char ch : name) var += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  for (const auto& e : c.env())
    if (e.rfind(var + "=", 0) == 0) return e.substr(var.size() + 1);
  return "";
}

std::string dirOf(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

std::string ifExistsMove(const std::string& from, const std::string& to) {
  return "if [ -e " + shellQuote(from) + " ]; then mv " + shellQuote(from) + " " + shellQuote(to) +
         "; fi";
}

// `TOOL snapshot status FILE` passes (bbolt's structure check) and the file holds revision `rev`
// or later (0: any).
std::string statusCheck(const std::string& tool, const std::string& file, int64_t rev) {
  const std::string status = tool + " snapshot status " + shellQuote(file) + " -w json";
  if (rev <= 0) return status + " >/dev/null";
  return "[ \"$(" + status + " | grep -o '\"revision\":[0-9]*' | cut -d: -f2)\" -ge " +
         std::to_string(rev) + " ]";
}

void refuse(qw::api::RecoveryPlan* p, const std::string& why) {
  p->set_scenario("NOT_PLANNED");
  p->set_summary(why);
  p->add_refusals("never --force-new-cluster or a restore from a snapshot that is not verified");
}

struct Member {
  const qw::api::MemberView* view = nullptr;
  const PlannerNode* node = nullptr;
  std::string data_dir, wal_dir, peers;  // peers: its peer URLs, comma-separated
};

}  // namespace

void planRestore(const PlannerInput& in, qw::api::RecoveryPlan* p) {
  const auto& v = in.view;
  std::set<std::string> lost(in.lost.begin(), in.lost.end());
  std::vector<Member> members;
  std::string initial_cluster;
  bool k3s = false, kubeadm = false;
  for (const auto& m : v.members()) {
    if (m.is_learner()) {
      p->add_preconditions("learner " + m.name() +
                           " is not restored (a restore writes voters only): add it again after");
      continue;
    }
    Member r;
    r.view = &m;
    r.node = findNode(in, m.node());
    auto peers = in.peer_urls.find(m.name());
    if (peers == in.peer_urls.end() || peers->second.empty())
      return refuse(p, "member " + m.name() + "'s peer URL is not known: a restore needs them all");
    for (const auto& u : peers->second) {
      r.peers += (r.peers.empty() ? "" : ",") + u;
      initial_cluster += (initial_cluster.empty() ? "" : ",") + m.name() + "=" + u;
    }
    if (!r.node) return refuse(p, "member " + m.name() + " has no agent: its node is not known");
    k3s |= r.node->flavor == "k3s";
    kubeadm |= r.node->flavor == "kubeadm";
    if (r.node->config) {
      r.data_dir = r.node->config->has_data_dir() ? r.node->config->data_dir() : "";
      r.wal_dir = flagValue(*r.node->config, "wal-dir");
    }
    if (r.data_dir.empty() && r.node->flavor != "k3s")
      return refuse(p, "member " + m.name() +
                           "'s data dir is not known (its agent never reported etcd's command "
                           "line): a restore writes into it");
    members.push_back(r);
  }
  if (members.empty()) return refuse(p, "no voter is known");
  if (k3s && kubeadm)
    return refuse(p, "the members run under k3s and kubeadm at once: restore by hand");

  // The highest revision seen anywhere, and the best running survivor.
  int64_t last_seen = 0, last_seen_ms = 0;
  for (const auto& n : in.nodes)
    if (n.revision && *n.revision > last_seen) {
      last_seen = *n.revision;
      last_seen_ms = n.revision_wall_ms;
    }
  const Member* survivor = nullptr;
  for (const auto& m : members) {
    if (lost.count(m.view->node())) continue;
    const auto* n = m.node;
    if (!n->agent_connected || !n->etcd_reachable || !n->revision || n->etcd_endpoint.empty())
      continue;
    if (!survivor || *n->revision > *survivor->node->revision) survivor = &m;
  }
  const auto& snap = in.restore_snapshot;
  const bool fresh =
      survivor && (!snap || !snap->revision || *survivor->node->revision > *snap->revision);
  if (!fresh && !snap)
    return refuse(p,
                  "no member outside the lost nodes still runs, and no verified snapshot exists: "
                  "nothing to restore from. Look for a member's data dir that survived (a raw "
                  "member/snap/db has no hash, needs --skip-hash-check and may miss the newest "
                  "writes, which were only in the WAL)");
  const std::string stamp = fileStamp(in.now_ms);
  std::string file, source_node;
  int64_t revision = 0;
  if (fresh) {
    const auto* n = survivor->node;
    revision = *n->revision;
    const std::string base =
        survivor->data_dir.empty() ? "/var/lib/rancher/k3s/server/db" : dirOf(survivor->data_dir);
    file = base + "/etcd-restore-" + stamp + ".db";
    source_node = n->name;
    p->set_scenario("RESTORE_FROM_SURVIVOR");
    p->add_preconditions(
        survivor->view->name() + " on " + n->name + " still runs and reported revision " +
        std::to_string(revision) +
        (snap && snap->revision
             ? ", more than the newest verified snapshot's " + std::to_string(*snap->revision)
             : std::string(", and no verified snapshot exists")));
    p->set_summary(
        "quorum is lost for good: restore every member from a fresh snapshot of " +
        survivor->view->name() +
        ", which still runs (a snapshot of one member needs no quorum), under a new cluster "
        "token. It holds revision " +
        std::to_string(revision) + ", so nothing it has is lost");
    if (last_seen > revision)
      p->set_lost_writes("the lost members were last seen at revision " +
                         std::to_string(last_seen) + ", " + std::to_string(last_seen - revision) +
                         " revisions past the survivor: those writes may be lost");
  } else {
    file = snap->path;
    source_node = snap->node;
    revision = snap->revision.value_or(0);
    p->set_scenario("RESTORE_FROM_SNAPSHOT");
    p->add_preconditions(std::string(snap->drilled ? "drilled" : "verified (never drilled)") +
                         " snapshot " + snap->node + ":" + snap->path +
                         (snap->revision ? ", revision " + std::to_string(*snap->revision) : "") +
                         ", taken " + qw::rfc3339(snap->mtime_ms) + ", SHA-256 " + snap->sha256);
    if (survivor)
      p->add_preconditions(survivor->view->name() + " still runs at revision " +
                           std::to_string(*survivor->node->revision) +
                           ", no more than the snapshot holds");
    p->set_summary("quorum is lost for good and no member holds more than the newest " +
                   std::string(snap->drilled ? "drilled" : "verified") +
                   " snapshot: restore every member " + "from " + snap->node + ":" + snap->path +
                   " under a new cluster token");
    if (last_seen > revision && revision > 0)
      p->set_lost_writes("the writes after revision " + std::to_string(revision) +
                         " (the snapshot of " + qw::rfc3339(snap->mtime_ms) +
                         ") are lost: the cluster was last seen at revision " +
                         std::to_string(last_seen) + " (" + qw::rfc3339(last_seen_ms) + "), " +
                         std::to_string(last_seen - revision) + " revisions later");
  }
  if (revision > 0) p->set_snapshot_revision(static_cast<double>(revision));
  if (last_seen > 0) p->set_last_seen_revision(static_cast<double>(last_seen));
  p->set_snapshot(source_node + ":" + file);
  if (!p->lost_writes().empty()) p->set_summary(p->summary() + ". " + p->lost_writes());

  // The tool each member's etcd version calls for, and the revision bump where it exists.
  auto tool = [](const Member& m) { return offlineTool(parseVersion(m.node->etcd_version)); };

  // 1. Writers stopped first: an API server writing during the restore loses its writes.
  if (kubeadm) {
    for (const auto& m : members) {
      auto* s = p->add_steps();
      s->set_node(m.node->name);
      s->set_why("stop kube-apiserver on " + m.node->name +
                 " (its static pod's manifest moved out; the kubelet stops it)");
      const std::string man = "/etc/kubernetes/manifests/kube-apiserver.yaml";
      s->set_command(ifExistsMove(man, "/etc/kubernetes/kube-apiserver.yaml.quorumwatch-" + stamp));
      s->set_check("[ ! -e " + man + " ]");
    }
  } else if (!k3s) {
    auto* s = p->add_steps();
    s->set_why(
        "stop every client that writes to this cluster (on Kubernetes: every kube-apiserver) "
        "until the restore is done: what it writes meanwhile is lost");
  }
  // 2. The fresh snapshot, while the survivor still runs.
  if (fresh) {
    const auto* n = survivor->node;
    auto* s = p->add_steps();
    s->set_node(n->name);
    s->set_why("take a fresh snapshot of " + survivor->view->name() +
               " (one member answers it without quorum); the check verifies its structure and "
               "that it holds revision " +
               std::to_string(revision));
    s->set_command("mkdir -p " + shellQuote(dirOf(file)) + " && " +
                   etcdctlFor(*n, n->etcd_endpoint) + " snapshot save " + shellQuote(file));
    s->set_check(statusCheck(tool(*survivor), file, revision));
  }
  // k3s restores on one server, the one holding the file when it is a member.
  const Member* reset_on = &members.front();
  for (const auto& m : members)
    if (m.node->name == source_node) reset_on = &m;
  // 3. The same file on every node that restores it.
  for (const auto& m : members) {
    if (m.node->name == source_node || (k3s && &m != reset_on)) continue;
    auto* s = p->add_steps();
    s->set_node(m.node->name);
    std::string why = "the same snapshot on " + m.node->name + ": copy " + source_node + ":" +
                      file + " to the same path (the command uses scp; a USB stick does too)";
    if (!fresh && !snap->copy.empty())
      why += "; if " + source_node + " is gone, the aggregator host's copy " + snap->copy +
             " holds the same bytes";
    s->set_why(why);
    s->set_command("[ -f " + shellQuote(file) + " ] || { mkdir -p " + shellQuote(dirOf(file)) +
                   " && scp -p " + shellQuote(source_node + ":" + file) + " " + shellQuote(file) +
                   "; }");
    s->set_check(!fresh && !snap->sha256.empty()
                     // The catalogue's SHA-256 is of the db part, before the 32-byte trailer.
                     ? "[ \"$(head -c -32 " + shellQuote(file) +
                           " | sha256sum | cut -d' ' -f1)\" = " + snap->sha256 + " ]"
                     : statusCheck(tool(m), file, revision));
  }
  // 4. Every etcd stopped before any data dir moves.
  for (const auto& m : members) {
    const auto* n = m.node;
    auto* s = p->add_steps();
    s->set_node(n->name);
    s->set_why("stop etcd on " + n->name + " (" + m.view->name() + ")");
    if (k3s) {
      s->set_command("systemctl stop k3s");
      s->set_check("! systemctl is-active --quiet k3s");
    } else if (kubeadm) {
      const std::string man = "/etc/kubernetes/manifests/etcd.yaml";
      s->set_why(s->why() + ": its manifest moved out; the kubelet stops the pod");
      s->set_command(ifExistsMove(man, "/etc/kubernetes/etcd.yaml.quorumwatch-" + stamp));
      s->set_check("[ ! -e " + man + " ]");
    } else if (!n->unit.empty()) {
      s->set_command("systemctl stop " + shellQuote(n->unit));
      s->set_check("! systemctl is-active --quiet " + shellQuote(n->unit));
    } else {
      std::string check;
      std::string cmd = stopProcess(*n, &check);
      if (cmd.empty())
        s->set_why(s->why() + ": its agent reports no etcd process there; make sure none runs");
      s->set_command(cmd);
      s->set_check(check);
    }
  }
  if (k3s) {
    // 5k. k3s: one server restores and resets membership to itself; the others rejoin with
    // their server/db moved aside, one at a time (one learner).
    const auto& first = *reset_on;
    auto* reset = p->add_steps();
    reset->set_node(first.node->name);
    reset->set_why(
        "restore on " + first.node->name +
        " with k3s's own reset: it moves server/db/etcd aside (etcd-old-<time>), checks the "
        "file's checksum, restores it as a one-member cluster and exits; add --token=<the "
        "cluster's token> on a new host");
    reset->set_command("k3s server --cluster-reset --cluster-reset-restore-path=" +
                       shellQuote(file));
    reset->set_destructive(true);
    auto* start = p->add_steps();
    start->set_node(first.node->name);
    start->set_why("start k3s on " + first.node->name + " again, without the reset flags");
    start->set_command("systemctl start k3s");
    start->set_check(healthCheck(*first.node, first.node->etcd_endpoint));
    for (const auto& m : members) {
      if (&m == &first) continue;
      auto* mv = p->add_steps();
      mv->set_node(m.node->name);
      mv->set_why("move " + m.node->name +
                  "'s server/db aside (kept, not deleted): rejoining with it would split the "
                  "cluster (rke2 #2857)");
      const std::string db = "/var/lib/rancher/k3s/server/db";
      mv->set_command(ifExistsMove(db, db + ".quorumwatch-" + stamp));
      mv->set_check("[ ! -e " + db + " ]");
      auto* join = p->add_steps();
      join->set_node(m.node->name);
      join->set_why("start k3s on " + m.node->name +
                    ": it rejoins as a new member; wait for it before the next");
      join->set_command("systemctl start k3s");
      join->set_check(healthCheck(*m.node, m.node->etcd_endpoint));
    }
    p->add_refusals(
        "k3s's restore does not bump revisions: the cluster goes back to revision " +
        std::to_string(revision) +
        "; restart every controller and kubelet after, so no informer holds a newer one "
        "(etcd #16028)");
    p->add_refusals(
        "never start another server before its server/db is moved aside: it would split the "
        "cluster");
  } else {
    std::string token = "etcd-cluster";
    if (const auto& c = members.front().node->config;
        c && c->has_initial_cluster_token() && !c->initial_cluster_token().empty())
      token = c->initial_cluster_token();
    token += "-restored-" + stamp;
    // 5. Old data dirs aside, kept.
    for (const auto& m : members) {
      auto* s = p->add_steps();
      s->set_node(m.node->name);
      s->set_why("move " + m.view->name() +
                 "'s data dir aside (kept, not deleted): the restore writes a new one");
      std::string cmd = ifExistsMove(m.data_dir, m.data_dir + ".before-restore-" + stamp);
      std::string check = "[ ! -e " + shellQuote(m.data_dir) + " ]";
      if (!m.wal_dir.empty()) {
        cmd += "; " + ifExistsMove(m.wal_dir, m.wal_dir + ".before-restore-" + stamp);
        check += " && [ ! -e " + shellQuote(m.wal_dir) + " ]";
      }
      s->set_command(cmd);
      s->set_check(check);
    }
    // 6. The same file restored on every member, each under its own name and peer URLs.
    bool bumped = true;
    for (const auto& m : members) {
      const Version ver = parseVersion(m.node->etcd_version);
      auto* s = p->add_steps();
      s->set_node(m.node->name);
      std::string cmd = offlineTool(ver) + " snapshot restore " + shellQuote(file) +
                        " --name=" + shellQuote(m.view->name()) +
                        " --initial-cluster=" + shellQuote(initial_cluster) +
                        " --initial-cluster-token=" + shellQuote(token) +
                        " --initial-advertise-peer-urls=" + shellQuote(m.peers) +
                        " --data-dir=" + shellQuote(m.data_dir);
      if (!m.wal_dir.empty()) cmd += " --wal-dir=" + shellQuote(m.wal_dir);
      std::string why = "restore the snapshot into " + m.view->name() +
                        "'s data dir (it checks the file's SHA-256)";
      if (canBump(ver)) {
        cmd += " --bump-revision=1000000000 --mark-compacted";
        why +=
            "; revisions jump ahead by 1,000,000,000 and are marked compacted, so watchers "
            "re-list instead of going back in time";
      } else {
        bumped = false;
      }
      if (!m.node->unit.empty() || kubeadm)
        why += ". Run it as the user etcd runs as, or chown the dir to it after";
      s->set_why(why);
      s->set_command(cmd);
      s->set_check("[ -d " + shellQuote(m.data_dir + "/member") + " ]");
      s->set_destructive(true);
    }
    // 7. Every member started on its restored data.
    for (const auto& m : members) {
      auto* s = p->add_steps();
      s->set_node(m.node->name);
      if (kubeadm) {
        s->set_why("put " + m.node->name + "'s etcd manifest back: the kubelet starts it");
        s->set_command("mv /etc/kubernetes/etcd.yaml.quorumwatch-" + stamp +
                       " /etc/kubernetes/manifests/etcd.yaml");
      } else {
        std::string why;
        std::string cmd = startCommand(*m.node, &why);
        s->set_command(cmd);
        s->set_why(cmd.empty() ? "start " + m.view->name() + "'s etcd: " + why
                               : "start " + m.view->name() +
                                     "'s etcd on the restored data dir (a data dir that "
                                     "exists wins over the initial-cluster flags)");
      }
      // No check of its own: etcd serves clients only once a majority of the new cluster runs
      // (it waits to publish itself through raft); the health of every member follows.
      s->set_why(s->why() + "; it answers once a majority of the members runs");
    }
    if (!bumped)
      p->add_refusals(
          "this etcd cannot --bump-revision (etcdctl 3.4.27, etcdutl 3.5.10 and later can): "
          "revisions go back to " +
          std::to_string(revision) +
          "; restart every kube-apiserver, controller and kubelet after, so no informer "
          "holds a newer one (etcd #16028)");
  }
  finalCheck(in, p, "every member is healthy in the restored cluster");
  if (kubeadm)
    for (const auto& m : members) {
      auto* s = p->add_steps();
      s->set_node(m.node->name);
      s->set_why("start kube-apiserver on " + m.node->name +
                 " again, once every etcd is healthy; then restart the controllers and kubelets");
      s->set_command("mv /etc/kubernetes/kube-apiserver.yaml.quorumwatch-" + stamp +
                     " /etc/kubernetes/manifests/kube-apiserver.yaml");
    }
  else if (!k3s) {
    auto* s = p->add_steps();
    s->set_why(
        "start the clients again; on Kubernetes restart the controllers and kubelets too, so "
        "their caches reload from the restored cluster");
  }
  p->add_refusals(
      "the same snapshot file on every member, in one new cluster: restoring each on its own "
      "makes one-member clusters (kubeadm #2641)");
  p->add_refusals(
      "never start a member on its old data dir again: the new cluster token keeps it out, and "
      "the moved-aside dirs are for forensics only");
  p->add_refusals("never a snapshot that is not verified, and never a .part file (k3s #8824)");
}

}  // namespace qw::aggregator::recovery
