#include "qw/agent/app/detect.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "qw/version.h"

namespace qw::agent {

namespace {

bool isDir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool isFile(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string under(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return (root.back() == '/' ? root.substr(0, root.size() - 1) : root) + path;
}

// The value of `--flag=value` (or "- --flag=value") in a kubeadm static pod manifest.
std::string manifestFlag(const std::string& text, const std::string& flag) {
  std::string needle = "--" + flag + "=";
  auto pos = text.find(needle);
  if (pos == std::string::npos) return "";
  pos += needle.size();
  auto end = text.find_first_of("\n\r \"'", pos);
  return text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

struct Setter {
  const Options& opts;
  Detection& d;
  // Sets a string option unless the operator gave it.
  void set(const std::string& name, std::string* field, const std::string& value,
           const std::string& why) {
    if (!opts.originOf(name).empty()) return;
    *field = value;
    d.reasons[name] = why;
  }
  void setList(const std::string& name, std::vector<std::string>* field, const std::string& value,
               const std::string& why) {
    if (!opts.originOf(name).empty()) return;
    *field = {value};
    d.reasons[name] = why;
  }
};

}  // namespace

Detection detectLayout(const Options& opts, AgentConfig* cfg) {
  Detection d;
  const std::string& root = cfg->detect_root;
  std::string k3s_db = under(root, "/var/lib/rancher/k3s/server/db/etcd");
  std::string kubeadm_manifest = under(root, "/etc/kubernetes/manifests/etcd.yaml");
  std::string flavor = cfg->etcd_flavor;
  if (flavor == "auto") {
    if (isDir(k3s_db)) {
      flavor = "k3s";
      d.why = "found k3s's embedded etcd at " + k3s_db;
    } else if (isFile(kubeadm_manifest)) {
      flavor = "kubeadm";
      d.why = "found kubeadm's etcd static pod " + kubeadm_manifest;
    } else {
      flavor = "etcd";
      d.why = "no k3s (" + k3s_db + ") or kubeadm (" + kubeadm_manifest +
              ") layout: plain etcd, configured by hand";
    }
  } else {
    d.why = "--etcd-flavor " + flavor;
  }
  d.flavor = flavor;
  Setter s{opts, d};
  if (flavor == "k3s") {
    std::string why = "k3s layout";
    std::string tls = under(root, "/var/lib/rancher/k3s/server/tls/etcd");
    s.set("etcd-endpoint", &cfg->etcd_endpoint, "https://127.0.0.1:2379", why);
    s.set("etcd-metrics-url", &cfg->etcd_metrics_url, "http://127.0.0.1:2381/metrics",
          why + " (k3s serves etcd metrics on 127.0.0.1:2381)");
    s.set("etcd-cacert", &cfg->etcd_cacert, tls + "/server-ca.crt", why);
    s.set("etcd-cert", &cfg->etcd_cert, tls + "/client.crt", why);
    s.set("etcd-key", &cfg->etcd_key, tls + "/client.key", why);
    s.set("etcd-data-dir", &cfg->etcd_data_dir, k3s_db, why);
    s.setList("snapshot-dir", &cfg->snapshot_dirs,
              under(root, "/var/lib/rancher/k3s/server/db/snapshots"), why);
    s.set("etcd-unit", &cfg->etcd_unit, "k3s.service", why + " (etcd is embedded in k3s)");
  } else if (flavor == "kubeadm") {
    std::string text;
    {
      std::ifstream f(kubeadm_manifest);
      std::stringstream ss;
      ss << f.rdbuf();
      text = ss.str();
    }
    std::string from = "from " + kubeadm_manifest;
    std::string why = "kubeadm layout";
    // The first https://127.0.0.1 client URL, else etcd's default port on loopback.
    std::string endpoint = "https://127.0.0.1:2379";
    std::string urls = manifestFlag(text, "listen-client-urls");
    std::string ep_why = why;
    for (size_t i = 0; !urls.empty() && i < urls.size();) {
      size_t j = urls.find(',', i);
      if (j == std::string::npos) j = urls.size();
      std::string u = urls.substr(i, j - i);
      if (u.find("127.0.0.1") != std::string::npos) {
        endpoint = u;
        ep_why = "--listen-client-urls " + from;
        break;
      }
      i = j + 1;
    }
    s.set("etcd-endpoint", &cfg->etcd_endpoint, endpoint, ep_why);
    std::string murls = manifestFlag(text, "listen-metrics-urls");
    std::string metrics = "http://127.0.0.1:2381";
    std::string m_why = why;
    if (!murls.empty()) {
      metrics = murls.substr(0, murls.find(','));
      m_why = "--listen-metrics-urls " + from;
    }
    s.set("etcd-metrics-url", &cfg->etcd_metrics_url, metrics + "/metrics", m_why);
    std::string ca = manifestFlag(text, "trusted-ca-file");
    s.set("etcd-cacert", &cfg->etcd_cacert,
          under(root, ca.empty() ? "/etc/kubernetes/pki/etcd/ca.crt" : ca),
          ca.empty() ? why : "--trusted-ca-file " + from);
    s.set("etcd-cert", &cfg->etcd_cert,
          under(root, "/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
          why + " (kubeadm's health-check client certificate)");
    s.set("etcd-key", &cfg->etcd_key,
          under(root, "/etc/kubernetes/pki/etcd/healthcheck-client.key"), why);
    std::string dd = manifestFlag(text, "data-dir");
    s.set("etcd-data-dir", &cfg->etcd_data_dir, under(root, dd.empty() ? "/var/lib/etcd" : dd),
          dd.empty() ? why : "--data-dir " + from);
    s.set("etcd-unit", &cfg->etcd_unit, "kubelet.service",
          why + " (etcd is a static pod run by the kubelet)");
  }
  return d;
}

namespace {

// Why an option has its value: where it was set, what detection found, or its default.
std::string sourceOf(const Options& opts, const Detection& d, const std::string& key) {
  std::string origin = opts.originOf(key);
  if (!origin.empty()) return origin.rfind("--", 0) == 0 ? "command line" : origin;
  if (auto it = d.reasons.find(key); it != d.reasons.end()) return it->second;
  return "default";
}

}  // namespace

std::string describeConfig(const Options& opts, const Detection& d) {
  std::ostringstream out;
  out << "# etcd flavor: " << d.flavor << " (" << d.why << ")\n";
  std::istringstream in(opts.dump());
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find(" = ");
    std::string key = eq == std::string::npos ? line : line.substr(0, eq);
    out << line << "  # " << sourceOf(opts, d, key) << "\n";
  }
  return out.str();
}

qw::wire::ConfigReport configReport(const Options& opts, const Detection& d) {
  qw::wire::ConfigReport r;
  r.set_flavor(d.flavor);
  r.set_flavor_reason(d.why);
  r.set_agent_version(qw::kVersion);
  std::istringstream in(opts.dump());
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find(" = ");
    auto* e = r.add_entries();
    e->set_key(eq == std::string::npos ? line : line.substr(0, eq));
    if (eq != std::string::npos) e->set_value(line.substr(eq + 3));
    e->set_source(sourceOf(opts, d, e->key()));
  }
  return r;
}

}  // namespace qw::agent
