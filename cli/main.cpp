// quorumwatch: command-line client of the aggregator's API (README "CLI").
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "qw/options.h"
#include "qw/token.h"

int main(int argc, char** argv) {
  using namespace qw::cli;
  std::string server = "http://127.0.0.1:9479";
  bool json = false, wait = false, follow = false, end = false, no_color = false;
  std::string token_file, since, kind, node_filter, agg, duration, reason;
  int64_t limit = 50;
  std::vector<std::string> args, lost;
  qw::Options opts(
      "quorumwatch",
      "Commands:\n"
      "  status                 the cluster's state, failure tolerance, warnings, risk factors\n"
      "  can-stop NODE          is it safe to stop NODE's etcd member now? (reasons, advice)\n"
      "  whatif NODE...         what stopping these nodes together would leave\n"
      "  events [--since 1h] [--follow] [--kind K] [--node N]\n"
      "                         what happened, oldest first; --follow keeps printing new ones\n"
      "  snapshots              the snapshot files, the aggregator's copies and their drills\n"
      "  drill [--wait]         restore-drill the newest verified copy now (needs --token-file)\n"
      "  plan [--lost NODE]...  the recovery plan now, with the exact commands (runs none)\n"
      "  defrag                 the defragmentation plan, or why not now (runs none)\n"
      "  series NODE METRIC [--since 1h] [--agg p99]\n"
      "                         a terminal sparkline of one signal (names: /api/v1/metrics)\n"
      "  config NODE            what NODE's agent resolved, and from where\n"
      "  maintenance [NODE --for 30m [--reason TEXT] | NODE --end]\n"
      "                         planned stops: list, open (ends by itself) or end one early;\n"
      "                         opening and ending need --token-file\n"
      "Colour only on a terminal, never with NO_COLOR set or --no-color.\n"
      "Exit codes: 0 ok / safe; 1 unsafe or a problem (a cluster not HEALTHY, no verified\n"
      "snapshot, a failed drill, a refused request); 2 cannot tell (stale data, an agent not\n"
      "connected); 3 usage (unknown command, node or metric, a missing or wrong token);\n"
      "4 no answer from the aggregator (or one this CLI cannot read).");
  opts.addString("server", "Aggregator base URL.", &server);
  opts.addFlag("json", "Print the API's JSON unchanged (events --follow: one event per line).",
               &json);
  opts.addString("token-file", "File holding the aggregator's bearer token (drill, maintenance).",
                 &token_file);
  opts.addFlag("no-color", "No colour, also on a terminal.", &no_color);
  opts.addFlag("wait", "drill: wait for the result, showing its progress.", &wait);
  opts.addList("lost", "plan: a node whose etcd data will not come back (repeatable).", &lost);
  opts.addString("since", "events: from this long ago (1h) or this time; series: the span (1h).",
                 &since);
  opts.addFlag("follow", "events: keep printing new events until interrupted.", &follow);
  opts.addString("kind", "events: only this kind (MEMBER_UNREACHABLE, WARNING_RAISED, ...).",
                 &kind);
  opts.addString("node", "events: only this node's.", &node_filter);
  opts.addInt("limit", "events: at most this many (1..10000).", &limit, 1, 10000);
  opts.addString("agg", "series: avg, sum, min, max, last, p50, p90, p99 (default: the metric's).",
                 &agg);
  opts.addString("for", "maintenance: how long the node will be stopped (30m, 2h; at most 24h).",
                 &duration);
  opts.addString("reason", "maintenance: why, shown with the window.", &reason);
  opts.addFlag("end", "maintenance: end NODE's window now.", &end);
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
  std::string token;
  try {
    if (!token_file.empty()) token = qw::readTokenFile(token_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quorumwatch: %s\n", e.what());
    return kUsage;
  }
  Context c{Client(server, token), Style(!no_color && Style::detect(json)), json};
  const std::string& cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  auto usage = [](const char* what) {
    std::fprintf(stderr, "quorumwatch: %s (see --help)\n", what);
    return kUsage;
  };
  if (cmd == "status") return rest.empty() ? status(c) : usage("status takes no arguments");
  if (cmd == "can-stop")
    return rest.size() == 1 ? whatif(c, rest) : usage("can-stop takes one node name");
  if (cmd == "whatif")
    return !rest.empty() ? whatif(c, rest) : usage("whatif takes one or more node names");
  if (cmd == "events") return events(c, since, follow, kind, node_filter, static_cast<int>(limit));
  if (cmd == "snapshots") return snapshots(c);
  if (cmd == "drill") return drill(c, wait);
  if (cmd == "plan") {
    std::string path = "/api/v1/recovery/plan";
    for (size_t i = 0; i < lost.size(); ++i) path += (i == 0 ? "?lost=" : ",") + urlEncode(lost[i]);
    return plan(c, path);
  }
  if (cmd == "defrag") return plan(c, "/api/v1/recovery/defrag");
  if (cmd == "series")
    return rest.size() == 2 ? series(c, rest[0], rest[1], since.empty() ? "1h" : since, agg)
                            : usage("series takes a node and a metric name");
  if (cmd == "config")
    return rest.size() == 1 ? config(c, rest[0]) : usage("config takes one node name");
  if (cmd == "maintenance") {
    if (rest.empty()) return maintenance(c, "", "", "", false);
    if (rest.size() != 1) return usage("maintenance takes one node name");
    if (end == !duration.empty())
      return usage("maintenance NODE takes either --for DURATION or --end");
    return maintenance(c, rest[0], duration, reason, end);
  }
  std::fprintf(stderr, "quorumwatch: unknown command '%s' (see --help)\n", cmd.c_str());
  return kUsage;
}
