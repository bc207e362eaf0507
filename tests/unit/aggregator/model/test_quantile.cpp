#include <catch2/catch.hpp>
#include <cmath>

#include "qw/aggregator/model/quantile.h"

using qw::aggregator::histogramQuantile;

TEST_CASE("histogram quantiles interpolate like Prometheus's histogram_quantile") {
  const double inf = INFINITY;
  // 100 observations: 50 <= 0.001, 90 <= 0.002, 99 <= 0.004, 100 <= 0.008.
  std::vector<double> le{0.001, 0.002, 0.004, 0.008, inf};
  std::vector<uint64_t> cum{50, 90, 99, 100, 100};
  // p50: rank 50 falls at the top of the first bucket [0, 0.001].
  CHECK(*histogramQuantile(0.5, le, cum) == Approx(0.001));
  // p90: rank 90 at the top of (0.001, 0.002].
  CHECK(*histogramQuantile(0.9, le, cum) == Approx(0.002));
  // p99: rank 99 at the top of (0.002, 0.004].
  CHECK(*histogramQuantile(0.99, le, cum) == Approx(0.004));
  // p25: rank 25, halfway through the first bucket (lower bound 0).
  CHECK(*histogramQuantile(0.25, le, cum) == Approx(0.0005));
  // p70: rank 70 = 50 + 20 of the 40 in (0.001, 0.002] -> 0.0015.
  CHECK(*histogramQuantile(0.7, le, cum) == Approx(0.0015));
  // p995: rank 99.5 = 99 + 0.5 of the 1 in (0.004, 0.008] -> 0.006.
  CHECK(*histogramQuantile(0.995, le, cum) == Approx(0.006));
}

TEST_CASE("a rank in the +Inf bucket answers the highest finite bound, no data is unknown") {
  const double inf = INFINITY;
  std::vector<double> le{0.1, 0.2, inf};
  CHECK(*histogramQuantile(0.99, le, {1, 1, 10}) == Approx(0.2));
  CHECK_FALSE(histogramQuantile(0.99, le, {0, 0, 0}));
  CHECK_FALSE(histogramQuantile(0.99, {0.1, 0.2}, {1, 2}));  // no +Inf bucket
  CHECK_FALSE(histogramQuantile(0.99, le, {1, 2}));          // sizes differ
}
