#pragma once
// The metric catalogue of the history store: which numbers of a NodeSample become stored series,
// under which name, and how they aggregate. One NodeSample yields up to ~40 gauge points and,
// in the cycles that scraped etcd's /metrics, three histograms (bucket deltas).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sample.pb.h"

namespace qw::aggregator {

enum class MetricKind { kGauge, kCounter, kHistogram };

struct MetricDef {
  const char* name;
  MetricKind kind;
  const char* unit;
  const char* help;
};

// Every metric, in a fixed order (the index is the metric's id inside this process).
const std::vector<MetricDef>& metricCatalog();
// The metric named `name` (or an alias like "wal_fsync_p99_seconds" -> "wal_fsync_seconds" with
// `*fixed_agg` = "p99"); -1 when unknown.
int findMetric(std::string_view name, std::string* fixed_agg);
const char* defaultAgg(MetricKind k);

struct GaugePoint {
  int metric;
  double value;
};
struct HistPoint {
  int metric;
  qw::wire::Histogram hist;  // bucket deltas of the interval (cumulative buckets, like Prometheus)
};

// Appends what `s` measured; an unknown value (a sensor the node lacks, a rate without a previous
// reading) yields no point, never a 0.
void extractPoints(const qw::wire::NodeSample& s, std::vector<GaugePoint>* gauges,
                   std::vector<HistPoint>* hists);

// Adds `b` into `a` when their bounds match (returns false and leaves `a` alone otherwise).
bool mergeHistogram(qw::wire::Histogram* a, const qw::wire::Histogram& b);

}  // namespace qw::aggregator
