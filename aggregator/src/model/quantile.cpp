#include "qw/aggregator/model/quantile.h"

#include <cmath>

namespace qw::aggregator {

std::optional<double> histogramQuantile(double q, const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& cum) {
  if (bounds.size() != cum.size() || bounds.size() < 2 || !std::isinf(bounds.back()) ||
      std::isnan(q))
    return std::nullopt;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  double total = static_cast<double>(cum.back());
  if (total == 0) return std::nullopt;
  double rank = q * total;
  size_t b = 0;
  while (b < cum.size() && static_cast<double>(cum[b]) < rank) ++b;
  if (b == cum.size() - 1) return bounds[bounds.size() - 2];  // in +Inf: highest finite bound
  if (b == 0 && bounds[0] <= 0) return bounds[0];
  double lower = b == 0 ? 0 : bounds[b - 1];
  double upper = bounds[b];
  double below = b == 0 ? 0 : static_cast<double>(cum[b - 1]);
  double in_bucket = static_cast<double>(cum[b]) - below;
  if (in_bucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / in_bucket);
}

std::optional<double> histogramQuantile(double q, const qw::wire::Histogram& h) {
  std::vector<double> bounds(h.upper_bounds().begin(), h.upper_bounds().end());
  std::vector<uint64_t> counts(h.counts().begin(), h.counts().end());
  return histogramQuantile(q, bounds, counts);
}

}  // namespace qw::aggregator
