#include "qw/agent/collect/process_collector.h"

#include <unistd.h>

#include <algorithm>

#include "qw/agent/parse/proc_pid.h"
#include "qw/agent/parse/proc_stat.h"
#include "qw/agent/sys/etcd_process.h"

namespace qw::agent {

ProcessCollector::ProcessCollector(HostContext& ctx) : ctx_(ctx) {
  ticks_per_s_ = ::sysconf(_SC_CLK_TCK);
  if (ticks_per_s_ <= 0) ticks_per_s_ = 100;
  if (auto st = readSysFile(ctx_.cfg.procfs_root + "/stat"))
    if (auto bt = parseBootTime(*st)) boot_time_s_ = *bt;
}

void ProcessCollector::collect(int64_t now_ms, qw::wire::NodeSample* s) {
  refresh(now_ms);
  auto* h = s->mutable_host();
  h->set_etcd_pid(static_cast<uint32_t>(ctx_.pid));
  if (start_unix_ms_) h->set_etcd_start_unix_ms(*start_unix_ms_);
}

void ProcessCollector::startTime() {
  if (ctx_.pid_stat.read(ctx_.buf))
    if (auto st = parseProcStat(ctx_.buf); st && boot_time_s_)
      start_unix_ms_ =
          static_cast<int64_t>(boot_time_s_) * 1000 +
          static_cast<int64_t>(st->start_ticks * 1000 / static_cast<uint64_t>(ticks_per_s_));
}

void ProcessCollector::refresh(int64_t now_ms) {
  if (ctx_.pid > 0) {
    if (ctx_.pid_stat.read(ctx_.buf)) {
      auto st = parseProcStat(ctx_.buf);
      if (st && st->state != 'Z') {
        if (boot_time_s_)
          start_unix_ms_ =
              static_cast<int64_t>(boot_time_s_) * 1000 +
              static_cast<int64_t>(st->start_ticks * 1000 / static_cast<uint64_t>(ticks_per_s_));
        return;
      }
    }
    ctx_.pid = 0;  // gone (etcd restarted or stopped): look again now
    ctx_.prev_etcd_write.reset();
    scanned_at_ = -1'000'000;
    scan_backoff_ms_ = 0;
  }
  // Scanning /proc costs a read per process: right after etcd went away, then backing off from
  // 1 s to a minute while it stays away.
  if (now_ms - scanned_at_ < scan_backoff_ms_) return;
  scanned_at_ = now_ms;
  ctx_.pid = findEtcdPid(ctx_.cfg.procfs_root, ctx_.cfg.etcd_port);
  if (ctx_.pid <= 0) {
    ctx_.pid = 0;
    start_unix_ms_.reset();
    scan_backoff_ms_ = std::min<int64_t>(60000, std::max<int64_t>(1000, scan_backoff_ms_ * 2));
    return;
  }
  scan_backoff_ms_ = 0;
  std::string base = ctx_.cfg.procfs_root + "/" + std::to_string(ctx_.pid);
  ctx_.pid_stat = SysFile(base + "/stat");
  ctx_.pid_io = SysFile(base + "/io");
  if (ctx_.data_dir.empty() || ctx_.data_dir_from_cmdline) {
    std::string d = etcdDataDirFromCmdline(ctx_.cfg.procfs_root, ctx_.pid);
    if (!d.empty() && d != ctx_.data_dir) {
      ctx_.data_dir = d;
      ctx_.data_dir_from_cmdline = true;
      ctx_.data_dir_changed = true;  // resolve the new dir's device
    }
  }
  startTime();
}

}  // namespace qw::agent
