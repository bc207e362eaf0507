#pragma once
// The block device under etcd's data dir, found through <sysfs>/dev/block/MAJ:MIN.
#include <string>

namespace qw::agent {

struct BlockDevice {
  std::string disk;       // "mmcblk0"
  std::string partition;  // "mmcblk0p2", empty when the path is on the whole disk
  std::string error;      // why it could not be resolved
  std::string disk_dir;   // the disk's sysfs directory (holds `stat`); empty when unknown
};
// Resolves MAJ:MIN through <sysfs>/dev/block/MAJ:MIN: a partition's directory holds a
// `partition` file and sits inside its disk's directory (mmcblk0p2 -> mmcblk0, sda2 -> sda,
// nvme0n1p2 -> nvme0n1). Device-mapper and md devices are whole disks of their own.
BlockDevice resolveBlockDevice(const std::string& sysfs_root, unsigned major, unsigned minor);
// stat(path) then resolveBlockDevice; filesystems without a block device (tmpfs, overlay, btrfs
// subvolumes) say so in `error`.
BlockDevice resolveBlockDeviceOfPath(const std::string& sysfs_root, const std::string& path);
// --etcd-data-device: "MAJ:MIN" (resolved as above) or a disk name ("mmcblk0").
BlockDevice resolveBlockDeviceSpec(const std::string& sysfs_root, const std::string& spec);

}  // namespace qw::agent
