#pragma once
// Finding the local etcd (or k3s) process and its data dir through procfs.
#include <string>

namespace qw::agent {

// The etcd (or k3s) process serving `port`: among processes named etcd or k3s*, the one whose
// command line mentions ":port"; else the only one. 0 when none.
int findEtcdPid(const std::string& procfs_root, const std::string& port);
// --data-dir of that process's command line (relative paths resolved against its cwd); "" when
// it has none (etcd's default is "<name>.etcd" in its working directory).
std::string etcdDataDirFromCmdline(const std::string& procfs_root, int pid);

}  // namespace qw::agent
