// quorumwatch: command-line client of the aggregator's JSON API.
#include <unistd.h>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "qw/http_client.h"
#include "qw/options.h"
#include "qw/token.h"

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

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", bytes / (1 << 20));
  return b;
}

std::string ageText(double seconds) {
  char b[32];
  if (seconds < 3600)
    std::snprintf(b, sizeof b, "%.0f min", seconds / 60);
  else
    std::snprintf(b, sizeof b, "%.1f h", seconds / 3600);
  return b;
}

// snapshots: every file the agents see, the aggregator's copies and the last drill. 0 when a
// verified snapshot exists, 1 when none does.
int snapshots(const std::string& server, bool json) {
  std::string body;
  int code = 0;
  auto got = get(server, "/api/v1/snapshots", &body, &code);
  if (!got) return kNoAnswer;
  const auto& l = *got;
  int rc = l.value("newest_verified", "").empty() ? kUnsafe : kOk;
  if (json) {
    std::cout << body << "\n";
    return rc;
  }
  if (rc == kOk)
    std::printf("newest verified: %s (%s old)%s\n", l.value("newest_verified", "").c_str(),
                ageText(l.value("newest_verified_age_seconds", 0.0)).c_str(),
                l.value("newest_drilled", "").empty()
                    ? ", not drilled"
                    : (", newest drilled: " + l.value("newest_drilled", "")).c_str());
  else
    std::printf("no verified snapshot\n");
  std::printf("  %-10s %-9s %-10s %-9s %-8s %-9s %s\n", "NODE", "STATUS", "SIZE", "AGE", "DRILLED",
              "SAME-DISK", "PATH / REASONS");
  for (const auto& x : l["snapshots"]) {
    std::string same = !x.contains("same_disk_as_data")      ? "?"
                       : x.value("same_disk_as_data", false) ? "yes"
                                                             : "no";
    std::printf("  %-10s %-9s %-10s %-9s %-8s %-9s %s\n", x.value("node", "").c_str(),
                x.value("status", "").c_str(), mib(x.value("size_bytes", 0.0)).c_str(),
                ageText(x.value("age_seconds", 0.0)).c_str(),
                x.value("drilled", false) ? "yes" : "no", same.c_str(),
                x.value("path", "").c_str());
    for (const auto& r : x["reasons"]) std::printf("      - %s\n", r.get<std::string>().c_str());
  }
  std::printf("copies in %s:\n", l.value("copy_dir", "").c_str());
  for (const auto& c : l["copies"]) {
    std::string drill = c.contains("last_drill") ? c["last_drill"].value("status", "") : "never";
    std::printf("  %-40s %-9s %-10s drill %s\n", c.value("file", "").c_str(),
                c.value("status", "").c_str(), mib(c.value("size_bytes", 0.0)).c_str(),
                drill.c_str());
  }
  if (!l.value("copy_error", "").empty())
    std::printf("  ! %s\n", l.value("copy_error", "").c_str());
  if (l.contains("schedule")) {
    const auto& s = l["schedule"];
    double every = s.value("every_seconds", 0.0);
    if (every <= 0)
      std::printf("snapshots taken by the aggregator: off\n");
    else
      std::printf("snapshots taken by the aggregator: every %s, next due %s\n",
                  ageText(every).c_str(), s.value("next_due", "").c_str());
    if (!s.value("not_possible", "").empty())
      std::printf("  ! no node can take one: %s\n", s.value("not_possible", "").c_str());
    if (s.contains("takes") && !s["takes"].empty()) {
      const auto& t = s["takes"][0];
      std::printf("  last: %s on %s at %s %s\n", t.value("status", "").c_str(),
                  t.value("node", "").c_str(), t.value("started_at", "").c_str(),
                  t.value("status", "") == "failed" ? t.value("error", "").c_str()
                                                    : t.value("path", "").c_str());
    }
  }
  return rc;
}

// drill [--wait]: starts a restore drill of the newest verified copy (the token is required);
// with --wait shows its progress and exits 0 when it passed, 1 when it failed.
int drill(const std::string& server, const std::string& token, bool wait, bool json) {
  qw::HttpRequest req;
  req.method = "POST";
  req.bearer_token = token;
  req.timeout = std::chrono::seconds(5);
  auto r = qw::httpFetchSync(server + "/api/v1/drills", req);
  if (!r.ok) {
    std::fprintf(stderr, "quorumwatch: no answer from the aggregator at %s: %s\n", server.c_str(),
                 r.error.c_str());
    return kNoAnswer;
  }
  auto v = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 202 || v.is_discarded()) {
    std::fprintf(stderr, "quorumwatch: drill not started: %s (HTTP %d)\n",
                 v.is_discarded() ? r.body.c_str() : v.value("detail", r.body).c_str(), r.status);
    return r.status == 401 || r.status == 403 ? kUsage : kUnsafe;
  }
  double id = v.value("id", 0.0);
  if (!wait) {
    if (json)
      std::cout << r.body << "\n";
    else
      std::printf("drill %.0f of %s started\n", id, v.value("copy", "").c_str());
    return kOk;
  }
  const bool tty = ::isatty(STDOUT_FILENO) && !json;
  std::string last_line;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::string body;
    int code = 0;
    auto list = get(server, "/api/v1/drills", &body, &code);
    if (!list) return kNoAnswer;
    const nlohmann::json* d = nullptr;
    for (const auto& x : (*list)["drills"])
      if (x.value("id", 0.0) == id) d = &x;
    if (!d) {
      std::fprintf(stderr, "quorumwatch: drill %.0f is no longer listed\n", id);
      return kCannotTell;
    }
    std::string st = d->value("status", "");
    if (st == "running") {
      if (json) continue;
      char line[128];
      std::snprintf(line, sizeof line, "drill %.0f: %s %.0f%%", id, d->value("phase", "").c_str(),
                    d->value("percent", 0.0));
      if (line != last_line) {
        if (tty)
          std::printf("\r%-60s", line);
        else
          std::printf("%s\n", line);
        std::fflush(stdout);
        last_line = line;
      }
      continue;
    }
    if (tty) std::printf("\n");
    if (json) {
      std::cout << d->dump() << "\n";
    } else if (st == "passed") {
      std::printf(
          "drill %.0f passed: %s restored with %s %s in %.0f ms and answering after "
          "%.0f ms more; revision %.0f, %.0f keys as our reader found%s\n",
          id, d->value("copy", "").c_str(), d->value("tool", "").c_str(),
          d->value("etcd_version", "").c_str(), d->value("restore_ms", 0.0),
          d->value("start_ms", 0.0), d->value("revision", 0.0), d->value("live_keys", 0.0),
          d->value("version_matches", false) ? "" : " (etcd's version is not the snapshot's)");
    } else {
      std::printf("drill %.0f FAILED: %s\n", id, d->value("error", "").c_str());
    }
    return st == "passed" ? kOk : kUnsafe;
  }
}

// plan [--lost NODE]...: the recovery plan for the cluster now, step by step with the exact
// commands. 0 when there is nothing to do, 1 when there is (or it is not planned), 2 when
// nothing is known, 3 for a node the aggregator does not know.
// defrag: the same for GET /api/v1/recovery/defrag (0 when it is not needed).
int plan(const std::string& server, const std::string& path, bool json) {
  std::string body;
  int code = 0;
  auto got = get(server, path, &body, &code);
  if (!got) return code == 400 ? kUsage : kNoAnswer;
  const auto& p = *got;
  std::string scenario = p.value("scenario", "");
  int rc = scenario == "HEALTHY" || scenario == "DEFRAG_NOT_NEEDED" ? kOk
           : scenario == "UNKNOWN"                                  ? kCannotTell
                                                                    : kUnsafe;
  if (json) {
    std::cout << body << "\n";
    return rc;
  }
  std::printf("scenario: %s (cluster %s)\n%s\n", scenario.c_str(),
              p.value("cluster_state", "").c_str(), p.value("summary", "").c_str());
  for (const auto& g : p["guard_rails"]) std::printf("! %s\n", g.get<std::string>().c_str());
  if (!p.value("lost_writes", "").empty())
    std::printf("LOST: %s\n", p.value("lost_writes", "").c_str());
  if (!p["preconditions"].empty()) std::printf("checked now:\n");
  for (const auto& c : p["preconditions"]) std::printf("  - %s\n", c.get<std::string>().c_str());
  if (!p["steps"].empty()) std::printf("steps (quorumwatch runs none of them):\n");
  int n = 0;
  for (const auto& s : p["steps"]) {
    std::string node = s.value("node", "");
    std::printf("  %d. %s%s%s\n", ++n, node.empty() ? "" : ("[" + node + "] ").c_str(),
                s.value("why", "").c_str(),
                s.value("destructive", false) ? " (changes the cluster)" : "");
    if (!s.value("command", "").empty()) std::printf("     $ %s\n", s.value("command", "").c_str());
    if (!s.value("check", "").empty())
      std::printf("     check until it passes: %s\n", s.value("check", "").c_str());
    if (s.contains("expected_stall_seconds"))
      std::printf("     expected stall: %.0f s\n", s["expected_stall_seconds"].get<double>());
  }
  if (!p["refusals"].empty()) std::printf("do not, now:\n");
  for (const auto& r : p["refusals"]) std::printf("  - %s\n", r.get<std::string>().c_str());
  if (!p.value("snapshot", "").empty())
    std::printf("snapshot to rely on: %s\n", p.value("snapshot", "").c_str());
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
      "  snapshots          the snapshot files, the aggregator's copies and their drills\n"
      "  drill [--wait]     restore-drill the newest verified copy now (needs --token-file)\n"
      "  plan [--lost NODE] the recovery plan now, with the exact commands (runs none)\n"
      "  defrag             the defragmentation plan, or why not now (runs none)\n"
      "Exit codes: 0 ok / safe, 1 unsafe or a problem (no verified snapshot, a failed drill),\n"
      "2 cannot tell (stale data), 3 usage error (unknown\n"
      "command or node), 4 no answer from the aggregator.");
  opts.addString("server", "Aggregator base URL.", &server);
  opts.addFlag("json", "Print the API's JSON instead of a table.", &json);
  std::string token_file;
  bool wait = false;
  opts.addString("token-file", "File holding the aggregator's bearer token (drill).", &token_file);
  opts.addFlag("wait", "drill: wait for the result, showing its progress.", &wait);
  std::vector<std::string> lost;
  opts.addList("lost", "plan: a node whose etcd data will not come back (repeatable).", &lost);
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
  if (args[0] == "snapshots") return snapshots(server, json);
  if (args[0] == "drill") {
    std::string token;
    try {
      if (!token_file.empty()) token = qw::readTokenFile(token_file);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "quorumwatch: %s\n", e.what());
      return kUsage;
    }
    return drill(server, token, wait, json);
  }
  if (args[0] == "plan") {
    std::string path = "/api/v1/recovery/plan";
    for (size_t i = 0; i < lost.size(); ++i) path += (i == 0 ? "?lost=" : ",") + lost[i];
    return plan(server, path, json);
  }
  if (args[0] == "defrag") return plan(server, "/api/v1/recovery/defrag", json);
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
