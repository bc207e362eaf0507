#include "qw/aggregator/model/cluster_identity.h"

#include <vector>

#include "qw/aggregator/model/hub.h"
#include "qw/fs_util.h"

namespace qw::aggregator {

uint64_t batchClusterId(const qw::wire::Batch& b) {
  for (int i = b.samples_size() - 1; i >= 0; --i) {
    const auto& s = b.samples(i);
    if (s.has_etcd() && s.etcd().reachable() && s.etcd().cluster_id() != 0)
      return s.etcd().cluster_id();
  }
  return 0;
}

void ClusterIdentity::load(uint64_t current, std::set<uint64_t> previous) {
  current_ = current;
  previous_ = std::move(previous);
  previous_.erase(current_);
}

ClusterIdVerdict ClusterIdentity::judge(const std::string& node, uint64_t id, bool live,
                                        const Hub& hub, int64_t now_steady_ms,
                                        int64_t stale_after_ms) const {
  using K = ClusterIdVerdict::Kind;
  ClusterIdVerdict v{K::kAccept, current_, id, ""};
  if (id == 0 || id == current_) return v;
  if (current_ == 0) {
    v.kind = K::kAdopt;
    return v;
  }
  // A backlog made before a restore carries an id this cluster had: it is this cluster's history.
  if (previous_.count(id) && !live) return v;
  std::vector<std::string> alive;  // other nodes whose fresh etcd answers with the current id
  for (const auto& [name, n] : hub.nodes()) {
    if (name == node || !n.has_sample || n.last_seen_steady_ms < 0) continue;
    if (now_steady_ms - n.last_seen_steady_ms > stale_after_ms) continue;
    const auto& e = n.latest.etcd();
    if (n.latest.has_etcd() && e.reachable() && e.cluster_id() == current_) alive.push_back(name);
  }
  const auto* self = hub.findNode(node);
  // Known: the node has reported this cluster before (it is in the history, or ran a member).
  bool known = self && self->has_sample &&
               (self->latest.etcd().cluster_id() == current_ ||
                previous_.count(self->latest.etcd().cluster_id()) || self->member_id != 0);
  std::string what = "etcd on " + node + " reports cluster id " + hex64(id) +
                     ", this aggregator watches cluster " + hex64(current_);
  if (!alive.empty()) {
    std::string names;
    for (const auto& a : alive) names += (names.empty() ? "" : ", ") + a;
    v.kind = K::kRefuse;
    v.reason = what + " (still answered by " + names +
               "): refusing its samples so the two clusters' histories stay apart. Point the "
               "agent at the right etcd, or at the aggregator of its own cluster";
    return v;
  }
  if (!known) {
    v.kind = K::kRefuse;
    v.reason = what + ", and " + node +
               " never belonged to it: refusing its samples. If this cluster was restored "
               "or rebuilt, its known nodes' agents move it to the new id";
    return v;
  }
  v.kind = K::kReplace;
  v.reason = "cluster " + hex64(current_) + " replaced by " + hex64(id) + " (first reported by " +
             node + "; no node reports the old id any more): a restore or a rebuilt cluster. " +
             "The history, member history included, is kept as this cluster's";
  return v;
}

void ClusterIdentity::apply(const ClusterIdVerdict& v) {
  using K = ClusterIdVerdict::Kind;
  if (v.kind != K::kAdopt && v.kind != K::kReplace) return;
  if (current_ != 0) previous_.insert(current_);
  current_ = v.new_id;
  previous_.erase(current_);
}

}  // namespace qw::aggregator
