#include "qw/agent/collect/load_memory_collector.h"

#include "qw/agent/parse/cpufreq.h"
#include "qw/agent/parse/loadavg.h"
#include "qw/agent/parse/meminfo.h"

namespace qw::agent {

LoadMemoryCollector::LoadMemoryCollector(HostContext& ctx)
    : ctx_(ctx),
      loadavg_(ctx.cfg.procfs_root + "/loadavg"),
      meminfo_(ctx.cfg.procfs_root + "/meminfo") {
  if (auto online = readSysFile(ctx.cfg.sysfs_root + "/devices/system/cpu/online"))
    cpus_ = countCpuList(*online);
}

void LoadMemoryCollector::collect(int64_t, qw::wire::NodeSample* s) {
  auto* h = s->mutable_host();
  auto& buf = ctx_.buf;
  if (loadavg_.read(buf)) {
    if (auto l = parseLoadavg(buf)) {
      h->set_load1(l->l1);
      h->set_load5(l->l5);
      h->set_load15(l->l15);
    } else {
      ctx_.fail("load", "load: cannot parse " + loadavg_.path());
    }
  } else {
    ctx_.fail("load", loadavg_.error());
  }
  if (meminfo_.read(buf)) {
    auto m = parseMeminfo(buf);
    if (m.total) h->set_mem_total_bytes(*m.total);
    if (m.available) h->set_mem_available_bytes(*m.available);
    if (m.swap_free) h->set_swap_free_bytes(*m.swap_free);
    if (!m.total && !m.available) ctx_.fail("memory", "memory: cannot parse " + meminfo_.path());
  } else {
    ctx_.fail("memory", meminfo_.error());
  }
}

}  // namespace qw::agent
