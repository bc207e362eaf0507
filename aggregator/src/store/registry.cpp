#include <cerrno>
#include <cstdlib>

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
  db_.exec("DELETE FROM members");
  sql::Stmt s(db_,
              "INSERT INTO members(member_id, name, is_learner, peer_urls, client_urls, "
              "updated_ms) VALUES(?,?,?,?,?,?)");
  for (const auto& [id, m] : members) {
    s.bind(1, std::to_string(id))
        .bind(2, m.name)
        .bind(3, m.is_learner ? 1 : 0)
        .bind(4, join(m.peer_urls))
        .bind(5, join(m.client_urls))
        .bind(6, now_ms)
        .run();
  }
  tx.commit();
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
      sql::Stmt s(db_, "SELECT member_id, name, is_learner, peer_urls, client_urls FROM members");
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
  } catch (const sql::Error& e) {
    return bad(e.what() + hintFor(e.code()));
  }
  return std::nullopt;
}

}  // namespace qw::aggregator::storage
