// quorumwatch: command-line client of the aggregator's JSON API.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qw/http_client.h"
#include "qw/options.h"

namespace {

int status(const std::string& server, bool json) {
  auto r = qw::httpFetchSync(server + "/api/v1/cluster", {.timeout = std::chrono::seconds(5)});
  if (!r.ok) {
    std::fprintf(stderr, "quorumwatch: cannot reach the aggregator at %s: %s\n", server.c_str(),
                 r.error.c_str());
    return 2;
  }
  if (r.status != 200) {
    std::fprintf(stderr, "quorumwatch: aggregator answered HTTP %d: %s\n", r.status,
                 r.body.c_str());
    return 2;
  }
  if (json) {
    std::cout << r.body << "\n";
    return 0;
  }
  auto v = nlohmann::json::parse(r.body, nullptr, false);
  if (v.is_discarded()) {
    std::fprintf(stderr, "quorumwatch: aggregator sent malformed JSON\n");
    return 2;
  }
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
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = "http://127.0.0.1:9479";
  bool json = false;
  std::vector<std::string> args;
  qw::Options opts("quorumwatch",
                   "Commands:\n  status    the cluster's quorum view (exit 0 when it was fetched)");
  opts.addString("server", "Aggregator base URL.", &server);
  opts.addFlag("json", "Print the API's JSON instead of a table.", &json);
  opts.allowPositional(&args);
  if (auto err = opts.parse(argc, argv)) {
    std::fprintf(stderr, "quorumwatch: %s\n", err->c_str());
    return 2;
  }
  if (opts.helpRequested() || args.empty()) {
    std::cout << opts.helpText();
    return args.empty() && !opts.helpRequested() ? 2 : 0;
  }
  while (!server.empty() && server.back() == '/') server.pop_back();
  if (args[0] == "status") return status(server, json);
  std::fprintf(stderr, "quorumwatch: unknown command '%s' (see --help)\n", args[0].c_str());
  return 2;
}
