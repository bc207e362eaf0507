#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace qw {

// Time source; rates, staleness and backoff are functions of now() so tests can drive a fake.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t wallMs() const = 0;    // unix epoch milliseconds
  virtual int64_t steadyMs() const = 0;  // monotonic milliseconds
};

class SystemClock final : public Clock {
 public:
  int64_t wallMs() const override;
  int64_t steadyMs() const override;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall_ms = 1'700'000'000'000) : wall_(wall_ms) {}
  int64_t wallMs() const override { return wall_; }
  int64_t steadyMs() const override { return steady_; }
  void advance(int64_t ms) {
    wall_ += ms;
    steady_ += ms;
  }

 private:
  int64_t wall_;
  int64_t steady_ = 1'000'000;
};

// CLOCK_BOOTTIME in milliseconds: monotonic, never stepped, and counting through suspend (unlike
// steady_clock, which is CLOCK_MONOTONIC). The agent's samples carry it (NodeSample.mono_ms).
int64_t bootTimeMs();

// "2026-11-25T06:26:59Z" (milliseconds dropped).
std::string rfc3339(int64_t unix_ms);
// Accepts unix seconds (integer or fractional) or RFC 3339 ("...Z" or "+hh:mm"); returns unix ms.
std::optional<int64_t> parseTimeArg(const std::string& text);

}  // namespace qw
