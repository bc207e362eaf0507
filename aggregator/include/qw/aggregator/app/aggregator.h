#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "qw/options.h"

namespace qw::aggregator {

struct AggregatorConfig {
  std::string listen = "127.0.0.1:9479";
  std::string db = "/var/lib/quorumwatch/aggregator.db";
  std::string token_file;
  std::string tls_cert, tls_key, client_ca;
  std::string cluster_name = "default";
  std::string durability = "normal";  // normal | full
  std::chrono::milliseconds stale_after{5000};
  std::chrono::milliseconds agent_timeout{2000};
  std::chrono::milliseconds snapshot_poll{60000};  // a silent agent session is closed after it
  int64_t max_apply_lag = 5000;
  int64_t max_agents = 256;
  int64_t max_frame_bytes = 1 << 20;
  std::string log_level = "info";
  std::chrono::milliseconds retention_raw{7LL * 86400 * 1000};
  std::chrono::milliseconds retention_rollups{90LL * 86400 * 1000};
  std::chrono::milliseconds retention_samples{1LL * 86400 * 1000};
  int64_t db_max_bytes = 0;
  std::string snapshot_store;  // empty: DIR-OF-DB/snapshot-copies
  int64_t snapshot_copies = 3;
  bool allow_plain_snapshot_pull = false;
  std::vector<std::string> etcd_bin_dirs = {"/usr/local/bin", "/usr/bin"};
  std::chrono::milliseconds snapshot_every{12LL * 3600 * 1000};
  int64_t snapshot_keep = 5;
  std::chrono::milliseconds snapshot_timeout{600000};
  std::chrono::milliseconds drill_every{24LL * 3600 * 1000};
  std::chrono::milliseconds drill_timeout{300000};
  int64_t drill_memory_map = 0;
  std::string risk_table;  // overrides of the risk model (risk/table.h); empty: the built-in one
  std::string notify_webhook;  // notify/webhook.h; empty: off
  int64_t notify_queue = 1000;
};

void registerOptions(Options& o, AggregatorConfig* c);
std::string validate(const AggregatorConfig& c);
int runAggregator(const AggregatorConfig& c);

}  // namespace qw::aggregator
