// The agent against real etcd over https with --client-cert-auth (certificates made here).
#include <catch2/catch.hpp>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

TEST_CASE("agents sample etcd over https with client certificates, a wrong CA is a clear reason",
          "[tls]") {
  TempDir tmp("qw-tls");
  auto certs = makeTestCertificates(tmp.path());
  EtcdCluster etcd(3, tmp.path());
  etcd.enableTls(certs);
  etcd.start();
  REQUIRE(etcd.clientUrl(0).rfind("https://", 0) == 0);
  Aggregator agg(tmp.path());
  int port = agg.start();
  std::vector<std::unique_ptr<Agent>> agents;
  for (int i = 0; i < 2; ++i) {
    agents.push_back(std::make_unique<Agent>(
        tmp.path(), "node-" + std::to_string(i + 1), etcd.clientUrl(i), agg.streamUrl(),
        std::vector<std::string>{"--etcd-cacert", certs.ca, "--etcd-cert", certs.client_cert,
                                 "--etcd-key", certs.client_key}));
    agents.back()->start();
  }
  // node-3's agent trusts the wrong CA (the client certificate is not a CA): TLS must fail.
  agents.push_back(std::make_unique<Agent>(
      tmp.path(), "node-3", etcd.clientUrl(2), agg.streamUrl(),
      std::vector<std::string>{"--etcd-cacert", certs.client_cert, "--etcd-cert", certs.client_cert,
                               "--etcd-key", certs.client_key}));
  agents.back()->start();

  json last;
  bool seen = waitFor(
      [&] {
        auto v = getJson(port, "/api/v1/nodes");
        if (!v || (*v)["nodes"].size() != 3) return false;
        last = *v;
        int ok = 0;
        bool bad_explained = false;
        for (const auto& n : (*v)["nodes"]) {
          if (n["name"] == "node-3")
            bad_explained =
                n["etcd_reachable"] == false && !n["etcd_error"].get<std::string>().empty();
          else
            ok += n["etcd_reachable"] == true && n["etcd_version"] != "";
        }
        return ok == 2 && bad_explained;
      },
      30s);
  INFO("nodes: " << last.dump());
  REQUIRE(seen);
  auto v = getJson(port, "/api/v1/cluster");
  REQUIRE(v);
  INFO("view: " << v->dump());
  // Two members verified over TLS, the third cannot be: tolerance 0, and the reason says why.
  CHECK((*v)["failure_tolerance"] == 0);
  for (const auto& m : (*v)["members"])
    if (m["node"] == "node-3") {
      CHECK(m["healthy"] == false);
      CHECK(m["reasons"][0].get<std::string>().find("etcd unreachable") != std::string::npos);
    }
}
