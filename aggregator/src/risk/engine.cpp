#include "qw/aggregator/risk/engine.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace qw::aggregator::risk {

double probabilityMoreThan(int tolerance, const std::vector<double>& member_p,
                           const std::vector<int>& member_domain,
                           const std::vector<double>& domain_p) {
  if (tolerance < 0) return 1.0;
  const size_t n = member_p.size();
  if (static_cast<size_t>(tolerance) >= n) return 0.0;
  const size_t d = domain_p.size();
  double total = 0;
  std::vector<double> dist;
  // Every combination of domain states; within one, the members of the surviving domains fail
  // independently (a Poisson-binomial distribution, by dynamic programming).
  for (uint64_t mask = 0; mask < (uint64_t{1} << d); ++mask) {
    double p_mask = 1;
    for (size_t k = 0; k < d; ++k) p_mask *= (mask >> k & 1) ? domain_p[k] : 1 - domain_p[k];
    if (p_mask == 0) continue;
    size_t down = 0;
    dist.assign(n + 1, 0.0);
    dist[0] = 1;
    size_t seen = 0;
    for (size_t i = 0; i < n; ++i) {
      int dom = member_domain.size() > i ? member_domain[i] : -1;
      if (dom >= 0 && (mask >> dom & 1)) {
        ++down;
        continue;
      }
      ++seen;
      for (size_t c = seen; c > 0; --c)
        dist[c] = dist[c] * (1 - member_p[i]) + dist[c - 1] * member_p[i];
      dist[0] *= 1 - member_p[i];
    }
    // More than `tolerance` failed: down + c > tolerance.
    double tail = 0;
    for (size_t c = 0; c <= seen; ++c)
      if (down + c > static_cast<size_t>(tolerance)) tail += dist[c];
    total += p_mask * tail;
  }
  return std::clamp(total, 0.0, 1.0);
}

namespace {

// The value a rule reads for one node (nullopt: unknown, so the rule cannot match): a signal of
// the one derivation, or a quantity derived here from two signals or the recent history.
std::optional<double> value(const Rule& r, const NodeInput* n, const RecentHistory& recent,
                            const std::optional<SnapshotHealth>& snaps) {
  using D = Rule::Derived;
  constexpr int64_t kWeekMs = 7LL * 86400 * 1000;
  auto count = [&](const std::map<std::string, int>& m) -> std::optional<double> {
    if (!recent.known || !n) return std::nullopt;
    auto it = m.find(n->name);
    return it == m.end() ? 0.0 : static_cast<double>(it->second);
  };
  switch (r.derived) {
    case D::kLeaderChanges:
      if (n || !recent.known) return std::nullopt;  // cluster-wide only
      return static_cast<double>(recent.leader_changes);
    case D::kEtcdRestarts:
      return count(recent.etcd_restarts);
    case D::kNodeReboots:
      return count(recent.node_reboots);
    // Cluster-wide; unknown without a catalogue answer from any agent.
    case D::kNoVerifiedSnapshot:
      if (n || !snaps || !snaps->catalogue_known) return std::nullopt;
      return snaps->verified + snaps->copies_verified == 0 ? 1.0 : 0.0;
    case D::kSnapshotAgeHours:
      if (n || !snaps || !snaps->newest_verified_age_ms) return std::nullopt;
      return static_cast<double>(*snaps->newest_verified_age_ms) / 3.6e6;
    case D::kDrillFailed:
      if (n || !snaps || !snaps->drills_enabled) return std::nullopt;
      return snaps->last_drill_failed ? 1.0 : 0.0;
    case D::kNoPassedDrill:
      if (n || !snaps || !snaps->catalogue_known) return std::nullopt;
      return !snaps->last_passed_drill_age_ms || *snaps->last_passed_drill_age_ms >= kWeekMs ? 1.0
                                                                                             : 0.0;
    default:
      break;
  }
  if (!n) return std::nullopt;
  const auto& s = n->signals;
  switch (r.derived) {
    case D::kTemperatureHeadroom:
      if (s.cpu_temperature_celsius && s.temperature_trip_celsius)
        return *s.temperature_trip_celsius - *s.cpu_temperature_celsius;
      return std::nullopt;
    case D::kFsAvailRatio:
      if (s.fs_avail_bytes && s.fs_total_bytes && *s.fs_total_bytes > 0)
        return *s.fs_avail_bytes / *s.fs_total_bytes;
      return std::nullopt;
    default:
      return r.field ? s.*r.field : std::nullopt;
  }
}

bool matches(const Rule& r, double v) { return r.at_most ? v <= r.threshold : v >= r.threshold; }

struct Match {
  const Rule* rule;
  double value;
};

// The strongest matching rule per signal, for one node (null: the cluster-wide rules).
void matching(const Table& t, const NodeInput* n, const RecentHistory& recent,
              const std::optional<SnapshotHealth>& snaps, std::vector<Match>* out) {
  out->clear();
  for (const auto& r : t.rules) {
    auto v = value(r, n, recent, snaps);
    if (!v || !matches(r, *v)) continue;
    bool replaced = false;
    for (auto& m : *out)
      if (m.rule->field == r.field && m.rule->derived == r.derived) {
        if (r.multiplier > m.rule->multiplier) m = {&r, *v};
        replaced = true;
      }
    if (!replaced) out->push_back({&r, *v});
  }
}

qw::api::Factor factor(const std::string& member, const Rule& r, double value) {
  qw::api::Factor f;
  f.set_member(member);
  f.set_signal(r.signal);
  f.set_value(value);
  f.set_threshold(r.threshold);
  f.set_multiplier(r.multiplier);
  f.set_explanation(r.explanation);
  f.set_action(r.action);
  f.set_rule(r.id);
  return f;
}

}  // namespace

Assessment assess(const ClusterInput& in, const qw::api::ClusterView& view, const Table& table) {
  Assessment a;
  a.horizon_seconds = table.horizon_seconds;
  a.model_version = table.version;
  const double days = table.horizon_seconds / 86400.0;

  std::map<std::string, const NodeInput*> nodes;
  for (const auto& n : in.nodes) nodes[n.name] = &n;

  // Cluster-wide multipliers apply to every member's hazard.
  double cluster_mult = 1;
  std::vector<Match> found;
  matching(table, nullptr, in.recent, in.snapshots, &found);
  for (const auto& m : found) {
    cluster_mult *= m.rule->multiplier;
    a.factors.push_back(factor("", *m.rule, m.value));
  }

  std::vector<double> p;
  std::vector<int> dom_of;
  std::map<std::string, std::vector<size_t>> by_domain;  // healthy voters per named domain
  for (const auto& m : view.members()) {
    if (m.is_learner()) continue;  // learners never count
    auto it = nodes.find(m.node());
    const NodeInput* n = it == nodes.end() ? nullptr : it->second;
    double mult = cluster_mult;
    if (n && n->fresh) {
      matching(table, n, in.recent, in.snapshots, &found);
      for (const auto& f : found) {
        mult *= f.rule->multiplier;
        a.factors.push_back(factor(m.name(), *f.rule, f.value));
      }
    }
    if (!m.healthy()) continue;  // already counted as failed by the tolerance
    MemberRisk mr{m.name(), m.node(), m.failure_domain(), table.member_hazard_per_day * mult, 0};
    mr.p_fail = 1 - std::exp(-mr.hazard_per_day * days);
    if (!mr.domain.empty()) by_domain[mr.domain].push_back(a.members.size());
    p.push_back(mr.p_fail);
    a.members.push_back(std::move(mr));
  }

  const int tolerance = view.failure_tolerance();
  std::vector<double> domain_p;
  dom_of.assign(p.size(), -1);
  const double q_domain = 1 - std::exp(-table.domain_hazard_per_day * days);
  for (const auto& [name, idx] : by_domain) {
    if (static_cast<int>(idx.size()) > tolerance && tolerance >= 0)
      a.breaking_domains.push_back(name);
    if (idx.size() < 2) continue;  // a domain of one member: its failures are the member's
    for (size_t i : idx) dom_of[i] = static_cast<int>(domain_p.size());
    domain_p.push_back(q_domain);
  }
  std::stable_sort(a.factors.begin(), a.factors.end(),
                   [](const auto& x, const auto& y) { return x.multiplier() > y.multiplier(); });
  if (view.state() != qw::api::ClusterView::UNKNOWN && view.voting_members() > 0)
    a.probability = probabilityMoreThan(tolerance, p, dom_of, domain_p);
  return a;
}

}  // namespace qw::aggregator::risk
