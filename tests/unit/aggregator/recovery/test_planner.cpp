// Recovery plans (recovery/planner.h) on plain inputs: the scenario, the commands per flavor, the
// refusals and the blind-restart guard-rail.
#include <catch2/catch.hpp>

#include "fixture.h"

using namespace qw::aggregator;
using namespace qw::test::recovery;

TEST_CASE("recovery: a healthy cluster has nothing to do and names its snapshot", "[recovery]") {
  for (int n : {3, 5}) {
    auto in = cluster(n);
    in.newest_verified = "n2:/var/backups/a.db";
    auto p = planRecovery(in);
    CHECK(p.scenario() == "HEALTHY");
    CHECK(p.steps_size() == 0);
    CHECK(p.snapshot() == "n2:/var/backups/a.db");
    in.newest_drilled = "n3:/var/backups/b.db";
    CHECK(planRecovery(in).snapshot() == "n3:/var/backups/b.db");
    in.newest_verified.clear();
    in.newest_drilled.clear();
    CHECK(planRecovery(in).summary().find("no verified snapshot") != std::string::npos);
  }
}

TEST_CASE("recovery: quorum lost with the disks there is bring them back, never reset",
          "[recovery]") {
  for (int n : {3, 5}) {
    INFO(n << " members");
    auto in = cluster(n);
    int lose = n / 2 + 1;  // one more than the tolerance
    for (int i = 2; i < 2 + lose; ++i) down(in, i, i == 2);
    auto p = planRecovery(in);
    CHECK(p.scenario() == "QUORUM_LOST_RECOVERABLE");
    CHECK(p.summary().find("quorum returns by itself") != std::string::npos);
    // One step per down member, then the check of every voter; no reset, restore or removal.
    REQUIRE(p.steps_size() == lose + 1);
    CHECK(p.steps(0).node() == "n2");
    CHECK(p.steps(0).command().empty());  // its node is down: power it on
    CHECK(p.steps(0).why().find("bring node n2 back") != std::string::npos);
    CHECK(p.steps(1).command() ==
          "cd '/var/lib' && env 'ETCD_HEARTBEAT_INTERVAL=200' setsid '/usr/bin/etcd' '--name' "
          "'m3' '--data-dir=/var/lib/etcd-m3' '--initial-cluster-state' 'new' "
          ">>'/var/lib/etcd-m3.log' "
          "2>&1 </dev/null &");
    CHECK(p.steps(1).check() == "etcdctl --endpoints='http://127.0.0.1:2409' endpoint health");
    CHECK(p.steps(lose).check().find("http://127.0.0.1:2389,") != std::string::npos);
    for (const char* bad :
         {"force-new-cluster", "snapshot restore", "cluster-reset", "member remove", "rm "})
      CHECK_FALSE(anyStepHas(p, bad));
    bool refuses = false;
    for (const auto& r : p.refusals())
      refuses |= r.find("--force-new-cluster") != std::string::npos;
    CHECK(refuses);
  }
}

TEST_CASE("recovery: one member down with quorum intact is brought back", "[recovery]") {
  auto in = cluster(3);
  down(in, 3);
  auto p = planRecovery(in);
  CHECK(p.scenario() == "MEMBER_DOWN");
  REQUIRE(p.steps_size() == 2);
  CHECK(p.steps(0).command().find("'/usr/bin/etcd' '--name' 'm3'") != std::string::npos);
}

TEST_CASE("recovery: the service step names the supervisor the agent found", "[recovery]") {
  PlannerNode n;
  n.name = "x";
  std::string why;
  n.flavor = "k3s";
  CHECK(startCommand(n, &why) == "systemctl start k3s");
  n.flavor = "kubeadm";
  CHECK(startCommand(n, &why) == "systemctl start kubelet");
  n.flavor = "etcd";
  n.unit = "etcd.service";
  CHECK(startCommand(n, &why) == "systemctl start 'etcd.service'");
  n.unit.clear();
  CHECK(startCommand(n, &why).empty());
  CHECK(why == "its agent never reported etcd's command line");
  qw::wire::EtcdConfig c;
  c.add_args("etcd");
  c.add_args("--peer-client-cert-auth");
  c.add_args("--initial-cluster-token=<redacted>");
  n.config = c;
  CHECK(startCommand(n, &why).empty());
  CHECK(why.find("credential") != std::string::npos);
  // No exe reported: argv[0]; no data dir: a log under /tmp; quotes survive.
  qw::wire::EtcdConfig d;
  d.add_args("/opt/etcd/etcd");
  d.add_args("--name=it's");
  n.config = d;
  CHECK(startCommand(n, &why) ==
        "env setsid '/opt/etcd/etcd' '--name=it'\\''s' >>'/tmp/etcd-x.log' 2>&1 </dev/null &");

  // Checks over TLS use the flavor's client files.
  n.flavor = "kubeadm";
  CHECK(healthCheck(n, "https://127.0.0.1:2379") ==
        "etcdctl --endpoints='https://127.0.0.1:2379' --cacert=/etc/kubernetes/pki/etcd/ca.crt "
        "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt "
        "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key endpoint health");
  n.flavor = "k3s";
  CHECK(healthCheck(n, "https://127.0.0.1:2379").find("server/tls/etcd/client.crt") !=
        std::string::npos);
  n.flavor = "etcd";
  qw::wire::EtcdConfig t;
  t.add_args("etcd");
  t.add_args("--trusted-ca-file=/etc/etcd/ca.pem");
  t.add_args("--cert-file");
  t.add_args("/etc/etcd/server.pem");
  t.add_args("--key-file=/etc/etcd/server-key.pem");
  n.config = t;
  CHECK(healthCheck(n, "https://10.0.0.1:2379") ==
        "etcdctl --endpoints='https://10.0.0.1:2379' --cacert='/etc/etcd/ca.pem' "
        "--cert='/etc/etcd/server.pem' --key='/etc/etcd/server-key.pem' endpoint health");
}

TEST_CASE("recovery: blind restarts come first, nothing to restore from is not guessed",
          "[recovery]") {
  auto in = cluster(3);
  down(in, 2);
  in.restarts_10m["n2"] = 3;
  in.restarts_10m["n3"] = 2;
  auto p = planRecovery(in);
  REQUIRE(p.guard_rails_size() == 1);
  CHECK(p.guard_rails(0).find("stop restarting it; look at disk and power") != std::string::npos);
  REQUIRE(p.steps_size() >= 1);
  CHECK(p.steps(0).why().find("stop restarting etcd on n2") != std::string::npos);
  CHECK(p.steps(0).command().empty());

  auto lost = cluster(3);
  down(lost, 2);
  down(lost, 3);
  lost.lost = {"n2", "n3"};
  lost.nodes[0].etcd_reachable = false;  // no survivor runs, and no snapshot is known
  auto lp = planRecovery(lost);
  CHECK(lp.scenario() == "NOT_PLANNED");
  CHECK(lp.steps_size() == 0);
  CHECK(lp.lost_size() == 2);

  auto both = cluster(3);
  for (const char* alarm : {"NOSPACE", "CORRUPT"}) {
    auto* x = both.view.add_alarms();
    x->set_alarm(alarm);
    x->set_member_id("a2");
  }
  CHECK(planRecovery(both).scenario() == "CORRUPT_MEMBER");  // CORRUPT first, never disarmed

  auto corrupt = cluster(3);
  auto* a = corrupt.view.add_alarms();
  a->set_alarm("CORRUPT");
  a->set_member_id("abc");
  auto cp = planRecovery(corrupt);
  CHECK(cp.scenario() == "NOT_PLANNED");
  REQUIRE(cp.refusals_size() >= 1);
  CHECK(cp.refusals(0).find("never disarm CORRUPT") != std::string::npos);

  PlannerInput none;
  CHECK(planRecovery(none).scenario() == "UNKNOWN");
}

TEST_CASE("recovery: a lost member with quorum intact is replaced, remove before add",
          "[recovery]") {
  for (int n : {3, 5}) {
    INFO(n << " members");
    auto in = cluster(n);
    down(in, n);
    in.lost = {"n" + std::to_string(n)};
    auto p = planRecovery(in);
    INFO(p.DebugString());
    CHECK(p.scenario() == "REPLACE_MEMBER");
    REQUIRE(p.steps_size() == 6);
    const std::string id = "a" + std::to_string(n), name = "m" + std::to_string(n);
    CHECK(p.steps(0).command().find("member remove " + id) != std::string::npos);
    CHECK(p.steps(0).destructive());
    CHECK(p.steps(0).check().rfind("! etcdctl", 0) == 0);
    CHECK(p.steps(1).command().find("mv '/var/lib/etcd-" + name + "'") != std::string::npos);
    CHECK(p.steps(1).command().find("rm ") == std::string::npos);
    CHECK(p.steps(2).command().find("member add '" + name + "' --learner --peer-urls=") !=
          std::string::npos);
    // Remove comes before add.
    const auto& start = p.steps(3).command();
    CHECK(start.find("'--initial-cluster-state' 'existing'") != std::string::npos);
    CHECK(start.find("'--initial-cluster=m1=http://127.0.0.1:2390,") != std::string::npos);
    CHECK(start.find(name + "=http://127.0.0.1:" + std::to_string(2380 + 10 * n)) !=
          std::string::npos);
    CHECK(p.steps(4).command().find("member promote") != std::string::npos);
    CHECK(p.steps(5).check().find("endpoint health") != std::string::npos);
    for (const auto& st : p.steps())
      for (const char* bad : {"force-new-cluster", "snapshot restore", "rm -"})
        CHECK(st.command().find(bad) == std::string::npos);
    // The kept members are the endpoints of every membership change.
    CHECK(p.steps(0).command().find("127.0.0.1:" + std::to_string(2379 + 10 * n)) ==
          std::string::npos);
  }
}

TEST_CASE("recovery: a joining member's command line says existing, however it was given",
          "[recovery]") {
  PlannerNode n;
  n.name = "x";
  n.flavor = "etcd";
  qw::wire::EtcdConfig c;
  c.add_args("etcd");
  c.add_args("-initial-cluster=old");
  c.add_env("ETCD_INITIAL_CLUSTER_STATE=new");
  c.add_env("ETCD_SNAPSHOT_COUNT=5000");
  n.config = c;
  std::string why;
  auto cmd = joinCommand(n, "a=http://x:1,b=http://y:2", &why);
  CHECK(cmd ==
        "env 'ETCD_SNAPSHOT_COUNT=5000' setsid 'etcd' '-initial-cluster=a=http://x:1,b=http://y:2' "
        "'--initial-cluster-state=existing' >>'/tmp/etcd-x.log' 2>&1 </dev/null &");
  n.config->set_config_file("/etc/etcd/etcd.yaml");
  CHECK(joinCommand(n, "a=u", &why).empty());
  CHECK(why.find("/etc/etcd/etcd.yaml") != std::string::npos);
  n.unit = "etcd.service";
  CHECK(joinCommand(n, "a=u", &why).empty());
  CHECK(why.find("its unit holds etcd's flags") != std::string::npos);
}

TEST_CASE(
    "recovery: NOSPACE is compact, defragment followers, move the leader, leader last, "
    "disarm",
    "[recovery]") {
  auto in = cluster(3);
  auto* a = in.view.add_alarms();
  a->set_alarm("NOSPACE");
  a->set_member_id("a1");
  auto p = planRecovery(in);
  INFO(p.DebugString());
  CHECK(p.scenario() == "NOSPACE");
  REQUIRE(p.steps_size() == 7);
  CHECK(p.steps(0).command().empty());  // stop the writer: the operator's call
  CHECK(p.steps(1).command().find(" compact \"$REV\"") != std::string::npos);
  CHECK(p.steps(2).command() ==
        "etcdctl --endpoints='http://127.0.0.1:2399' --command-timeout=10m defrag");
  CHECK(p.steps(3).command().find("127.0.0.1:2409' --command-timeout=10m defrag") !=
        std::string::npos);
  CHECK(p.steps(4).command() == "etcdctl --endpoints='http://127.0.0.1:2389' move-leader a2");
  CHECK(p.steps(4).check().find("\"leader\":162,") != std::string::npos);  // 0xa2
  CHECK(p.steps(5).command().find("127.0.0.1:2389' --command-timeout=10m defrag") !=
        std::string::npos);
  CHECK(p.steps(6).command().find("alarm disarm") != std::string::npos);
  CHECK(p.steps(6).check().find("alarm list") != std::string::npos);
  bool restart = false;
  for (const auto& r : p.refusals()) restart |= r.find("frees no space") != std::string::npos;
  CHECK(restart);

  // A member down: brought back before anything else (one offline member keeps the alarm).
  down(in, 3);
  auto q = planRecovery(in);
  CHECK(q.scenario() == "NOSPACE");
  REQUIRE(q.steps_size() >= 1);
  CHECK(q.steps(0).command().find("'--name' 'm3'") != std::string::npos);
}
