#include "qw/agent/parse/etcd_config.h"

#include <cctype>
#include <charconv>
#include <limits>
#include <map>

#include "qw/protocol.h"
#include "qw/strings.h"

namespace qw::agent {

namespace {

using qw::wire::EtcdConfig;

// Go's flag package parses numbers with base 0 (strconv.ParseUint(s, 0, ...)), and etcd's YAML
// reader resolves YAML 1.1 integers: "100" and "0x64" are 100, but "0100" is octal 64. Decimal
// without a leading zero and 0x hex are read; the rarer forms (octal, 0b, 1_000) stay absent
// rather than being misread.
std::optional<uint64_t> goUint(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    uint64_t v = 0;
    auto r = std::from_chars(s.data() + 2, s.data() + s.size(), v, 16);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
  }
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> goInt(std::string_view s) {
  bool neg = !s.empty() && s[0] == '-';
  auto u = goUint(neg ? s.substr(1) : s);
  if (!u || *u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return neg ? -static_cast<int64_t>(*u) : static_cast<int64_t>(*u);
}

std::optional<uint32_t> goUint32(std::string_view s) {
  auto u = goUint(s);
  if (!u || *u > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  return static_cast<uint32_t>(*u);
}

// The values we report: etcd's flag (also its config-file key and, upper-cased, its variable),
// the EtcdConfig field it fills (the name in `sources`), and how it is set (false: unparsable).
struct Key {
  std::string_view flag;
  std::string_view field;
  bool (*set)(EtcdConfig*, std::string_view);
};

constexpr Key kKeys[] = {
    {"heartbeat-interval", "heartbeat_interval_ms",
     [](EtcdConfig* c, std::string_view v) {
       auto n = goUint32(v);
       if (n) c->set_heartbeat_interval_ms(*n);
       return n.has_value();
     }},
    {"election-timeout", "election_timeout_ms",
     [](EtcdConfig* c, std::string_view v) {
       auto n = goUint32(v);
       if (n) c->set_election_timeout_ms(*n);
       return n.has_value();
     }},
    {"snapshot-count", "snapshot_count",
     [](EtcdConfig* c, std::string_view v) {
       auto n = goUint(v);
       if (n) c->set_snapshot_count(*n);
       return n.has_value();
     }},
    {"quota-backend-bytes", "quota_backend_bytes",
     [](EtcdConfig* c, std::string_view v) {
       auto n = goInt(v);
       if (n) c->set_quota_backend_bytes(*n);
       return n.has_value();
     }},
    {"name", "name",
     [](EtcdConfig* c, std::string_view v) {
       c->set_name(std::string(v));
       return true;
     }},
    {"data-dir", "data_dir",
     [](EtcdConfig* c, std::string_view v) {
       c->set_data_dir(std::string(v));
       return true;
     }},
    {"initial-cluster", "initial_cluster",
     [](EtcdConfig* c, std::string_view v) {
       c->set_initial_cluster(std::string(v));
       return true;
     }},
    {"initial-cluster-token", "initial_cluster_token",
     [](EtcdConfig* c, std::string_view v) {
       c->set_initial_cluster_token(std::string(v));
       return true;
     }},
    {"initial-cluster-state", "initial_cluster_state",
     [](EtcdConfig* c, std::string_view v) {
       c->set_initial_cluster_state(std::string(v));
       return true;
     }},
    {"listen-client-urls", "listen_client_urls",
     [](EtcdConfig* c, std::string_view v) {
       c->set_listen_client_urls(std::string(v));
       return true;
     }},
    {"advertise-client-urls", "advertise_client_urls",
     [](EtcdConfig* c, std::string_view v) {
       c->set_advertise_client_urls(std::string(v));
       return true;
     }},
    {"listen-peer-urls", "listen_peer_urls",
     [](EtcdConfig* c, std::string_view v) {
       c->set_listen_peer_urls(std::string(v));
       return true;
     }},
    {"initial-advertise-peer-urls", "initial_advertise_peer_urls",
     [](EtcdConfig* c, std::string_view v) {
       c->set_initial_advertise_peer_urls(std::string(v));
       return true;
     }},
};

const Key* keyOf(std::string_view flag) {
  for (const auto& k : kKeys)
    if (k.flag == flag) return &k;
  return nullptr;
}

// A raw value and where it came from ("flag", "env", "config-file").
struct Given {
  std::string value;
  std::string source;
};
using Layer = std::map<std::string, Given, std::less<>>;

bool isK3s(const std::string& flavor) { return flavor == "k3s"; }

// Flags whose value may be the next argument (`--flag value`). A flag we do not know may be a
// boolean, whose next argument is not its value: only ours take it, and secrets (to redact it).
bool takesValue(std::string_view name, bool k3s) {
  if (keyOf(name) || name == "config-file" || isSecretConfigKey(name)) return true;
  return k3s && (name == "etcd-arg" || name == "config" || name == "c");
}

// One Go flag of argv: its name (without the dashes), its value and the argv index holding it
// (the flag's own for `--flag=value`, the next one for `--flag value`).
struct Flag {
  std::string_view name, value;
  size_t value_at = 0;
  bool inline_value = false;
  bool has_value = false;
};

// Go's flag syntax: -flag, --flag, -flag=value, --flag value; "--" ends the flags. Arguments
// that are not flags (k3s's "server") are skipped.
template <class F>
void forEachFlag(const std::vector<std::string>& argv, bool k3s, F&& f) {
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string_view a = argv[i];
    if (a == "--") return;
    if (a.size() < 2 || a[0] != '-') continue;
    a.remove_prefix(a[1] == '-' ? 2 : 1);
    if (a.empty() || a[0] == '-' || a[0] == '=') continue;  // Go refuses these
    Flag fl;
    auto eq = a.find('=');
    fl.name = a.substr(0, eq);
    if (eq != std::string_view::npos) {
      fl.value = a.substr(eq + 1);
      fl.value_at = i;
      fl.inline_value = fl.has_value = true;
    } else if (takesValue(fl.name, k3s) && i + 1 < argv.size()) {
      fl.value = argv[++i];
      fl.value_at = i;
      fl.has_value = true;
    }
    f(fl);
  }
}

// k3s's etcd-arg value: "KEY=VALUE", the key optionally with etcd's dashes.
std::pair<std::string_view, std::string_view> splitEtcdArg(std::string_view v) {
  auto eq = v.find('=');
  std::string_view k = v.substr(0, eq);
  while (!k.empty() && k[0] == '-') k.remove_prefix(1);
  return {k, eq == std::string_view::npos ? std::string_view() : v.substr(eq + 1)};
}

std::string redactedEtcdArg(std::string_view v) {
  auto eq = v.find('=');
  if (eq == std::string_view::npos || !isSecretConfigKey(splitEtcdArg(v).first))
    return std::string(v);
  return std::string(v.substr(0, eq + 1)) + qw::kRedacted;
}

std::vector<std::string> redactedArgs(const std::vector<std::string>& argv, bool k3s) {
  std::vector<std::string> out = argv;
  forEachFlag(argv, k3s, [&](const Flag& f) {
    if (!f.has_value) return;
    std::string value;
    if (isSecretConfigKey(f.name))
      value = qw::kRedacted;
    else if (f.name == "etcd-arg")
      value = redactedEtcdArg(f.value);
    else
      return;
    out[f.value_at] =
        f.inline_value
            ? argv[f.value_at].substr(0, argv[f.value_at].size() - f.value.size()) + value
            : value;
  });
  return out;
}

// ETCD_HEARTBEAT_INTERVAL -> heartbeat-interval.
std::string flagOfVariable(std::string_view var) {
  std::string out;
  for (char c : var.substr(5))
    out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Unquotes a YAML scalar and drops a trailing comment; "" for null.
std::string yamlScalar(std::string_view v) {
  v = trim(v);
  if (!v.empty() && (v[0] == '\'' || v[0] == '"')) {
    char q = v[0];
    std::string out;
    for (size_t i = 1; i < v.size(); ++i) {
      if (v[i] == q) {
        if (q == '\'' && i + 1 < v.size() && v[i + 1] == '\'') {  // '' is a quote in '...'
          out += '\'';
          ++i;
          continue;
        }
        return out;
      }
      if (q == '"' && v[i] == '\\' && i + 1 < v.size()) ++i;
      out += v[i];
    }
    return out;  // unterminated: what there is
  }
  // An unquoted scalar ends at " #".
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == '#' && (i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t')) {
      v = trim(v.substr(0, i));
      break;
    }
  if (v == "~" || v == "null" || v == "Null" || v == "NULL") return "";
  return std::string(v);
}

// The top level of a flat YAML file: `key: scalar`, and for a key without a scalar the `- item`
// lines under it (or a flow list `key: [a, b]`). Nested maps (etcd's client-transport-security)
// are skipped: none of our keys is in one. Enough for etcd's and k3s's config files, not YAML.
struct YamlValue {
  std::string scalar;
  std::vector<std::string> items;
};

std::map<std::string, YamlValue, std::less<>> flatYaml(std::string_view text) {
  std::map<std::string, YamlValue, std::less<>> out;
  YamlValue* open = nullptr;  // the key whose list items may follow
  forEachLine(text, [&](std::string_view line) {
    auto t = trim(line);
    if (t.empty() || t[0] == '#' || t == "---") return true;
    bool indented = line[0] == ' ' || line[0] == '\t';
    if (t[0] == '-' && (t.size() == 1 || t[1] == ' ')) {
      if (open) open->items.push_back(yamlScalar(t.substr(1)));
      return true;
    }
    if (indented) {  // inside a nested map: no list of ours follows
      open = nullptr;
      return true;
    }
    auto colon = t.find(':');
    if (colon == std::string_view::npos) {
      open = nullptr;
      return true;
    }
    std::string key = yamlScalar(t.substr(0, colon));
    auto rest = trim(t.substr(colon + 1));
    YamlValue v;
    if (!rest.empty() && rest[0] == '[') {
      auto close = rest.rfind(']');
      auto inner =
          rest.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
      for (auto item : split(inner, ','))
        if (!trim(item).empty()) v.items.push_back(yamlScalar(item));
    } else {
      v.scalar = yamlScalar(rest);
    }
    auto& slot = out[key];
    slot = std::move(v);
    open = slot.scalar.empty() && slot.items.empty() ? &slot : nullptr;
    return true;
  });
  return out;
}

// Our keys' values in an etcd config file.
Layer configFileLayer(const std::string& text) {
  Layer values;
  for (auto& [key, v] : flatYaml(text))
    if (keyOf(key) && !v.scalar.empty()) values[key] = {v.scalar, "config-file"};
  return values;
}

// The effective values of plain etcd (and kubeadm's): the config file alone, or the ETCD_
// variables shadowed by the flags.
Layer etcdLayer(const EtcdProcessText& in, bool config_given) {
  Layer values;
  if (config_given) return in.config_text ? configFileLayer(*in.config_text) : values;
  if (in.env)
    for (const auto& kv : *in.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || !startsWith(kv, "ETCD_")) continue;
      std::string flag = flagOfVariable(std::string_view(kv).substr(0, eq));
      if (keyOf(flag)) values[flag] = {kv.substr(eq + 1), "env"};
    }
  forEachFlag(in.argv, false, [&](const Flag& f) {
    if (f.has_value && keyOf(f.name)) values[std::string(f.name)] = {std::string(f.value), "flag"};
  });
  return values;
}

// k3s's: its config file's etcd-arg list, then its command line's --etcd-arg (the later one of a
// key wins, as in the argument list k3s hands etcd).
Layer k3sLayer(const EtcdProcessText& in) {
  Layer values;
  auto add = [&](std::string_view arg, const char* source) {
    auto [k, v] = splitEtcdArg(arg);
    if (keyOf(k)) values[std::string(k)] = {std::string(v), source};
  };
  if (in.config_text) {
    auto yaml = flatYaml(*in.config_text);
    if (auto it = yaml.find("etcd-arg"); it != yaml.end()) {
      if (!it->second.scalar.empty()) add(it->second.scalar, "config-file");
      for (const auto& item : it->second.items) add(item, "config-file");
    }
  }
  forEachFlag(in.argv, true, [&](const Flag& f) {
    if (f.has_value && f.name == "etcd-arg") add(f.value, "flag");
  });
  return values;
}

}  // namespace

bool isSecretConfigKey(std::string_view key) {
  std::string k;
  for (char c : key)
    k += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!k.empty() && k[0] == '-') k.erase(0, 1);
  if (startsWith(k, "etcd-")) k.erase(0, 5);
  if (k == "initial-cluster-token") return false;
  for (const char* p : {"password", "secret", "token"})
    if (k.find(p) != std::string::npos) return true;
  return false;
}

std::string etcdConfigFilePath(const std::vector<std::string>& argv,
                               const std::optional<std::vector<std::string>>& env,
                               const std::string& flavor) {
  bool k3s = isK3s(flavor);
  std::string from_env, from_flag;
  std::string_view var = k3s ? "K3S_CONFIG_FILE=" : "ETCD_CONFIG_FILE=";
  if (env)
    for (const auto& kv : *env)
      if (startsWith(kv, var)) from_env = kv.substr(var.size());
  forEachFlag(argv, k3s, [&](const Flag& f) {
    if (!f.has_value) return;
    if (k3s ? (f.name == "config" || f.name == "c") : f.name == "config-file")
      from_flag = std::string(f.value);
  });
  if (!from_flag.empty()) return from_flag;
  if (!from_env.empty()) return from_env;
  return k3s ? "/etc/rancher/k3s/config.yaml" : "";
}

qw::wire::EtcdConfig parseEtcdConfig(const EtcdProcessText& in) {
  bool k3s = isK3s(in.flavor);
  EtcdConfig c;
  c.set_flavor(in.flavor);
  for (auto& a : redactedArgs(in.argv, k3s)) c.add_args(std::move(a));
  c.set_env_known(in.env.has_value());
  if (in.env) {
    c.set_env_source(in.env_source);
    // Only etcd's variables: the rest of a process's environment is not ours to ship.
    for (const auto& kv : *in.env) {
      if (!startsWith(kv, "ETCD_")) continue;
      auto eq = kv.find('=');
      bool secret = eq != std::string::npos && isSecretConfigKey(kv.substr(0, eq));
      c.add_env(secret ? kv.substr(0, eq + 1) + qw::kRedacted : kv);
    }
  }
  std::string path = etcdConfigFilePath(in.argv, in.env, in.flavor);
  if (in.config_text) c.set_config_file(path);
  // k3s's embedded etcd gets its configuration from k3s, not from ETCD_ variables; the file k3s
  // wrote for it is what it runs with.
  bool k3s_written = k3s && in.k3s_etcd_config_text;
  Layer values = k3s_written ? configFileLayer(*in.k3s_etcd_config_text)
                 : k3s       ? k3sLayer(in)
                             : etcdLayer(in, !path.empty());
  if (k3s_written) c.set_config_file(in.k3s_etcd_config_path);
  for (const auto& k : kKeys) {
    auto it = values.find(k.flag);
    if (it == values.end() || it->second.value.empty()) continue;
    if (k.set(&c, it->second.value)) c.add_sources(std::string(k.field) + "=" + it->second.source);
  }
  if (k3s && !k3s_written) {
    // k3s's own timings (pkg/etcd: 500 ms / 5000 ms), when no etcd-arg gave one.
    if (!values.count("heartbeat-interval")) {
      c.set_heartbeat_interval_ms(500);
      c.add_sources("heartbeat_interval_ms=k3s-default");
    }
    if (!values.count("election-timeout")) {
      c.set_election_timeout_ms(5000);
      c.add_sources("election_timeout_ms=k3s-default");
    }
  }
  return c;
}

}  // namespace qw::agent
