#pragma once
#include <optional>
#include <string>

namespace qw {

struct Url {
  std::string scheme;  // http, https, ws, wss
  std::string host;
  std::string port;
  std::string target;  // path and query, at least "/"
  bool tls() const { return scheme == "https" || scheme == "wss"; }
  std::string hostPort() const { return host + ":" + port; }
};

// Parses "scheme://host[:port][/path]"; IPv6 hosts in brackets. Returns nullopt when malformed.
std::optional<Url> parseUrl(const std::string& text);

// Splits "ADDR:PORT" (IPv6 in brackets). Returns false when malformed.
bool splitHostPort(const std::string& text, std::string* host, std::string* port);

}  // namespace qw
