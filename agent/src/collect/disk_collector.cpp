#include "qw/agent/collect/disk_collector.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

#include "qw/agent/parse/proc_pid.h"

namespace qw::agent {

DiskCollector::DiskCollector(HostContext& ctx)
    : ctx_(ctx), diskstats_(ctx.cfg.procfs_root + "/diskstats") {}

void DiskCollector::resolve(int64_t now_ms) {
  // Resolve the device once (again every minute while it fails: the dir may not exist yet).
  if (ctx_.data_dir_changed) {
    ctx_.data_dir_changed = false;
    dev_resolved_at_ = -1;
  }
  if (dev_resolved_at_ >= 0 && (dev_.error.empty() || now_ms - dev_resolved_at_ <= 60000)) return;
  dev_resolved_at_ = now_ms;
  if (!ctx_.cfg.data_device.empty())
    dev_ = resolveBlockDeviceSpec(ctx_.cfg.sysfs_root, ctx_.cfg.data_device);
  else if (!ctx_.data_dir.empty())
    dev_ = resolveBlockDeviceOfPath(ctx_.cfg.sysfs_root, ctx_.data_dir);
  else
    dev_ = BlockDevice{"", "", "", ""};
  prev_disk_.reset();
}

void DiskCollector::collect(int64_t now_ms, qw::wire::NodeSample* s) {
  resolve(now_ms);
  if (dev_.disk.empty()) {
    if (!dev_.error.empty())
      ctx_.unsupported("disk: " + dev_.error);
    else
      ctx_.unsupported("disk: etcd's data dir is unknown (set --etcd-data-dir)");
    return;
  }
  auto& buf = ctx_.buf;
  auto* d = s->mutable_disk();
  d->set_device(dev_.disk);
  d->set_partition(dev_.partition);
  if (disk_stat_.path() != dev_.disk_dir + "/stat")
    disk_stat_ = SysFile(dev_.disk_dir.empty() ? std::string() : dev_.disk_dir + "/stat");
  // The disk's own stat file; /proc/diskstats when it is missing (old kernels, a fixture tree).
  std::optional<DiskStats> cur;
  bool read_failed = false;
  if (!disk_stat_.path().empty() && disk_stat_.read(buf)) cur = parseBlockStat(buf);
  if (!cur) {
    if (diskstats_.read(buf)) {
      cur = parseDiskstats(buf, dev_.disk);
    } else {
      read_failed = true;
      ctx_.fail("disk", diskstats_.error());
    }
  }
  if (cur) {
    d->set_in_flight(static_cast<uint32_t>(cur->in_flight));
    d->set_sectors_written_total(cur->write_sectors);
    if (prev_disk_) {
      const auto& p = *prev_disk_;
      bool reset = cur->reads < p.reads || cur->writes < p.writes ||
                   cur->read_sectors < p.read_sectors || cur->write_sectors < p.write_sectors ||
                   cur->read_ms < p.read_ms || cur->write_ms < p.write_ms || cur->io_ms < p.io_ms ||
                   (cur->flushes && p.flushes && *cur->flushes < *p.flushes) ||
                   (cur->flush_ms && p.flush_ms && *cur->flush_ms < *p.flush_ms);
      d->set_interval_ms(now_ms - prev_disk_ms_);
      if (reset) {
        d->set_counters_reset(true);  // a 32-bit wrap or a re-added device: no rates this time
      } else {
        d->set_reads(cur->reads - p.reads);
        d->set_writes(cur->writes - p.writes);
        d->set_read_bytes((cur->read_sectors - p.read_sectors) * 512);
        d->set_write_bytes((cur->write_sectors - p.write_sectors) * 512);
        d->set_read_time_ms(cur->read_ms - p.read_ms);
        d->set_write_time_ms(cur->write_ms - p.write_ms);
        d->set_busy_ms(cur->io_ms - p.io_ms);
        if (cur->flushes && p.flushes) d->set_flushes(*cur->flushes - *p.flushes);
        if (cur->flush_ms && p.flush_ms) d->set_flush_time_ms(*cur->flush_ms - *p.flush_ms);
      }
    }
    prev_disk_ = cur;
    prev_disk_ms_ = now_ms;
  } else if (!read_failed) {
    ctx_.fail("disk", "disk: no line for " + dev_.disk + " in " + diskstats_.path());
  }
  freeSpace(now_ms, d);
  etcdWrites(d);
}

void DiskCollector::freeSpace(int64_t now_ms, qw::wire::DiskSample* d) {
  // Free space moves slowly: statvfs every 10 s, the last answer in between.
  const auto& dir = ctx_.data_dir;
  if (!dir.empty() && (fs_at_ < 0 || now_ms - fs_at_ >= 10000 || now_ms < fs_at_)) {
    fs_at_ = now_ms;
    struct statvfs v {};
    if (::statvfs(dir.c_str(), &v) == 0) {
      fs_total_ = static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
      fs_avail_ = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
    } else {
      fs_total_.reset();
      fs_avail_.reset();
      ctx_.fail("disk statvfs", "disk: statvfs " + dir + ": " + std::strerror(errno));
    }
  }
  if (fs_total_) d->set_fs_total_bytes(*fs_total_);
  if (fs_avail_) d->set_fs_avail_bytes(*fs_avail_);
}

void DiskCollector::etcdWrites(qw::wire::DiskSample* d) {
  if (ctx_.pid <= 0) return;
  auto& buf = ctx_.buf;
  auto& io = ctx_.pid_io;
  if (io.read(buf)) {
    if (auto w = parseIoWriteBytes(buf)) {
      d->set_etcd_write_bytes_total(*w);
      if (ctx_.prev_etcd_write && *w >= *ctx_.prev_etcd_write)
        d->set_etcd_write_bytes(*w - *ctx_.prev_etcd_write);
      ctx_.prev_etcd_write = w;
    }
  } else if ((io.lastErrno() == ENOENT || io.lastErrno() == ESRCH) && !ctx_.pid_stat.read(buf)) {
    ctx_.process_gone = true;  // etcd's process is gone: find it again next cycle
  } else if (io.lastErrno() == EACCES || io.lastErrno() == EPERM) {
    ctx_.unsupported("disk: etcd's " + io.path() +
                     " is not readable (needs ptrace rights over etcd; see README, Operations)");
  } else {
    ctx_.fail("etcd io", io.error());
  }
}

}  // namespace qw::agent
