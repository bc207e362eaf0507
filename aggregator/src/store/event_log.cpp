#include "parts.h"

namespace qw::aggregator::storage {

EventLog::EventLog(sql::Db& db)
    : db_(db),
      ins_(db,
           "INSERT INTO events(ts_ms, kind, node, severity, message, code, member) "
           "VALUES(?,?,?,?,?,?,?)",
           true) {}

void EventLog::insert(const Event& e) {
  ins_.bind(1, e.ts_ms).bind(2, e.kind).bind(3, e.node).bind(4, e.severity).bind(5, e.message);
  ins_.bind(6, e.code).bind(7, e.member);
  ins_.run();
}

void EventLog::add(const std::vector<Event>& events) {
  sql::Tx tx(db_);
  for (const auto& e : events) insert(e);
  tx.commit();
}

std::vector<Store::StoredEvent> EventLog::query(int64_t since_ms, const std::string& kind,
                                                const std::string& node, int limit) {
  std::vector<Store::StoredEvent> out;
  sql::Stmt st(db_,
               "SELECT id, ts_ms, kind, node, severity, message, code, member FROM events WHERE "
               "ts_ms >= ?1 AND "
               "(?2 = '' OR kind = ?2) AND (?3 = '' OR node = ?3) ORDER BY ts_ms, id LIMIT ?4");
  st.bind(1, since_ms).bind(2, kind).bind(3, node).bind(4, limit);
  while (st.next())
    out.push_back(
        {st.int64(0),
         {st.int64(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6), st.text(7)}});
  return out;
}

std::vector<Store::EventCount> EventLog::counts(int64_t since_ms) {
  std::vector<Store::EventCount> out;
  sql::Stmt st(db_,
               "SELECT kind, node, count(*) FROM events WHERE ts_ms >= ?1 GROUP BY kind, node");
  st.bind(1, since_ms);
  while (st.next()) out.push_back({st.text(0), st.text(1), static_cast<int>(st.int64(2))});
  return out;
}

}  // namespace qw::aggregator::storage
