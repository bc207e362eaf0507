#include "qw/agent/parse/etcd_parse.h"

#include <cctype>
#include <charconv>
#include <limits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace qw::agent {

using nlohmann::json;

namespace {

// The gateway prints 64-bit integers as decimal strings; accept numbers too.
bool getU64(const json& j, const char* key, uint64_t* out) {
  auto it = j.find(key);
  if (it == j.end()) return false;
  if (it->is_number_unsigned() || it->is_number_integer()) {
    *out = it->get<uint64_t>();
    return true;
  }
  if (!it->is_string()) return false;
  const auto& s = it->get_ref<const std::string&>();
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<json> parseJson(std::string_view body, std::string* err) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *err = "not a JSON object";
    return std::nullopt;
  }
  return j;
}

std::optional<std::string> gatewayErrorOf(const json& j) {
  if (!j.contains("error") && !j.contains("message")) return std::nullopt;
  std::string msg = j.value("message", j.value("error", std::string()));
  return msg.empty() ? std::string("gateway error") : msg;
}

}  // namespace

std::optional<std::string> gatewayError(std::string_view body) {
  std::string err;
  auto j = parseJson(body, &err);
  if (!j) return std::nullopt;
  return gatewayErrorOf(*j);
}

std::optional<std::string> parseHealth(std::string_view body, qw::wire::EtcdSample* out) {
  std::string err;
  auto j = parseJson(body, &err);
  if (!j) return "health: " + err;
  auto it = j->find("health");
  if (it == j->end()) return "health: no 'health' field";
  // 3.4/3.5 print a string "true"/"false"; accept a boolean too.
  if (it->is_boolean())
    out->set_health(it->get<bool>());
  else if (it->is_string())
    out->set_health(it->get_ref<const std::string&>() == "true");
  else
    return "health: 'health' is neither string nor boolean";
  auto r = j->find("reason");
  if (r != j->end() && r->is_string()) out->set_health_reason(r->get<std::string>());
  return std::nullopt;
}

std::optional<std::string> parseStatus(std::string_view body, qw::wire::EtcdSample* out) {
  std::string err;
  auto j = parseJson(body, &err);
  if (!j) return "status: " + err;
  if (!j->contains("header"))
    if (auto ge = gatewayErrorOf(*j)) return "status: " + *ge;
  auto h = j->find("header");
  if (h == j->end() || !h->is_object()) return "status: no header";
  uint64_t v = 0;
  if (!getU64(*h, "member_id", &v)) return "status: no member_id";
  out->set_member_id(v);
  if (getU64(*h, "cluster_id", &v)) out->set_cluster_id(v);
  // The MVCC revision; a revision beyond int64 is no revision etcd gives (it is an int64 there).
  if (getU64(*h, "revision", &v) && v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    out->set_revision(static_cast<int64_t>(v));
  else
    out->clear_revision();
  if (getU64(*j, "raftTerm", &v)) out->set_raft_term(v);
  if (getU64(*j, "raftIndex", &v)) out->set_raft_index(v);
  if (getU64(*j, "raftAppliedIndex", &v)) out->set_raft_applied_index(v);
  if (getU64(*j, "dbSize", &v)) out->set_db_size_bytes(static_cast<int64_t>(v));
  if (getU64(*j, "dbSizeInUse", &v)) out->set_db_size_in_use_bytes(static_cast<int64_t>(v));
  if (j->contains("version") && (*j)["version"].is_string())
    out->set_version((*j)["version"].get<std::string>());
  // Without quorum `leader` is absent (zero values are omitted by the gateway).
  uint64_t leader = 0;
  getU64(*j, "leader", &leader);
  out->set_leader_id(leader);
  out->set_has_leader(leader != 0);
  out->set_is_leader(leader != 0 && leader == out->member_id());
  out->clear_status_errors();
  if (auto e = j->find("errors"); e != j->end() && e->is_array())
    for (const auto& s : *e)
      if (s.is_string()) out->add_status_errors(s.get<std::string>());
  return std::nullopt;
}

std::optional<std::string> parseMemberList(std::string_view body, qw::wire::EtcdSample* out) {
  std::string err;
  auto j = parseJson(body, &err);
  if (!j) return "member list: " + err;
  auto ms = j->find("members");
  if (ms == j->end() || !ms->is_array()) {
    if (auto ge = gatewayErrorOf(*j)) return "member list: " + *ge;
    return "member list: no members";
  }
  out->clear_members();
  for (const auto& m : *ms) {
    if (!m.is_object()) continue;
    auto* pm = out->add_members();
    uint64_t id = 0;
    if (!getU64(m, "ID", &id)) return "member list: member without ID";
    pm->set_id(id);
    if (m.contains("name") && m["name"].is_string()) pm->set_name(m["name"].get<std::string>());
    if (m.contains("peerURLs") && m["peerURLs"].is_array())
      for (const auto& u : m["peerURLs"])
        if (u.is_string()) pm->add_peer_urls(u.get<std::string>());
    if (m.contains("clientURLs") && m["clientURLs"].is_array())
      for (const auto& u : m["clientURLs"])
        if (u.is_string()) pm->add_client_urls(u.get<std::string>());
    if (m.contains("isLearner") && m["isLearner"].is_boolean())
      pm->set_is_learner(m["isLearner"].get<bool>());
  }
  out->set_members_ok(true);
  return std::nullopt;
}

std::optional<std::string> parseAlarms(std::string_view body, qw::wire::EtcdSample* out) {
  std::string err;
  auto j = parseJson(body, &err);
  if (!j) return "alarms: " + err;
  if (!j->contains("header"))
    if (auto ge = gatewayErrorOf(*j)) return "alarms: " + *ge;
  out->clear_alarms();
  if (auto a = j->find("alarms"); a != j->end() && a->is_array()) {
    for (const auto& al : *a) {
      if (!al.is_object()) continue;
      auto* pa = out->add_alarms();
      uint64_t id = 0;
      getU64(al, "memberID", &id);
      pa->set_member_id(id);
      // An absent alarm type is 0 = NONE in etcd's enum.
      pa->set_alarm(al.value("alarm", std::string("NONE")));
    }
  }
  out->set_alarms_ok(true);
  return std::nullopt;
}

bool alarmsFromStatusErrors(qw::wire::EtcdSample* out) {
  std::vector<std::pair<uint64_t, std::string>> found;
  for (const auto& e : out->status_errors()) {
    std::string_view v(e);
    auto m = v.find("memberID:");
    auto a = v.find("alarm:");
    if (m == std::string_view::npos && a == std::string_view::npos) continue;  // not an alarm
    if (m == std::string_view::npos) return false;
    uint64_t id = 0;
    auto digits = v.substr(m + 9);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc() || p == digits.data()) return false;
    // An alarm type of 0 (NONE) is omitted from protobuf text, as from the alarm call's JSON.
    std::string type = "NONE";
    if (a != std::string_view::npos) {
      auto rest = v.substr(a + 6);
      size_t n = 0;
      while (n < rest.size() &&
             (std::isalnum(static_cast<unsigned char>(rest[n])) || rest[n] == '_'))
        ++n;
      if (n == 0) return false;
      type = std::string(rest.substr(0, n));
    }
    found.emplace_back(id, std::move(type));
  }
  out->clear_alarms();
  for (auto& [id, type] : found) {
    auto* pa = out->add_alarms();
    pa->set_member_id(id);
    pa->set_alarm(std::move(type));
  }
  out->set_alarms_ok(true);
  return true;
}

}  // namespace qw::agent
