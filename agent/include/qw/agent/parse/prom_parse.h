#pragma once
// Prometheus text exposition format 0.0.4 parser
// (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP`/`# TYPE` and other
// comments, metric names, labels with `\\`, `\"` and `\n` escapes, values with exponents, `+Inf`,
// `-Inf`, `NaN`, and an optional timestamp. Pure: no I/O, no logging; views point into the text or
// into the parser's scratch space and are valid only during the callback.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qw::agent {

struct PromSample {
  std::string_view name;
  std::vector<std::pair<std::string_view, std::string_view>> labels;
  double value = 0;
  std::string_view label(std::string_view key) const {
    for (const auto& [k, v] : labels)
      if (k == key) return v;
    return {};
  }
};

struct PromParseResult {
  size_t samples = 0;
  size_t errors = 0;        // malformed lines, skipped
  std::string first_error;  // "line N: why"
  size_t lines = 0;         // lines read (a last line without a newline counts)
};

PromParseResult parsePrometheusText(std::string_view text,
                                    const std::function<void(const PromSample&)>& on_sample);
// The same, but a line whose metric name `want` rejects is skipped right after its name: its
// labels and value are neither parsed nor checked. For a caller that needs a few families of a
// large exposition (the agent reads ~100 of etcd's ~1,500 lines).
// `first_line` numbers the first line of `text` in errors (a caller feeding a stream in pieces).
PromParseResult parsePrometheusText(std::string_view text, bool (*want)(std::string_view name),
                                    const std::function<void(const PromSample&)>& on_sample,
                                    size_t first_line = 1);

// "+Inf", "-Inf", "NaN", "1.5e+06", "32". Returns false when malformed.
bool parsePromValue(std::string_view s, double* out);

}  // namespace qw::agent
