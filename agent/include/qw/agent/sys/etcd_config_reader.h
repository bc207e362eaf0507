#pragma once
// Reading what etcd was started with (parse/etcd_config.h turns it into the EtcdConfig): its
// /proc/PID/cmdline, environ, exe and cwd, its config file, and when environ is not readable (no
// ptrace rights over etcd's process: EACCES) the Environment= and EnvironmentFile= of its
// systemd unit. A dozen small files: read when etcd's pid changes and once a minute, never per
// cycle.
#include <string>

#include "sample.pb.h"

namespace qw::agent {

struct EtcdConfigPaths {
  std::string procfs_root = "/proc";
  // Where the host's files are (the agent's --detect-root): etcd's and k3s's config files, the
  // systemd units and their environment files. Tests hand a fixture tree.
  std::string root = "/";
  std::string unit;    // etcd's systemd unit ("" unknown: no fallback for the environment)
  std::string flavor;  // "etcd", "k3s", "kubeadm"
  // etcd's data dir on this machine: k3s writes its etcd's config file there ("config").
  std::string etcd_data_dir;
};

qw::wire::EtcdConfig readEtcdConfig(const EtcdConfigPaths& p, int pid);

}  // namespace qw::agent
