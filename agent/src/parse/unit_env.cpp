#include "qw/agent/parse/unit_env.h"

#include <optional>

#include "qw/strings.h"

namespace qw::agent {

void addUnitEnvironment(std::string_view unit_text, std::string_view unit_name,
                        std::string_view host_name, UnitEnvironment* into) {
  // Specifiers (systemd.unit(5)): %n the full name, %N without its type suffix, %p the part
  // before '@', %i the instance, %H the host name, %l its first label. With any other the value
  // is not known here: nullopt.
  auto dot = unit_name.rfind('.');
  std::string_view no_suffix = unit_name.substr(0, dot);
  auto at = no_suffix.find('@');
  std::string_view prefix = no_suffix.substr(0, at);
  std::string_view instance = at == std::string_view::npos ? "" : no_suffix.substr(at + 1);
  auto expand = [&](std::string_view s) -> std::optional<std::string> {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '%') {
        out += s[i];
        continue;
      }
      char sp = i + 1 < s.size() ? s[++i] : '\0';
      if (sp == 'n')
        out += unit_name;
      else if (sp == 'N')
        out += no_suffix;
      else if (sp == 'p')
        out += prefix;
      else if (sp == 'i')
        out += instance;
      else if (sp == 'H')
        out += host_name;
      else if (sp == 'l')
        out += host_name.substr(0, host_name.find('.'));
      else if (sp == '%')
        out += '%';
      else
        return std::nullopt;
    }
    return out;
  };
  bool in_service = false;
  forEachLine(unit_text, [&](std::string_view line) {
    auto t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') return true;
    if (t[0] == '[') {
      in_service = t == "[Service]";
      return true;
    }
    auto eq = t.find('=');
    if (!in_service || eq == std::string_view::npos) return true;
    auto key = trim(t.substr(0, eq));
    auto value = trim(t.substr(eq + 1));
    if (key == "EnvironmentFile") {
      if (value.empty()) {
        into->files.clear();
        return true;
      }
      bool optional = value[0] == '-';
      if (auto path = expand(optional ? value.substr(1) : value))
        into->files.push_back({std::move(*path), optional});
    } else if (key == "Environment") {
      if (value.empty()) {
        into->assignments.clear();
        return true;
      }
      // Space-separated assignments, each possibly in double or single quotes.
      size_t i = 0;
      while (i < value.size()) {
        while (i < value.size() && value[i] == ' ') ++i;
        if (i == value.size()) break;
        std::string one;
        if (value[i] == '"' || value[i] == '\'') {
          char q = value[i++];
          while (i < value.size() && value[i] != q) one += value[i++];
          ++i;
        } else {
          while (i < value.size() && value[i] != ' ') one += value[i++];
        }
        auto kv = expand(one);
        if (kv && kv->find('=') != std::string::npos) into->assignments.push_back(std::move(*kv));
      }
    }
    return true;
  });
}

std::vector<std::string> parseEnvironmentFile(std::string_view text) {
  std::vector<std::string> out;
  forEachLine(text, [&](std::string_view line) {
    auto t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') return true;
    auto eq = t.find('=');
    if (eq == std::string_view::npos) return true;
    auto key = trim(t.substr(0, eq));
    auto value = trim(t.substr(eq + 1));
    if (key.empty()) return true;
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0])
      value = value.substr(1, value.size() - 2);
    out.push_back(std::string(key) + "=" + std::string(value));
    return true;
  });
  return out;
}

}  // namespace qw::agent
