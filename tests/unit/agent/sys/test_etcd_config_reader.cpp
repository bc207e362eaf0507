// Reading etcd's configuration from a process tree and a host tree: /proc/PID/environ when it is
// readable, else the unit's Environment= and EnvironmentFile= (the agent without ptrace rights
// over etcd), a --config-file relative to etcd's cwd, and k3s's config.yaml.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "qw/agent/sys/etcd_config_reader.h"
#include "qw/fs_util.h"

using qw::agent::EtcdConfigPaths;
using qw::agent::readEtcdConfig;
namespace fs = std::filesystem;

namespace {

bool has(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// /proc/PID/cmdline and environ: each string ended by a NUL.
std::string nul(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) out += p + '\0';
  return out;
}

// A host tree in a temporary directory: root/ (the host's files) and proc/ (its procfs).
struct Tree {
  Tree() {
    char tmpl[] = "/tmp/qw-etcd-config-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories(fs::path(dir + "/" + rel).parent_path());
    std::ofstream(dir + "/" + rel, std::ios::binary) << text;
  }
  void link(const std::string& rel, const std::string& target) const {
    fs::create_directories(fs::path(dir + "/" + rel).parent_path());
    fs::create_symlink(target, dir + "/" + rel);
  }
  EtcdConfigPaths paths(const std::string& unit, const std::string& flavor) const {
    EtcdConfigPaths p;
    p.procfs_root = dir + "/proc";
    p.root = dir + "/root";
    p.unit = unit;
    p.flavor = flavor;
    return p;
  }
  std::string dir;
};

const char kDebianUnit[] = R"([Unit]
Description=etcd - highly-available key value store
After=network.target

[Service]
Environment=DAEMON_ARGS=
Environment=ETCD_NAME=%H
Environment=ETCD_DATA_DIR=/var/lib/etcd/default
EnvironmentFile=-/etc/default/%p
Type=notify
User=etcd
ExecStart=/usr/bin/etcd $DAEMON_ARGS

[Install]
WantedBy=multi-user.target
)";

}  // namespace

TEST_CASE("etcd config reader: environ unreadable falls back to the unit and its drop-ins") {
  Tree t;
  t.write("proc/555/cmdline", nul({"/usr/bin/etcd", "--election-timeout=2500"}));
  t.link("proc/555/exe", "/usr/bin/etcd");
  t.link("proc/555/cwd", "/var/lib/etcd");
  t.write("root/lib/systemd/system/etcd.service", kDebianUnit);
  t.write("root/etc/default/etcd",
          "## etcd(1) daemon options\n# ETCD_NAME=\"hostname\"\nETCD_HEARTBEAT_INTERVAL=\"250\"\n"
          "ETCD_ELECTION_TIMEOUT=9999\n");
  t.write("root/etc/systemd/system/etcd.service.d/override.conf",
          "[Service]\nEnvironment=ETCD_SNAPSHOT_COUNT=5000\n");
  auto c = readEtcdConfig(t.paths("etcd.service", "etcd"), 555);
  CHECK(c.pid() == 555);
  CHECK(c.exe() == "/usr/bin/etcd");
  CHECK(c.cwd() == "/var/lib/etcd");
  REQUIRE(c.env_known());
  CHECK(c.env_source() ==
        "Environment= of /lib/systemd/system/etcd.service, EnvironmentFile /etc/default/etcd");
  CHECK(c.name() == qw::hostName());
  CHECK(c.data_dir() == "/var/lib/etcd/default");
  CHECK(c.heartbeat_interval_ms() == 250);
  CHECK(c.snapshot_count() == 5000);
  CHECK(c.election_timeout_ms() == 2500);  // the flag shadows the file's variable
  CHECK(has(c.sources(), "heartbeat_interval_ms=env"));
  CHECK(has(c.sources(), "election_timeout_ms=flag"));
  CHECK(c.args_size() == 2);

  // Without a known unit (or with a unit that is not there) the environment is unknown.
  auto none = readEtcdConfig(t.paths("", "etcd"), 555);
  CHECK_FALSE(none.env_known());
  CHECK_FALSE(none.has_heartbeat_interval_ms());
  CHECK_FALSE(readEtcdConfig(t.paths("etcd2.service", "etcd"), 555).env_known());
}

TEST_CASE("etcd config reader: a required EnvironmentFile that is missing leaves env unknown") {
  Tree t;
  t.write("proc/556/cmdline", nul({"etcd"}));
  t.write("root/etc/systemd/system/etcd.service",
          "[Service]\nEnvironmentFile=/etc/etcd/etcd.env\nExecStart=/usr/local/bin/etcd\n");
  CHECK_FALSE(readEtcdConfig(t.paths("etcd.service", "etcd"), 556).env_known());
}

TEST_CASE("etcd config reader: environ and a config file relative to etcd's cwd") {
  Tree t;
  t.write("proc/600/cmdline", nul({"etcd", "--config-file", "conf/etcd.yml"}));
  t.write("proc/600/environ", nul({"HOME=/srv/etcd", "ETCD_NAME=ignored"}));
  t.link("proc/600/cwd", "/srv/etcd");
  t.write("root/srv/etcd/conf/etcd.yml", "name: 'm1'\nheartbeat-interval: 50\n");
  auto c = readEtcdConfig(t.paths("etcd.service", "etcd"), 600);
  CHECK(c.env_known());
  CHECK(c.env_source() == "/proc/600/environ");
  CHECK(c.env_size() == 1);
  CHECK(c.config_file() == "/srv/etcd/conf/etcd.yml");
  CHECK(c.name() == "m1");
  CHECK(c.heartbeat_interval_ms() == 50);
  CHECK(has(c.sources(), "name=config-file"));
}

TEST_CASE("etcd config reader: k3s on the Raspberry Pi fixture reads config.yaml and its unit") {
  EtcdConfigPaths p;
  std::string tree = std::string(QW_FIXTURES) + "/hosts/pi4";
  p.procfs_root = tree + "/proc";
  p.root = tree + "/root";
  p.unit = "k3s.service";
  p.flavor = "k3s";
  auto c = readEtcdConfig(p, 4242);
  CHECK(c.flavor() == "k3s");
  CHECK(c.args_size() == 2);
  CHECK(c.config_file() == "/etc/rancher/k3s/config.yaml");
  CHECK(c.heartbeat_interval_ms() == 250);
  CHECK(c.election_timeout_ms() == 5000);
  CHECK(c.snapshot_count() == 5000);
  CHECK(has(c.sources(), "heartbeat_interval_ms=config-file"));
  CHECK(has(c.sources(), "election_timeout_ms=k3s-default"));
  // No environ in the fixture: k3s.service's EnvironmentFile, whose K3S_TOKEN is not shipped.
  CHECK(c.env_known());
  CHECK(c.env_source() == "EnvironmentFile /etc/systemd/system/k3s.service.env");
  CHECK(c.env_size() == 0);
  CHECK(c.exe().empty());  // not in the fixture
}

TEST_CASE("etcd config reader: k3s's own etcd config file in the data dir comes first") {
  Tree t;
  t.write("proc/700/cmdline", nul({"/usr/local/bin/k3s", "server"}));
  t.write("root/etc/rancher/k3s/config.yaml", "etcd-arg:\n  - heartbeat-interval=999\n");
  t.write("root/var/lib/rancher/k3s/server/db/etcd/config",
          "heartbeat-interval: 200\nelection-timeout: 2000\nname: pi-2-0a1b2c3d\n");
  auto p = t.paths("k3s.service", "k3s");
  p.etcd_data_dir = t.dir + "/root/var/lib/rancher/k3s/server/db/etcd";
  auto c = readEtcdConfig(p, 700);
  CHECK(c.config_file() == p.etcd_data_dir + "/config");
  CHECK(c.heartbeat_interval_ms() == 200);
  CHECK(c.election_timeout_ms() == 2000);
  CHECK(c.name() == "pi-2-0a1b2c3d");
  // Unreadable (k3s writes it 0600 for root): the etcd-arg list, then k3s's defaults.
  p.etcd_data_dir = t.dir + "/root/elsewhere";
  auto fallback = readEtcdConfig(p, 700);
  CHECK(fallback.config_file() == "/etc/rancher/k3s/config.yaml");
  CHECK(fallback.heartbeat_interval_ms() == 999);
  CHECK(fallback.election_timeout_ms() == 5000);
  CHECK_FALSE(fallback.has_name());
}

TEST_CASE("etcd config reader: kubeadm's static pod is not read through the kubelet's unit") {
  EtcdConfigPaths p;
  std::string tree = std::string(QW_FIXTURES) + "/hosts/x86-nvme";
  p.procfs_root = tree + "/proc";
  p.root = tree + "/root";
  p.unit = "kubelet.service";
  p.flavor = "kubeadm";
  auto c = readEtcdConfig(p, 900);
  CHECK_FALSE(c.env_known());
  CHECK(c.name() == "cp-1");
  CHECK(c.data_dir() == "/var/lib/etcd");
  CHECK(c.listen_client_urls() == "https://127.0.0.1:2379,https://10.0.0.11:2379");
  // A process that is gone gives an empty configuration, not a crash.
  auto gone = readEtcdConfig(p, 31337);
  CHECK(gone.args_size() == 0);
  CHECK(gone.sources_size() == 0);
}
