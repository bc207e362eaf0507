#pragma once
// Quantiles from histogram bucket counts, interpolated the way Prometheus's histogram_quantile
// does: linear within the bucket that holds the rank, the lower bound of the first bucket is 0
// (when its upper bound is positive), a rank in the +Inf bucket answers the highest finite bound.
#include <cstdint>
#include <optional>
#include <vector>

#include "sample.pb.h"

namespace qw::aggregator {

// `cumulative[i]` observations were <= `upper_bounds[i]`; bounds ascending, the last +Inf.
// nullopt when there are no observations (Prometheus: NaN) or the input is malformed.
std::optional<double> histogramQuantile(double q, const std::vector<double>& upper_bounds,
                                        const std::vector<uint64_t>& cumulative);
std::optional<double> histogramQuantile(double q, const qw::wire::Histogram& h);

}  // namespace qw::aggregator
