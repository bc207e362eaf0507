#include "qw/agent/sys/block_device.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "qw/agent/sys/sys_file.h"
#include "qw/strings.h"

namespace qw::agent {

BlockDevice resolveBlockDevice(const std::string& sysfs_root, unsigned major, unsigned minor) {
  BlockDevice d;
  std::string id = std::to_string(major) + ":" + std::to_string(minor);
  std::string link = sysfs_root + "/dev/block/" + id;
  char target[4096];
  ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
  if (n < 0) {
    d.error =
        "device " + id + " has no " + link + " (" + std::strerror(errno) +
        "): not a block device (tmpfs, overlay or a btrfs subvolume?); set --etcd-data-device";
    return d;
  }
  std::string dir =
      joinNormalized(sysfs_root + "/dev/block", std::string(target, static_cast<size_t>(n)));
  std::string name = baseName(dir);
  if (pathExists(dir + "/partition")) {
    d.partition = name;
    d.disk = baseName(dirName(dir));
    d.disk_dir = dirName(dir);
  } else {
    d.disk = name;
    d.disk_dir = dir;
  }
  if (d.disk.empty())
    d.error = "cannot make sense of " + link + " -> " + std::string(target, static_cast<size_t>(n));
  return d;
}

BlockDevice resolveBlockDeviceOfPath(const std::string& sysfs_root, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    BlockDevice d;
    d.error = "cannot stat etcd data dir " + path + ": " + std::strerror(errno);
    return d;
  }
  return resolveBlockDevice(sysfs_root, major(st.st_dev), minor(st.st_dev));
}

BlockDevice resolveBlockDeviceSpec(const std::string& sysfs_root, const std::string& spec) {
  auto colon = spec.find(':');
  if (colon == std::string::npos)
    return BlockDevice{spec, "", "", sysfs_root + "/class/block/" + spec};
  auto a = parseUint(std::string_view(spec).substr(0, colon));
  auto b = parseUint(std::string_view(spec).substr(colon + 1));
  if (!a || !b) return BlockDevice{"", "", "bad --etcd-data-device " + spec, ""};
  return resolveBlockDevice(sysfs_root, static_cast<unsigned>(*a), static_cast<unsigned>(*b));
}

}  // namespace qw::agent
