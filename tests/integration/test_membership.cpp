// Learners and the NOSPACE alarm on real etcd (3.4 and 3.5).
#include <catch2/catch.hpp>
#include <thread>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string b64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

TEST_CASE("a learner is listed but never counted for quorum", "[learner]") {
  ClusterStack s("qw-learner");
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));
  int l = s.etcd.addLearner();
  s.addAgent(l);
  bool seen = s.waitView(
      [](const json& v) {
        if (v["members"].size() != 4) return false;
        for (const auto& m : v["members"])
          if (m["is_learner"] == true) return m["name"] == "m4" && m["healthy"] == true;
        return false;
      },
      40s);
  INFO("view: " << s.last.dump());
  REQUIRE(seen);
  CHECK(s.last["voting_members"] == 3);
  CHECK(s.last["quorum_size"] == 2);
  CHECK(s.last["healthy_members"] == 3);
  CHECK(s.last["failure_tolerance"] == 1);
  CHECK(s.last["state"] == "HEALTHY");
  for (const auto& m : s.last["members"])
    if (m["is_learner"] == true) CHECK(m["node"] == "node-4");
}

TEST_CASE("NOSPACE: CRITICAL with a warning and exported, HEALTHY after compact, defrag, disarm",
          "[nospace]") {
  ClusterStack s("qw-nospace", 3, {"--quota-backend-bytes=16777216"});
  REQUIRE(s.waitView(healthyWithTolerance1, 30s));

  // Fill with 200 KB values until a put is refused.
  std::string value = b64(std::string(200 * 1024, 'x'));
  bool refused = false;
  std::string answer;
  for (int i = 0; i < 400 && !refused; ++i) {
    auto r = s.etcd.post(0, "/v3/kv/put",
                         json{{"key", b64("fill/" + std::to_string(i))}, {"value", value}}.dump());
    REQUIRE(r.ok);
    answer = r.body;
    refused = r.status != 200 || r.body.find("database space exceeded") != std::string::npos;
  }
  INFO("last put answer: " << answer);
  REQUIRE(refused);
  CHECK(answer.find("database space exceeded") != std::string::npos);

  REQUIRE(s.waitView(
      [](const json& v) {
        for (const auto& w : v["warnings"])
          if (w["code"] == "NOSPACE") return v["state"] == "CRITICAL";
        return false;
      },
      15s));
  INFO("view: " << s.last.dump());
  CHECK(s.last["failure_tolerance"] == 1);  // members stay healthy: NOSPACE is cluster-wide
  CHECK(s.last["healthy_members"] == 3);
  bool named = false;
  for (const auto& w : s.last["warnings"])
    if (w["code"] == "NOSPACE") {
      std::string action = w["action"];
      named = action.find("compact") < action.find("defragment") &&
              action.find("defragment") < action.find("disarm");
    }
  CHECK(named);
  auto metrics = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  REQUIRE(metrics.ok);
  CHECK(metrics.body.find("quorumwatch_etcd_alarm{alarm=\"NOSPACE\",cluster=\"test\"} 1") !=
        std::string::npos);

  // Recover the way the warning says: free space, compact, defragment each member, disarm.
  auto del = s.etcd.post(0, "/v3/kv/deleterange",
                         json{{"key", b64("fill/")}, {"range_end", b64("fill0")}}.dump());
  REQUIRE(del.ok);
  REQUIRE(del.status == 200);
  auto rev = json::parse(del.body)["header"]["revision"].get<std::string>();
  auto cmp =
      s.etcd.post(0, "/v3/kv/compaction", json{{"revision", rev}, {"physical", true}}.dump());
  REQUIRE(cmp.status == 200);
  for (int i = 0; i < 3; ++i)
    REQUIRE(s.etcd.post(i, "/v3/maintenance/defragment", "{}").status == 200);
  auto alarms = json::parse(s.etcd.post(0, "/v3/maintenance/alarm", R"({"action":"GET"})").body);
  for (const auto& a : alarms["alarms"]) {
    auto r = s.etcd.post(
        0, "/v3/maintenance/alarm",
        json{{"action", "DEACTIVATE"}, {"memberID", a["memberID"]}, {"alarm", "NOSPACE"}}.dump());
    REQUIRE(r.status == 200);
  }
  // Only INFO advisories may stay (the etcd version, the test machine's unsynchronised clock);
  // the quota warning clears after its calm window (30 s).
  REQUIRE(s.waitView(
      [](const json& v) {
        for (const auto& w : v["warnings"])
          if (w["severity"] != "INFO") return false;
        return healthyWithTolerance1(v);
      },
      60s));
  auto after = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  CHECK(after.body.find("quorumwatch_etcd_alarm{alarm=\"NOSPACE\",cluster=\"test\"} 0") !=
        std::string::npos);
}

TEST_CASE("an agent of another etcd cluster is refused and a rebuilt cluster succeeds the old one",
          "[cluster-id]") {
  ClusterStack s("qw-clusterid", 1);
  REQUIRE(s.waitView(
      [](const json& v) { return v["healthy_members"] == 1 && v.contains("cluster_id"); }, 30s));
  const std::string first_id = s.last["cluster_id"];
  auto events = [&](const std::string& kind) {
    auto e = getJson(s.port, "/api/v1/events?kind=" + kind);
    return e ? (*e)["events"] : json::array();
  };

  // A second, unrelated etcd cluster and its agent, pointed at this aggregator by mistake.
  TempDir other_dir("qw-clusterid-other");
  EtcdCluster other(1, other_dir.path());
  other.start();
  Agent stray(other_dir.path(), "node-9", other.clientUrl(0), s.agg.streamUrl());
  stray.start();
  bool refused = waitFor([&] { return events("AGENT_REFUSED").size() == 1; }, 30s);
  auto refusal = events("AGENT_REFUSED");
  INFO("refusals: " << refusal.dump());
  REQUIRE(refused);
  CHECK(refusal[0]["node"] == "node-9");
  std::string msg = refusal[0]["message"];
  CHECK(msg.find(first_id) != std::string::npos);
  CHECK(msg.find("node-1") != std::string::npos);  // who still answers with the watched id
  // Nothing of node-9 is stored; node-1 keeps streaming into the same cluster.
  uint64_t before = seriesPoints(s.agg.dbPath(), "node-1", "etcd_reachable");
  std::this_thread::sleep_for(3s);
  CHECK(seriesPoints(s.agg.dbPath(), "node-9", "etcd_reachable") == 0);
  CHECK(seriesPoints(s.agg.dbPath(), "node-1", "etcd_reachable") > before);
  REQUIRE(s.view([](const json&) { return true; }));
  CHECK(s.last["cluster_id"] == first_id);
  CHECK(s.last["healthy_members"] == 1);
  CHECK(stray.process().log().find("cluster_mismatch") != std::string::npos);

  // The cluster is rebuilt (what a restore does to its identity: new token, new cluster id, new
  // member id). node-1's agent reports the new id and no node reports the old one any more:
  // the new id succeeds the old, the history stays.
  uint64_t history = seriesPoints(s.agg.dbPath(), "node-1", "etcd_reachable");
  s.etcd.rebuild("qw-test-restored");
  bool replaced = s.waitView(
      [&](const json& v) {
        return v.contains("cluster_id") && v["cluster_id"] != first_id && v["healthy_members"] == 1;
      },
      30s);
  INFO("view: " << s.last.dump());
  REQUIRE(replaced);
  REQUIRE(s.last["previous_cluster_ids"].size() == 1);
  CHECK(s.last["previous_cluster_ids"][0] == first_id);
  auto succession = events("CLUSTER_REPLACED");
  REQUIRE(succession.size() == 1);
  CHECK(std::string(succession[0]["message"]).find(first_id) != std::string::npos);
  CHECK(seriesPoints(s.agg.dbPath(), "node-1", "etcd_reachable") >= history);
  // The stray agent's node never belonged to this cluster: still refused, still nothing stored.
  CHECK(seriesPoints(s.agg.dbPath(), "node-9", "etcd_reachable") == 0);
  stray.stop();
}
