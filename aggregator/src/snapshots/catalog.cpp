#include "qw/aggregator/snapshots/catalog.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "qw/time_util.h"

namespace qw::aggregator {

namespace {

std::string hexId(uint64_t id) {
  char b[17];
  std::snprintf(b, sizeof b, "%016" PRIx64, id);
  return b;
}

std::string bytes(uint64_t n) {
  char b[32];
  if (n >= (1ull << 20))
    std::snprintf(b, sizeof b, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  else
    std::snprintf(b, sizeof b, "%" PRIu64 " bytes", n);
  return b;
}

void addCheck(qw::api::Snapshot* s, const char* name, bool ok, const std::string& reason) {
  auto* c = s->add_checks();
  c->set_check(name);
  c->set_ok(ok);
  if (!ok) {
    c->set_reason(reason);
    s->add_reasons(std::string(name) + ": " + reason);
  }
}

}  // namespace

qw::api::Snapshot judgeSnapshot(const std::string& node, const qw::wire::SnapshotFile& f,
                                const std::set<uint64_t>& known_members, int64_t now_ms) {
  using C = qw::wire::SnapshotCheck;
  qw::api::Snapshot s;
  s.set_node(node);
  s.set_path(f.path());
  s.set_size_bytes(static_cast<double>(f.size()));
  s.set_mtime(qw::rfc3339(f.mtime_ms()));
  s.set_age_seconds(static_cast<double>(now_ms - f.mtime_ms()) / 1000.0);
  s.set_disk(f.disk());
  if (f.has_same_disk_as_data()) s.set_same_disk_as_data(f.same_disk_as_data());
  const auto& c = f.check();
  if (c.state() == C::PENDING || c.state() == C::STATE_UNKNOWN) {
    s.set_status("pending");
    s.add_reasons(c.bytes_done() > 0 ? "being checked now (" + bytes(c.bytes_done()) + " of " +
                                           bytes(f.size()) + " read)"
                                     : "not checked yet");
    if (c.bytes_done() > 0) s.set_bytes_done(static_cast<double>(c.bytes_done()));
    return s;
  }
  if (c.state() == C::SKIPPED) {
    s.set_status("skipped");
    s.add_reasons(c.reason());
    return s;
  }
  if (c.structure_ok() && known_members.empty()) {
    // Not a failure: the member list arrives with the first samples.
    s.set_status("pending");
    s.add_reasons("waiting for this cluster's member list to tell whether it is this cluster's");
    return s;
  }
  addCheck(&s, "complete", c.complete(), c.complete_reason());
  addCheck(&s, "structure", c.structure_ok(), c.structure_reason());
  if (c.structure_ok()) {
    std::vector<std::string> unknown;
    for (uint64_t id : c.member_ids())
      if (!known_members.count(id)) unknown.push_back(hexId(id));
    std::string why;
    if (c.member_ids().empty()) {
      why = "its members bucket is empty: cannot tell which cluster it is from";
    } else if (unknown.size() == static_cast<size_t>(c.member_ids_size())) {
      why = "none of its members (";
      for (size_t i = 0; i < unknown.size(); ++i) why += (i ? ", " : "") + unknown[i];
      why += ") ever belonged to this cluster: a snapshot of another cluster";
    } else if (!unknown.empty()) {
      why = "member";
      why += unknown.size() > 1 ? "s " : " ";
      for (size_t i = 0; i < unknown.size(); ++i) why += (i ? ", " : "") + unknown[i];
      why += " never belonged to this cluster";
    }
    addCheck(&s, "cluster", why.empty(), why);
  } else {
    addCheck(&s, "cluster", false, "not known: the structure could not be read");
  }
  bool ok = true;
  for (const auto& k : s.checks()) ok &= k.ok();
  s.set_verified(ok);
  s.set_status(ok ? "verified" : "failed");
  if (c.has_revision()) s.set_revision(static_cast<double>(c.revision()));
  if (c.has_live_keys()) s.set_live_keys(static_cast<double>(c.live_keys()));
  if (c.has_total_keys()) s.set_total_keys(static_cast<double>(c.total_keys()));
  if (c.has_consistent_index()) s.set_consistent_index(static_cast<double>(c.consistent_index()));
  for (uint64_t id : c.member_ids()) s.add_member_ids(hexId(id));
  for (const auto& n : c.member_names()) s.add_member_names(n);
  s.set_cluster_version(c.cluster_version());
  s.set_sha256(c.sha256());
  if (c.checked_at_ms() > 0) s.set_checked_at(qw::rfc3339(c.checked_at_ms()));
  s.set_check_ms(static_cast<double>(c.check_ms()));
  return s;
}

std::vector<Event> SnapshotCatalog::update(const std::string& node,
                                           const qw::wire::SnapshotCatalog& c,
                                           const std::set<uint64_t>& known_members,
                                           int64_t now_ms) {
  std::vector<Event> out;
  auto& nc = nodes_[node];
  nc.error.clear();
  nc.known_members = known_members;
  nc.last = c;
  nc.last.clear_files();
  auto event = [&](const char* kind, const char* severity, std::string msg) {
    out.push_back({now_ms, kind, node, severity, std::move(msg)});
  };
  std::map<std::string, Entry> next;
  for (const auto& f : c.files()) {
    Entry e;
    e.file = f;
    e.first_seen_ms = now_ms;
    auto it = nc.files.find(f.path());
    if (it == nc.files.end()) {
      event("SNAPSHOT_ADDED", "INFO",
            "snapshot " + f.path() + " appeared (" + bytes(f.size()) + ")");
    } else {
      e.first_seen_ms = it->second.first_seen_ms;
      e.failure_reported = it->second.failure_reported;
      if (it->second.file.size() != f.size() || it->second.file.mtime_ms() != f.mtime_ms()) {
        event("SNAPSHOT_CHANGED", "WARNING",
              "snapshot " + f.path() + " changed (" + bytes(it->second.file.size()) + " -> " +
                  bytes(f.size()) + "): a snapshot is written once; something rewrote it");
        e.failure_reported = false;
      }
    }
    auto j = judgeSnapshot(node, f, known_members, now_ms);
    if (j.status() == "failed" && !e.failure_reported) {
      std::string why;
      for (const auto& r : j.reasons()) why += (why.empty() ? "" : "; ") + r;
      event("SNAPSHOT_FAILED", "WARNING", "snapshot " + f.path() + " fails verification: " + why);
      e.failure_reported = true;
    }
    next[f.path()] = std::move(e);
  }
  for (const auto& [path, e] : nc.files)
    if (!next.count(path)) event("SNAPSHOT_GONE", "INFO", "snapshot " + path + " disappeared");
  nc.files = std::move(next);
  return out;
}

void SnapshotCatalog::noteError(const std::string& node, const std::string& why) {
  nodes_[node].error = why;
}

qw::api::SnapshotList SnapshotCatalog::list(int64_t now_ms) const {
  qw::api::SnapshotList l;
  std::vector<std::pair<int64_t, qw::api::Snapshot>> all;
  for (const auto& [node, nc] : nodes_) {
    auto* n = l.add_nodes();
    n->set_node(node);
    for (const auto& d : nc.last.dirs()) n->add_dirs(d);
    for (const auto& d : nc.last.dir_errors()) n->add_dir_errors(d);
    if (nc.last.scanned_at_ms() > 0) n->set_scanned_at(qw::rfc3339(nc.last.scanned_at_ms()));
    n->set_data_disk(nc.last.data_disk());
    n->set_error(nc.error);
    for (const auto& [path, e] : nc.files) {
      auto s = judgeSnapshot(node, e.file, nc.known_members, now_ms);
      s.set_first_seen(qw::rfc3339(e.first_seen_ms));
      all.emplace_back(e.file.mtime_ms(), std::move(s));
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  double verified = 0, failing = 0;
  for (auto& [mtime, s] : all) {
    if (s.verified()) {
      if (l.newest_verified().empty()) {
        l.set_newest_verified(s.node() + ":" + s.path());
        l.set_newest_verified_age_seconds(s.age_seconds());
      }
      ++verified;
    }
    if (s.status() == "failed") ++failing;
    *l.add_snapshots() = std::move(s);
  }
  l.set_verified(verified);
  l.set_failing(failing);
  return l;
}

}  // namespace qw::aggregator
