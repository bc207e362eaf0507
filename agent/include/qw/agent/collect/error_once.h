#pragma once
// Sampler errors are counted every time (SamplerErrors in sample.proto) but logged once per kind:
// at its first occurrence, again when its text changes, and again when it comes back after a
// reading of that kind succeeded. A kind is "group/item" ("thermal/thermal cpu-thermal",
// "metrics/metrics"); a group that read without failing an item clears that item.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sample.pb.h"

namespace qw::agent {

class ErrorOnce {
 public:
  using Failure = std::pair<std::string, std::string>;  // kind, text
  // One reading of `groups` with these failures; returns the texts to log now.
  std::vector<std::string> update(const std::vector<std::string>& groups,
                                  const std::vector<Failure>& failures);
  // The same for one group.
  std::vector<std::string> update(const std::string& group, const std::vector<Failure>& failures);
  // Kinds failing now.
  size_t active() const;

 private:
  struct Kind {
    std::string text;
    bool active = false;
  };
  std::map<std::string, Kind> kinds_;
};

// Per sampler ("etcd", "metrics", "host", "unit"): the error count and the most recent error,
// written to a sample's `errors` ordered by when each sampler last failed, the most recent last
// (the aggregator shows the last entry as the node's last_sampler_error).
class SamplerErrorBook {
 public:
  void add(const std::string& sampler, uint64_t count, const std::string& last_error);
  // For a sampler that counts its own errors: records a change of count as a new failure.
  void set(const std::string& sampler, uint64_t count, const std::string& last_error);
  void fill(qw::wire::NodeSample* s) const;
  // The most recent error, "sampler: text"; "" when none yet.
  std::string mostRecent() const;

 private:
  struct Entry {
    std::string sampler;
    uint64_t count = 0;
    std::string last_error;
    uint64_t order = 0;
  };
  std::vector<Entry> entries_;
  uint64_t next_order_ = 0;
};

}  // namespace qw::agent
