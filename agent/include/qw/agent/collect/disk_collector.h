#pragma once
// The whole disk under etcd's data dir: its I/O counters as deltas (parse/diskstats.h), the data
// dir's free space, and the bytes etcd's process wrote. Every cycle.
#include "qw/agent/collect/collector.h"
#include "qw/agent/parse/diskstats.h"
#include "qw/agent/sys/block_device.h"

namespace qw::agent {

class DiskCollector : public Collector {
 public:
  explicit DiskCollector(HostContext& ctx);
  std::string_view name() const override { return "disk"; }
  int64_t intervalMs() const override { return 0; }
  void collect(int64_t now_ms, qw::wire::NodeSample* s) override;
  const BlockDevice& device() const { return dev_; }

 private:
  void resolve(int64_t now_ms);
  void freeSpace(int64_t now_ms, qw::wire::DiskSample* d);
  void etcdWrites(qw::wire::DiskSample* d);

  HostContext& ctx_;
  BlockDevice dev_;
  int64_t dev_resolved_at_ = -1;
  // The disk's own sysfs stat file, read instead of /proc/diskstats when present: the kernel
  // formats one device instead of every one (21 against 44 us a read, cold, on the bench VM).
  SysFile disk_stat_, diskstats_;
  std::optional<DiskStats> prev_disk_;
  int64_t prev_disk_ms_ = 0;
  int64_t fs_at_ = -1;
  std::optional<uint64_t> fs_total_, fs_avail_;
};

}  // namespace qw::agent
