// The risk model's numbers (risk/table.h). Bump `version` when a number changes: the API prints it
// next to every probability, so two figures are comparable only under one version.
//
// The base hazards are assumptions, not measurements: about one unplanned outage of a member
// every three years (a Raspberry Pi on a good supply and storage; SD cards fail more often, which
// the disk multipliers express), and one of a shared failure domain every five years. They set
// the scale; the multipliers, each tied to a published threshold, set the ranking and the reasons.
#include <stdexcept>
#include <utility>

#include "qw/aggregator/risk/table.h"
#include "qw/options.h"

namespace qw::aggregator::risk {

namespace {

void resolve(Rule* r) {
  using D = Rule::Derived;
  static const std::pair<const char*, D> derived[] = {
      {"temperature_headroom_celsius", D::kTemperatureHeadroom},
      {"fs_avail_ratio", D::kFsAvailRatio},
      {"etcd_restarts_last_hour", D::kEtcdRestarts},
      {"node_reboots_last_hour", D::kNodeReboots},
      {"leader_changes_last_hour", D::kLeaderChanges},
      {"no_verified_snapshot", D::kNoVerifiedSnapshot},
      {"newest_verified_snapshot_age_hours", D::kSnapshotAgeHours},
      {"last_drill_failed", D::kDrillFailed},
      {"no_drill_passed_7d", D::kNoPassedDrill}};
  for (const auto& [name, d] : derived)
    if (r->signal == name) r->derived = d;
  if (r->derived == D::kNone) {
    const auto* def = findSignal(r->signal.c_str());
    if (!def) throw std::logic_error("risk rule " + r->id + " reads no signal: " + r->signal);
    r->field = def->field;
  }
}

Table build() {
  Table t;
  t.version = "2026-12-03.2";  // MIXED_CHANGE joined the table
  t.member_hazard_per_day = 1.0 / (3 * 365);
  t.domain_hazard_per_day = 1.0 / (5 * 365);
  t.at_risk_probability = 0.01;
  t.horizon_seconds = 86400;
  const char* hw = "etcd.io hardware guide: WAL fsync p99 < 10 ms, backend commit p99 < 25 ms";
  const char* mixin = "etcd mixin alert thresholds (ETCD_REFERENCE.md s2)";
  const char* disk = "move etcd's data dir to an SSD (USB 3) and keep other I/O off that disk";
  t.rules = {
      {"wal_fsync_p99.guidance", "wal_fsync_p99_seconds", false, 0.010, 2,
       "WAL fsync p99 above etcd's 10 ms guidance: every write waits on this disk", disk, hw},
      {"wal_fsync_p99.heartbeat", "wal_fsync_p99_seconds", false, 0.100, 5,
       "WAL fsync p99 at or above the default 100 ms heartbeat: heartbeats are late, elections "
       "follow",
       disk, "etcd tuning guide (heartbeat 100 ms default)"},
      {"wal_fsync_p99.warning", "wal_fsync_p99_seconds", false, 0.5, 12,
       "WAL fsync p99 above 0.5 s (the mixin's etcdHighFsyncDurations warning)", disk, mixin},
      {"wal_fsync_p99.critical", "wal_fsync_p99_seconds", false, 1.0, 30,
       "WAL fsync p99 above 1 s (the mixin's critical level): the member falls out of the cluster "
       "under load",
       disk, mixin},
      {"backend_commit_p99.guidance", "backend_commit_p99_seconds", false, 0.025, 1.5,
       "backend commit p99 above etcd's 25 ms guidance", disk, hw},
      {"backend_commit_p99.warning", "backend_commit_p99_seconds", false, 0.25, 4,
       "backend commit p99 above 0.25 s (the mixin's etcdHighCommitDurations)", disk, mixin},
      {"peer_rtt_p99.elevated", "peer_rtt_p99_seconds", false, 0.05, 1.5,
       "slowest peer round trip p99 above 50 ms (half the default heartbeat)",
       "check the network path between the nodes (Wi-Fi, a saturated switch, a flaky cable)",
       "etcd tuning guide: heartbeat about the round trip time"},
      {"peer_rtt_p99.warning", "peer_rtt_p99_seconds", false, 0.15, 4,
       "slowest peer round trip p99 above 0.15 s (the mixin's etcdMemberCommunicationSlow)",
       "check the network path between the nodes; use wired Ethernet", mixin},
      {"under_voltage.now", "under_voltage", false, 1, 10,
       "the Raspberry Pi reports under-voltage now: the SoC and the disk may brown out",
       "use a 5.1 V / 3 A supply and a short, thick cable; power USB disks from a powered hub",
       "Raspberry Pi firmware get_throttled bit 0"},
      {"under_voltage.since_boot", "under_voltage_since_boot", false, 1, 2,
       "under-voltage happened since the last boot", "check the supply before the next load peak",
       "Raspberry Pi firmware get_throttled bit 16"},
      {"throttled.now", "throttled", false, 1, 3,
       "the SoC is throttled now: etcd's fsyncs and heartbeats slow down",
       "improve cooling (heatsink, fan, airflow) or lower the load",
       "Raspberry Pi firmware get_throttled bit 2"},
      {"throttled.since_boot", "throttled_since_boot", false, 1, 1.5,
       "the SoC was throttled since the last boot", "improve cooling before the next load peak",
       "Raspberry Pi firmware get_throttled bit 18"},
      {"temperature.near_trip", "temperature_headroom_celsius", true, 10, 2,
       "CPU temperature within 10 °C of the thermal trip point", "improve cooling",
       "thermal zone trip points (sysfs)"},
      {"temperature.at_trip", "temperature_headroom_celsius", true, 3, 5,
       "CPU temperature within 3 °C of the thermal trip point: the kernel throttles or shuts down",
       "improve cooling now", "thermal zone trip points (sysfs)"},
      {"io_pressure.some", "io_pressure_some_avg10", false, 10, 1.5,
       "tasks waited on I/O more than 10% of the last 10 s (PSI)",
       "find the process that loads the disk (iotop) and move it off etcd's disk",
       "kernel PSI documentation"},
      {"io_pressure.high", "io_pressure_some_avg10", false, 40, 3,
       "tasks waited on I/O more than 40% of the last 10 s (PSI)",
       "find the process that loads the disk (iotop) and move it off etcd's disk",
       "kernel PSI documentation"},
      {"proposals_failed", "proposals_failed", false, 1, 2,
       "raft proposals failed in the last interval (leader elections or lost quorum)",
       "look at leader changes and the slowest member's fsync and peer latency",
       "etcd mixin etcdHighNumberOfFailedProposals"},
      {"apply_lag", "apply_lag", false, 1000, 2,
       "the member applies committed entries more than 1000 behind their commit",
       "the member's disk or CPU cannot keep up; check its fsync and backend commit",
       "etcd metrics: committed minus applied index"},
      {"db_quota.high", "db_quota_used_ratio", false, 0.8, 1.5,
       "the database uses more than 80% of its quota",
       "compact and defragment; find who writes so much (etcdctl check datascale)",
       "etcd quota (default 2 GiB)"},
      {"db_quota.critical", "db_quota_used_ratio", false, 0.95, 5,
       "the database uses more than 95% of its quota: NOSPACE and a read-only cluster are next",
       "compact, defragment each member, then disarm the alarm if raised", mixin},
      {"fs_free.low", "fs_avail_ratio", true, 0.10, 2,
       "less than 10% free on the filesystem of etcd's data dir",
       "free space (old snapshots, logs, container images) before etcd's WAL cannot grow",
       "etcd needs room for WAL segments and snapshots"},
      {"fs_free.critical", "fs_avail_ratio", true, 0.03, 6,
       "less than 3% free on the filesystem of etcd's data dir: the next WAL segment may not fit",
       "free space now", "etcd preallocates 64 MB WAL segments"},
      {"etcd_restarts", "etcd_restarts_last_hour", false, 1, 3,
       "etcd restarted on this node in the last hour",
       "read why (journalctl -u etcd / -u k3s) before anything else restarts it again",
       "a restarting member is a failing member"},
      {"node_reboots", "node_reboots_last_hour", false, 1, 3, "this node rebooted in the last hour",
       "find out why (power, watchdog, kernel) before it happens on another node",
       "an unplanned reboot is a power or hardware fault until shown otherwise"},
      {"leader_changes.some", "leader_changes_last_hour", false, 3, 1.5,
       "3 or more leader changes in the last hour: heartbeats are missed",
       "look at the fsync and peer latency of the old leaders", mixin},
      {"leader_changes.many", "leader_changes_last_hour", false, 12, 4,
       "12 or more leader changes in the last hour (the mixin alerts at 4 in 15 minutes)",
       "look at the fsync and peer latency of the old leaders; consider timing advice", mixin},
      // Recoverability: whether a loss could be undone. Multiplier 1: they do not change the
      // chance of losing quorum, only what losing it would cost, so they rank last.
      {"recoverability.no_verified_snapshot", "no_verified_snapshot", false, 1, 1,
       "recoverability: no verified snapshot of this cluster exists, so a quorum loss that does "
       "not heal by itself could not be undone",
       "give an agent a --snapshot-dir (the aggregator then has snapshots taken), or fix what "
       "GET /api/v1/snapshots says is wrong with the ones there",
       "DESIGN section 8"},
      {"recoverability.snapshot_stale", "newest_verified_snapshot_age_hours", false, 24, 1,
       "recoverability: the newest verified snapshot is more than 24 h old; a restore would lose "
       "every write since",
       "see why no snapshot was taken (GET /api/v1/snapshots: schedule), or take one now "
       "(POST /api/v1/snapshots)",
       "k3s takes one every 12 h by default"},
      {"recoverability.drill_failed", "last_drill_failed", false, 1, 1,
       "recoverability: the last restore drill failed, so the newest snapshot may not restore",
       "read the drill's error (GET /api/v1/drills), check the copy, run POST /api/v1/drills",
       "a snapshot is only useful if it can be restored"},
      {"recoverability.no_drill", "no_drill_passed_7d", false, 1, 1,
       "recoverability: no restore drill passed in 7 days, so no snapshot is known to restore",
       "give the aggregator etcd's binaries (--etcd-bin-dir) and run POST /api/v1/drills",
       "a snapshot is only useful if it can be restored"},
  };
  for (auto& r : t.rules) resolve(&r);

  // Early warnings (risk/warnings.h; README "Warnings"). Windows in milliseconds: raise after the
  // condition held this long, clear after it was absent this long.
  using W = qw::api::Warning;
  const auto I = qw::api::INFO, Wn = qw::api::WARNING, C = qw::api::CRITICAL;
  const char* mixin_down = "etcd mixin etcdMembersDown (20 min there; seconds here)";
  t.warnings = {
      {W::NOSPACE, C, 0, 0, 0, 5000,
       "compact the keyspace, defragment each member, then disarm the alarm (etcdctl alarm "
       "disarm), in that order; never raise the quota blindly",
       "etcd alarm list"},
      {W::CORRUPT, C, 0, 0, 0, 5000,
       "replace that member (remove it, wipe its data dir, add it back as a learner); never "
       "disarm the alarm first",
       "etcd alarm list; ETCD_REFERENCE.md s11 (corruption)"},
      {W::MEMBER_DOWN, Wn, 0, 0, 5000, 5000,
       "find out why before restarting it (journalctl, the node's power and disk); one member "
       "down leaves less room for the next failure",
       mixin_down},
      {W::INSUFFICIENT_MEMBERS, C, 0, 0, 0, 0,
       "bring the lost members back with their disks: quorum returns by itself; do not reset "
       "the cluster while they can come back",
       "etcd mixin etcdInsufficientMembers"},
      {W::NO_LEADER, C, 0, 0, 3000, 3000,
       "a member that sees no leader cannot serve writes: check its peer connectivity and the "
       "other members",
       "etcd mixin etcdNoLeader (1 min there)"},
      {W::LEADER_CHANGES, Wn, 4, 0, 0, 60000,
       "look at the old leaders' WAL fsync and peer latency (GET /api/v1/advice)",
       "etcd mixin etcdHighNumberOfLeaderChanges: 4 in 15 minutes"},
      {W::FAILED_PROPOSALS, Wn, 0.1, 0, 30000, 60000,
       "proposals fail during elections and without quorum: look at leader changes and the "
       "slowest member",
       "etcd mixin etcdHighNumberOfFailedProposals (per second here, over the newest interval)"},
      {W::HIGH_FSYNC, Wn, 0.5, 1.0, 10000, 30000, disk,
       "etcd mixin etcdHighFsyncDurations (0.5 s warning, 1 s critical)"},
      {W::HIGH_COMMIT, Wn, 0.25, 0, 10000, 30000, disk, "etcd mixin etcdHighCommitDurations"},
      {W::PEER_RTT_SLOW, Wn, 0.15, 0, 10000, 30000,
       "check the network path between the nodes; use wired Ethernet",
       "etcd mixin etcdMemberCommunicationSlow"},
      {W::DB_QUOTA_LOW, Wn, 0.8, 0.95, 10000, 30000,
       "compact and defragment before NOSPACE makes the cluster read-only",
       "etcd mixin etcdDatabaseQuotaLowSpace (95%)"},
      {W::DB_FRAGMENTED, I, 0.5, 0, 60000, 60000,
       "defragment one member at a time, followers first, the leader last (after move-leader)",
       "etcd mixin etcdDatabaseHighFragmentationRatio (in use below 50% of 100 MiB or more)"},
      {W::DISK_NEARLY_FULL, Wn, 0.10, 0.03, 10000, 60000,
       "free space on the data dir's filesystem (old snapshots, logs, images) before the next "
       "64 MB WAL segment does not fit",
       "etcd preallocates WAL segments; a full disk stops the member"},
      {W::LEARNER_NOT_PROMOTED, Wn, 0, 0, 300000, 0,
       "check the learner's progress (raft index against the leader's) and promote it "
       "(etcdctl member promote) once it has caught up; remove it if it never does",
       "etcd allows one learner; promotion needs its log at 90% of the leader's"},
      {W::LEADER_DISAGREEMENT, Wn, 0, 0, 5000, 5000,
       "a member following a stale leader is cut off from the others: check its network",
       "raft: a partitioned member keeps its last leader until its election timeout"},
      {W::EVEN_MEMBERS, Wn, 0, 0, 60000, 0,
       "run an odd number of voters: 3 tolerates one failure like 4 does, with fewer disks to "
       "fail; 2 tolerates none",
       "etcd FAQ: quorum is N/2 + 1"},
      {W::ETCD_VERSION, Wn, 0, 0, 0, 0,
       "upgrade etcd to the newest patch release of its minor version, one member at a time",
       "etcd release notes (ETCD_REFERENCE.md s11, corruption)"},
      {W::FSYNC_VS_HEARTBEAT, Wn, 0.5, 0, 30000, 30000,
       "timeouts do not fix a slow disk: move etcd's data dir to an SSD",
       "etcd tuning guide: a leader that cannot fsync in time misses its heartbeats"},
      {W::CLOCK_UNSYNCED, I, 0, 0, 60000, 0,
       "enable time synchronisation (systemd-timesyncd, chrony); a Pi has no battery clock",
       "adjtimex; etcd's leases and certificates need a sane clock"},
      {W::UNDER_VOLTAGE, Wn, 0, 0, 0, 60000,
       "use a 5.1 V / 3 A supply and a short, thick cable; power USB disks from a powered hub",
       "Raspberry Pi firmware get_throttled bit 0"},
      {W::THROTTLED, Wn, 0, 0, 10000, 60000,
       "improve cooling (heatsink, fan, airflow) or lower the load",
       "Raspberry Pi firmware get_throttled bit 2"},
      {W::TEMPERATURE_NEAR_TRIP, Wn, 5, 0, 10000, 60000, "improve cooling now",
       "thermal zone trip points (sysfs)"},
      {W::TIMING_UNSAFE, Wn, 0, 0, 30000, 60000,
       "set the timing GET /api/v1/advice recommends, the same on every member, one member at a "
       "time",
       "etcd tuning guide: heartbeat about the RTT, election >= 10x RTT and >= 5x heartbeat"},
      // Snapshot thresholds are in seconds.
      {W::NO_VERIFIED_SNAPSHOT, Wn, 0, 0, 60000, 0,
       "take a snapshot (etcdctl snapshot save, or k3s etcd-snapshot save) into a dir an agent "
       "watches (--snapshot-dir); without one a lost quorum cannot be restored",
       "DESIGN.md s8: backups are the only reliable recovery mechanism"},
      {W::SNAPSHOT_STALE, Wn, 86400, 0, 60000, 0,
       "check the snapshot schedule (k3s takes one every 12 h; plain etcd and kubeadm need a "
       "timer): a restore from it loses every write since",
       "k3s --etcd-snapshot-schedule-cron default 0 */12 * * *"},
      {W::SNAPSHOT_SAME_DISK, Wn, 0, 0, 60000, 0,
       "keep a copy off the node: let the aggregator pull one (--snapshot-copies, over TLS) or "
       "save snapshots to another disk; a dead SD card takes the data and these with it",
       "k3s #8824 and etcd-backup-restore reports: the only copy lost with the node"},
      {W::DRILL_STALE, Wn, 7 * 86400, 0, 600000, 0,
       "run a restore drill (quorumwatch drill, POST /api/v1/drills) and give the aggregator the "
       "etcd binaries (--etcd-bin-dir): a snapshot nobody restored is a hope, not a backup",
       "gardener/etcd-backup-restore #778: snapshots found corrupt only during a recovery"},
      {W::DRILL_FAILED, Wn, 0, 0, 0, 0,
       "read the drill's error (GET /api/v1/drills): a snapshot that does not restore cannot "
       "be used in a recovery; take a fresh one and drill it",
       "etcd #18340: a snapshot that does not restore"},
      // Restarts of one node's etcd within 10 minutes.
      {W::BLIND_RESTARTS, C, 3, 0, 0, 600000,
       "stop restarting it (its unit's Restart=, a watchdog, a script) and look at disk and power "
       "first (dmesg, the SD card or SSD, vcgencmd get_throttled): every restart replays the WAL "
       "on the same disk",
       "the seed's first recovery mistake: restarting etcd blindly"},
      // A change during an incident: raised at once, cleared 30 minutes after the newest one.
      {W::MIXED_CHANGE, Wn, 0, 0, 0, 0,
       "finish or undo that change, and make no other (membership, version, flags, "
       "defragmentation) until every member is back; then follow GET /api/v1/recovery/plan",
       "the seed's second recovery mistake: mixing recovery with unrelated changes"},
  };
  return t;
}

}  // namespace

const WarningRule* Table::warning(qw::api::Warning::Code code) const {
  for (const auto& w : warnings)
    if (w.code == code) return &w;
  return nullptr;
}

const Table& defaultTable() {
  static const Table t = build();
  return t;
}

std::optional<std::string> applyOverrides(const std::string& text, const std::string& origin,
                                          Table* out) {
  // The project's config-file syntax and checks (qw/options.h): comments, unknown keys, bad
  // numbers and ranges are errors naming ORIGIN:LINE.
  Table t = *out;
  Options o("risk-table", "");
  o.addString("version", "The table's version as printed with every figure.", &t.version);
  o.addDouble("member_hazard_per_day", "", &t.member_hazard_per_day, 0, 1e6);
  o.addDouble("domain_hazard_per_day", "", &t.domain_hazard_per_day, 0, 1e6);
  o.addDouble("at_risk_probability", "", &t.at_risk_probability, 0, 1);
  int64_t horizon = t.horizon_seconds;
  o.addInt("horizon_seconds", "", &horizon, 60, 366 * 86400);
  for (auto& r : t.rules) {
    o.addDouble(r.id + ".threshold", "", &r.threshold, -1e18, 1e18);
    o.addDouble(r.id + ".multiplier", "", &r.multiplier, 0, 1e6);
  }
  struct WindowSeconds {
    double raise, clear;
  };
  std::vector<WindowSeconds> windows;
  windows.reserve(t.warnings.size());
  for (const auto& w : t.warnings)
    windows.push_back({static_cast<double>(w.raise_after_ms) / 1000,
                       static_cast<double>(w.clear_after_ms) / 1000});
  auto warningKey = [](const WarningRule& w, const char* what) {
    return "warning." + qw::api::Warning::Code_Name(w.code) + "." + what;
  };
  for (size_t i = 0; i < t.warnings.size(); ++i) {
    auto& w = t.warnings[i];
    o.addDouble(warningKey(w, "threshold"), "", &w.threshold, -1e18, 1e18);
    o.addDouble(warningKey(w, "critical_threshold"), "", &w.critical_threshold, -1e18, 1e18);
    o.addDouble(warningKey(w, "raise_after_seconds"), "", &windows[i].raise, 0, 86400);
    o.addDouble(warningKey(w, "clear_after_seconds"), "", &windows[i].clear, 0, 86400);
  }
  if (auto err = o.parseConfigText(text, origin)) return err;
  for (size_t i = 0; i < t.warnings.size(); ++i) {
    t.warnings[i].raise_after_ms = static_cast<int64_t>(windows[i].raise * 1000);
    t.warnings[i].clear_after_ms = static_cast<int64_t>(windows[i].clear * 1000);
  }
  t.horizon_seconds = static_cast<uint32_t>(horizon);
  // Changed numbers without a version of their own never pass for the documented ones.
  bool changed = o.originOf("horizon_seconds") != "" || o.originOf("member_hazard_per_day") != "" ||
                 o.originOf("domain_hazard_per_day") != "" ||
                 o.originOf("at_risk_probability") != "";
  for (const auto& r : t.rules)
    changed |= o.originOf(r.id + ".threshold") != "" || o.originOf(r.id + ".multiplier") != "";
  for (const auto& w : t.warnings)
    for (const char* what :
         {"threshold", "critical_threshold", "raise_after_seconds", "clear_after_seconds"})
      changed |= o.originOf(warningKey(w, what)) != "";
  if (changed && o.originOf("version").empty()) t.version += "+local";
  *out = std::move(t);
  return std::nullopt;
}

}  // namespace qw::aggregator::risk
