#include "qw/agent/parse/prom_parse.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace qw::agent {

namespace {

bool isNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

void skipSpaces(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

}  // namespace

bool parsePromValue(std::string_view s, double* out) {
  if (s == "+Inf" || s == "Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-Inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

PromParseResult parsePrometheusText(std::string_view text,
                                    const std::function<void(const PromSample&)>& on_sample) {
  return parsePrometheusText(text, nullptr, on_sample);
}

PromParseResult parsePrometheusText(std::string_view text, bool (*want)(std::string_view name),
                                    const std::function<void(const PromSample&)>& on_sample,
                                    size_t first_line) {
  PromParseResult r;
  PromSample sample;
  std::string scratch;  // unescaped label values of the current line
  struct Unescaped {
    size_t label, offset, length;  // label index -> its value in scratch
  };
  std::vector<Unescaped> unescaped;
  size_t line_no = first_line - 1;
  size_t pos = 0;
  auto fail = [&](const char* why) {
    ++r.errors;
    if (r.first_error.empty()) r.first_error = "line " + std::to_string(line_no) + ": " + why;
  };
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t i = 0;
    skipSpaces(line, i);
    if (i == line.size() || line[i] == '#') continue;  // blank, HELP, TYPE or comment
    size_t name_start = i;
    if (!isNameStart(line[i])) {
      fail("metric name expected");
      continue;
    }
    while (i < line.size() && isNameChar(line[i])) ++i;
    sample.name = line.substr(name_start, i - name_start);
    if (want && !want(sample.name)) continue;
    sample.labels.clear();
    scratch.clear();
    unescaped.clear();
    bool ok = true;
    skipSpaces(line, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        skipSpaces(line, i);
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        size_t ks = i;
        while (i < line.size() && isNameChar(line[i])) ++i;
        if (i == ks) {
          ok = false;
          break;
        }
        std::string_view key = line.substr(ks, i - ks);
        skipSpaces(line, i);
        if (i >= line.size() || line[i] != '=') {
          ok = false;
          break;
        }
        ++i;
        skipSpaces(line, i);
        if (i >= line.size() || line[i] != '"') {
          ok = false;
          break;
        }
        ++i;
        size_t vs = i;
        bool escaped = false;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            escaped = true;
            ++i;
          }
          ++i;
        }
        if (i >= line.size()) {
          ok = false;
          break;
        }
        std::string_view raw = line.substr(vs, i - vs);
        ++i;  // closing quote
        if (escaped) {
          size_t off = scratch.size();
          for (size_t k = 0; k < raw.size(); ++k) {
            if (raw[k] == '\\' && k + 1 < raw.size()) {
              char c = raw[++k];
              scratch.push_back(c == 'n' ? '\n' : c);
            } else {
              scratch.push_back(raw[k]);
            }
          }
          unescaped.push_back({sample.labels.size(), off, scratch.size() - off});
          sample.labels.emplace_back(key, std::string_view());
        } else {
          sample.labels.emplace_back(key, raw);
        }
        skipSpaces(line, i);
        if (i < line.size() && line[i] == ',') ++i;
      }
    }
    if (!ok) {
      fail("malformed labels");
      continue;
    }
    // Scratch is complete for this line: point the unescaped labels into it.
    for (const auto& u : unescaped)
      sample.labels[u.label].second = std::string_view(scratch).substr(u.offset, u.length);
    skipSpaces(line, i);
    size_t vs = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (!parsePromValue(line.substr(vs, i - vs), &sample.value)) {
      fail("malformed value");
      continue;
    }
    // An optional integer timestamp may follow; anything else is an error.
    skipSpaces(line, i);
    if (i < line.size()) {
      size_t ts = i;
      if (line[i] == '-') ++i;
      while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
      skipSpaces(line, i);
      if (i != line.size() || ts == i) {
        fail("trailing garbage");
        continue;
      }
    }
    ++r.samples;
    on_sample(sample);
  }
  r.lines = line_no - (first_line - 1);
  return r;
}

}  // namespace qw::agent
