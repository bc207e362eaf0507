#include "qw/agent/collect/pressure_collector.h"

#include <cerrno>

namespace qw::agent {

PressureCollector::PressureCollector(HostContext& ctx)
    : ctx_(ctx),
      io_(ctx.cfg.procfs_root + "/pressure/io"),
      cpu_(ctx.cfg.procfs_root + "/pressure/cpu"),
      mem_(ctx.cfg.procfs_root + "/pressure/memory") {}

void PressureCollector::read(SysFile& f, std::optional<qw::wire::Pressure>* some_out,
                             std::optional<qw::wire::Pressure>* full_out,
                             std::optional<PressureLine>* prev_some,
                             std::optional<PressureLine>* prev_full, const char* name) {
  auto& buf = ctx_.buf;
  std::string kind = std::string("pressure ") + name;
  if (!f.read(buf)) {
    if (f.lastErrno() == ENOENT)
      ctx_.unsupported("pressure: no " + f.path() +
                       " (kernel without PSI; add psi=1 to its command line)");
    else
      ctx_.fail(kind, f.error());
    return;
  }
  std::optional<PressureLine> some, full;
  if (!parsePressure(buf, &some, &full)) {
    ctx_.fail(kind, kind + ": cannot parse " + f.path());
    return;
  }
  auto fill = [](const std::optional<PressureLine>& cur, std::optional<PressureLine>* prev,
                 std::optional<qw::wire::Pressure>* out) {
    if (!cur || !out) return;
    qw::wire::Pressure p;
    p.set_avg10(cur->avg10);
    p.set_avg60(cur->avg60);
    p.set_avg300(cur->avg300);
    if (*prev && cur->total_us >= (*prev)->total_us)
      p.set_total_us(cur->total_us - (*prev)->total_us);
    *prev = cur;
    *out = std::move(p);
  };
  fill(some, prev_some, some_out);
  fill(full, prev_full, full_out);
}

void PressureCollector::collect(int64_t, qw::wire::NodeSample* s) {
  auto* h = s->mutable_host();
  {
    std::optional<qw::wire::Pressure> a, b;
    read(io_, &a, &b, &prev_io_some_, &prev_io_full_, "io");
    if (a) *h->mutable_io_some() = std::move(*a);
    if (b) *h->mutable_io_full() = std::move(*b);
  }
  {
    std::optional<qw::wire::Pressure> a;
    read(cpu_, &a, nullptr, &prev_cpu_some_, nullptr, "cpu");
    if (a) *h->mutable_cpu_some() = std::move(*a);
  }
  {
    std::optional<qw::wire::Pressure> a, b;
    read(mem_, &a, &b, &prev_mem_some_, &prev_mem_full_, "memory");
    if (a) *h->mutable_memory_some() = std::move(*a);
    if (b) *h->mutable_memory_full() = std::move(*b);
  }
}

}  // namespace qw::agent
