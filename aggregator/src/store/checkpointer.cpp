#include <chrono>

#include "parts.h"
#include "qw/log.h"

namespace qw::aggregator::storage {

Checkpointer::Checkpointer(sql::Db& db, const std::string& path) : db_(db), path_(path) {
  db_.exec("PRAGMA wal_autocheckpoint=0");
  // sqlite3_wal_hook returns the previous hook's context, not a result code.
  sqlite3_wal_hook(
      db_.handle(),
      [](void* self, sqlite3*, const char*, int pages) {
        auto* ck = static_cast<Checkpointer*>(self);
        if (pages >= 1000) {  // SQLite's own threshold (4 MiB of 4 KiB pages)
          std::lock_guard<std::mutex> l(ck->mu_);
          ck->wanted_ = true;
          ck->cv_.notify_one();
        }
        return SQLITE_OK;
      },
      this);
  thread_ = std::thread([this] { loop(); });
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_hook(db_.handle(), nullptr, nullptr);
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Checkpointer::loop() {
  auto log = qw::logger("store");
  std::optional<sql::Db> db;
  try {
    db.emplace(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    db->busyTimeout(1000);
  } catch (const sql::Error& e) {
    log->error("checkpointer: {}; the WAL is checkpointed at close only", e.what());
    return;
  }
  std::unique_lock<std::mutex> l(mu_);
  bool reported = false;
  while (!stop_) {
    // Wanted after a commit left 1000+ pages in the WAL; otherwise once a second.
    cv_.wait_for(l, std::chrono::seconds(1), [this] { return stop_ || wanted_; });
    if (stop_) break;
    wanted_ = false;
    l.unlock();
    int wal_pages = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_pages,
                                       &done);
    if (rc == SQLITE_OK) {
      if (done > 0) ++checkpoints_;
      reported = false;
    } else if (rc != SQLITE_BUSY && !reported) {
      // Busy is normal (a writer holds the lock); anything else is said once per streak.
      log->warn("checkpoint: {}", db->errmsg());
      reported = true;
    }
    l.lock();
  }
}

}  // namespace qw::aggregator::storage
