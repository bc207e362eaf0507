#pragma once
// Terminal output: colour only on a terminal, never with NO_COLOR (https://no-color.org: set and
// not empty) or TERM=dumb; and sparklines of eight block heights.
#include <string>
#include <vector>

namespace qw::cli {

class Style {
 public:
  explicit Style(bool enabled) : on_(enabled) {}
  // Colour for stdout: a terminal, NO_COLOR unset or empty, TERM not "dumb", not --json.
  static bool detect(bool json);
  std::string red(const std::string& s) const { return wrap("1;31", s); }
  std::string yellow(const std::string& s) const { return wrap("33", s); }
  std::string green(const std::string& s) const { return wrap("32", s); }
  std::string bold(const std::string& s) const { return wrap("1", s); }
  std::string dim(const std::string& s) const { return wrap("2", s); }
  // A cluster state or severity in its colour (the word itself always printed).
  std::string state(const std::string& s) const { return stateAs(s, s); }
  // `text` in the colour of the state or severity `word` (padded columns stay aligned).
  std::string stateAs(const std::string& word, const std::string& text) const;
  bool enabled() const { return on_; }

 private:
  std::string wrap(const char* code, const std::string& s) const {
    return on_ ? "\033[" + std::string(code) + "m" + s + "\033[0m" : s;
  }
  bool on_;
};

// One character per value, scaled between the smallest and the largest; a gap (absent value,
// NaN) is a space. All equal: the lowest block.
std::string sparkline(const std::vector<double>& values);

}  // namespace qw::cli
