#pragma once
// SQLite store (DESIGN.md s5): WAL, prepared statements, schema version table with migrations,
// group commit (many batches per transaction), idempotent on (agent instance, seq).
#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qw/aggregator/hub.h"
#include "wire.pb.h"

namespace qw::aggregator {

class Store {
 public:
  struct Options {
    std::string path;
    std::string synchronous = "NORMAL";  // NORMAL (WAL: durable at checkpoint) or FULL
  };
  struct Item {
    std::string instance_id;
    std::string node;
    const qw::wire::Batch* batch = nullptr;
    int64_t recv_ms = 0;
    bool stored = false;  // out: false when (instance, seq) was already stored
  };

  explicit Store(const Options& opts);  // throws std::runtime_error (start-up)
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int kSchemaVersion = 1;
  int schemaVersion() const;

  // One transaction for all items. Returns an error message (nothing committed) or nullopt.
  std::optional<std::string> commit(std::vector<Item>& items);
  // Highest stored seq of an agent instance; nullopt when none.
  std::optional<uint64_t> lastSeq(const std::string& instance_id);

  // Agent identity (upserted on Hello).
  std::optional<std::string> recordAgent(const std::string& instance_id, const std::string& node,
                                         const std::string& cluster, const std::string& version,
                                         const std::string& boot_id, const std::string& domain,
                                         int64_t now_ms);
  std::optional<std::string> saveMembers(const std::map<uint64_t, MemberInfo>& members,
                                         int64_t now_ms);
  // Restores nodes (with their newest sample and member id) and membership after a restart.
  void load(Hub* hub);

  sqlite3* db() { return db_; }

 private:
  void exec(const char* sql);
  sqlite3_stmt* prepare(const char* sql);
  void migrate();

  sqlite3* db_ = nullptr;
  sqlite3_stmt* ins_batch_ = nullptr;
  sqlite3_stmt* ins_sample_ = nullptr;
  sqlite3_stmt* upd_cursor_ = nullptr;
  sqlite3_stmt* sel_cursor_ = nullptr;
  sqlite3_stmt* upd_node_ = nullptr;
};

}  // namespace qw::aggregator
