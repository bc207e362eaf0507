// Learners and the NOSPACE alarm on real etcd (3.4 and 3.5).
#include <catch2/catch.hpp>

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
  REQUIRE(s.waitView(
      [](const json& v) { return healthyWithTolerance1(v) && v["warnings"].empty(); }, 15s));
  auto after = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(s.port) + "/metrics");
  CHECK(after.body.find("quorumwatch_etcd_alarm{alarm=\"NOSPACE\",cluster=\"test\"} 0") !=
        std::string::npos);
}
