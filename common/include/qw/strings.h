#pragma once
// Small text helpers shared by the agent's procfs/sysfs parsers, the option parser and the
// aggregator: views into the caller's text, no allocation beyond the returned vectors.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qw {

// Without leading and trailing blanks (space, tab, CR, LF).
std::string_view trim(std::string_view s);

// The fields of `line` split on runs of spaces and tabs (no empty fields).
std::vector<std::string_view> splitFields(std::string_view line);

// The pieces of `s` between `sep` (empty pieces kept; "" gives no pieces).
std::vector<std::string_view> split(std::string_view s, char sep);

// Calls f(line) for every '\n'-terminated line (the last one may lack its '\n') until f returns
// false.
template <class F>
void forEachLine(std::string_view text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    if (!f(text.substr(pos, nl - pos))) return;
    pos = nl + 1;
  }
}

// A decimal unsigned integer, blanks around it allowed; nullopt for anything else.
std::optional<uint64_t> parseUint(std::string_view s);
// A decimal signed integer, blanks around it allowed.
std::optional<int64_t> parseInt(std::string_view s);
// The whole of `s` as a double (no blanks, no trailing text).
std::optional<double> parseDouble(std::string_view s);
// Hexadecimal, with or without 0x, at most 16 digits, blanks around it allowed.
std::optional<uint64_t> parseHex(std::string_view s);

bool startsWith(std::string_view s, std::string_view prefix);

}  // namespace qw
