// status, can-stop/whatif, plan/defrag, events, series, config, maintenance.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <thread>

#include "api.pb.h"
#include "commands.h"
#include "qw/options.h"
#include "qw/time_util.h"

namespace qw::cli {

namespace {

double nowSeconds() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() / 1000.0;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string minutesLeft(double seconds) {
  return seconds < 120 ? fmt("%.0f s", seconds) : fmt("%.0f min", seconds / 60);
}

}  // namespace

std::optional<std::string> sinceParam(const std::string& text, double now_seconds) {
  if (text.empty()) return std::string();
  if (auto t = qw::parseTimeArg(text)) return fmt("%.3f", *t / 1000.0);
  if (auto d = qw::parseDuration(text); d && d->count() > 0)
    return fmt("%.3f", now_seconds - d->count() / 1000.0);
  return std::nullopt;
}

int status(const Context& c) {
  qw::api::ClusterView v;
  Answer a;
  if (auto rc = c.client.call("GET", "/api/v1/cluster", &v, &a)) return *rc;
  using S = qw::api::ClusterView;
  int rc = v.state() == S::HEALTHY ? kOk : v.state() == S::UNKNOWN ? kCannotTell : kUnsafe;
  if (c.json) {
    std::cout << a.body << "\n";
    return rc;
  }
  const auto& st = c.style;
  std::printf("cluster %s: %s, failure tolerance %s\n", v.cluster_name().c_str(),
              st.state(S::State_Name(v.state())).c_str(),
              st.bold(std::to_string(v.failure_tolerance())).c_str());
  std::printf("  %d of %d voting members healthy (quorum %d), leader %s%s\n", v.healthy_members(),
              v.voting_members(), v.quorum_size(), v.leader().empty() ? "none" : v.leader().c_str(),
              v.updated_at().empty() ? "" : (", data of " + v.updated_at()).c_str());
  for (const auto& r : v.reasons()) std::printf("  - %s\n", r.c_str());
  for (const auto& w : v.warnings())
    std::printf("  ! %s %s: %s (%s)%s\n", st.state(qw::api::Severity_Name(w.severity())).c_str(),
                qw::api::Warning::Code_Name(w.code()).c_str(), w.message().c_str(),
                w.action().c_str(), w.expected() ? " [expected: planned maintenance]" : "");
  for (const auto& m : v.maintenance())
    std::printf("  maintenance: %s until %s (%s left)%s\n", m.node().c_str(), m.until().c_str(),
                minutesLeft(m.remaining_seconds()).c_str(),
                m.reason().empty() ? "" : (": " + m.reason()).c_str());
  std::printf("  %-14s %-14s %-17s %-8s %-7s %s\n", "MEMBER", "NODE", "ID", "HEALTHY", "LEADER",
              "REASONS");
  for (const auto& m : v.members()) {
    std::string reasons;
    for (const auto& x : m.reasons()) reasons += (reasons.empty() ? "" : "; ") + x;
    std::string name = m.name() + (m.is_learner() ? " (learner)" : "");
    // Padded before colouring, so the columns stay aligned.
    char healthy[16];
    std::snprintf(healthy, sizeof healthy, "%-8s", m.healthy() ? "yes" : "NO");
    std::printf("  %-14s %-14s %-17s %s %-7s %s\n", name.c_str(), m.node().c_str(),
                m.member_id().c_str(), m.healthy() ? healthy : st.red(healthy).c_str(),
                m.is_leader() ? "yes" : "", reasons.c_str());
  }
  if (v.has_quorum_loss_probability()) {
    std::printf("  quorum-loss probability %.3g within %u h (model %s)\n",
                v.quorum_loss_probability(), v.horizon_seconds() / 3600,
                v.risk_model_version().c_str());
    int shown = 0;
    for (const auto& f : v.factors()) {
      if (shown++ == 3) break;
      std::printf("  * x%g %s%s (%s)\n", f.multiplier(),
                  f.member().empty() ? "" : (f.member() + ": ").c_str(), f.explanation().c_str(),
                  f.action().c_str());
    }
  }
  for (const auto& d : v.breaking_failure_domains())
    std::printf("  ! losing failure domain %s alone loses quorum\n", d.c_str());
  return rc;
}

int whatif(const Context& c, const std::vector<std::string>& nodes) {
  std::string list;
  for (const auto& n : nodes) list += (list.empty() ? "" : ",") + n;
  qw::api::WhatIf w;
  Answer a;
  if (auto rc = c.client.call("GET", "/api/v1/whatif?down=" + urlEncode(list), &w, &a)) return *rc;
  using W = qw::api::WhatIf;
  int rc = w.verdict() == W::SAFE ? kOk : w.verdict() == W::UNSAFE ? kUnsafe : kCannotTell;
  if (c.json) {
    std::cout << a.body << "\n";
    return rc;
  }
  std::string verdict = rc == kOk       ? c.style.green("safe")
                        : rc == kUnsafe ? c.style.red("NOT safe")
                                        : c.style.yellow("cannot tell");
  std::printf("%s: stopping %s leaves failure tolerance %d (now %d), state %s\n", verdict.c_str(),
              list.c_str(), w.failure_tolerance_after(), w.failure_tolerance_now(),
              qw::api::ClusterView::State_Name(w.state_after()).c_str());
  for (const auto& r : w.reasons()) std::printf("  - %s\n", r.c_str());
  for (const auto& x : w.advice()) std::printf("  > %s\n", x.c_str());
  return rc;
}

int plan(const Context& c, const std::string& path) {
  qw::api::RecoveryPlan p;
  Answer a;
  if (auto rc = c.client.call("GET", path, &p, &a)) return *rc;
  const std::string& scenario = p.scenario();
  int rc = scenario == "HEALTHY" || scenario == "DEFRAG_NOT_NEEDED" ? kOk
           : scenario == "UNKNOWN"                                  ? kCannotTell
                                                                    : kUnsafe;
  if (c.json) {
    std::cout << a.body << "\n";
    return rc;
  }
  std::printf("scenario: %s (cluster %s)\n%s\n", c.style.bold(scenario).c_str(),
              p.cluster_state().c_str(), p.summary().c_str());
  for (const auto& g : p.guard_rails()) std::printf("%s %s\n", c.style.red("!").c_str(), g.c_str());
  if (!p.lost_writes().empty()) std::printf("LOST: %s\n", p.lost_writes().c_str());
  if (!p.preconditions().empty()) std::printf("checked now:\n");
  for (const auto& x : p.preconditions()) std::printf("  - %s\n", x.c_str());
  if (!p.steps().empty()) std::printf("steps (quorumwatch runs none of them):\n");
  int n = 0;
  for (const auto& s : p.steps()) {
    std::printf("  %d. %s%s%s\n", ++n, s.node().empty() ? "" : ("[" + s.node() + "] ").c_str(),
                s.why().c_str(), s.destructive() ? " (changes the cluster)" : "");
    if (!s.command().empty()) std::printf("     $ %s\n", s.command().c_str());
    if (!s.check().empty()) std::printf("     check until it passes: %s\n", s.check().c_str());
    if (s.has_expected_stall_seconds())
      std::printf("     expected stall: %.0f s\n", s.expected_stall_seconds());
  }
  if (!p.refusals().empty()) std::printf("do not, now:\n");
  for (const auto& r : p.refusals()) std::printf("  - %s\n", r.c_str());
  if (!p.snapshot().empty()) std::printf("snapshot to rely on: %s\n", p.snapshot().c_str());
  return rc;
}

int events(const Context& c, const std::string& since, bool follow, const std::string& kind,
           const std::string& node, int limit) {
  auto from = sinceParam(since, nowSeconds());
  if (!from) {
    std::fprintf(stderr,
                 "quorumwatch: --since takes a duration (1h, 30m) or a time (RFC 3339, "
                 "unix seconds), not '%s'\n",
                 since.c_str());
    return kUsage;
  }
  std::string filter = "&limit=" + std::to_string(limit);
  if (!kind.empty()) filter += "&kind=" + urlEncode(kind);
  if (!node.empty()) filter += "&node=" + urlEncode(node);
  double last_id = -1, last_ts = 0;
  std::string since_q = from->empty() ? "" : "since=" + *from;
  for (;;) {
    qw::api::EventList l;
    Answer a;
    if (auto rc = c.client.call("GET", "/api/v1/events?" + since_q + filter, &l, &a)) return *rc;
    if (c.json && !follow) {
      std::cout << a.body << "\n";
      return kOk;
    }
    for (const auto& e : l.events()) {
      if (e.id() <= last_id) continue;
      last_id = e.id();
      last_ts = e.ts();
      if (c.json) {  // --follow --json: one event per line
        std::cout << toJson(e) << "\n";
        continue;
      }
      std::string sev = qw::api::Severity_Name(e.severity());
      char pad[16];
      std::snprintf(pad, sizeof pad, "%-8s", sev.c_str());
      std::printf("%s %s %-22s %-10s %s\n", e.at().c_str(), c.style.stateAs(sev, pad).c_str(),
                  qw::api::Event::Kind_Name(e.kind()).c_str(),
                  e.node().empty() ? "-" : e.node().c_str(), e.message().c_str());
    }
    std::fflush(stdout);
    if (!follow) return kOk;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (last_ts > 0) since_q = "since=" + fmt("%.0f", std::floor(last_ts));
  }
}

int series(const Context& c, const std::string& node, const std::string& metric,
           const std::string& since, const std::string& agg) {
  auto span = qw::parseDuration(since);
  if (!span || span->count() < 60'000) {
    std::fprintf(stderr,
                 "quorumwatch: --since takes a duration of a minute or more (1h, 6h), "
                 "not '%s'\n",
                 since.c_str());
    return kUsage;
  }
  constexpr int kColumns = 60;
  const double span_s = span->count() / 1000.0;
  const double step = std::max(1.0, std::ceil(span_s / kColumns));
  const double from = std::floor((nowSeconds() - span_s) / step) * step;
  std::string path = "/api/v1/nodes/" + urlEncode(node) + "/series?metric=" + urlEncode(metric) +
                     "&from=" + fmt("%.0f", from) + "&step=" + fmt("%.0f", step);
  if (!agg.empty()) path += "&agg=" + urlEncode(agg);
  qw::api::Series s;
  Answer a;
  if (auto rc = c.client.call("GET", path, &s, &a)) return *rc;
  if (c.json) {
    std::cout << a.body << "\n";
    return s.points().empty() ? kCannotTell : kOk;
  }
  qw::api::MetricList metrics;
  std::string unit;
  if (!c.client.call("GET", "/api/v1/metrics", &metrics))
    for (const auto& m : metrics.metrics())
      if (m.name() == metric) unit = m.unit();
  int columns = static_cast<int>(std::ceil((s.to() - s.from()) / s.step_seconds()));
  columns = std::clamp(columns, 1, kColumns + 1);
  std::vector<double> values(columns, NAN);
  double lo = INFINITY, hi = -INFINITY, last = NAN;
  for (const auto& p : s.points()) {
    int i = static_cast<int>((p.ts() - s.from()) / s.step_seconds());
    if (i < 0 || i >= columns) continue;
    values[i] = p.value();
    lo = std::min(lo, p.value());
    hi = std::max(hi, p.value());
    last = p.value();
  }
  std::printf("%s %s (%s, %.0f s steps, last %s)%s\n", node.c_str(), metric.c_str(),
              s.agg().c_str(), s.step_seconds(), since.c_str(),
              unit.empty() ? "" : (" in " + unit).c_str());
  if (s.points().empty()) {
    std::printf("  no points in this window\n");
    return kCannotTell;
  }
  std::printf("  %s\n  min %.4g  max %.4g  last %.4g  (%d points)\n", sparkline(values).c_str(), lo,
              hi, last, s.points_size());
  return kOk;
}

int config(const Context& c, const std::string& node) {
  qw::api::NodeConfig cfg;
  Answer a;
  if (auto rc = c.client.call("GET", "/api/v1/nodes/" + urlEncode(node) + "/config", &cfg, &a))
    return *rc;
  if (c.json) {
    std::cout << a.body << "\n";
    return kOk;
  }
  std::printf("%s: agent %s, flavor %s (%s)\n", cfg.node().c_str(), cfg.agent_version().c_str(),
              cfg.flavor().c_str(), cfg.flavor_reason().c_str());
  size_t width = 0;
  for (const auto& e : cfg.entries()) width = std::max(width, e.key().size());
  for (const auto& e : cfg.entries())
    std::printf("  %-*s %s  %s\n", static_cast<int>(width), e.key().c_str(), e.value().c_str(),
                c.style.dim("(" + e.source() + ")").c_str());
  for (const auto& u : cfg.unsupported()) std::printf("  unsupported here: %s\n", u.c_str());
  return kOk;
}

int maintenance(const Context& c, const std::string& node, const std::string& duration,
                const std::string& reason, bool end) {
  if (node.empty()) {
    qw::api::MaintenanceList l;
    Answer a;
    if (auto rc = c.client.call("GET", "/api/v1/maintenance", &l, &a)) return *rc;
    if (c.json) {
      std::cout << a.body << "\n";
      return kOk;
    }
    if (l.windows().empty()) std::printf("no planned maintenance\n");
    for (const auto& w : l.windows())
      std::printf("%s: planned maintenance until %s (%s left)%s\n", w.node().c_str(),
                  w.until().c_str(), minutesLeft(w.remaining_seconds()).c_str(),
                  w.reason().empty() ? "" : (": " + w.reason()).c_str());
    return kOk;
  }
  if (!c.client.hasToken()) {
    std::fprintf(stderr,
                 "quorumwatch: maintenance %s needs the aggregator's token "
                 "(--token-file FILE)\n",
                 end ? "--end" : "--for");
    return kUsage;
  }
  Answer a;
  if (end) {
    qw::api::MaintenanceList l;
    if (auto rc = c.client.call("DELETE", "/api/v1/maintenance/" + urlEncode(node), &l, &a))
      return *rc;
    if (c.json)
      std::cout << a.body << "\n";
    else
      std::printf("%s: planned maintenance ended\n", node.c_str());
    return kOk;
  }
  qw::api::Maintenance m;
  std::string path = "/api/v1/maintenance/" + urlEncode(node) + "?for=" + urlEncode(duration);
  if (!reason.empty()) path += "&reason=" + urlEncode(reason);
  if (auto rc = c.client.call("POST", path, &m, &a)) return *rc;
  if (c.json) {
    std::cout << a.body << "\n";
    return kOk;
  }
  std::printf(
      "%s: planned maintenance until %s; its warnings show as expected, can-stop counts "
      "it as down, and it ends by itself\n",
      m.node().c_str(), m.until().c_str());
  return kOk;
}

}  // namespace qw::cli
