// The commands a recovery plan prints (recovery/planner.h): how each supervisor starts etcd again,
// how a plain process joins an existing cluster, and the etcdctl checks with the flavor's TLS
// files.
#include <map>

#include "qw/aggregator/recovery/planner.h"

namespace qw::aggregator {

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

namespace {

bool redacted(const std::string& s) { return s.find("<redacted>") != std::string::npos; }

// A plain process's command line from `c`, detached, output appended to DATA_DIR.log.
std::string processCommand(const PlannerNode& n, const qw::wire::EtcdConfig& c) {
  std::string cmd;
  if (!c.cwd().empty()) cmd += "cd " + shellQuote(c.cwd()) + " && ";
  cmd += "env";
  for (const auto& e : c.env()) cmd += " " + shellQuote(e);
  cmd += " setsid " + shellQuote(c.exe().empty() ? c.args(0) : c.exe());
  for (int i = 1; i < c.args_size(); ++i) cmd += " " + shellQuote(c.args(i));
  std::string log = c.has_data_dir() && !c.data_dir().empty()
                        ? c.data_dir() + ".log"
                        : "/tmp/etcd-" + (c.has_name() ? c.name() : n.name) + ".log";
  cmd += " >>" + shellQuote(log) + " 2>&1 </dev/null &";
  return cmd;
}

// Why a plain process's command line cannot be printed ("" when it can).
std::string unprintable(const PlannerNode& n) {
  if (!n.config || (n.config->args().empty() && n.config->exe().empty()))
    return "its agent never reported etcd's command line";
  for (const auto& a : n.config->args())
    if (redacted(a)) return "its command line holds a credential its agent does not send";
  for (const auto& e : n.config->env())
    if (redacted(e)) return "its environment holds a credential its agent does not send";
  return "";
}

// Sets flag `name` (without dashes) in argv: `--name=value`, `-name=value` or `--name value`;
// appended when absent. Returns whether it was there.
bool setFlag(qw::wire::EtcdConfig* c, const std::string& name, const std::string& value) {
  auto* args = c->mutable_args();
  for (int i = 1; i < args->size(); ++i) {
    std::string a = args->Get(i);
    for (const std::string dashes : {"--", "-"}) {
      std::string f = dashes + name;
      if (a == f && i + 1 < args->size()) {
        *args->Mutable(i + 1) = value;
        return true;
      }
      if (a.rfind(f + "=", 0) == 0) {
        *args->Mutable(i) = f + "=" + value;
        return true;
      }
    }
  }
  c->add_args("--" + name + "=" + value);
  return false;
}

}  // namespace

std::string joinCommand(const PlannerNode& n, const std::string& initial_cluster,
                        std::string* why) {
  if (n.flavor == "k3s" || n.flavor == "kubeadm" || !n.unit.empty()) {
    *why = "its " +
           std::string(n.flavor == "k3s"       ? "k3s"
                       : n.flavor == "kubeadm" ? "static pod"
                                               : "unit") +
           " holds etcd's flags: set --initial-cluster-state=existing and --initial-cluster=" +
           initial_cluster + " there, then start it";
    return "";
  }
  if (auto w = unprintable(n); !w.empty()) {
    *why = w;
    return "";
  }
  if (!n.config->config_file().empty()) {
    *why = "etcd reads " + n.config->config_file() +
           ": set initial-cluster-state: existing and initial-cluster: " + initial_cluster +
           " there, then start it";
    return "";
  }
  qw::wire::EtcdConfig c = *n.config;
  // A variable set in the environment is replaced there; a flag wins over it anyway.
  auto* env = c.mutable_env();
  for (int i = env->size() - 1; i >= 0; --i) {
    const std::string& e = env->Get(i);
    if (e.rfind("ETCD_INITIAL_CLUSTER_STATE=", 0) == 0 || e.rfind("ETCD_INITIAL_CLUSTER=", 0) == 0)
      env->DeleteSubrange(i, 1);
  }
  setFlag(&c, "initial-cluster-state", "existing");
  setFlag(&c, "initial-cluster", initial_cluster);
  return processCommand(n, c);
}

std::string startCommand(const PlannerNode& n, std::string* why) {
  if (n.flavor == "k3s") return "systemctl start k3s";
  if (n.flavor == "kubeadm")
    return "systemctl start kubelet";  // the kubelet runs the static pod from its manifest
  if (!n.unit.empty()) return "systemctl start " + shellQuote(n.unit);
  if (auto w = unprintable(n); !w.empty()) {
    *why = w;
    return "";
  }
  return processCommand(n, *n.config);
}

std::string healthCheck(const PlannerNode& n, const std::string& url) {
  return etcdctlFor(n, url) + " endpoint health";
}

std::string etcdctlFor(const PlannerNode& n, const std::string& url) {
  std::string cmd = "etcdctl --endpoints=" + shellQuote(url);
  if (url.find("https://") != std::string::npos) {
    if (n.flavor == "k3s") {
      const std::string d = "/var/lib/rancher/k3s/server/tls/etcd/";
      cmd +=
          " --cacert=" + d + "server-ca.crt --cert=" + d + "client.crt --key=" + d + "client.key";
    } else if (n.flavor == "kubeadm") {
      const std::string d = "/etc/kubernetes/pki/etcd/";
      cmd += " --cacert=" + d + "ca.crt --cert=" + d + "healthcheck-client.crt --key=" + d +
             "healthcheck-client.key";
    } else if (n.config) {
      // A plain etcd's own files: its server certificate is usable as a client one when it
      // carries clientAuth (etcd's gateway needs that too).
      std::map<std::string, std::string> flags;
      for (int i = 1; i < n.config->args_size(); ++i) {
        std::string a = n.config->args(i);
        auto eq = a.find('=');
        if (eq != std::string::npos)
          flags[a.substr(0, eq)] = a.substr(eq + 1);
        else if (i + 1 < n.config->args_size())
          flags[a] = n.config->args(i + 1);
      }
      if (flags.count("--trusted-ca-file"))
        cmd += " --cacert=" + shellQuote(flags["--trusted-ca-file"]);
      if (flags.count("--cert-file") && flags.count("--key-file"))
        cmd += " --cert=" + shellQuote(flags["--cert-file"]) +
               " --key=" + shellQuote(flags["--key-file"]);
    }
  }
  return cmd;
}

}  // namespace qw::aggregator
