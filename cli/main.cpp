// quorumwatch: command-line client of the aggregator's JSON API.
#include <cctype>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qw/http_client.h"
#include "qw/options.h"

namespace {

// Exit codes (README "CLI").
constexpr int kOk = 0, kUnsafe = 1, kCannotTell = 2, kUsage = 3, kNoAnswer = 4;

std::string urlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// GET `path`: the parsed JSON, or nullopt after printing why (no answer, HTTP error, bad JSON).
std::optional<nlohmann::json> get(const std::string& server, const std::string& path,
                                  std::string* body, int* http_status) {
  auto r = qw::httpFetchSync(server + path, {.timeout = std::chrono::seconds(5)});
  if (!r.ok) {
    std::fprintf(stderr, "quorumwatch: no answer from the aggregator at %s: %s\n", server.c_str(),
                 r.error.c_str());
    return std::nullopt;
  }
  *http_status = r.status;
  *body = r.body;
  auto v = nlohmann::json::parse(r.body, nullptr, false);
  if (v.is_discarded()) {
    std::fprintf(stderr, "quorumwatch: the aggregator sent malformed JSON (HTTP %d)\n", r.status);
    return std::nullopt;
  }
  if (r.status != 200) {
    std::fprintf(stderr, "quorumwatch: %s (HTTP %d)\n", v.value("detail", r.body).c_str(),
                 r.status);
    return std::nullopt;
  }
  return v;
}

int status(const std::string& server, bool json) {
  std::string body;
  int code = 0;
  auto got = get(server, "/api/v1/cluster", &body, &code);
  if (!got) return kNoAnswer;
  if (json) {
    std::cout << body << "\n";
    return kOk;
  }
  const auto& v = *got;
  std::printf("cluster %s: %s\n", v.value("cluster_name", "").c_str(),
              v.value("state", "").c_str());
  std::printf("  failure tolerance %d (%d of %d voting members healthy, quorum %d), leader %s\n",
              v.value("failure_tolerance", 0), v.value("healthy_members", 0),
              v.value("voting_members", 0), v.value("quorum_size", 0),
              v.value("leader", "").empty() ? "none" : v.value("leader", "").c_str());
  for (const auto& r2 : v["reasons"]) std::printf("  - %s\n", r2.get<std::string>().c_str());
  for (const auto& w : v["warnings"])
    std::printf("  ! %s: %s (%s)\n", w.value("severity", "").c_str(),
                w.value("message", "").c_str(), w.value("action", "").c_str());
  std::printf("  %-14s %-14s %-17s %-8s %-7s %s\n", "MEMBER", "NODE", "ID", "HEALTHY", "LEADER",
              "REASONS");
  for (const auto& m : v["members"]) {
    std::string reasons;
    for (const auto& x : m["reasons"])
      reasons += (reasons.empty() ? "" : "; ") + x.get<std::string>();
    std::string name = m.value("name", "");
    if (m.value("is_learner", false)) name += " (learner)";
    std::printf("  %-14s %-14s %-17s %-8s %-7s %s\n", name.c_str(), m.value("node", "").c_str(),
                m.value("member_id", "").c_str(), m.value("healthy", false) ? "yes" : "NO",
                m.value("is_leader", false) ? "yes" : "", reasons.c_str());
  }
  if (v.contains("quorum_loss_probability")) {
    std::printf("  quorum-loss probability %.3g within %d h (model %s)\n",
                v.value("quorum_loss_probability", 0.0), v.value("horizon_seconds", 0) / 3600,
                v.value("risk_model_version", "").c_str());
    int shown = 0;
    for (const auto& f : v["factors"]) {
      if (shown++ == 3) break;
      std::string who = f.value("member", "");
      std::printf("  * x%g %s%s (%s)\n", f.value("multiplier", 1.0),
                  who.empty() ? "" : (who + ": ").c_str(), f.value("explanation", "").c_str(),
                  f.value("action", "").c_str());
    }
  }
  for (const auto& d : v["breaking_failure_domains"])
    std::printf("  ! losing failure domain %s alone loses quorum\n", d.get<std::string>().c_str());
  return kOk;
}

// whatif / can-stop: the aggregator's /api/v1/whatif for these nodes.
int whatif(const std::string& server, const std::vector<std::string>& nodes, bool json) {
  std::string list;
  for (const auto& n : nodes) list += (list.empty() ? "" : ",") + n;
  std::string body;
  int code = 0;
  auto got = get(server, "/api/v1/whatif?down=" + urlEncode(list), &body, &code);
  if (!got) return code == 404 || code == 400 ? kUsage : kNoAnswer;
  const auto& w = *got;
  std::string verdict = w.value("verdict", "");
  int rc = verdict == "SAFE" ? kOk : verdict == "UNSAFE" ? kUnsafe : kCannotTell;
  if (json) {
    std::cout << body << "\n";
    return rc;
  }
  std::printf("%s: stopping %s leaves failure tolerance %d (now %d), state %s\n",
              rc == kOk       ? "safe"
              : rc == kUnsafe ? "NOT safe"
                              : "cannot tell",
              list.c_str(), w.value("failure_tolerance_after", 0),
              w.value("failure_tolerance_now", 0), w.value("state_after", "").c_str());
  for (const auto& r : w["reasons"]) std::printf("  - %s\n", r.get<std::string>().c_str());
  for (const auto& a : w["advice"]) std::printf("  > %s\n", a.get<std::string>().c_str());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = "http://127.0.0.1:9479";
  bool json = false;
  std::vector<std::string> args;
  qw::Options opts(
      "quorumwatch",
      "Commands:\n"
      "  status             the cluster's quorum view, risk and its strongest factors\n"
      "  can-stop NODE      is it safe to stop NODE's etcd member now? (reasons, advice)\n"
      "  whatif NODE...     what stopping these nodes together would leave\n"
      "Exit codes: 0 ok / safe, 1 unsafe, 2 cannot tell (stale data), 3 usage error (unknown\n"
      "command or node), 4 no answer from the aggregator.");
  opts.addString("server", "Aggregator base URL.", &server);
  opts.addFlag("json", "Print the API's JSON instead of a table.", &json);
  opts.allowPositional(&args);
  if (auto err = opts.parse(argc, argv)) {
    std::fprintf(stderr, "quorumwatch: %s\n", err->c_str());
    return kUsage;
  }
  if (opts.helpRequested() || args.empty()) {
    std::cout << opts.helpText();
    return args.empty() && !opts.helpRequested() ? kUsage : kOk;
  }
  while (!server.empty() && server.back() == '/') server.pop_back();
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "status") return status(server, json);
  if (args[0] == "can-stop") {
    if (rest.size() != 1) {
      std::fprintf(stderr, "quorumwatch: can-stop takes one node name\n");
      return kUsage;
    }
    return whatif(server, rest, json);
  }
  if (args[0] == "whatif") {
    if (rest.empty()) {
      std::fprintf(stderr, "quorumwatch: whatif takes one or more node names\n");
      return kUsage;
    }
    return whatif(server, rest, json);
  }
  std::fprintf(stderr, "quorumwatch: unknown command '%s' (see --help)\n", args[0].c_str());
  return kUsage;
}
