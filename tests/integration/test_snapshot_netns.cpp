// A snapshot holds every Secret of the cluster: the aggregator refuses to pull one over a link
// that is neither TLS nor loopback unless told to. Here the link is real and not loopback: the
// aggregator runs in a network namespace this test creates, reached over a veth pair
// (10.231.N.1 <-> 10.231.N.2, nothing leaves the machine); the agent and etcd stay on the host.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// A namespace with one veth pair to the host, removed with everything in it at the end.
class VethNamespace {
 public:
  VethNamespace() {
    int n = static_cast<int>(::getpid() % 200) + 20;
    name_ = "qwtest" + std::to_string(::getpid());
    host_if_ = "qwh" + std::to_string(::getpid());
    host_ip_ = "10.231." + std::to_string(n) + ".1";
    ns_ip_ = "10.231." + std::to_string(n) + ".2";
    ok_ = sh("ip netns add " + name_) == 0 &&
          sh("ip link add " + host_if_ + " type veth peer name qwn0 netns " + name_) == 0 &&
          sh("ip addr add " + host_ip_ + "/30 dev " + host_if_) == 0 &&
          sh("ip link set " + host_if_ + " up") == 0 &&
          sh(exec() + " ip addr add " + ns_ip_ + "/30 dev qwn0") == 0 &&
          sh(exec() + " ip link set qwn0 up") == 0 && sh(exec() + " ip link set lo up") == 0;
  }
  ~VethNamespace() {
    sh("ip link del " + host_if_);
    sh("ip netns del " + name_);
  }
  bool ok() const { return ok_; }
  std::string exec() const { return "ip netns exec " + name_; }
  // The path of `ip` (the harness starts processes with execv).
  static std::string ipBinary() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
      if (::access(p, X_OK) == 0) return p;
    return "ip";
  }
  const std::string& name() const { return name_; }
  const std::string& nsIp() const { return ns_ip_; }

 private:
  std::string name_, host_if_, host_ip_, ns_ip_;
  bool ok_ = false;
};

std::optional<json> getAt(const std::string& base, const std::string& path) {
  qw::HttpRequest get;
  get.timeout = 3s;
  auto r = qw::httpFetchSync(base + path, get);
  if (!r.ok || r.status != 200) return std::nullopt;
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

TEST_CASE("a snapshot is not pulled over a plain link that is not loopback unless allowed",
          "[snapshots][netns]") {
  VethNamespace ns;
  if (!ns.ok()) {
    WARN("cannot create a network namespace here (needs CAP_NET_ADMIN): not run");
    return;
  }
  TempDir tmp("qw-netns");
  std::string snaps = tmp.path() + "/snapshots";
  fs::create_directories(snaps);
  std::string token_file = writeTokenFile(tmp.path(), "netns-token-0123456789");
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  std::string etcdctl = fs::path(etcdBinary()).parent_path().string() + "/etcdctl";
  REQUIRE(sh("ETCDCTL_API=3 " + etcdctl + " --endpoints " + etcd.clientUrl(0) + " put /n/1 one") ==
          0);
  REQUIRE(sh("ETCDCTL_API=3 " + etcdctl + " --endpoints " + etcd.clientUrl(0) + " snapshot save " +
             snaps + "/etcd-snapshot-netns") == 0);

  auto startAggregator = [&](int run, bool allow) {
    std::vector<std::string> argv = {VethNamespace::ipBinary(),
                                     "netns",
                                     "exec",
                                     ns.name(),
                                     binDir() + "/quorumwatch-aggregator",
                                     "--listen",
                                     ns.nsIp() + ":0",
                                     "--db",
                                     tmp.path() + "/agg.db",
                                     "--cluster-name",
                                     "test",
                                     "--token-file",
                                     token_file,
                                     "--snapshot-every",
                                     "0",
                                     "--snapshot-poll",
                                     "1s"};
    if (allow) argv.push_back("--allow-plain-snapshot-pull");
    auto p =
        std::make_unique<Process>(argv, tmp.path() + "/aggregator." + std::to_string(run) + ".log");
    const std::regex re("listening on [0-9.]+:([0-9]+)");
    int port = 0;
    waitFor(
        [&] {
          std::smatch m;
          std::string text = p->log();
          if (std::regex_search(text, m, re)) port = std::stoi(m[1]);
          return port != 0 || !p->running();
        },
        30s, 50ms);
    INFO(p->log());
    REQUIRE(port != 0);
    return std::make_pair(std::move(p), port);
  };

  auto [agg, port] = startAggregator(1, false);
  const std::string base = "http://" + ns.nsIp() + ":" + std::to_string(port);
  Agent a(tmp.path(), "node-1", etcd.clientUrl(0),
          "ws://" + ns.nsIp() + ":" + std::to_string(port) + "/v1/stream",
          {"--token-file", token_file, "--snapshot-dir", snaps, "--snapshot-scan-interval", "1s"});
  a.start();
  json l;
  bool refused = waitFor(
      [&] {
        auto r = getAt(base, "/api/v1/snapshots");
        if (!r) return false;
        l = *r;
        return l.value("copy_error", "").find("neither TLS nor loopback") != std::string::npos;
      },
      60s, 250ms);
  INFO(l.dump(2));
  REQUIRE(refused);
  CHECK(l["copies"].empty());
  CHECK(l["newest_verified"] == "node-1:" + snaps + "/etcd-snapshot-netns");
  CHECK(l["copy_error"].get<std::string>().find("--allow-plain-snapshot-pull") !=
        std::string::npos);
  CHECK(agg->log().find("not pulling node-1:") != std::string::npos);

  // Allowed explicitly: the same link, the copy arrives verified.
  agg->stop();
  auto [agg2, port2] = startAggregator(2, true);
  const std::string base2 = "http://" + ns.nsIp() + ":" + std::to_string(port2);
  a.stop();
  Agent b(tmp.path(), "node-1", etcd.clientUrl(0),
          "ws://" + ns.nsIp() + ":" + std::to_string(port2) + "/v1/stream",
          {"--token-file", token_file, "--snapshot-dir", snaps, "--snapshot-scan-interval", "1s"});
  b.start();
  bool copied = waitFor(
      [&] {
        auto r = getAt(base2, "/api/v1/snapshots");
        if (!r) return false;
        l = *r;
        return !l["copies"].empty() && l["copies"][0]["status"] == "verified";
      },
      60s, 250ms);
  INFO(l.dump(2));
  CHECK(copied);
}
