#include "qw/aggregator/view/node_view.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "qw/fs_util.h"
#include "qw/time_util.h"

namespace qw::aggregator {

namespace {

// signalTable() index -> the NodeView field of the same name (resolved once).
const std::vector<const google::protobuf::FieldDescriptor*>& signalFields() {
  static const auto fields = [] {
    std::vector<const google::protobuf::FieldDescriptor*> f;
    const auto* d = qw::api::NodeView::descriptor();
    for (const auto& sig : signalTable()) f.push_back(d->FindFieldByName(sig.name));
    return f;
  }();
  return fields;
}

}  // namespace

MemberSignals nodeSignals(const NodeState& n) {
  return deriveSignals(n.has_sample ? &n.latest : nullptr, n.has_metrics ? &n.metrics : nullptr);
}

void fillSignalFields(const MemberSignals& s, qw::api::NodeView* v) {
  using FD = google::protobuf::FieldDescriptor;
  const auto* r = v->GetReflection();
  const auto& table = signalTable();
  const auto& fields = signalFields();
  for (size_t i = 0; i < table.size(); ++i) {
    const auto& val = s.*table[i].field;
    const FD* f = fields[i];
    if (!val || !f) continue;
    if (f->cpp_type() == FD::CPPTYPE_BOOL)
      r->SetBool(v, f, *val != 0);
    else if (f->cpp_type() == FD::CPPTYPE_DOUBLE)
      r->SetDouble(v, f, *val);
  }
}

qw::api::NodeView buildNodeView(const NodeState& n, int64_t now_wall_ms) {
  qw::api::NodeView v;
  v.set_name(n.name);
  v.set_cluster_name(n.cluster_name);
  v.set_connected(n.connected);
  if (n.last_seen_wall_ms > 0) {
    v.set_last_seen_at(rfc3339(n.last_seen_wall_ms));
    v.set_seconds_since_seen(static_cast<double>(now_wall_ms - n.last_seen_wall_ms) / 1000.0);
  }
  v.set_instance_id(n.instance_id);
  v.set_agent_version(n.agent_version);
  v.set_failure_domain(n.failure_domain);
  v.set_member_id(n.member_id ? hex64(n.member_id) : "");
  v.set_last_seq(static_cast<double>(n.last_seq));
  v.set_backlog(static_cast<double>(n.backlog));
  v.set_dropped_batches(static_cast<double>(n.dropped));
  if (n.spool_write_errors)
    v.set_spool_write_errors_total(static_cast<double>(*n.spool_write_errors));
  v.set_spool_last_write_error(n.spool_last_write_error);
  if (qw::api::NodeView::Flavor f; qw::api::NodeView::Flavor_Parse(n.etcd_flavor, &f) &&
                                   f != qw::api::NodeView::FLAVOR_UNSPECIFIED)
    v.set_etcd_flavor(f);
  v.set_etcd_data_dir(n.etcd_data_dir);
  v.set_etcd_unit(n.etcd_unit);
  if (n.has_sample) {
    const auto& e = n.latest.etcd();
    v.set_etcd_error(e.error());
    v.set_etcd_version(e.version());
    uint64_t errors = 0;
    // The agent lists its samplers' errors oldest failure first: the last entry is the newest.
    for (const auto& se : n.latest.errors()) {
      errors += se.count();
      v.set_last_sampler_error(se.sampler() + ": " + se.last_error());
    }
    v.set_sampler_errors(static_cast<uint32_t>(errors));
    v.set_clock_synced(n.latest.clock_synced());
    v.set_time_source(n.time_source);
    if (n.latest.has_disk()) {
      v.set_disk_device(n.latest.disk().device());
      v.set_disk_partition(n.latest.disk().partition());
    }
    if (n.latest.has_host()) {
      const auto& h = n.latest.host();
      if (h.has_etcd_start_unix_ms()) v.set_etcd_started_at(rfc3339(h.etcd_start_unix_ms()));
      v.set_etcd_pid(h.etcd_pid());
      v.set_unit_state(h.unit_state());
      for (const auto& u : h.unsupported()) v.add_unsupported(u);
    }
  }
  fillSignalFields(nodeSignals(n), &v);
  return v;
}

qw::api::EtcdConfig etcdConfigView(const qw::wire::EtcdConfig& c, int64_t received_wall_ms) {
  qw::api::EtcdConfig v;
  v.set_pid(c.pid());
  v.set_exe(c.exe());
  v.set_cwd(c.cwd());
  v.mutable_args()->CopyFrom(c.args());
  v.mutable_env()->CopyFrom(c.env());
  v.set_env_known(c.env_known());
  v.set_env_source(c.env_source());
  v.set_config_file(c.config_file());
  v.set_flavor(c.flavor());
  // Absent stays absent: an unknown value is never shown as 0 or "".
  if (c.has_heartbeat_interval_ms()) v.set_heartbeat_interval_ms(c.heartbeat_interval_ms());
  if (c.has_election_timeout_ms()) v.set_election_timeout_ms(c.election_timeout_ms());
  if (c.has_snapshot_count()) v.set_snapshot_count(static_cast<double>(c.snapshot_count()));
  if (c.has_quota_backend_bytes())
    v.set_quota_backend_bytes(static_cast<double>(c.quota_backend_bytes()));
  if (c.has_name()) v.set_name(c.name());
  if (c.has_data_dir()) v.set_data_dir(c.data_dir());
  if (c.has_initial_cluster()) v.set_initial_cluster(c.initial_cluster());
  if (c.has_initial_cluster_token()) v.set_initial_cluster_token(c.initial_cluster_token());
  if (c.has_initial_cluster_state()) v.set_initial_cluster_state(c.initial_cluster_state());
  if (c.has_listen_client_urls()) v.set_listen_client_urls(c.listen_client_urls());
  if (c.has_advertise_client_urls()) v.set_advertise_client_urls(c.advertise_client_urls());
  if (c.has_listen_peer_urls()) v.set_listen_peer_urls(c.listen_peer_urls());
  if (c.has_initial_advertise_peer_urls())
    v.set_initial_advertise_peer_urls(c.initial_advertise_peer_urls());
  v.mutable_sources()->CopyFrom(c.sources());
  v.set_received_at(rfc3339(received_wall_ms));
  return v;
}

}  // namespace qw::aggregator
