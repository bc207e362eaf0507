#include "qw/aggregator/model/hub.h"

#include <algorithm>

namespace qw::aggregator {

NodeState& Hub::node(const std::string& name) {
  auto& n = nodes_[name];
  n.name = name;
  return n;
}

const NodeState* Hub::findNode(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

bool Hub::applySample(const std::string& name, const qw::wire::NodeSample& s, int64_t wall_ms,
                      int64_t steady_ms) {
  auto& n = node(name);
  n.latest = s;
  n.has_sample = true;
  n.last_seen_wall_ms = wall_ms;
  n.last_seen_steady_ms = steady_ms;
  if (s.has_metrics() && s.metrics().interval_ms() > 0) {
    n.metrics = s.metrics();
    n.has_metrics = true;
  }
  if (s.has_etcd_config()) {
    n.etcd_config = s.etcd_config();
    n.etcd_config_wall_ms = wall_ms;
  }
  const auto& e = s.etcd();
  if (e.reachable() && e.member_id() != 0) n.member_id = e.member_id();
  if (e.reachable() && !e.version().empty()) n.last_etcd_version = e.version();
  if (e.reachable() && e.has_revision()) {
    n.last_revision = e.revision();
    n.last_revision_wall_ms = wall_ms;
  }
  if (s.has_disk() && s.disk().interval_ms() > 0 && !s.disk().counters_reset()) {
    double rate = static_cast<double>(s.disk().write_bytes()) * 1000.0 /
                  static_cast<double>(s.disk().interval_ms());
    n.disk_write_peak_bps = std::max(n.disk_write_peak_bps, rate);
  }
  if (!e.members_ok()) return false;
  // Prefer the list of a member that sees a leader, and the newest term: a member cut off from
  // the others may hold an outdated list.
  if (!e.has_leader() && !members_.empty()) return false;
  if (e.raft_term() < members_term_ && !members_.empty()) return false;
  members_term_ = e.raft_term();
  std::map<uint64_t, MemberInfo> m;
  for (const auto& pm : e.members()) {
    MemberInfo mi;
    mi.id = pm.id();
    mi.name = pm.name();
    mi.is_learner = pm.is_learner();
    mi.peer_urls.assign(pm.peer_urls().begin(), pm.peer_urls().end());
    mi.client_urls.assign(pm.client_urls().begin(), pm.client_urls().end());
    m[mi.id] = std::move(mi);
  }
  bool changed = m.size() != members_.size();
  if (!changed)
    for (const auto& [id, mi] : m) {
      auto it = members_.find(id);
      if (it == members_.end() || it->second.name != mi.name ||
          it->second.is_learner != mi.is_learner || it->second.peer_urls != mi.peer_urls) {
        changed = true;
        break;
      }
    }
  members_ = std::move(m);
  return changed;
}

}  // namespace qw::aggregator
