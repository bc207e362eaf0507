#include "qw/agent/sys/etcd_config_reader.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "qw/agent/parse/etcd_config.h"
#include "qw/agent/sys/sys_file.h"
#include "qw/fs_util.h"
#include "qw/strings.h"

namespace qw::agent {

namespace {

std::string under(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return (root.back() == '/' ? root.substr(0, root.size() - 1) : root) + path;
}

std::string readLink(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// /proc/PID/cmdline and environ: NUL-terminated strings.
std::vector<std::string> nulSeparated(const std::string& text) {
  std::vector<std::string> out;
  for (auto piece : split(text, '\0')) out.emplace_back(piece);
  return out;
}

// The unit file and its drop-ins (host paths, under `root` on this machine) in systemd's search
// order (systemd.unit(5): /etc before /run before the packages' directories; drop-ins sorted by
// file name, the first directory's file of a name hiding the others'). Empty when the unit is
// not found.
std::vector<std::string> unitFiles(const std::string& root, const std::string& unit) {
  static const char* const kDirs[] = {"/etc/systemd/system", "/run/systemd/system",
                                      "/lib/systemd/system", "/usr/lib/systemd/system"};
  std::vector<std::string> out;
  for (const char* d : kDirs)
    if (std::string f = std::string(d) + "/" + unit; pathExists(under(root, f))) {
      out.push_back(f);
      break;
    }
  if (out.empty()) return out;
  std::map<std::string, std::string> dropins;  // file name -> host path
  for (const char* d : kDirs) {
    std::string dir = std::string(d) + "/" + unit + ".d";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(under(root, dir), ec))
      if (e.path().extension() == ".conf")
        dropins.emplace(e.path().filename(), dir + "/" + e.path().filename().string());
  }
  for (auto& [name, path] : dropins) out.push_back(path);
  return out;
}

struct UnitEnv {
  std::vector<std::string> env;
  std::string source;
};

// What systemd gave etcd: Environment= first, EnvironmentFile= overriding it (systemd.exec(5)).
// nullopt when the unit is not found or a required file cannot be read.
std::optional<UnitEnv> unitEnvironment(const std::string& root, const std::string& unit) {
  auto files = unitFiles(root, unit);
  if (files.empty()) return std::nullopt;
  UnitEnvironment u;
  for (const auto& f : files) {
    auto text = readFile(under(root, f));
    if (!text) return std::nullopt;
    addUnitEnvironment(*text, unit, hostName(), &u);
  }
  UnitEnv out;
  out.env = u.assignments;
  if (!u.assignments.empty()) out.source = "Environment= of " + files[0];
  std::string read;
  for (const auto& f : u.files) {
    auto text = readFile(under(root, f.path));
    if (!text) {
      if (f.optional) continue;
      return std::nullopt;
    }
    for (auto& kv : parseEnvironmentFile(*text)) out.env.push_back(std::move(kv));
    read += (read.empty() ? "" : " ") + f.path;
  }
  if (!read.empty()) out.source += (out.source.empty() ? "" : ", ") + ("EnvironmentFile " + read);
  if (out.source.empty()) out.source = "unit " + files[0];
  return out;
}

}  // namespace

qw::wire::EtcdConfig readEtcdConfig(const EtcdConfigPaths& p, int pid) {
  std::string base = p.procfs_root + "/" + std::to_string(pid);
  EtcdProcessText t;
  t.flavor = p.flavor;
  if (auto cmd = readSysFile(base + "/cmdline")) t.argv = nulSeparated(*cmd);
  if (auto env = readSysFile(base + "/environ")) {
    t.env = nulSeparated(*env);
    t.env_source = "/proc/" + std::to_string(pid) + "/environ";
  } else if (!p.unit.empty() && p.flavor != "kubeadm") {
    // (kubeadm's etcd is a static pod: its environment is the pod's, not the kubelet unit's.)
    if (auto u = unitEnvironment(p.root, p.unit)) {
      t.env = std::move(u->env);
      t.env_source = std::move(u->source);
    }
  }
  std::string cwd = readLink(base + "/cwd");
  std::string path = etcdConfigFilePath(t.argv, t.env, t.flavor);
  if (!path.empty() && path[0] != '/') path = cwd.empty() ? "" : joinNormalized(cwd, path);
  if (p.flavor == "k3s" && !p.etcd_data_dir.empty()) {
    t.k3s_etcd_config_path = p.etcd_data_dir + "/config";
    t.k3s_etcd_config_text = readFile(t.k3s_etcd_config_path);
  }
  // (k3s's own config file matters only without the one it wrote for etcd.)
  if (!path.empty() && !t.k3s_etcd_config_text) t.config_text = readFile(under(p.root, path));
  auto c = parseEtcdConfig(t);
  c.set_pid(pid);
  c.set_exe(readLink(base + "/exe"));
  c.set_cwd(cwd);
  if (!c.config_file().empty() && !t.k3s_etcd_config_text)
    c.set_config_file(path);  // resolved against the cwd
  return c;
}

}  // namespace qw::agent
