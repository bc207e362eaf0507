// etcd's effective configuration end to end: real members started with tuned timings, the
// agents read them from the processes and the aggregator serves the newest; the status call's
// MVCC revision rides on every sample.
#include <catch2/catch.hpp>
#include <filesystem>

#include "../harness/harness.h"
#include "sample.pb.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

bool listed(const json& list, const std::string& v) {
  for (const auto& e : list)
    if (e == v) return true;
  return false;
}

// The newest stored sample of `node` that carries a revision (0: none).
int64_t newestRevision(const std::string& db_path, const std::string& node) {
  int64_t rev = 0;
  for (const auto& p : storedSamplePayloads(db_path, node))
    if (qw::wire::NodeSample s; s.ParseFromString(p) && s.etcd().has_revision())
      rev = s.etcd().revision();
  return rev;
}

}  // namespace

TEST_CASE("agents report etcd's flags and the aggregator serves them with the revision",
          "[etcd-config]") {
  ClusterStack s("qw-etcd-config", 3, {"--heartbeat-interval=25", "--election-timeout=250"});
  const std::string node = "node-2";
  json cfg;
  int status = 0;
  bool ok = waitFor(
      [&] {
        auto j = getJson(s.port, "/api/v1/nodes/" + node + "/etcd-config", &status);
        if (!j || status != 200) return false;
        cfg = *j;
        return true;
      },
      30s);
  INFO(cfg.dump());
  REQUIRE(ok);
  CHECK(cfg["heartbeat_interval_ms"] == 25);
  CHECK(cfg["election_timeout_ms"] == 250);
  CHECK(listed(cfg["sources"], "heartbeat_interval_ms=flag"));
  CHECK(listed(cfg["sources"], "election_timeout_ms=flag"));
  CHECK(listed(cfg["args"], "--heartbeat-interval=25"));
  CHECK(listed(cfg["args"], "--election-timeout=250"));
  CHECK(cfg["name"] == s.etcd.name(1));
  CHECK(cfg["data_dir"] == s.etcd.dataDir(1));
  CHECK(cfg["listen_client_urls"] == s.etcd.clientUrl(1));
  CHECK(cfg["initial_cluster_state"] == "new");
  CHECK(cfg["initial_cluster_token"] == "qw-test");
  CHECK(cfg["pid"] == s.etcd.pid(1));
  CHECK(cfg["exe"] == std::filesystem::canonical(etcdBinary()).string());
  CHECK(cfg["flavor"] == "etcd");
  // The agent runs as etcd's user here, so it reads etcd's own environment.
  CHECK(cfg["env_known"] == true);
  CHECK(cfg["env_source"] == "/proc/" + std::to_string(s.etcd.pid(1)) + "/environ");
  CHECK_FALSE(cfg["received_at"].get<std::string>().empty());
  // etcd's defaults for what the harness does not set are not reported as facts.
  CHECK_FALSE(cfg.contains("snapshot_count"));
  CHECK_FALSE(cfg.contains("quota_backend_bytes"));

  // The revision is in the samples and follows a write.
  int64_t before = 0;
  REQUIRE(waitFor([&] { return (before = newestRevision(s.agg.dbPath(), node)) > 0; }, 15s));
  auto put = s.etcd.post(0, "/v3/kv/put", R"({"key":"cXctZXRjZC1jb25maWc=","value":"MQ=="})");
  REQUIRE(put.ok);
  REQUIRE(put.status == 200);
  CHECK(waitFor([&] { return newestRevision(s.agg.dbPath(), node) > before; }, 15s));

  // An unknown node, and a known one whose agent has not sent it since the aggregator started.
  auto unknown = getJson(s.port, "/api/v1/nodes/node-9/etcd-config", &status);
  REQUIRE(unknown);
  CHECK(status == 404);
  CHECK((*unknown)["error"] == "not_found");
  s.agents[2]->stop();
  s.agg.stop();
  s.agg.start();
  auto none = getJson(s.port, "/api/v1/nodes/node-3/etcd-config", &status);
  REQUIRE(none);
  CHECK(status == 404);
  CHECK(*none == json{{"error", "not_found"},
                      {"detail", "node node-3 has not reported etcd's configuration yet"}});
  // A new agent reads etcd at once.
  s.agents[2]->start();
  CHECK(waitFor(
      [&] {
        auto j = getJson(s.port, "/api/v1/nodes/node-3/etcd-config", &status);
        return j && status == 200 && (*j)["name"] == s.etcd.name(2) &&
               (*j)["heartbeat_interval_ms"] == 25;
      },
      30s));
}
