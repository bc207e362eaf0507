#include "qw/aggregator/api/prometheus.h"

#include "qw/time_util.h"

#include <map>
#include <optional>
#include <vector>

#include <set>
#include <sstream>
#include "qw/aggregator/view/node_view.h"

namespace qw::aggregator {

std::string escapeLabel(const std::string& v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      o += "\\\\";
    else if (c == '"')
      o += "\\\"";
    else if (c == '\n')
      o += "\\n";
    else
      o += c;
  }
  return o;
}

namespace {

class Writer {
 public:
  Writer() { o_.precision(15); }
  void family(const std::string& name, const std::string& type, const std::string& help) {
    o_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void sample(const std::string& name, const std::map<std::string, std::string>& labels,
              double value) {
    o_ << name;
    if (!labels.empty()) {
      o_ << "{";
      bool first = true;
      for (const auto& [k, v] : labels) {
        o_ << (first ? "" : ",") << k << "=\"" << escapeLabel(v) << "\"";
        first = false;
      }
      o_ << "}";
    }
    o_ << " " << value << "\n";
  }
  std::string str() const { return o_.str(); }

 private:
  std::ostringstream o_;
};

}  // namespace

std::string renderMetrics(const qw::api::ClusterView& v, const Hub& hub, const SelfStats& self,
                          const ViewConfig& cfg, int64_t now_steady_ms) {
  Writer w;
  std::map<std::string, std::string> cl{{"cluster", v.cluster_name()}};
  w.family("quorumwatch_failure_tolerance", "gauge",
           "Healthy voting members minus quorum size (negative: quorum lost).");
  w.sample("quorumwatch_failure_tolerance", cl, v.failure_tolerance());
  w.family("quorumwatch_quorum_loss_probability", "gauge",
           "Probability of losing quorum within the horizon (absent when the view cannot tell).");
  if (v.has_quorum_loss_probability())
    w.sample("quorumwatch_quorum_loss_probability", cl, v.quorum_loss_probability());
  w.family("quorumwatch_risk_factor_multiplier", "gauge",
           "Each risk factor's hazard multiplier (rule: the risk table's id; member empty: "
           "cluster-wide).");
  for (const auto& f : v.factors()) {
    auto labels = cl;
    labels["member"] = f.member();
    labels["rule"] = f.rule();
    w.sample("quorumwatch_risk_factor_multiplier", labels, f.multiplier());
  }
  w.family("quorumwatch_voting_members", "gauge", "Voting etcd members (learners excluded).");
  w.sample("quorumwatch_voting_members", cl, v.voting_members());
  w.family("quorumwatch_healthy_members", "gauge", "Healthy voting etcd members.");
  w.sample("quorumwatch_healthy_members", cl, v.healthy_members());
  w.family("quorumwatch_quorum_size", "gauge", "Members needed for quorum.");
  w.sample("quorumwatch_quorum_size", cl, v.quorum_size());
  w.family("quorumwatch_cluster_state", "gauge", "1 for the cluster's current state.");
  for (int s = qw::api::ClusterView::State_MIN; s <= qw::api::ClusterView::State_MAX; ++s) {
    auto labels = cl;
    labels["state"] = qw::api::ClusterView::State_Name(static_cast<qw::api::ClusterView::State>(s));
    w.sample("quorumwatch_cluster_state", labels, v.state() == s ? 1 : 0);
  }
  w.family("quorumwatch_etcd_alarm", "gauge", "1 while etcd reports this alarm on any member.");
  std::set<std::string> alarms;  // the view's, by the one alarm rule
  for (const auto& a : v.alarms()) alarms.insert(a.alarm());
  for (const char* a : {"NOSPACE", "CORRUPT"}) {
    auto labels = cl;
    labels["alarm"] = a;
    w.sample("quorumwatch_etcd_alarm", labels, alarms.count(a) ? 1 : 0);
  }
  w.family("quorumwatch_warning_active", "gauge", "1 for each active warning.");
  for (const auto& wr : v.warnings()) {
    auto labels = cl;
    labels["code"] = qw::api::Warning::Code_Name(wr.code());
    labels["severity"] = qw::api::Severity_Name(wr.severity());
    labels["member"] = wr.member();
    labels["expected"] = wr.expected() ? "true" : "false";  // its node is in planned maintenance
    w.sample("quorumwatch_warning_active", labels, 1);
  }
  w.family("quorumwatch_maintenance_active", "gauge",
           "1 for each node in a planned maintenance window (POST /api/v1/maintenance/{node}).");
  for (const auto& m : v.maintenance()) {
    auto labels = cl;
    labels["node"] = m.node();
    w.sample("quorumwatch_maintenance_active", labels, 1);
  }
  w.family("quorumwatch_member_healthy", "gauge", "1 when the member counts as healthy.");
  w.family("quorumwatch_member_is_leader", "gauge", "1 for the leader.");
  w.family("quorumwatch_member_is_learner", "gauge", "1 for learners (never counted for quorum).");
  for (const auto& m : v.members()) {
    std::map<std::string, std::string> l{{"cluster", v.cluster_name()},
                                         {"member", m.name()},
                                         {"member_id", m.member_id()},
                                         {"node", m.node()}};
    w.sample("quorumwatch_member_healthy", l, m.healthy());
    w.sample("quorumwatch_member_is_leader", l, m.is_leader());
    w.sample("quorumwatch_member_is_learner", l, m.is_learner());
  }
  w.family("quorumwatch_node_agent_connected", "gauge", "1 while the node's agent is connected.");
  w.family("quorumwatch_node_spool_dropped_batches", "gauge",
           "Batches the node's agent dropped from its full spool (agent instance lifetime).");
  w.family("quorumwatch_node_spool_backlog_batches", "gauge",
           "Unacknowledged batches the node's agent reported.");
  w.family("quorumwatch_node_seconds_since_seen", "gauge",
           "Seconds since this aggregator last received a sample from the node (absent: none "
           "since it started). Past --stale-after the node's other values are left out.");
  for (const auto& [name, n] : hub.nodes()) {
    std::map<std::string, std::string> l{{"cluster", v.cluster_name()}, {"node", name}};
    w.sample("quorumwatch_node_agent_connected", l, n.connected);
    if (n.last_seen_steady_ms >= 0)
      w.sample("quorumwatch_node_seconds_since_seen", l,
               static_cast<double>(now_steady_ms - n.last_seen_steady_ms) / 1000.0);
    w.sample("quorumwatch_node_spool_dropped_batches", l, static_cast<double>(n.dropped));
    w.sample("quorumwatch_node_spool_backlog_batches", l, static_cast<double>(n.backlog));
  }
  // Per-node signals (model/signals, the exported ones), absent where the node lacks the sensor
  // (DESIGN.md section 6) and for a stale node.
  std::vector<std::pair<std::map<std::string, std::string>, MemberSignals>> fresh;
  for (const auto& [name, n] : hub.nodes())
    if (nodeFresh(n, cfg, now_steady_ms))
      fresh.push_back({{{"cluster", v.cluster_name()}, {"node", name}}, nodeSignals(n)});
  for (const auto& sig : signalTable()) {
    if (!sig.exported) continue;
    std::string name = std::string("quorumwatch_node_") + sig.name;
    w.family(name, sig.kind == SignalKind::kTotal ? "counter" : "gauge",
             std::string(sig.help) + " (" + sig.unit + ").");
    for (const auto& [labels, s] : fresh)
      if (const auto& val = s.*sig.field) w.sample(name, labels, *val);
  }

  w.family("quorumwatch_ingest_batches_total", "counter", "Batches committed to the database.");
  w.sample("quorumwatch_ingest_batches_total", {}, static_cast<double>(self.batches_stored));
  w.family("quorumwatch_ingest_duplicate_batches_total", "counter",
           "Batches received again and ignored (already stored).");
  w.sample("quorumwatch_ingest_duplicate_batches_total", {},
           static_cast<double>(self.batches_duplicate));
  w.family("quorumwatch_ingest_samples_total", "counter", "Samples committed.");
  w.sample("quorumwatch_ingest_samples_total", {}, static_cast<double>(self.samples_stored));
  w.family("quorumwatch_ingest_transactions_total", "counter", "Group-commit transactions.");
  w.sample("quorumwatch_ingest_transactions_total", {}, static_cast<double>(self.transactions));
  w.family("quorumwatch_commit_errors_total", "counter", "Failed database commits.");
  w.sample("quorumwatch_commit_errors_total", {}, static_cast<double>(self.commit_errors));
  w.family("quorumwatch_bad_frames_total", "counter", "Malformed or oversized agent frames.");
  w.sample("quorumwatch_bad_frames_total", {}, static_cast<double>(self.bad_frames));
  w.family("quorumwatch_ingest_cluster_refusals_total", "counter",
           "Agent batches refused because their etcd reports another cluster id.");
  w.sample("quorumwatch_ingest_cluster_refusals_total", {},
           static_cast<double>(self.cluster_refusals));
  if (self.webhook) {
    w.family("quorumwatch_webhook_queued", "gauge", "Notifications waiting for the webhook.");
    w.sample("quorumwatch_webhook_queued", {}, static_cast<double>(self.webhook_queued));
    w.family("quorumwatch_webhook_delivered_total", "counter", "Notifications answered 2xx.");
    w.sample("quorumwatch_webhook_delivered_total", {},
             static_cast<double>(self.webhook_delivered));
    w.family("quorumwatch_webhook_rejected_total", "counter",
             "Notifications answered 4xx (not 408/429): not retried.");
    w.sample("quorumwatch_webhook_rejected_total", {}, static_cast<double>(self.webhook_rejected));
    w.family("quorumwatch_webhook_dropped_total", "counter",
             "Notifications dropped, oldest first, because the queue was full.");
    w.sample("quorumwatch_webhook_dropped_total", {}, static_cast<double>(self.webhook_dropped));
    w.family("quorumwatch_webhook_failed_attempts_total", "counter",
             "Deliveries that got no answer or 5xx/408/429 (each retried with backoff).");
    w.sample("quorumwatch_webhook_failed_attempts_total", {},
             static_cast<double>(self.webhook_failed_attempts));
  }
  w.family("quorumwatch_auth_failures_total", "counter", "Agent connections refused for auth.");
  w.sample("quorumwatch_auth_failures_total", {}, static_cast<double>(self.auth_failures));
  w.family("quorumwatch_tls_handshake_failures_total", "counter",
           "Connections that failed the TLS handshake (e.g. no or untrusted client certificate).");
  w.sample("quorumwatch_tls_handshake_failures_total", {}, static_cast<double>(self.tls_failures));
  w.family("quorumwatch_connected_agents", "gauge", "Agent sessions open now.");
  w.sample("quorumwatch_connected_agents", {}, static_cast<double>(self.connected_agents));
  w.family("quorumwatch_ingest_points_total", "counter",
           "Series points (gauge values and histogram deltas) committed.");
  w.sample("quorumwatch_ingest_points_total", {}, static_cast<double>(self.points_stored));
  w.family("quorumwatch_ingest_points_conflicts_total", "counter",
           "Series points not stored exactly where their sample was placed: moved to a free "
           "millisecond or refused as already stored (each logged).");
  w.sample("quorumwatch_ingest_points_conflicts_total", {},
           static_cast<double>(self.points_conflicts));
  w.family("quorumwatch_db_full_errors_total", "counter",
           "Commits refused because the database or its disk is full (agents keep their spool).");
  w.sample("quorumwatch_db_full_errors_total", {}, static_cast<double>(self.db_full_errors));
  w.family("quorumwatch_events_total", "counter", "Events stored.");
  w.sample("quorumwatch_events_total", {}, static_cast<double>(self.events_stored));
  w.family("quorumwatch_retention_pruned_rows_total", "counter",
           "Rows removed by retention (raw points, rollups, samples, batches, events).");
  w.sample("quorumwatch_retention_pruned_rows_total", {}, static_cast<double>(self.rows_pruned));
  w.family("quorumwatch_db_size_bytes", "gauge", "Size of the SQLite database file.");
  w.sample("quorumwatch_db_size_bytes", {}, static_cast<double>(self.db_size_bytes));
  return w.str();
}

}  // namespace qw::aggregator

namespace qw::aggregator {

std::string renderSnapshotMetrics(const std::string& cluster, const qw::api::SnapshotList& l,
                                  const qw::api::DrillList& d) {
  Writer w;
  std::map<std::string, std::string> cl{{"cluster", cluster}};
  w.family("quorumwatch_snapshots_verified", "gauge", "Verified snapshot files on the nodes.");
  w.sample("quorumwatch_snapshots_verified", cl, l.verified());
  w.family("quorumwatch_snapshots_failing", "gauge",
           "Snapshot files on the nodes that were checked and failed.");
  w.sample("quorumwatch_snapshots_failing", cl, l.failing());
  double copies = 0;
  for (const auto& c : l.copies()) copies += c.verified() ? 1 : 0;
  w.family("quorumwatch_snapshot_copies_verified", "gauge",
           "Verified snapshot copies in the aggregator's own store.");
  w.sample("quorumwatch_snapshot_copies_verified", cl, copies);
  w.family("quorumwatch_snapshot_newest_verified_age_seconds", "gauge",
           "Age of the newest verified snapshot (absent: none).");
  if (l.has_newest_verified_age_seconds())
    w.sample("quorumwatch_snapshot_newest_verified_age_seconds", cl,
             l.newest_verified_age_seconds());
  const qw::api::Drill* last = nullptr;
  const qw::api::Drill* passed = nullptr;
  for (const auto& x : d.drills()) {
    if (x.status() != "passed" && x.status() != "failed") continue;
    if (!last) last = &x;
    if (!passed && x.status() == "passed") passed = &x;
  }
  w.family("quorumwatch_drill_running", "gauge", "1 while a restore drill runs.");
  w.sample("quorumwatch_drill_running", cl,
           !d.drills().empty() && d.drills(0).status() == "running" ? 1 : 0);
  w.family("quorumwatch_drill_last_passed", "gauge",
           "1 when the last restore drill passed, 0 when it failed (absent: none).");
  if (last) w.sample("quorumwatch_drill_last_passed", cl, last->status() == "passed" ? 1 : 0);
  w.family("quorumwatch_drill_last_success_timestamp_seconds", "gauge",
           "When the last passing restore drill finished (absent: none).");
  if (passed)
    if (auto t = qw::parseTimeArg(passed->finished_at()))
      w.sample("quorumwatch_drill_last_success_timestamp_seconds", cl,
               static_cast<double>(*t) / 1000.0);
  w.family("quorumwatch_drill_last_rto_seconds", "gauge",
           "Restore plus start to first answer of the last passing drill: a measured RTO.");
  if (passed && passed->has_rto_ms())
    w.sample("quorumwatch_drill_last_rto_seconds", cl, passed->rto_ms() / 1000.0);
  return w.str();
}

}  // namespace qw::aggregator
