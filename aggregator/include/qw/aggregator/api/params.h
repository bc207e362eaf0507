#pragma once
// Query parameters of the API's requests: pure functions (no request, no state).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace qw::aggregator {

// Percent-decoding; a '%' not followed by two hex digits stays as it is, and '+' stays '+'
// (RFC 3339 offsets use it).
std::string urlDecode(std::string_view v);

// The query parameters of a request target ("/path?a=1&b=x%20y"), decoded. A parameter without
// '=' has the value ""; the last of repeated names wins.
std::map<std::string, std::string> queryParams(std::string_view target);

// The path of a target, without the query.
std::string targetPath(std::string_view target);

// A time parameter (from/to/since): unix seconds or RFC 3339, in ms; `def` when absent or empty.
// False with `err` set when present but unparseable.
bool timeParam(const std::map<std::string, std::string>& q, const char* key, int64_t def,
               int64_t* out, std::string* err);

// An integer parameter in [lo, hi]; `def` when absent or empty. nullopt when not an integer in
// range.
std::optional<int64_t> intParam(const std::map<std::string, std::string>& q, const char* key,
                                int64_t def, int64_t lo, int64_t hi);

// A series step: seconds ("15", "0.5") or a duration ("10s", "1m"), in ms; nullopt if neither.
std::optional<int64_t> stepParam(const std::string& v);

}  // namespace qw::aggregator
