#include "qw/aggregator/risk/advice.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace qw::aggregator::risk {

namespace {

using A = qw::api::TimingAdvice;

std::string ms(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g ms", seconds * 1000);
  return buf;
}

// Up to the next multiple of `step` seconds.
double roundUp(double seconds, double step) { return std::ceil(seconds / step - 1e-9) * step; }

std::string msInt(double seconds) { return std::to_string(std::lround(seconds * 1000)); }

std::string howTo(const std::string& flavor, double hb, double el) {
  std::string h = msInt(hb), e = msInt(el);
  if (flavor == "k3s")
    return "on every server: --etcd-arg=heartbeat-interval=" + h +
           " --etcd-arg=election-timeout=" + e +
           " (or in /etc/rancher/k3s/config.yaml: etcd-arg: [\"heartbeat-interval=" + h +
           "\", \"election-timeout=" + e +
           "\"]), then restart k3s one server at a time, waiting for the cluster to be HEALTHY "
           "in between";
  if (flavor == "kubeadm")
    return "on every control plane, in /etc/kubernetes/manifests/etcd.yaml add - "
           "--heartbeat-interval=" +
           h + " and - --election-timeout=" + e +
           " to etcd's command; the kubelet restarts the pod; one node at a time, waiting for "
           "the cluster to be HEALTHY in between";
  return "on every member: --heartbeat-interval=" + h + " --election-timeout=" + e +
         " (or ETCD_HEARTBEAT_INTERVAL=" + h + " and ETCD_ELECTION_TIMEOUT=" + e +
         " in its environment file, e.g. /etc/default/etcd), then restart the members one at a "
         "time, waiting for the cluster to be HEALTHY in between";
}

}  // namespace

A timingAdvice(const ClusterInput& in) {
  A out;
  std::map<uint64_t, const MemberInfo*> members;
  for (const auto& mi : in.members) members[mi.id] = &mi;
  std::optional<double> rtt, fsync, hb_max, el_min;
  std::string slow_disk_member;
  std::set<long> heartbeats, elections;
  std::set<std::string> flavors;
  for (const auto& n : in.nodes) {
    auto it = members.find(n.member_id);
    if (it == members.end() || it->second->is_learner) continue;
    auto* m = out.add_members();
    m->set_member(it->second->name);
    m->set_node(n.name);
    m->set_flavor(n.flavor);
    m->set_timing_source(n.timing_source);
    if (!n.flavor.empty()) flavors.insert(n.flavor);
    if (n.heartbeat_seconds) {
      m->set_heartbeat_interval_seconds(*n.heartbeat_seconds);
      heartbeats.insert(std::lround(*n.heartbeat_seconds * 1000));
      hb_max = std::max(hb_max.value_or(0), *n.heartbeat_seconds);
    }
    if (n.election_seconds) {
      m->set_election_timeout_seconds(*n.election_seconds);
      elections.insert(std::lround(*n.election_seconds * 1000));
      el_min = std::min(el_min.value_or(1e9), *n.election_seconds);
    }
    if (n.snapshot_count) m->set_snapshot_count(*n.snapshot_count);
    if (!n.fresh) continue;  // a stale node's measurements are not the present
    if (const auto& r = n.signals.peer_rtt_p99_seconds) {
      m->set_peer_rtt_p99_seconds(*r);
      rtt = std::max(rtt.value_or(0), *r);
    }
    if (const auto& f = n.signals.wal_fsync_p99_seconds) {
      m->set_wal_fsync_p99_seconds(*f);
      if (!fsync || *f > *fsync) {
        fsync = *f;
        slow_disk_member = it->second->name;
      }
    }
  }

  bool change = false, slow_disk = false;
  if (!hb_max) {
    out.add_findings(
        "etcd's heartbeat interval is not known: no agent has reported it (an agent before this "
        "version, or etcd's configuration was not readable)");
  }
  if (heartbeats.size() > 1 || elections.size() > 1) {
    change = true;
    std::string list;
    for (const auto& m : out.members())
      if (m.has_heartbeat_interval_seconds())
        list += (list.empty() ? "" : ", ") + m.member() + " " + ms(m.heartbeat_interval_seconds()) +
                (m.has_election_timeout_seconds() ? " / " + ms(m.election_timeout_seconds()) : "");
    out.add_findings("members run different timings (" + list +
                     "): set the same heartbeat and election timeout on every member");
  }
  if (hb_max && rtt && *hb_max < *rtt) {
    change = true;
    out.add_findings("heartbeat " + ms(*hb_max) +
                     " is shorter than the slowest peer round trip p99 " + ms(*rtt) +
                     ": heartbeats cannot arrive in time");
  }
  if (el_min && rtt && *el_min < 10 * *rtt) {
    change = true;
    out.add_findings("election timeout " + ms(*el_min) + " is below 10x the peer round trip p99 (" +
                     ms(10 * *rtt) + ")");
  }
  if (el_min && hb_max && *el_min < 5 * *hb_max) {
    change = true;
    out.add_findings("election timeout " + ms(*el_min) + " is below 5x the heartbeat (" +
                     ms(5 * *hb_max) + ")");
  }
  if (hb_max && fsync && *fsync >= 0.5 * *hb_max) {
    slow_disk = true;
    out.add_findings("WAL fsync p99 " + ms(*fsync) + " on " + slow_disk_member + " against a " +
                     ms(*hb_max) +
                     " heartbeat: timeouts do not fix a slow disk: move etcd's data dir to an "
                     "SSD");
  }

  if (hb_max) {
    double hb = *hb_max;
    if (rtt) hb = std::max(hb, roundUp(1.5 * *rtt, 0.01));
    double el = std::max({el_min.value_or(0), 5 * hb, rtt ? 10 * *rtt : 0.0});
    el = std::min(roundUp(el, 0.1), 50.0);  // etcd's maximum election timeout is 50 s
    out.set_recommended_heartbeat_interval_seconds(hb);
    out.set_recommended_election_timeout_seconds(el);
    if (change) {
      if (flavors.empty()) flavors = {"etcd", "k3s", "kubeadm"};
      for (const auto& f : flavors) {
        auto* s = out.add_settings();
        s->set_flavor(f);
        s->set_how(howTo(f, hb, el));
      }
    }
  }

  if (slow_disk)
    out.set_verdict(A::SLOW_DISK);
  else if (change)
    out.set_verdict(A::CHANGE);
  else if (hb_max && el_min && rtt) {
    out.set_verdict(A::OK);
    out.add_findings("heartbeat " + ms(*hb_max) + " and election timeout " + ms(*el_min) +
                     " suit a slowest peer round trip p99 of " + ms(*rtt) +
                     (fsync ? " and a WAL fsync p99 of " + ms(*fsync) : ""));
  } else {
    out.set_verdict(A::UNKNOWN);
    if (hb_max && !rtt)
      out.add_findings(
          "no peer round trip measured yet (etcd reports it once peers exchange "
          "messages; the agents' /metrics interval is 10 s by default)");
  }
  return out;
}

}  // namespace qw::aggregator::risk
