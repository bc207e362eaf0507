#include "qw/agent/sys/etcd_process.h"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <vector>

#include "qw/agent/sys/sys_file.h"
#include "qw/strings.h"

namespace qw::agent {

namespace {

bool mentionsPort(const std::string& cmdline, const std::string& port) {
  std::string needle = ":" + port;
  size_t pos = 0;
  while ((pos = cmdline.find(needle, pos)) != std::string::npos) {
    size_t end = pos + needle.size();
    if (end >= cmdline.size() || !std::isdigit(static_cast<unsigned char>(cmdline[end])))
      return true;
    pos = end;
  }
  return false;
}

}  // namespace

int findEtcdPid(const std::string& procfs_root, const std::string& port) {
  DIR* d = ::opendir(procfs_root.c_str());
  if (!d) return 0;
  std::vector<int> candidates;
  int by_port = 0;
  while (auto* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (!std::isdigit(static_cast<unsigned char>(n[0]))) continue;
    std::string base = procfs_root + "/" + n;
    auto comm = readSysFile(base + "/comm");
    if (!comm) continue;
    auto c = trim(*comm);
    if (c != "etcd" && !startsWith(c, "k3s")) continue;
    int pid = std::atoi(n);
    candidates.push_back(pid);
    if (!port.empty()) {
      auto cmd = readSysFile(base + "/cmdline");
      if (cmd && mentionsPort(*cmd, port)) {
        by_port = pid;
        break;
      }
    }
  }
  ::closedir(d);
  if (by_port) return by_port;
  return candidates.size() == 1 ? candidates[0] : 0;
}

std::string etcdDataDirFromCmdline(const std::string& procfs_root, int pid) {
  std::string base = procfs_root + "/" + std::to_string(pid);
  auto cmd = readSysFile(base + "/cmdline");
  if (!cmd) return "";
  // /proc/PID/cmdline: the arguments, each ended by a NUL.
  auto args = split(*cmd, '\0');
  std::string dir;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    for (std::string_view f : {"--data-dir", "-data-dir"}) {
      if (a == f && i + 1 < args.size())
        dir = std::string(args[i + 1]);
      else if (a.size() > f.size() && startsWith(a, f) && a[f.size()] == '=')
        dir = std::string(a.substr(f.size() + 1));
    }
  }
  if (dir.empty()) return "";
  if (dir[0] != '/') {
    char cwd[4096];
    ssize_t n = ::readlink((base + "/cwd").c_str(), cwd, sizeof(cwd) - 1);
    if (n <= 0) return "";
    dir = joinNormalized(std::string(cwd, static_cast<size_t>(n)), dir);
  }
  return dir;
}

}  // namespace qw::agent
