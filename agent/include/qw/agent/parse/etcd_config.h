#pragma once
// etcd's effective configuration from what its process was started with: argv, its environment
// and its config file (pure: text in, message out; sys/etcd_config_reader.h does the reading).
// The rules are etcd's (etcd.io op-guide "Configuration options", server/etcdmain/config.go):
// flags are Go flags (`--flag=value`, `--flag value`, one dash or two, the last one wins); each
// has an environment variable ETCD_<FLAG> (upper case, dashes as underscores) that a flag shadows;
// with --config-file (or ETCD_CONFIG_FILE) the other flags and variables are ignored and the
// file's values (YAML, keys named as the flags) are the effective ones. k3s embeds etcd and
// hands it a config file it writes into etcd's data dir (DATA_DIR/server/db/etcd/config: its own
// values with the `--etcd-arg=KEY=VALUE` ones merged in); without that file (root's, mode 0600)
// the values come from the etcd-arg flags, on the command line or as an `etcd-arg:` list in
// k3s's config file (/etc/rancher/k3s/config.yaml), else k3s's own heartbeat 500 ms and election
// 5000 ms. k3s hides its arguments (/proc/PID/cmdline is "k3s server"), so the command line
// rarely says more than that.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qw/agent/parse/unit_env.h"
#include "sample.pb.h"

namespace qw::agent {

struct EtcdProcessText {
  std::vector<std::string> argv;
  // The process's environment as KEY=VALUE; nullopt when it could not be read.
  std::optional<std::vector<std::string>> env;
  std::string env_source;  // where `env` was read (EtcdConfig.env_source)
  // The config file's text (etcdConfigFilePath); nullopt when there is none or it is unreadable.
  std::optional<std::string> config_text;
  std::string flavor;  // "etcd", "k3s" or "kubeadm" (kubeadm runs plain etcd in a static pod)
  // k3s: the etcd config file k3s wrote (its path, and its text or nullopt when unreadable).
  std::string k3s_etcd_config_path;
  std::optional<std::string> k3s_etcd_config_text;
};

// The config file the process reads, as given (relative to its cwd when not absolute): etcd's
// --config-file or ETCD_CONFIG_FILE; for k3s its --config (-c) or K3S_CONFIG_FILE, else
// /etc/rancher/k3s/config.yaml. "" when etcd has none.
std::string etcdConfigFilePath(const std::vector<std::string>& argv,
                               const std::optional<std::vector<std::string>>& env,
                               const std::string& flavor);

// The EtcdConfig (sample.proto) for that process, pid, exe and cwd left to the caller. A value
// that is not given, or does not parse as etcd would parse it, is absent (never etcd's default);
// only k3s's built-in timings are filled ("k3s-default"). `config_file` is the file whose
// values count: k3s's etcd config when given, else etcdConfigFilePath's when its text was given.
// Secrets are "<redacted>" in args and env.
qw::wire::EtcdConfig parseEtcdConfig(const EtcdProcessText& in);

// Does a value under this key (a flag, an ETCD_ or K3S_ variable, a k3s etcd-arg) hold a
// secret? Keys holding "password", "secret" or "token", except initial-cluster-token (it is no
// secret, and a recovery needs it).
bool isSecretConfigKey(std::string_view key);

}  // namespace qw::agent
