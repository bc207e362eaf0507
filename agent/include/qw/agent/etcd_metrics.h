#pragma once
// etcd's /metrics text -> the EtcdMetrics the agent sends (both the 3.4 and 3.5 metric sets).
#include <optional>
#include <string>
#include <string_view>

#include "sample.pb.h"

namespace qw::agent {

// Cumulative values as etcd exports them (counters as totals). Returns an error when the text has
// no etcd metric at all; malformed lines are skipped and counted in parse_errors.
std::optional<std::string> extractEtcdMetrics(std::string_view text, qw::wire::EtcdMetrics* out);

// What travels: gauges of `cur`, counters and histograms as `cur - prev` over interval_ms, with
// counter resets (a value below the previous one: etcd restarted) taken as "since the restart".
qw::wire::EtcdMetrics metricsDelta(const qw::wire::EtcdMetrics* prev,
                                   const qw::wire::EtcdMetrics& cur, int64_t interval_ms);

}  // namespace qw::agent
