#pragma once
// Full-jitter exponential backoff: delay = uniform(0, min(cap, base * 2^attempt)). Reset after a
// successful handshake. The random source is passed in so tests are deterministic.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace qw::agent {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, uint64_t seed)
      : base_(base), cap_(cap), rng_(seed) {}

  std::chrono::milliseconds next() {
    int64_t ceiling = base_.count();
    for (int i = 0; i < attempt_ && ceiling < cap_.count(); ++i) ceiling *= 2;
    ceiling = std::min<int64_t>(ceiling, cap_.count());
    if (attempt_ < 62) ++attempt_;
    std::uniform_int_distribution<int64_t> d(0, ceiling);
    return std::chrono::milliseconds(d(rng_));
  }
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds base_, cap_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace qw::agent
