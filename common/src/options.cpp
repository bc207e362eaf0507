#include "qw/options.h"

#include "qw/strings.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace qw {

namespace {
std::string trimmed(const std::string& s) { return std::string(trim(s)); }
}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  std::string t = trimmed(text);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || errno != 0 || !std::isfinite(v) || v < 0) return std::nullopt;
  std::string unit = trimmed(end);
  double ms;
  if (unit.empty() || unit == "s")
    ms = v * 1000;
  else if (unit == "ms")
    ms = v;
  else if (unit == "m" || unit == "min")
    ms = v * 60000;
  else if (unit == "h")
    ms = v * 3600000;
  else if (unit == "d")
    ms = v * 86400000;
  else
    return std::nullopt;
  if (ms > 1e15) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

std::string formatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  if (ms % 3600000 == 0 && ms != 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0 && ms != 0) return std::to_string(ms / 60000) + "m";
  return std::to_string(ms / 1000) + "s";
}

Options::Options(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void Options::addString(const std::string& name, const std::string& help, std::string* out) {
  opts_.push_back({name, help, Kind::kString,
                   [out](const std::string& v) -> std::optional<std::string> {
                     *out = v;
                     return std::nullopt;
                   },
                   [out] { return *out; }, nullptr});
}

void Options::addList(const std::string& name, const std::string& help,
                      std::vector<std::string>* out) {
  opts_.push_back({name, help, Kind::kList,
                   [out](const std::string& v) -> std::optional<std::string> {
                     out->push_back(v);
                     return std::nullopt;
                   },
                   [out] {
                     std::string s;
                     for (const auto& v : *out) s += (s.empty() ? "" : ",") + v;
                     return s;
                   },
                   [out] { out->clear(); }});
}

void Options::addFlag(const std::string& name, const std::string& help, bool* out) {
  opts_.push_back({name, help, Kind::kFlag,
                   [out, name](const std::string& v) -> std::optional<std::string> {
                     if (v == "true" || v == "1" || v == "yes")
                       *out = true;
                     else if (v == "false" || v == "0" || v == "no")
                       *out = false;
                     else
                       return "'" + name + "' wants true or false, got '" + v + "'";
                     return std::nullopt;
                   },
                   [out] { return std::string(*out ? "true" : "false"); }, nullptr});
}

void Options::addDuration(const std::string& name, const std::string& help,
                          std::chrono::milliseconds* out, std::chrono::milliseconds min,
                          std::chrono::milliseconds max) {
  opts_.push_back({name, help, Kind::kDuration,
                   [=](const std::string& v) -> std::optional<std::string> {
                     auto d = parseDuration(v);
                     if (!d)
                       return "'" + name + "' wants a duration like 1s or 250ms, got '" + v + "'";
                     if (*d < min || *d > max)
                       return "'" + name + "' must be between " + formatDuration(min) + " and " +
                              formatDuration(max) + ", got '" + v + "'";
                     *out = *d;
                     return std::nullopt;
                   },
                   [out] { return formatDuration(*out); }, nullptr});
}

void Options::addInt(const std::string& name, const std::string& help, int64_t* out, int64_t min,
                     int64_t max) {
  opts_.push_back({name, help, Kind::kInt,
                   [=](const std::string& v) -> std::optional<std::string> {
                     char* end = nullptr;
                     errno = 0;
                     long long n = std::strtoll(v.c_str(), &end, 10);
                     if (v.empty() || *end != '\0' || errno != 0)
                       return "'" + name + "' wants an integer, got '" + v + "'";
                     if (n < min || n > max)
                       return "'" + name + "' must be between " + std::to_string(min) + " and " +
                              std::to_string(max) + ", got " + v;
                     *out = n;
                     return std::nullopt;
                   },
                   [out] { return std::to_string(*out); }, nullptr});
}

void Options::addDouble(const std::string& name, const std::string& help, double* out, double min,
                        double max) {
  opts_.push_back({name, help, Kind::kDouble,
                   [=](const std::string& v) -> std::optional<std::string> {
                     auto d = parseDouble(v);
                     if (!d || !std::isfinite(*d))
                       return "'" + name + "' wants a number, got '" + v + "'";
                     if (*d < min || *d > max) {
                       std::ostringstream m;
                       m << "'" << name << "' must be between " << min << " and " << max << ", got "
                         << v;
                       return m.str();
                     }
                     *out = *d;
                     return std::nullopt;
                   },
                   [out] {
                     std::ostringstream s;
                     s << *out;
                     return s.str();
                   },
                   nullptr});
}

Options::Opt* Options::find(const std::string& name) {
  for (auto& o : opts_)
    if (o.name == name) return &o;
  return nullptr;
}

std::optional<std::string> Options::apply(Opt& opt, const std::string& value,
                                          const std::string& origin) {
  auto err = opt.set(value);
  if (err) return origin + ": " + *err;
  opt.origin = origin;
  return std::nullopt;
}

std::optional<std::string> Options::parseConfigText(const std::string& text,
                                                    const std::string& origin) {
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string where = origin + ":" + std::to_string(lineno);
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    line = trimmed(line);
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) return where + ": expected 'key = value', got '" + line + "'";
    std::string key = trimmed(line.substr(0, eq));
    std::string value = trimmed(line.substr(eq + 1));
    if (key == "config") return where + ": 'config' cannot be set in a config file";
    Opt* opt = find(key);
    if (!opt) return where + ": unknown key '" + key + "'";
    if (auto err = apply(*opt, value, where)) return err;
  }
  return std::nullopt;
}

std::optional<std::string> Options::parse(int argc, const char* const* argv) {
  // Pass 1: split argv into (name, value) pairs, find --config and --help.
  std::vector<std::pair<std::string, std::string>> given;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      if (positional_) {
        positional_->push_back(a);
        continue;
      }
      return "unexpected argument '" + a + "' (see --help)";
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if (name == "config") {
      if (!has_value) {
        if (i + 1 >= argc) return "--config needs a file name";
        value = argv[++i];
      }
      config_path = value;
      continue;
    }
    Opt* opt = find(name);
    if (!opt) return "unknown option '--" + name + "' (see --help)";
    if (!has_value) {
      if (opt->kind == Kind::kFlag) {
        value = "true";
      } else {
        if (i + 1 >= argc) return "--" + name + " needs a value";
        value = argv[++i];
      }
    }
    given.emplace_back(name, value);
  }
  if (help_) return std::nullopt;
  if (!config_path.empty()) {
    std::ifstream f(config_path);
    if (!f) return "cannot read config file '" + config_path + "'";
    std::stringstream ss;
    ss << f.rdbuf();
    if (auto err = parseConfigText(ss.str(), config_path)) return err;
  }
  std::vector<std::string> cleared;
  for (auto& [name, value] : given) {
    Opt* opt = find(name);
    if (opt->clear && std::find(cleared.begin(), cleared.end(), name) == cleared.end()) {
      opt->clear();
      cleared.push_back(name);
    }
    if (auto err = apply(*opt, value, "--" + name)) return err;
  }
  return std::nullopt;
}

std::string Options::helpText() const {
  std::ostringstream o;
  o << "Usage: " << program_ << " [--config FILE] [options]\n\n" << summary_ << "\n\nOptions:\n";
  o << "  --config FILE\n      Read options from FILE (`key = value` lines, # comments).\n";
  for (const auto& opt : opts_) {
    std::string arg;
    switch (opt.kind) {
      case Kind::kString:
        arg = " VALUE";
        break;
      case Kind::kList:
        arg = " VALUE (repeatable)";
        break;
      case Kind::kFlag:
        arg = "";
        break;
      case Kind::kDuration:
        arg = " DURATION";
        break;
      case Kind::kInt:
        arg = " N";
        break;
      case Kind::kDouble:
        arg = " X";
        break;
    }
    o << "  --" << opt.name << arg << "\n      " << opt.help;
    std::string def = opt.get();
    if (opt.kind != Kind::kFlag && !def.empty()) o << " (default: " << def << ")";
    o << "\n";
  }
  o << "  --help\n      Show this text.\n";
  return o.str();
}

std::string Options::originOf(const std::string& name) const {
  for (const auto& o : opts_)
    if (o.name == name) return o.origin;
  return "";
}

std::string Options::dump() const {
  std::ostringstream o;
  for (const auto& opt : opts_) o << opt.name << " = " << opt.get() << "\n";
  return o.str();
}

}  // namespace qw
