#include <algorithm>
#include <catch2/catch.hpp>

#include "qw/agent/parse/etcd_config.h"

using qw::agent::addUnitEnvironment;
using qw::agent::etcdConfigFilePath;
using qw::agent::EtcdProcessText;
using qw::agent::isSecretConfigKey;
using qw::agent::parseEnvironmentFile;
using qw::agent::parseEtcdConfig;
using qw::agent::UnitEnvironment;

namespace {

bool has(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// kubeadm's etcd static pod (/etc/kubernetes/manifests/etcd.yaml), as /proc/PID/cmdline shows it.
std::vector<std::string> kubeadmArgv() {
  return {"etcd",
          "--advertise-client-urls=https://192.168.1.21:2379",
          "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
          "--client-cert-auth=true",
          "--data-dir=/var/lib/etcd",
          "--experimental-initial-corrupt-check=true",
          "--experimental-watch-progress-notify-interval=5s",
          "--initial-advertise-peer-urls=https://192.168.1.21:2380",
          "--initial-cluster=cp1=https://192.168.1.21:2380",
          "--key-file=/etc/kubernetes/pki/etcd/server.key",
          "--listen-client-urls=https://127.0.0.1:2379,https://192.168.1.21:2379",
          "--listen-metrics-urls=http://127.0.0.1:2381",
          "--listen-peer-urls=https://192.168.1.21:2380",
          "--name=cp1",
          "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
          "--peer-client-cert-auth=true",
          "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
          "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
          "--snapshot-count=10000",
          "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"};
}

EtcdProcessText etcdText(std::vector<std::string> argv,
                         std::optional<std::vector<std::string>> env = std::vector<std::string>{}) {
  EtcdProcessText t;
  t.argv = std::move(argv);
  t.env = std::move(env);
  t.env_source = "/proc/1234/environ";
  t.flavor = "etcd";
  return t;
}

}  // namespace

TEST_CASE("etcd config: kubeadm's static pod command line") {
  auto t = etcdText(kubeadmArgv());
  t.flavor = "kubeadm";
  auto c = parseEtcdConfig(t);
  CHECK(c.flavor() == "kubeadm");
  CHECK(c.name() == "cp1");
  CHECK(c.data_dir() == "/var/lib/etcd");
  CHECK(c.snapshot_count() == 10000);
  CHECK(c.initial_cluster() == "cp1=https://192.168.1.21:2380");
  CHECK(c.listen_client_urls() == "https://127.0.0.1:2379,https://192.168.1.21:2379");
  CHECK(c.advertise_client_urls() == "https://192.168.1.21:2379");
  CHECK(c.listen_peer_urls() == "https://192.168.1.21:2380");
  CHECK(c.initial_advertise_peer_urls() == "https://192.168.1.21:2380");
  // kubeadm sets no timings: etcd's defaults apply, which are not facts we learned.
  CHECK_FALSE(c.has_heartbeat_interval_ms());
  CHECK_FALSE(c.has_election_timeout_ms());
  CHECK_FALSE(c.has_quota_backend_bytes());
  CHECK_FALSE(c.has_initial_cluster_token());
  CHECK(has(c.sources(), "name=flag"));
  CHECK(has(c.sources(), "snapshot_count=flag"));
  CHECK(c.sources_size() == 8);
  CHECK(c.args_size() == 20);
  CHECK(c.args(4) == "--data-dir=/var/lib/etcd");
  CHECK(c.config_file().empty());
}

TEST_CASE("etcd config: flags with = or a separate value and one or two dashes") {
  auto c = parseEtcdConfig(
      etcdText({"/usr/bin/etcd", "--heartbeat-interval=25", "-election-timeout", "250", "--name",
                "m1", "-data-dir=/var/lib/etcd/m1", "--quota-backend-bytes", "0x80000000",
                "--client-cert-auth", "--snapshot-count=500"}));
  CHECK(c.heartbeat_interval_ms() == 25);
  CHECK(c.election_timeout_ms() == 250);
  CHECK(c.name() == "m1");
  CHECK(c.data_dir() == "/var/lib/etcd/m1");
  CHECK(c.quota_backend_bytes() == 2147483648);
  CHECK(c.snapshot_count() == 500);
  CHECK(has(c.sources(), "heartbeat_interval_ms=flag"));
  CHECK(has(c.sources(), "election_timeout_ms=flag"));
}

TEST_CASE("etcd config: the last of a repeated flag wins and -- ends the flags") {
  auto c = parseEtcdConfig(etcdText(
      {"etcd", "--heartbeat-interval=100", "--heartbeat-interval=200", "--", "--name=late"}));
  CHECK(c.heartbeat_interval_ms() == 200);
  CHECK_FALSE(c.has_name());
}

TEST_CASE("etcd config: ETCD_ variables count and a flag shadows its variable") {
  // Debian's etcd.service: ExecStart=/usr/bin/etcd $DAEMON_ARGS with /etc/default/etcd.
  auto c = parseEtcdConfig(
      etcdText({"/usr/bin/etcd", "--election-timeout=3000"},
               std::vector<std::string>{"LANG=C.UTF-8", "PATH=/usr/bin", "ETCD_NAME=pi-1",
                                        "ETCD_DATA_DIR=/var/lib/etcd/default",
                                        "ETCD_HEARTBEAT_INTERVAL=300", "ETCD_ELECTION_TIMEOUT=1500",
                                        "ETCD_INITIAL_CLUSTER_TOKEN=pi-cluster-1"}));
  CHECK(c.env_known());
  CHECK(c.env_source() == "/proc/1234/environ");
  CHECK(c.name() == "pi-1");
  CHECK(c.data_dir() == "/var/lib/etcd/default");
  CHECK(c.heartbeat_interval_ms() == 300);
  CHECK(c.election_timeout_ms() == 3000);
  CHECK(has(c.sources(), "heartbeat_interval_ms=env"));
  CHECK(has(c.sources(), "election_timeout_ms=flag"));
  CHECK(has(c.sources(), "name=env"));
  // The token is needed by a recovery plan and is no secret.
  CHECK(c.initial_cluster_token() == "pi-cluster-1");
  // Only etcd's own variables travel.
  CHECK(c.env_size() == 5);
  CHECK_FALSE(has(c.env(), "PATH=/usr/bin"));
  CHECK(has(c.env(), "ETCD_INITIAL_CLUSTER_TOKEN=pi-cluster-1"));
}

TEST_CASE("etcd config: an unreadable environment leaves env unknown and flags still count") {
  auto c = parseEtcdConfig(etcdText({"etcd", "--name=m2"}, std::nullopt));
  CHECK_FALSE(c.env_known());
  CHECK(c.env_source().empty());
  CHECK(c.env_size() == 0);
  CHECK(c.name() == "m2");
  CHECK_FALSE(c.has_heartbeat_interval_ms());
}

TEST_CASE("etcd config: a config file replaces flags and variables") {
  auto t = etcdText({"/usr/local/bin/etcd", "--config-file", "/etc/etcd/etcd.conf.yml",
                     "--data-dir=/tmp/ignored", "--heartbeat-interval=999"},
                    std::vector<std::string>{"ETCD_ELECTION_TIMEOUT=7777", "ETCD_NAME=env-name"});
  REQUIRE(etcdConfigFilePath(t.argv, t.env, t.flavor) == "/etc/etcd/etcd.conf.yml");
  t.config_text = R"(# This is the configuration file for the etcd server.
name: 'pi-2'
data-dir: /var/lib/etcd
wal-dir:
snapshot-count: 10000
heartbeat-interval: 250   # ms, tuned for SD cards
election-timeout: 2500
quota-backend-bytes: 0
listen-peer-urls: http://192.168.1.22:2380
listen-client-urls: "http://192.168.1.22:2379,http://127.0.0.1:2379"
initial-advertise-peer-urls: http://192.168.1.22:2380
advertise-client-urls: http://192.168.1.22:2379
initial-cluster: pi-1=http://192.168.1.21:2380,pi-2=http://192.168.1.22:2380
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
client-transport-security:
  cert-file:
  name: nested-not-ours
log-level: info
)";
  auto c = parseEtcdConfig(t);
  CHECK(c.config_file() == "/etc/etcd/etcd.conf.yml");
  CHECK(c.name() == "pi-2");
  CHECK(c.data_dir() == "/var/lib/etcd");
  CHECK(c.heartbeat_interval_ms() == 250);
  CHECK(c.election_timeout_ms() == 2500);
  CHECK(c.quota_backend_bytes() == 0);
  CHECK(c.listen_client_urls() == "http://192.168.1.22:2379,http://127.0.0.1:2379");
  CHECK(c.initial_cluster() == "pi-1=http://192.168.1.21:2380,pi-2=http://192.168.1.22:2380");
  CHECK(c.initial_cluster_token() == "etcd-cluster");
  CHECK(c.initial_cluster_state() == "new");
  CHECK(has(c.sources(), "heartbeat_interval_ms=config-file"));
  CHECK(has(c.sources(), "data_dir=config-file"));
  CHECK_FALSE(has(c.sources(), "heartbeat_interval_ms=flag"));
  // The variables are still listed: they are what the process was given.
  CHECK(c.env_size() == 2);
}

TEST_CASE("etcd config: ETCD_CONFIG_FILE names the config file too") {
  auto t = etcdText({"etcd", "--name=flag-name"},
                    std::vector<std::string>{"ETCD_CONFIG_FILE=conf/etcd.yml"});
  CHECK(etcdConfigFilePath(t.argv, t.env, t.flavor) == "conf/etcd.yml");
  t.config_text = "name: file-name\n";
  CHECK(parseEtcdConfig(t).name() == "file-name");
}

TEST_CASE("etcd config: an unreadable config file leaves every value absent") {
  auto c = parseEtcdConfig(etcdText({"etcd", "--config-file=/etc/etcd/etcd.conf.yml",
                                     "--name=ignored-by-etcd", "--heartbeat-interval=50"}));
  CHECK_FALSE(c.has_name());
  CHECK_FALSE(c.has_heartbeat_interval_ms());
  CHECK(c.sources_size() == 0);
  CHECK(c.config_file().empty());  // not read
}

TEST_CASE("etcd config: numbers etcd would not read as we do stay absent") {
  auto c = parseEtcdConfig(
      etcdText({"etcd", "--heartbeat-interval=abc",
                "--election-timeout=0100",  // Go reads octal: 64
                "--snapshot-count=-5", "--quota-backend-bytes=99999999999999999999", "--name="}));
  CHECK_FALSE(c.has_heartbeat_interval_ms());
  CHECK_FALSE(c.has_election_timeout_ms());
  CHECK_FALSE(c.has_snapshot_count());
  CHECK_FALSE(c.has_quota_backend_bytes());
  CHECK_FALSE(c.has_name());
  CHECK(c.sources_size() == 0);
  auto big = parseEtcdConfig(etcdText({"etcd", "--heartbeat-interval=4294967296"}));
  CHECK_FALSE(big.has_heartbeat_interval_ms());
}

TEST_CASE("etcd config: a bad flag shadows a good variable") {
  auto c = parseEtcdConfig(etcdText({"etcd", "--heartbeat-interval=1O0"},
                                    std::vector<std::string>{"ETCD_HEARTBEAT_INTERVAL=100"}));
  CHECK_FALSE(c.has_heartbeat_interval_ms());
}

TEST_CASE("etcd config: k3s without etcd-arg reports its built-in timings") {
  EtcdProcessText t;
  t.flavor = "k3s";
  t.argv = {"/usr/local/bin/k3s", "server", "--cluster-init", "--write-kubeconfig-mode", "644"};
  t.env = std::vector<std::string>{"K3S_TOKEN=K10abc::server:f00d", "HOME=/root"};
  CHECK(etcdConfigFilePath(t.argv, t.env, t.flavor) == "/etc/rancher/k3s/config.yaml");
  auto c = parseEtcdConfig(t);
  CHECK(c.heartbeat_interval_ms() == 500);
  CHECK(c.election_timeout_ms() == 5000);
  CHECK(has(c.sources(), "heartbeat_interval_ms=k3s-default"));
  CHECK(has(c.sources(), "election_timeout_ms=k3s-default"));
  CHECK(c.sources_size() == 2);
  // What k3s sets itself (name, data dir) is not known from here.
  CHECK_FALSE(c.has_name());
  CHECK_FALSE(c.has_data_dir());
  CHECK(c.env_size() == 0);
}

TEST_CASE("etcd config: k3s --etcd-arg overrides its defaults in both forms") {
  EtcdProcessText t;
  t.flavor = "k3s";
  t.argv = {"/usr/local/bin/k3s",
            "server",
            "--etcd-arg=heartbeat-interval=300",
            "--etcd-arg",
            "election-timeout=3000",
            "--etcd-arg=--quota-backend-bytes=4294967296",
            "--etcd-expose-metrics"};
  t.env = std::nullopt;
  auto c = parseEtcdConfig(t);
  CHECK(c.heartbeat_interval_ms() == 300);
  CHECK(c.election_timeout_ms() == 3000);
  CHECK(c.quota_backend_bytes() == 4294967296);
  CHECK(has(c.sources(), "heartbeat_interval_ms=flag"));
  CHECK(has(c.sources(), "election_timeout_ms=flag"));
  CHECK_FALSE(has(c.sources(), "heartbeat_interval_ms=k3s-default"));
  CHECK_FALSE(c.env_known());
}

TEST_CASE("etcd config: k3s config.yaml etcd-arg list and the command line after it") {
  EtcdProcessText t;
  t.flavor = "k3s";
  t.argv = {"/usr/local/bin/k3s", "server", "--etcd-arg=snapshot-count=5000"};
  t.env = std::vector<std::string>{};
  t.config_text = R"(# /etc/rancher/k3s/config.yaml
write-kubeconfig-mode: "0644"
token: "K10secret::server:abc"
cluster-init: true
tls-san:
  - "pi-cluster.local"
etcd-arg:
  - "heartbeat-interval=100"
  - 'election-timeout=1000'
  - snapshot-count=20000
node-label:
  - "heartbeat-interval=9"
)";
  auto c = parseEtcdConfig(t);
  CHECK(c.heartbeat_interval_ms() == 100);
  CHECK(c.election_timeout_ms() == 1000);
  CHECK(c.snapshot_count() == 5000);  // the command line's comes later
  CHECK(has(c.sources(), "heartbeat_interval_ms=config-file"));
  CHECK(has(c.sources(), "snapshot_count=flag"));
  CHECK(c.config_file() == "/etc/rancher/k3s/config.yaml");

  t.config_text = "etcd-arg: [\"heartbeat-interval=150\", election-timeout=1500]\n";
  auto flow = parseEtcdConfig(t);
  CHECK(flow.heartbeat_interval_ms() == 150);
  CHECK(flow.election_timeout_ms() == 1500);
}

TEST_CASE("etcd config: the config file k3s wrote for its etcd is what etcd runs with") {
  EtcdProcessText t;
  t.flavor = "k3s";
  t.argv = {"/usr/local/bin/k3s", "server"};  // k3s hides the rest of its arguments
  t.env = std::nullopt;
  t.config_text = "etcd-arg:\n  - heartbeat-interval=999\n";  // not read by the caller then
  t.k3s_etcd_config_path = "/var/lib/rancher/k3s/server/db/etcd/config";
  t.k3s_etcd_config_text = R"(advertise-client-urls: https://192.168.1.31:2379
client-transport-security:
  cert-file: /var/lib/rancher/k3s/server/tls/etcd/server-client.crt
  client-cert-auth: true
data-dir: /var/lib/rancher/k3s/server/db/etcd
election-timeout: 3000
experimental-initial-corrupt-check: true
heartbeat-interval: 300
initial-advertise-peer-urls: https://192.168.1.31:2380
initial-cluster: pi-1-6d3a1c2e=https://192.168.1.31:2380
initial-cluster-state: new
listen-client-urls: https://127.0.0.1:2379,https://192.168.1.31:2379
listen-metrics-urls: http://127.0.0.1:2381
listen-peer-urls: https://127.0.0.1:2380,https://192.168.1.31:2380
log-outputs:
- stderr
logger: zap
name: pi-1-6d3a1c2e
snapshot-count: 10000
)";
  auto c = parseEtcdConfig(t);
  CHECK(c.config_file() == "/var/lib/rancher/k3s/server/db/etcd/config");
  CHECK(c.heartbeat_interval_ms() == 300);
  CHECK(c.election_timeout_ms() == 3000);
  CHECK(c.name() == "pi-1-6d3a1c2e");
  CHECK(c.data_dir() == "/var/lib/rancher/k3s/server/db/etcd");
  CHECK(c.initial_cluster_state() == "new");
  CHECK(c.snapshot_count() == 10000);
  CHECK(has(c.sources(), "heartbeat_interval_ms=config-file"));
  CHECK_FALSE(has(c.sources(), "heartbeat_interval_ms=k3s-default"));
  CHECK(c.sources_size() == 11);
}

TEST_CASE("etcd config: k3s --config names its config file") {
  std::vector<std::string> argv = {"k3s", "server", "-c", "/opt/k3s/config.yaml"};
  CHECK(etcdConfigFilePath(argv, std::nullopt, "k3s") == "/opt/k3s/config.yaml");
  CHECK(etcdConfigFilePath({"k3s", "server"},
                           std::vector<std::string>{"K3S_CONFIG_FILE=/srv/k3s.yaml"},
                           "k3s") == "/srv/k3s.yaml");
}

TEST_CASE("etcd config: secrets are redacted in args and env but not the cluster token") {
  EtcdProcessText t;
  t.flavor = "k3s";
  t.argv = {"/usr/local/bin/k3s",
            "server",
            "--token=K10abcdef::server:s3cr3t",
            "--agent-token",
            "hunter2",
            "--etcd-s3-secret-key=AKIAsecret",
            "--etcd-arg=auth-token=jwt,pub-key=a.pub,priv-key=a.key",
            "--etcd-arg",
            "initial-cluster-token=k3s-cluster",
            "--datastore-endpoint=https://127.0.0.1:2379"};
  t.env = std::vector<std::string>{"ETCD_PEER_PASSWORD=x", "ETCD_INITIAL_CLUSTER_TOKEN=tok-1",
                                   "ETCD_AUTH_TOKEN=simple"};
  auto c = parseEtcdConfig(t);
  REQUIRE(c.args_size() == 10);
  CHECK(c.args(2) == "--token=<redacted>");
  CHECK(c.args(3) == "--agent-token");
  CHECK(c.args(4) == "<redacted>");
  CHECK(c.args(5) == "--etcd-s3-secret-key=<redacted>");
  CHECK(c.args(6) == "--etcd-arg=auth-token=<redacted>");
  CHECK(c.args(8) == "initial-cluster-token=k3s-cluster");
  CHECK(c.args(9) == "--datastore-endpoint=https://127.0.0.1:2379");
  CHECK(c.initial_cluster_token() == "k3s-cluster");
  CHECK(has(c.env(), "ETCD_PEER_PASSWORD=<redacted>"));
  CHECK(has(c.env(), "ETCD_AUTH_TOKEN=<redacted>"));
  CHECK(has(c.env(), "ETCD_INITIAL_CLUSTER_TOKEN=tok-1"));
  for (const auto& a : c.args()) CHECK(a.find("s3cr3t") == std::string::npos);
}

TEST_CASE("etcd config: which keys are secrets") {
  CHECK(isSecretConfigKey("token"));
  CHECK(isSecretConfigKey("--etcd-s3-secret-key"));
  CHECK(isSecretConfigKey("K3S_TOKEN"));
  CHECK(isSecretConfigKey("ETCD_ROOT_PASSWORD"));
  CHECK_FALSE(isSecretConfigKey("initial-cluster-token"));
  CHECK_FALSE(isSecretConfigKey("ETCD_INITIAL_CLUSTER_TOKEN"));
  CHECK_FALSE(isSecretConfigKey("--initial-cluster-token"));
  CHECK_FALSE(isSecretConfigKey("heartbeat-interval"));
  CHECK_FALSE(isSecretConfigKey("key-file"));
}

TEST_CASE("etcd config: a unit's Environment and EnvironmentFile lines with specifiers") {
  // Debian's etcd-server unit (/lib/systemd/system/etcd.service) sets these directives.
  UnitEnvironment u;
  addUnitEnvironment(R"([Unit]
Description=etcd - highly-available key value store
EnvironmentFile=/not/in/service

[Service]
Environment=DAEMON_ARGS=
Environment=ETCD_NAME=%H
Environment=ETCD_DATA_DIR=/var/lib/etcd/default
EnvironmentFile=-/etc/default/%p
Environment="ETCD_LOG_LEVEL=warn" ETCD_ELECTION_TIMEOUT=2000 'ETCD_LISTEN_PEER_URLS=http://%l:2380'
Environment=ETCD_DISCOVERY_SRV=%o
EnvironmentFile=/etc/etcd/%N.env
Type=notify
ExecStart=/usr/bin/etcd $DAEMON_ARGS
)",
                     "etcd.service", "pi-3.lan", &u);
  REQUIRE(u.files.size() == 2);
  CHECK(u.files[0].path == "/etc/default/etcd");
  CHECK(u.files[0].optional);
  CHECK(u.files[1].path == "/etc/etcd/etcd.env");
  CHECK_FALSE(u.files[1].optional);
  // %o is not expanded here: that assignment is left out, not reported with a wrong value.
  CHECK(u.assignments == std::vector<std::string>{"DAEMON_ARGS=", "ETCD_NAME=pi-3.lan",
                                                  "ETCD_DATA_DIR=/var/lib/etcd/default",
                                                  "ETCD_LOG_LEVEL=warn",
                                                  "ETCD_ELECTION_TIMEOUT=2000",
                                                  "ETCD_LISTEN_PEER_URLS=http://pi-3:2380"});
  // A drop-in's empty assignment resets the list.
  addUnitEnvironment("[Service]\nEnvironmentFile=\nEnvironmentFile=/etc/etcd/override.env\n",
                     "etcd.service", "pi-3.lan", &u);
  REQUIRE(u.files.size() == 1);
  CHECK(u.files[0].path == "/etc/etcd/override.env");
}

TEST_CASE("etcd config: an EnvironmentFile's assignments, quotes and comments") {
  auto env = parseEnvironmentFile(R"(## /etc/default/etcd
# ETCD_NAME="commented"
; also a comment
ETCD_NAME="pi-3"
ETCD_HEARTBEAT_INTERVAL=200
ETCD_INITIAL_CLUSTER='pi-1=http://10.0.0.1:2380,pi-3=http://10.0.0.3:2380'
not an assignment
  ETCD_ELECTION_TIMEOUT = 2000
)");
  REQUIRE(env.size() == 4);
  CHECK(env[0] == "ETCD_NAME=pi-3");
  CHECK(env[1] == "ETCD_HEARTBEAT_INTERVAL=200");
  CHECK(env[2] == "ETCD_INITIAL_CLUSTER=pi-1=http://10.0.0.1:2380,pi-3=http://10.0.0.3:2380");
  CHECK(env[3] == "ETCD_ELECTION_TIMEOUT=2000");
  auto c = parseEtcdConfig(etcdText({"/usr/bin/etcd"}, env));
  CHECK(c.heartbeat_interval_ms() == 200);
  CHECK(c.election_timeout_ms() == 2000);
  CHECK(c.name() == "pi-3");
}
