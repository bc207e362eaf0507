#include "qw/aggregator/api/params.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "qw/options.h"
#include "qw/time_util.h"

namespace qw::aggregator {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string urlDecode(std::string_view v) {
  std::string r;
  r.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && hexValue(v[i + 1]) >= 0 && hexValue(v[i + 2]) >= 0) {
      r += static_cast<char>(hexValue(v[i + 1]) * 16 + hexValue(v[i + 2]));
      i += 2;
    } else {
      r += v[i];
    }
  }
  return r;
}

std::string targetPath(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}

std::map<std::string, std::string> queryParams(std::string_view target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    if (!part.empty())
      out[urlDecode(part.substr(0, eq))] =
          eq == std::string_view::npos ? "" : urlDecode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

bool timeParam(const std::map<std::string, std::string>& q, const char* key, int64_t def,
               int64_t* out, std::string* err) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) {
    *out = def;
    return true;
  }
  auto t = parseTimeArg(it->second);
  if (!t) {
    *err = std::string(key) + " must be unix seconds or RFC 3339, got '" + it->second + "'";
    return false;
  }
  *out = *t;
  return true;
}

std::optional<int64_t> intParam(const std::map<std::string, std::string>& q, const char* key,
                                int64_t def, int64_t lo, int64_t hi) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return def;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (errno != 0 || !end || *end != '\0' || v < lo || v > hi) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<int64_t> stepParam(const std::string& v) {
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(v.c_str(), &end);
  if (end && *end == '\0' && std::isfinite(secs))
    return static_cast<int64_t>(std::llround(secs * 1000));
  if (auto d = parseDuration(v)) return d->count();
  return std::nullopt;
}

}  // namespace qw::aggregator
