#include "qw/url.h"

#include <cctype>

namespace qw {

bool splitHostPort(const std::string& text, std::string* host, std::string* port) {
  if (text.empty()) return false;
  std::string h, p;
  if (text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) return false;
    h = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      p = text.substr(close + 2);
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      h = text;
    } else {
      h = text.substr(0, colon);
      p = text.substr(colon + 1);
    }
  }
  if (h.empty()) return false;
  for (char c : p)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  if (!p.empty() && (p.size() > 5 || std::stoi(p) > 65535)) return false;
  *host = h;
  *port = p;
  return true;
}

std::optional<Url> parseUrl(const std::string& text) {
  auto sep = text.find("://");
  if (sep == std::string::npos) return std::nullopt;
  Url u;
  u.scheme = text.substr(0, sep);
  for (auto& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "http" && u.scheme != "https" && u.scheme != "ws" && u.scheme != "wss")
    return std::nullopt;
  std::string rest = text.substr(sep + 3);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!splitHostPort(authority, &u.host, &u.port)) return std::nullopt;
  if (u.port.empty()) u.port = u.tls() ? "443" : "80";
  return u;
}

}  // namespace qw
