#pragma once
// etcd's /metrics text -> the EtcdMetrics the agent sends (both the 3.4 and 3.5 metric sets).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sample.pb.h"

namespace qw::agent {

// Cumulative values as etcd exports them (counters as totals). Returns an error when the text has
// no etcd metric at all; malformed lines are skipped and counted in parse_errors.
std::optional<std::string> extractEtcdMetrics(std::string_view text, qw::wire::EtcdMetrics* out);

// The same, fed the body as it arrives, in pieces cut anywhere: the agent reads /metrics through
// a fixed buffer instead of holding etcd's ~150 KB body (whose pages glibc then kept resident, or
// handed back to fault in again at the next scrape). A line cut between pieces is held back.
class EtcdMetricsReader {
 public:
  void feed(std::string_view piece);
  // Ends the body; fills `out` like extractEtcdMetrics and readies the reader for the next one.
  std::optional<std::string> finish(qw::wire::EtcdMetrics* out);

 private:
  void parse(std::string_view lines);
  qw::wire::EtcdMetrics m_;
  std::map<std::string, qw::wire::Histogram> rtt_;
  std::map<std::string, uint64_t> sent_failures_;
  std::string carry_;  // a line not yet ended
  size_t bytes_ = 0, lines_ = 0, errors_ = 0, etcd_samples_ = 0;
  std::string first_error_;
};

// What travels: gauges of `cur`, counters and histograms as `cur - prev` over interval_ms, with
// counter resets (a value below the previous one: etcd restarted) taken as "since the restart".
qw::wire::EtcdMetrics metricsDelta(const qw::wire::EtcdMetrics* prev,
                                   const qw::wire::EtcdMetrics& cur, int64_t interval_ms);

}  // namespace qw::agent
