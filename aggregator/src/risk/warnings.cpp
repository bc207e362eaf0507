#include "qw/aggregator/risk/warnings.h"

#include "qw/aggregator/risk/advice.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "qw/fs_util.h"
#include "qw/time_util.h"

namespace qw::aggregator::risk {

namespace {

using W = qw::api::Warning;

std::string num(double v, const char* unit = "") {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g%s", v, unit);
  return buf;
}

std::string ms(double seconds) { return num(seconds * 1000, " ms"); }

struct Conditions {
  const Table& table;
  std::vector<W>* out;

  // Adds `code` when the table has a rule for it; severity: the rule's unless given.
  void add(W::Code code, const std::string& member, const std::string& node, std::string message,
           std::optional<qw::api::Severity> severity = std::nullopt) const {
    const auto* rule = table.warning(code);
    if (!rule) return;
    W w;
    w.set_code(code);
    w.set_severity(severity ? *severity : rule->severity);
    w.set_member(member);
    w.set_node(node);
    w.set_message(std::move(message));
    w.set_action(rule->action);
    out->push_back(std::move(w));
  }
  const WarningRule* rule(W::Code code) const { return table.warning(code); }
};

}  // namespace

bool isRecoverabilityWarning(qw::api::Warning::Code code) {
  return code == W::NO_VERIFIED_SNAPSHOT || code == W::SNAPSHOT_STALE ||
         code == W::SNAPSHOT_SAME_DISK || code == W::DRILL_STALE || code == W::DRILL_FAILED;
}

namespace {

std::string hours(int64_t ms) { return num(static_cast<double>(ms) / 3.6e6, " h"); }

void snapshotConditions(const Conditions& c, const SnapshotHealth& h) {
  if (!h.catalogue_known) return;
  if (h.verified == 0 && h.copies_verified == 0) {
    c.add(W::NO_VERIFIED_SNAPSHOT, "", "",
          "no verified snapshot on any node nor in the "
          "aggregator's copies");
    return;
  }
  if (const auto* r = c.rule(W::SNAPSHOT_STALE);
      r && h.newest_verified_age_ms && *h.newest_verified_age_ms > r->threshold * 1000)
    c.add(W::SNAPSHOT_STALE, "", "",
          "the newest verified snapshot is " + hours(*h.newest_verified_age_ms) +
              " old (warns past " + hours(static_cast<int64_t>(r->threshold * 1000)) + ")");
  if (h.all_on_data_disk)
    c.add(W::SNAPSHOT_SAME_DISK, "", "",
          "every verified snapshot (" + std::to_string(h.verified) +
              ") lives on the disk of the etcd data it protects, and the aggregator holds no "
              "verified copy");
  if (h.last_drill_failed)
    c.add(W::DRILL_FAILED, "", "",
          "the last restore drill (" + h.last_drill_copy + ") failed: " + h.last_drill_error);
  if (const auto* r = c.rule(W::DRILL_STALE);
      r && (!h.last_passed_drill_age_ms || *h.last_passed_drill_age_ms > r->threshold * 1000))
    c.add(
        W::DRILL_STALE, "", "",
        h.last_passed_drill_age_ms
            ? "the last restore drill that passed is " + hours(*h.last_passed_drill_age_ms) + " old"
            : std::string(h.drills_enabled ? "no restore drill has passed yet"
                                           : "no restore drill has passed: drills are off "
                                             "(no copy store or no --etcd-bin-dir)"));
}

// etcd versions with known data bugs (ETCD_REFERENCE.md s11). WARNING only where the bug needs no
// trigger; a bug that needs one (a defrag) and an end-of-life line are INFO advisories.
void versionAdvice(const Conditions& c, const std::string& member, const std::string& node,
                   const std::string& version) {
  auto v = parseEtcdVersion(version);
  if (!v) return;
  std::string who = member + " runs etcd " + version + ": ";
  if (v->major < 3 || (v->major == 3 && v->minor < 4)) {
    c.add(W::ETCD_VERSION, member, node, who + "a release line without fixes for years",
          qw::api::WARNING);
  } else if (v->major == 3 && v->minor == 5 && v->patch <= 2) {
    c.add(W::ETCD_VERSION, member, node,
          who + "3.5.0-3.5.2 can leave members with inconsistent data (fixed in 3.5.3)",
          qw::api::WARNING);
  } else if (v->major == 3 && v->minor == 5 && v->patch < 23) {
    c.add(W::ETCD_VERSION, member, node,
          who + "a defragmentation can corrupt a member below 3.5.23" +
              (v->patch < 6 ? " and make revisions inconsistent below 3.5.6" : "") +
              ": defragment only with every member healthy, one at a time",
          qw::api::INFO);
  } else if (v->major == 3 && v->minor == 4) {
    c.add(W::ETCD_VERSION, member, node,
          who + "3.4 is end of life (its last release is 3.4.45)" +
              (v->patch < 38 ? "; a defragmentation can corrupt a member below 3.4.38" : ""),
          qw::api::INFO);
  }
}

void memberConditions(const Conditions& c, const qw::api::MemberView& m, const NodeInput& n) {
  const auto& s = n.signals;
  const std::string& who = m.name();
  const std::string& node = n.name;
  if (n.etcd.reachable() && !n.etcd.has_leader())
    c.add(W::NO_LEADER, who, node, who + " is reachable but sees no leader");
  auto over = [&](W::Code code, const std::optional<double>& v, const std::string& what) {
    const auto* r = c.rule(code);
    if (!r || !v || *v < r->threshold) return;
    bool critical = r->critical_threshold > 0 && *v >= r->critical_threshold;
    c.add(code, who, node,
          who + ": " + what + " " + ms(*v) + " (warns at " + ms(r->threshold) +
              (r->critical_threshold > 0 ? ", critical at " + ms(r->critical_threshold) : "") + ")",
          critical ? std::optional(qw::api::CRITICAL) : std::nullopt);
  };
  over(W::HIGH_FSYNC, s.wal_fsync_p99_seconds, "WAL fsync p99");
  over(W::HIGH_COMMIT, s.backend_commit_p99_seconds, "backend commit p99");
  over(W::PEER_RTT_SLOW, s.peer_rtt_p99_seconds, "slowest peer round trip p99");
  if (const auto* r = c.rule(W::FAILED_PROPOSALS);
      r && s.proposals_failed && s.metrics_interval_seconds && *s.metrics_interval_seconds > 0) {
    double rate = *s.proposals_failed / *s.metrics_interval_seconds;
    if (rate >= r->threshold && *s.proposals_failed > 0)
      c.add(W::FAILED_PROPOSALS, who, node,
            who + ": " + num(*s.proposals_failed) + " raft proposals failed in the last " +
                num(*s.metrics_interval_seconds, " s"));
  }
  if (const auto* r = c.rule(W::DB_QUOTA_LOW);
      r && s.db_quota_used_ratio && *s.db_quota_used_ratio >= r->threshold) {
    bool critical = r->critical_threshold > 0 && *s.db_quota_used_ratio >= r->critical_threshold;
    c.add(W::DB_QUOTA_LOW, who, node,
          who + ": the database uses " + num(*s.db_quota_used_ratio * 100, "%") + " of its quota",
          critical ? std::optional(qw::api::CRITICAL) : std::nullopt);
  }
  if (const auto* r = c.rule(W::DB_FRAGMENTED);
      r && s.db_size_bytes && s.db_size_in_use_bytes && *s.db_size_bytes > 0 &&
      *s.db_size_in_use_bytes >= 100.0 * (1 << 20) &&
      *s.db_size_in_use_bytes / *s.db_size_bytes < r->threshold)
    c.add(W::DB_FRAGMENTED, who, node,
          who + ": " + num(*s.db_size_in_use_bytes / (1 << 20), " MiB") + " in use of a " +
              num(*s.db_size_bytes / (1 << 20), " MiB") + " database file");
  if (const auto* r = c.rule(W::DISK_NEARLY_FULL);
      r && s.fs_avail_bytes && s.fs_total_bytes && *s.fs_total_bytes > 0) {
    double ratio = *s.fs_avail_bytes / *s.fs_total_bytes;
    if (ratio <= r->threshold) {
      bool critical = r->critical_threshold > 0 && ratio <= r->critical_threshold;
      c.add(W::DISK_NEARLY_FULL, who, node,
            who + ": " + num(ratio * 100, "%") + " free (" +
                num(*s.fs_avail_bytes / (1 << 20), " MiB") + ") on the filesystem of " +
                (n.etcd_data_dir.empty() ? "etcd's data dir" : n.etcd_data_dir),
            critical ? std::optional(qw::api::CRITICAL) : std::nullopt);
    }
  }
  if (const auto* r = c.rule(W::FSYNC_VS_HEARTBEAT);
      r && s.wal_fsync_p99_seconds && n.heartbeat_seconds && *n.heartbeat_seconds > 0 &&
      *s.wal_fsync_p99_seconds >= r->threshold * *n.heartbeat_seconds)
    c.add(W::FSYNC_VS_HEARTBEAT, who, node,
          who + ": WAL fsync p99 " + ms(*s.wal_fsync_p99_seconds) + " against a " +
              ms(*n.heartbeat_seconds) + " heartbeat interval: a leader on this disk misses " +
              "heartbeats and elections follow");
  if (n.clock_synced && !*n.clock_synced)
    c.add(W::CLOCK_UNSYNCED, who, node, "the clock of " + node + " is not synchronised");
  if (s.under_voltage && *s.under_voltage >= 1)
    c.add(W::UNDER_VOLTAGE, who, node, node + " reports under-voltage now");
  if (s.throttled && *s.throttled >= 1)
    c.add(W::THROTTLED, who, node, node + "'s SoC is throttled now");
  if (const auto* r = c.rule(W::TEMPERATURE_NEAR_TRIP);
      r && s.cpu_temperature_celsius && s.temperature_trip_celsius &&
      *s.temperature_trip_celsius - *s.cpu_temperature_celsius <= r->threshold)
    c.add(W::TEMPERATURE_NEAR_TRIP, who, node,
          node + ": CPU at " + num(*s.cpu_temperature_celsius, " °C") + ", trip point at " +
              num(*s.temperature_trip_celsius, " °C"));
  if (n.etcd.reachable() && !n.etcd.version().empty())
    versionAdvice(c, who, node, n.etcd.version());
}

}  // namespace

std::optional<EtcdVersion> parseEtcdVersion(const std::string& s) {
  EtcdVersion v;
  int* parts[] = {&v.major, &v.minor, &v.patch};
  size_t i = 0, part = 0;
  if (i < s.size() && s[i] == 'v') ++i;
  if (i >= s.size() || s[i] < '0' || s[i] > '9') return std::nullopt;
  while (i < s.size() && part < 3) {
    int x = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && x < 100000) {
      x = x * 10 + (s[i++] - '0');
      digits = true;
    }
    if (!digits) break;
    *parts[part++] = x;
    if (i < s.size() && s[i] == '.')
      ++i;
    else
      break;
  }
  return v;
}

std::vector<W> warningConditions(const ClusterInput& in, const qw::api::ClusterView& view,
                                 const Table& table) {
  std::vector<W> out;
  Conditions c{table, &out};
  std::map<std::string, const NodeInput*> by_node;
  for (const auto& n : in.nodes) by_node[n.name] = &n;
  std::map<std::string, std::string> member_name;  // hex id -> name
  for (const auto& m : view.members()) member_name[m.member_id()] = m.name();

  for (const auto& [member, alarm] : in.alarms) {
    if (alarm == "NOSPACE") {
      if (std::none_of(out.begin(), out.end(), [](const W& w) { return w.code() == W::NOSPACE; }))
        c.add(W::NOSPACE, "", "",
              "NOSPACE alarm: etcd refuses writes cluster-wide (database reached its quota)");
    } else if (alarm == "CORRUPT") {
      auto it = member_name.find(hex64(member));
      std::string who = it != member_name.end() ? it->second : hex64(member);
      c.add(W::CORRUPT, who, "",
            "CORRUPT alarm on " + who +
                ": its data differs from the others' and cannot be "
                "trusted");
    }
  }

  const bool can_tell = view.state() != qw::api::ClusterView::UNKNOWN;
  if (can_tell && view.failure_tolerance() < 0)
    c.add(W::INSUFFICIENT_MEMBERS, "", "",
          std::to_string(view.healthy_members()) + " of " + std::to_string(view.voting_members()) +
              " voting members healthy; a quorum needs " + std::to_string(view.quorum_size()));
  if (view.voting_members() > 0 && view.voting_members() % 2 == 0)
    c.add(W::EVEN_MEMBERS, "", "",
          std::to_string(view.voting_members()) + " voting members: " +
              (view.voting_members() == 2
                   ? "a 2-member cluster tolerates no failure, like 1"
                   : "tolerates " + std::to_string(view.voting_members() / 2 - 1) +
                         " failures, as many as " + std::to_string(view.voting_members() - 1) +
                         " members would"));
  if (const auto* r = c.rule(W::LEADER_CHANGES);
      r && in.recent.known && in.recent.leader_changes_15m >= r->threshold)
    c.add(W::LEADER_CHANGES, "", "",
          std::to_string(in.recent.leader_changes_15m) +
              " leader changes in the last 15 minutes (warns at " + num(r->threshold) + ")");

  if (auto advice = timingAdvice(in); advice.verdict() == qw::api::TimingAdvice::CHANGE) {
    std::string why;
    for (const auto& f : advice.findings()) why += (why.empty() ? "" : "; ") + f;
    c.add(W::TIMING_UNSAFE, "", "", "etcd's timing is unsafe for what was measured: " + why);
  }

  if (in.snapshots) snapshotConditions(c, *in.snapshots);
  if (const auto* r = c.rule(W::BLIND_RESTARTS); r && in.recent.known)
    for (const auto& [node, count] : in.recent.etcd_restarts_10m)
      if (count >= r->threshold) {
        std::string who;
        for (const auto& m : view.members())
          if (m.node() == node) who = m.name();
        c.add(W::BLIND_RESTARTS, who, node,
              "etcd on " + node + " restarted " + std::to_string(count) +
                  " times in 10 minutes: stop restarting it; look at disk and power");
      }

  if (c.rule(W::MIXED_CHANGE) && in.recent.known && !in.recent.mixed_changes.empty())
    c.add(W::MIXED_CHANGE, "", "",
          std::to_string(in.recent.mixed_changes.size()) +
              " change(s) made during an incident in the last 30 minutes, the newest: " +
              in.recent.mixed_changes.front());

  std::set<uint64_t> leaders;
  for (const auto& n : in.nodes)
    if (n.fresh && n.etcd.reachable() && n.etcd.has_leader()) leaders.insert(n.etcd.leader_id());
  if (leaders.size() > 1) {
    std::string names;
    for (uint64_t id : leaders) {
      auto it = member_name.find(hex64(id));
      names += (names.empty() ? "" : ", ") + (it != member_name.end() ? it->second : hex64(id));
    }
    c.add(W::LEADER_DISAGREEMENT, "", "", "members name different leaders: " + names);
  }

  for (const auto& m : view.members()) {
    if (m.is_learner())
      c.add(W::LEARNER_NOT_PROMOTED, m.name().empty() ? m.member_id() : m.name(), m.node(),
            "learner " + (m.name().empty() ? m.member_id() : m.name()) +
                " is not promoted to a voting member yet");
    else if (can_tell && !m.healthy())
      c.add(W::MEMBER_DOWN, m.name(), m.node(),
            m.name() + " is not healthy: " + (m.reasons_size() ? m.reasons(0) : "unknown"));
    auto it = by_node.find(m.node());
    if (it == by_node.end() || !it->second->fresh) continue;
    memberConditions(c, m, *it->second);
  }
  return out;
}

std::vector<WarningTracker::Transition> WarningTracker::update(const std::vector<W>& holding,
                                                               int64_t now_ms, int64_t now_wall_ms,
                                                               const Table& table) {
  std::vector<Transition> out;
  std::set<std::pair<int, std::string>> seen;
  for (const auto& w : holding) {
    auto key = std::make_pair(static_cast<int>(w.code()), w.member());
    if (!seen.insert(key).second) continue;
    auto& e = entries_[key];
    std::string raised_at = e.latest.raised_at();
    e.latest = w;
    e.latest.set_raised_at(raised_at);
    if (!e.holding) {
      e.holding = true;
      if (!e.raised) e.since_ms = now_ms;
    }
    const auto* rule = table.warning(w.code());
    int64_t raise_after = rule ? rule->raise_after_ms : 0;
    if (!e.raised && now_ms - e.since_ms >= raise_after) {
      e.raised = true;
      e.latest.set_raised_at(rfc3339(now_wall_ms));
      out.push_back({true, e.latest});
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& e = it->second;
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (e.holding) {
      e.holding = false;
      e.since_ms = now_ms;
    }
    const auto* rule = table.warning(e.latest.code());
    int64_t clear_after = rule ? rule->clear_after_ms : 0;
    if (!e.raised) {
      it = entries_.erase(it);  // never raised: forgotten at once
    } else if (now_ms - e.since_ms >= clear_after) {
      out.push_back({false, e.latest});
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<W> WarningTracker::active() const {
  std::vector<W> out;
  for (const auto& [key, e] : entries_)
    if (e.raised) out.push_back(e.latest);
  std::stable_sort(out.begin(), out.end(),
                   [](const W& a, const W& b) { return a.severity() > b.severity(); });
  return out;
}

}  // namespace qw::aggregator::risk
