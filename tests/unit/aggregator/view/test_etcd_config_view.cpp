// The hub keeps the newest etcd configuration an agent sent, and the API prints it with unknown
// values absent.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "qw/aggregator/api/json.h"
#include "qw/aggregator/model/hub.h"
#include "qw/aggregator/view/node_view.h"

using namespace qw::aggregator;

namespace {

qw::wire::NodeSample withConfig(uint32_t heartbeat_ms) {
  qw::wire::NodeSample s;
  auto* c = s.mutable_etcd_config();
  c->set_pid(4242);
  c->set_flavor("etcd");
  c->add_args("/usr/bin/etcd");
  c->add_args("--heartbeat-interval=" + std::to_string(heartbeat_ms));
  c->set_env_known(false);
  c->set_heartbeat_interval_ms(heartbeat_ms);
  c->set_quota_backend_bytes(8589934592);
  c->set_name("pi-1");
  c->add_sources("heartbeat_interval_ms=flag");
  return s;
}

}  // namespace

TEST_CASE("the hub keeps the newest etcd configuration across samples without one") {
  Hub hub;
  hub.applySample("pi-1", qw::wire::NodeSample{}, 1000, 1000);
  REQUIRE(hub.findNode("pi-1"));
  CHECK_FALSE(hub.findNode("pi-1")->etcd_config);

  hub.applySample("pi-1", withConfig(100), 2000, 2000);
  hub.applySample("pi-1", qw::wire::NodeSample{}, 3000, 3000);
  const auto* n = hub.findNode("pi-1");
  REQUIRE(n->etcd_config);
  CHECK(n->etcd_config->heartbeat_interval_ms() == 100);
  CHECK(n->etcd_config_wall_ms == 2000);

  hub.applySample("pi-1", withConfig(250), 4000, 4000);
  CHECK(n->etcd_config->heartbeat_interval_ms() == 250);
  CHECK(n->etcd_config_wall_ms == 4000);
}

TEST_CASE("etcd configuration JSON: numbers as numbers and unknown values absent") {
  auto c = withConfig(25).etcd_config();
  auto j = nlohmann::json::parse(toJson(etcdConfigView(c, 1'700'000'000'000)));
  CHECK(j["heartbeat_interval_ms"] == 25);
  CHECK(j["quota_backend_bytes"].is_number());
  CHECK(j["quota_backend_bytes"] == 8589934592.0);
  CHECK(j["name"] == "pi-1");
  CHECK(j["args"] == nlohmann::json::array({"/usr/bin/etcd", "--heartbeat-interval=25"}));
  CHECK(j["sources"] == nlohmann::json::array({"heartbeat_interval_ms=flag"}));
  CHECK(j["env_known"] == false);
  CHECK(j["env"] == nlohmann::json::array());
  CHECK(j["pid"] == 4242);
  CHECK(j["received_at"] == "2023-11-14T22:13:20Z");
  // Not learnt: absent, not 0 or "".
  for (const char* k : {"election_timeout_ms", "snapshot_count", "data_dir", "initial_cluster",
                        "initial_cluster_token", "listen_client_urls"})
    CHECK_FALSE(j.contains(k));
}
