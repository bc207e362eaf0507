#include <cerrno>
#include <cstdlib>
#include <set>

#include "parts.h"

namespace qw::aggregator::storage {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b < s.size()) {
    auto e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

// A member id as stored (decimal text); false when it is not one.
bool parseId(const std::string& text, uint64_t* out) {
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  errno = 0;
  *out = std::strtoull(text.c_str(), nullptr, 10);
  return errno == 0;
}

}  // namespace

Registry::Registry(sql::Db& db)
    : db_(db),
      upd_cursor_(db,
                  "UPDATE ingest_cursors SET last_seq = max(last_seq, ?), updated_ms = ? WHERE "
                  "instance_id = ?",
                  true),
      sel_cursor_(db, "SELECT max(seq) FROM batches WHERE instance_id = ?", true),
      upd_node_(db,
                "UPDATE nodes SET last_seen_ms = ?, member_id = CASE WHEN ? = '' THEN member_id "
                "ELSE ? END WHERE name = ?",
                true),
      ups_applied_(db,
                   "INSERT INTO member_applied(member_id, node, applied_index, ts_ms) "
                   "VALUES(?1,?2,?3,?4) ON CONFLICT(member_id) DO UPDATE SET node = ?2, "
                   "applied_index = ?3, ts_ms = ?4 WHERE ?4 >= ts_ms",
                   true) {}

std::optional<uint64_t> Registry::lastSeq(const std::string& instance_id) {
  sel_cursor_.bind(1, instance_id);
  std::optional<uint64_t> seq;
  if (sel_cursor_.next() && !sel_cursor_.isNull(0))
    seq = static_cast<uint64_t>(sel_cursor_.int64(0));
  sel_cursor_.reset();  // no read transaction left open
  return seq;
}

void Registry::advanceCursor(const std::string& instance_id, uint64_t seq, int64_t recv_ms) {
  upd_cursor_.bind(1, seq).bind(2, recv_ms).bind(3, instance_id).run();
}

void Registry::touchNode(const std::string& node, int64_t recv_ms, uint64_t member) {
  std::string mid = member ? std::to_string(member) : "";
  upd_node_.bind(1, recv_ms).bind(2, mid).bind(3, mid).bind(4, node).run();
}

void Registry::recordAgent(const std::string& instance_id, const std::string& node,
                           const std::string& cluster, const std::string& version,
                           const std::string& boot_id, const std::string& domain, int64_t now_ms,
                           std::string* previous_boot_id) {
  sql::Stmt(db_,
            "INSERT INTO ingest_cursors(instance_id, node, cluster_name, agent_version, boot_id, "
            "first_seen_ms, updated_ms) VALUES(?1,?2,?3,?4,?5,?6,?6) ON CONFLICT(instance_id) DO "
            "UPDATE SET updated_ms = ?6")
      .bind(1, instance_id)
      .bind(2, node)
      .bind(3, cluster)
      .bind(4, version)
      .bind(5, boot_id)
      .bind(6, now_ms)
      .run();
  if (previous_boot_id) {
    previous_boot_id->clear();
    sql::Stmt s(db_, "SELECT boot_id FROM nodes WHERE name = ?");
    s.bind(1, node);
    if (s.next()) *previous_boot_id = s.text(0);
  }
  sql::Stmt(db_,
            "INSERT INTO nodes(name, cluster_name, failure_domain, first_seen_ms, last_seen_ms, "
            "boot_id) VALUES(?1,?2,?3,?4,?4,?5) ON CONFLICT(name) DO UPDATE SET cluster_name = ?2, "
            "failure_domain = ?3, boot_id = CASE WHEN ?5 = '' THEN boot_id ELSE ?5 END")
      .bind(1, node)
      .bind(2, cluster)
      .bind(3, domain)
      .bind(4, now_ms)
      .bind(5, boot_id)
      .run();
}

void Registry::saveMembers(const std::map<uint64_t, MemberInfo>& members, int64_t now_ms) {
  sql::Tx tx(db_);
  // Every member stays: the ones in the list are (again) current, the others have left.
  std::set<std::string> left;
  {
    sql::Stmt cur(db_, "SELECT member_id FROM members WHERE removed_ms IS NULL");
    while (cur.next()) left.insert(cur.text(0));
  }
  sql::Stmt up(db_,
               "INSERT INTO members(member_id, name, is_learner, peer_urls, client_urls, "
               "updated_ms, first_seen_ms, last_seen_ms) VALUES(?1,?2,?3,?4,?5,?6,?6,?6) "
               "ON CONFLICT(member_id) DO UPDATE SET name = ?2, is_learner = ?3, peer_urls = ?4, "
               "client_urls = ?5, updated_ms = ?6, last_seen_ms = ?6, removed_ms = NULL");
  for (const auto& [id, m] : members) {
    std::string mid = std::to_string(id);
    up.bind(1, mid)
        .bind(2, m.name)
        .bind(3, m.is_learner ? 1 : 0)
        .bind(4, join(m.peer_urls))
        .bind(5, join(m.client_urls))
        .bind(6, now_ms)
        .run();
    left.erase(mid);
  }
  sql::Stmt gone(db_, "UPDATE members SET removed_ms = ?2, updated_ms = ?2 WHERE member_id = ?1");
  for (const auto& mid : left) gone.bind(1, mid).bind(2, now_ms).run();
  tx.commit();
}

std::vector<Store::MemberRecord> Registry::memberHistory() {
  std::vector<Store::MemberRecord> out;
  sql::Stmt s(db_,
              "SELECT member_id, name, is_learner, peer_urls, client_urls, first_seen_ms, "
              "last_seen_ms, removed_ms FROM members ORDER BY first_seen_ms, member_id");
  while (s.next()) {
    Store::MemberRecord r;
    std::string mid = s.text(0);
    if (!parseId(mid, &r.info.id))
      throw sql::Error(SQLITE_CORRUPT, "member id '" + mid + "' is not a number");
    r.info.name = s.text(1);
    r.info.is_learner = s.int64(2) != 0;
    r.info.peer_urls = split(s.text(3));
    r.info.client_urls = split(s.text(4));
    r.first_seen_ms = s.int64(5);
    r.last_seen_ms = s.int64(6);
    if (!s.isNull(7)) r.removed_ms = s.int64(7);
    out.push_back(std::move(r));
  }
  return out;
}

void Registry::writeApplied(const std::map<uint64_t, Applied>& newest,
                            std::vector<uint64_t>* written) {
  for (const auto& [member, a] : newest) {
    auto it = applied_.find(member);
    if (it != applied_.end()) {
      const Applied& last = it->second;
      if (a.ts_ms < last.ts_ms) continue;  // older knowledge
      if (a.index == last.index && a.node == last.node && a.ts_ms < last.ts_ms + 1000) continue;
    }
    ups_applied_.bind(1, std::to_string(member)).bind(2, a.node).bind(3, a.index).bind(4, a.ts_ms);
    ups_applied_.run();
    written->push_back(member);
  }
}

void Registry::appliedCommitted(const std::map<uint64_t, Applied>& newest,
                                const std::vector<uint64_t>& written) {
  for (uint64_t m : written) applied_[m] = newest.at(m);
}

std::map<uint64_t, Store::AppliedIndex> Registry::lastApplied() {
  std::map<uint64_t, Store::AppliedIndex> out;
  sql::Stmt s(db_, "SELECT member_id, node, applied_index, ts_ms FROM member_applied");
  while (s.next()) {
    uint64_t id = 0;
    std::string mid = s.text(0);
    if (!parseId(mid, &id))
      throw sql::Error(SQLITE_CORRUPT, "member id '" + mid + "' is not a number");
    out[id] = {s.text(1), static_cast<uint64_t>(s.int64(2)), s.int64(3)};
  }
  return out;
}

void Registry::recordFlavor(const std::string& node, const std::string& flavor, int64_t now_ms) {
  if (flavor.empty()) return;
  sql::Stmt(db_,
            "INSERT INTO node_flavors(node, flavor, first_seen_ms, updated_ms) VALUES(?1,?2,?3,?3) "
            "ON CONFLICT(node) DO UPDATE SET flavor = ?2, updated_ms = ?3 WHERE flavor <> ?2")
      .bind(1, node)
      .bind(2, flavor)
      .bind(3, now_ms)
      .run();
}

std::map<std::string, std::string> Registry::nodeFlavors() {
  std::map<std::string, std::string> out;
  sql::Stmt s(db_, "SELECT node, flavor FROM node_flavors");
  while (s.next()) out[s.text(0)] = s.text(1);
  return out;
}

void Registry::recordClusterId(uint64_t id, uint64_t replaces, int64_t now_ms) {
  sql::Tx tx(db_);
  sql::Stmt(db_,
            "INSERT INTO cluster_ids(cluster_id, first_seen_ms) VALUES(?1, ?2) "
            "ON CONFLICT(cluster_id) DO UPDATE SET replaced_ms = NULL, replaced_by = NULL")
      .bind(1, std::to_string(id))
      .bind(2, now_ms)
      .run();
  if (replaces != 0 && replaces != id)
    sql::Stmt(db_,
              "UPDATE cluster_ids SET replaced_ms = ?2, replaced_by = ?3 WHERE cluster_id = ?1")
        .bind(1, std::to_string(replaces))
        .bind(2, now_ms)
        .bind(3, std::to_string(id))
        .run();
  tx.commit();
}

std::vector<Store::ClusterIdRecord> Registry::clusterHistory() {
  std::vector<Store::ClusterIdRecord> out;
  sql::Stmt s(db_,
              "SELECT cluster_id, first_seen_ms, replaced_ms, replaced_by FROM cluster_ids "
              "ORDER BY first_seen_ms, cluster_id");
  while (s.next()) {
    Store::ClusterIdRecord r;
    std::string id = s.text(0), by = s.text(3);
    if (!parseId(id, &r.id) || (!by.empty() && !parseId(by, &r.replaced_by)))
      throw sql::Error(SQLITE_CORRUPT, "cluster id '" + id + "' is not a number");
    r.first_seen_ms = s.int64(1);
    if (!s.isNull(2)) r.replaced_ms = s.int64(2);
    out.push_back(r);
  }
  return out;
}

std::optional<std::string> Registry::load(Hub* hub) {
  auto bad = [&](const std::string& what) {
    return "database '" + db_.path() + "': " + what +
           "; the file is damaged or not quorumwatch's (move it aside and start with a new --db)";
  };
  try {
    {
      sql::Stmt s(db_,
                  "SELECT name, cluster_name, member_id, failure_domain, last_seen_ms FROM nodes");
      while (s.next()) {
        std::string name = s.text(0), mid = s.text(2);
        uint64_t member = 0;
        if (name.empty() || (!mid.empty() && !parseId(mid, &member)))
          return bad("node '" + name + "' has member id '" + mid + "'");
        auto& n = hub->node(name);
        n.cluster_name = s.text(1);
        n.member_id = member;
        n.failure_domain = s.text(3);
        n.last_seen_wall_ms = s.int64(4);
      }
    }
    // The newest sample per node, for the API (shown as stale until the agent reports again).
    {
      sql::Stmt s(db_,
                  "SELECT payload FROM samples WHERE node = ? ORDER BY recv_ms DESC, seq DESC, "
                  "idx DESC LIMIT 1");
      for (auto& [name, n] : hub->nodes()) {
        (void)n;
        s.bind(1, name);
        if (s.next()) {
          auto& ns = hub->node(name);
          auto b = s.blob(0);
          ns.has_sample = ns.latest.ParseFromArray(b.data(), static_cast<int>(b.size()));
        }
      }
    }
    std::map<uint64_t, MemberInfo> members;
    {
      // Current members only (members.removed_ms: the ones that left stay as history).
      sql::Stmt s(db_,
                  "SELECT member_id, name, is_learner, peer_urls, client_urls FROM members WHERE "
                  "removed_ms IS NULL");
      while (s.next()) {
        MemberInfo m;
        std::string mid = s.text(0);
        if (!parseId(mid, &m.id)) return bad("member id '" + mid + "' is not a number");
        m.name = s.text(1);
        m.is_learner = s.int64(2) != 0;
        m.peer_urls = split(s.text(3));
        m.client_urls = split(s.text(4));
        members[m.id] = std::move(m);
      }
    }
    hub->setMembers(std::move(members));
    uint64_t current = 0;
    std::set<uint64_t> previous;
    for (const auto& r : clusterHistory()) {
      if (r.replaced_ms)
        previous.insert(r.id);
      else
        current = r.id;
    }
    hub->identity().load(current, std::move(previous));
  } catch (const sql::Error& e) {
    return bad(e.what() + hintFor(e.extendedCode()));
  }
  return std::nullopt;
}

}  // namespace qw::aggregator::storage
