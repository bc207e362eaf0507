// Restores, CORRUPT, stuck learners and the mixed-change guard-rail (recovery/planner.h): the
// scenario tables for 3 and 5 members, plain etcd, systemd units, kubeadm and k3s, each checked
// step by step against ETCD_REFERENCE.md section 11.
#include <catch2/catch.hpp>

#include "fixture.h"

using namespace qw::aggregator;
using namespace qw::test::recovery;

namespace {

// `n` members, all but the first lost (data gone, etcd dead): quorum lost for good.
PlannerInput lostAllButOne(int n) {
  auto in = cluster(n);
  for (int i = 2; i <= n; ++i) {
    down(in, i);
    in.lost.push_back("n" + std::to_string(i));
  }
  return in;
}

SnapshotRef drilled(int64_t revision) {
  SnapshotRef r;
  r.node = "n2";
  r.path = "/var/backups/etcd/quorumwatch-20261203T000000Z.db";
  r.sha256 = std::string(64, 'c');
  r.revision = revision;
  r.mtime_ms = 1'764'720'000'000;
  r.drilled = true;
  r.copy = "/var/lib/quorumwatch/copies/n2-quorumwatch-20261203T000000Z.db";
  return r;
}

bool refuses(const qw::api::RecoveryPlan& p, const std::string& part) {
  for (const auto& r : p.refusals())
    if (r.find(part) != std::string::npos) return true;
  return false;
}

int count(const qw::api::RecoveryPlan& p, const std::string& part) {
  int k = 0;
  for (const auto& s : p.steps()) k += s.command().find(part) != std::string::npos;
  return k;
}

}  // namespace

TEST_CASE("recovery: quorum lost for good with a survivor restores from its fresh snapshot",
          "[recovery]") {
  for (int n : {3, 5}) {
    INFO(n << " members");
    auto in = lostAllButOne(n);
    in.restore_snapshot = drilled(900);  // older than the survivor's 1000
    in.nodes[0].etcd_pid = 4242;
    auto p = planRecovery(in);
    INFO(p.DebugString());
    REQUIRE(p.scenario() == "RESTORE_FROM_SURVIVOR");
    CHECK(p.snapshot_revision() == 1000);
    CHECK(p.snapshot() == "n1:/var/lib/etcd-restore-20251203T104728Z.db");
    const std::string file = "'/var/lib/etcd-restore-20251203T104728Z.db'";
    // The order: writers stopped, the snapshot saved while the survivor runs, copied to every
    // other node, every etcd stopped, data dirs moved, restored, started, checked.
    int save = stepWith(p, "snapshot save " + file);
    REQUIRE(save >= 0);
    CHECK(p.steps(save).node() == "n1");
    CHECK(p.steps(save).command().find("--endpoints='http://127.0.0.1:2389'") != std::string::npos);
    CHECK(p.steps(save).check().find("etcdutl snapshot status " + file) != std::string::npos);
    CHECK(p.steps(save).check().find("-ge 1000") != std::string::npos);
    CHECK(p.steps(0).command().empty());  // stop the writers: the operator's
    CHECK(p.steps(0).why().find("kube-apiserver") != std::string::npos);
    CHECK(count(p, "scp -p 'n1:/var/lib/etcd-restore-") == n - 1);
    int stop = stepWith(p, "kill 4242");
    REQUIRE(stop > save);
    CHECK(p.steps(stop).command().find("/proc/4242/cmdline") != std::string::npos);
    int move = stepWith(p, "mv '/var/lib/etcd-m1' '/var/lib/etcd-m1.before-restore-");
    REQUIRE(move > stop);
    CHECK(count(p, ".before-restore-") == n);
    int restore = stepWith(p, "etcdutl snapshot restore " + file);
    REQUIRE(restore > move + n - 2);
    CHECK(count(p, "snapshot restore " + file) == n);  // the same file everywhere
    CHECK(count(p, "--initial-cluster-token='etcd-cluster-restored-20251203T104728Z'") == n);
    CHECK(count(p, "--bump-revision=1000000000 --mark-compacted") == n);
    const auto& r = p.steps(restore).command();
    CHECK(r.find("--name='m1'") != std::string::npos);
    CHECK(r.find("--initial-advertise-peer-urls='http://127.0.0.1:2390'") != std::string::npos);
    CHECK(r.find("--data-dir='/var/lib/etcd-m1'") != std::string::npos);
    std::string ic = "m1=http://127.0.0.1:2390";
    for (int i = 2; i <= n; ++i)
      ic += ",m" + std::to_string(i) + "=http://127.0.0.1:" + std::to_string(2380 + 10 * i);
    CHECK(r.find("--initial-cluster='" + ic + "'") != std::string::npos);
    CHECK(p.steps(restore).destructive());
    // Started on the restored dirs with the command lines they ran with.
    int start = stepWith(p, "setsid '/usr/bin/etcd' '--name' 'm1'");
    REQUIRE(start > restore);
    CHECK(p.steps(start).check().empty());  // a lone member answers only with a majority
    CHECK(count(p, "setsid '/usr/bin/etcd'") == n);
    CHECK(p.steps(p.steps_size() - 2).check().find("endpoint health") != std::string::npos);
    for (const char* bad : {"force-new-cluster", "rm -", "member remove", "member add"})
      CHECK(stepWith(p, bad) == -1);
    CHECK(refuses(p, "kubeadm #2641"));
    CHECK(p.lost_writes().empty());
  }
}

TEST_CASE("recovery: without a survivor the drilled snapshot is restored and the loss stated",
          "[recovery]") {
  auto in = lostAllButOne(3);
  down(in, 1);  // no member runs
  in.restore_snapshot = drilled(900);
  in.nodes[2].revision = 1500;  // the newest the cluster was seen at
  auto p = planRecovery(in);
  INFO(p.DebugString());
  REQUIRE(p.scenario() == "RESTORE_FROM_SNAPSHOT");
  CHECK(p.snapshot() == "n2:/var/backups/etcd/quorumwatch-20261203T000000Z.db");
  CHECK(p.snapshot_revision() == 900);
  CHECK(p.last_seen_revision() == 1500);
  CHECK(p.lost_writes().find("after revision 900") != std::string::npos);
  CHECK(p.lost_writes().find("600 revisions later") != std::string::npos);
  CHECK(p.summary().find(p.lost_writes()) != std::string::npos);
  CHECK(stepWith(p, "snapshot save") == -1);
  // Copied to the nodes that lack it, checked against the catalogue's SHA-256.
  int copy = stepWith(p, "scp -p 'n2:/var/backups/etcd/");
  REQUIRE(copy >= 0);
  CHECK(p.steps(copy).check().find(std::string(64, 'c')) != std::string::npos);
  CHECK(p.steps(copy).why().find("/var/lib/quorumwatch/copies/") != std::string::npos);
  CHECK(count(p, "scp -p") == 2);
  CHECK(count(p, "snapshot restore '/var/backups/etcd/quorumwatch-20261203T000000Z.db'") == 3);

  // A survivor at or below the snapshot's revision adds nothing: the drilled snapshot wins.
  auto same = lostAllButOne(3);
  same.nodes[0].revision = 900;
  same.restore_snapshot = drilled(900);
  CHECK(planRecovery(same).scenario() == "RESTORE_FROM_SNAPSHOT");

  // etcd 3.4 restores with etcdctl and cannot bump revisions: the plan says what to restart.
  for (auto& nd : in.nodes) nd.etcd_version = "3.4.23";
  auto old = planRecovery(in);
  CHECK(count(old, "etcdctl snapshot restore") == 3);
  CHECK(count(old, "bump-revision") == 0);
  CHECK(refuses(old, "cannot --bump-revision"));
}

TEST_CASE("recovery: a restore is refused without a source, a data dir or a peer URL",
          "[recovery]") {
  auto in = lostAllButOne(3);
  down(in, 1);
  auto p = planRecovery(in);
  CHECK(p.scenario() == "NOT_PLANNED");
  CHECK(p.summary().find("nothing to restore from") != std::string::npos);
  CHECK(p.steps_size() == 0);

  auto nodir = lostAllButOne(3);
  nodir.nodes[1].config.reset();
  CHECK(planRecovery(nodir).summary().find("m2's data dir is not known") != std::string::npos);
  auto nopeer = lostAllButOne(3);
  nopeer.peer_urls.erase("m3");
  CHECK(planRecovery(nopeer).summary().find("m3's peer URL is not known") != std::string::npos);

  // A lost member and a down one that is not lost: bring that one back, no restore.
  auto back = cluster(3);
  down(back, 2);
  down(back, 3);
  back.lost = {"n3"};
  auto bp = planRecovery(back);
  CHECK(bp.scenario() == "QUORUM_LOST_RECOVERABLE");
  CHECK(stepWith(bp, "'--name' 'm2'") == 0);
  CHECK(stepWith(bp, "snapshot restore") == -1);
}

TEST_CASE("recovery: systemd units and kubeadm restore through their supervisors", "[recovery]") {
  auto unit = lostAllButOne(3);
  for (auto& nd : unit.nodes) nd.unit = "etcd.service";
  auto u = planRecovery(unit);
  INFO(u.DebugString());
  REQUIRE(u.scenario() == "RESTORE_FROM_SURVIVOR");
  CHECK(count(u, "systemctl stop 'etcd.service'") == 3);
  CHECK(count(u, "systemctl start 'etcd.service'") == 3);
  CHECK(stepWith(u, "systemctl stop") > stepWith(u, "snapshot save"));

  // kubeadm (ETCD_REFERENCE.md section 11): kube-apiserver.yaml out, then etcd.yaml, on every
  // control plane; the same snapshot restored on each with its own name and a new token; etcd.yaml
  // back everywhere; health; kube-apiserver.yaml back last.
  auto kube = lostAllButOne(3);
  for (auto& nd : kube.nodes) nd.flavor = "kubeadm";
  auto k = planRecovery(kube);
  INFO(k.DebugString());
  REQUIRE(k.scenario() == "RESTORE_FROM_SURVIVOR");
  const std::string api = "mv '/etc/kubernetes/manifests/kube-apiserver.yaml'";
  const std::string etcd = "mv '/etc/kubernetes/manifests/etcd.yaml'";
  CHECK(count(k, api) == 3);
  CHECK(count(k, etcd) == 3);
  CHECK(stepWith(k, api) < stepWith(k, "snapshot save"));
  CHECK(stepWith(k, "snapshot save") < stepWith(k, etcd));
  int restore = stepWith(k, "etcdutl snapshot restore");
  CHECK(restore > stepWith(k, etcd));
  CHECK(count(k, "snapshot restore") == 3);
  int back = stepWith(k, " /etc/kubernetes/manifests/etcd.yaml");
  CHECK(back > restore);
  int health = -1;
  for (int i = 0; i < k.steps_size(); ++i)
    if (k.steps(i).check().find("endpoint health") != std::string::npos) health = i;
  int api_back = stepWith(k, " /etc/kubernetes/manifests/kube-apiserver.yaml");
  CHECK(health > back);
  CHECK(api_back > health);
  CHECK(count(k, " /etc/kubernetes/manifests/kube-apiserver.yaml") == 3);
  CHECK(k.steps(k.steps_size() - 1).why().find("restart the controllers and kubelets") !=
        std::string::npos);
}

TEST_CASE("recovery: k3s restores with --cluster-reset on one server, the others rejoin wiped",
          "[recovery]") {
  auto in = lostAllButOne(3);
  for (auto& nd : in.nodes) {
    nd.flavor = "k3s";
    nd.etcd_endpoint = "https" + nd.etcd_endpoint.substr(4);
  }
  auto p = planRecovery(in);
  INFO(p.DebugString());
  REQUIRE(p.scenario() == "RESTORE_FROM_SURVIVOR");
  int save = stepWith(p, "snapshot save '/var/lib/etcd-restore-");
  REQUIRE(save >= 0);
  CHECK(p.steps(save).command().find("--cert=/var/lib/rancher/k3s/server/tls/etcd/client.crt") !=
        std::string::npos);
  // k3s on every server stopped after the snapshot, then the reset on one server only.
  CHECK(count(p, "systemctl stop k3s") == 3);
  CHECK(stepWith(p, "systemctl stop k3s") > save);
  int reset = stepWith(p, "k3s server --cluster-reset --cluster-reset-restore-path=");
  REQUIRE(reset > stepWith(p, "systemctl stop k3s"));
  CHECK(count(p, "--cluster-reset") == 1);
  CHECK(p.steps(reset).node() == "n1");
  // The others: server/db moved aside, then started one at a time, each checked.
  const std::string db = "mv '/var/lib/rancher/k3s/server/db' '/var/lib/rancher/k3s/server/db.";
  CHECK(count(p, db) == 2);
  int moved = stepWith(p, db);
  CHECK(moved > reset);
  CHECK(p.steps(moved + 1).command() == "systemctl start k3s");
  CHECK(p.steps(moved + 1).check().find("endpoint health") != std::string::npos);
  CHECK(count(p, "snapshot restore") == 0);  // k3s's own restore, not etcdutl's
  CHECK(count(p, "scp") == 0);               // only the resetting server needs the file
  CHECK(refuses(p, "does not bump revisions"));
  CHECK(refuses(p, "split the cluster"));
}

TEST_CASE("recovery: CORRUPT is replace the member, then disarm, never disarm first",
          "[recovery]") {
  for (int n : {3, 5}) {
    INFO(n << " members");
    auto in = cluster(n);
    auto* a = in.view.add_alarms();
    a->set_alarm("CORRUPT");
    a->set_member_id("a2");
    in.nodes[1].etcd_pid = 777;
    auto p = planRecovery(in);
    INFO(p.DebugString());
    REQUIRE(p.scenario() == "CORRUPT_MEMBER");
    int stop = stepWith(p, "kill 777");
    int remove = stepWith(p, "member remove a2");
    int add = stepWith(p, "member add 'm2' --learner");
    int promote = stepWith(p, "member promote");
    int disarm = stepWith(p, "alarm disarm");
    CHECK(stop == 0);
    CHECK(remove > stop);
    CHECK(add > remove);
    CHECK(promote > add);
    CHECK(disarm > promote);
    CHECK(p.steps(disarm).check().find("alarm list") != std::string::npos);
    // Every membership change goes through the members that are not corrupt.
    CHECK(p.steps(remove).command().find("127.0.0.1:2399") == std::string::npos);
    CHECK(refuses(p, "never disarm CORRUPT before"));
  }
  // CORRUPT on a majority: nothing to replace from.
  auto bad = cluster(3);
  for (const char* id : {"a1", "a2"}) {
    auto* a = bad.view.add_alarms();
    a->set_alarm("CORRUPT");
    a->set_member_id(id);
  }
  auto bp = planRecovery(bad);
  CHECK(bp.scenario() == "NOT_PLANNED");
  CHECK(bp.summary().find("hashkv") != std::string::npos);
  CHECK(stepWith(bp, "alarm disarm") == -1);
}

TEST_CASE("recovery: membership changes over TLS carry the flavor's client files", "[recovery]") {
  auto in = cluster(3);
  for (auto& nd : in.nodes) {
    nd.flavor = "kubeadm";
    nd.etcd_endpoint = "https" + nd.etcd_endpoint.substr(4);
  }
  down(in, 3);
  in.lost = {"n3"};
  auto p = planRecovery(in);
  REQUIRE(p.scenario() == "REPLACE_MEMBER");
  int remove = stepWith(p, "member remove a3");
  REQUIRE(remove >= 0);
  CHECK(p.steps(remove).command().find("--cacert=/etc/kubernetes/pki/etcd/ca.crt") !=
        std::string::npos);
  CHECK(p.steps(stepWith(p, "member add")).command().find("healthcheck-client.key") !=
        std::string::npos);
}

TEST_CASE("recovery: a learner never promoted is promoted once caught up, never a second one",
          "[recovery]") {
  auto in = cluster(3);
  auto* l = in.view.add_members();
  l->set_name("m4");
  l->set_node("n4");
  l->set_member_id("a4");
  l->set_is_learner(true);
  l->set_healthy(true);
  l->set_raft_applied_index(120);
  in.view.mutable_members(0)->set_raft_index(1000);
  auto* w = in.view.add_warnings();
  w->set_code(qw::api::Warning::LEARNER_NOT_PROMOTED);
  w->set_member("m4");
  auto p = planRecovery(in);
  INFO(p.DebugString());
  REQUIRE(p.scenario() == "LEARNER_STUCK");
  REQUIRE(p.preconditions_size() == 2);
  CHECK(p.preconditions(1).find("applied 120 of 1000") != std::string::npos);
  REQUIRE(p.steps_size() == 1);
  CHECK(p.steps(0).command().find("member promote a4") != std::string::npos);
  CHECK(p.steps(0).why().find("member remove a4") != std::string::npos);
  CHECK(refuses(p, "second learner"));
}

TEST_CASE("recovery: a change during an incident is a guard-rail of every plan", "[recovery]") {
  auto in = cluster(3);
  down(in, 3);
  in.mixed_changes = {
      "2026-12-03T10:00:00Z etcd on n1 changed version from 3.5.15 to 3.5.16 while etcd on n3 "
      "is down: a change mixed with a recovery"};
  auto p = planRecovery(in);
  REQUIRE(p.guard_rails_size() == 1);
  CHECK(p.guard_rails(0).find("changed version") != std::string::npos);
  CHECK(p.guard_rails(0).find("do not mix recovery with other changes") != std::string::npos);
  CHECK(p.scenario() == "MEMBER_DOWN");
}
