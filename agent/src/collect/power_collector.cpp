#include "qw/agent/collect/power_collector.h"

#include <cerrno>

#include "qw/agent/parse/throttled.h"

namespace qw::agent {

PowerCollector::PowerCollector(HostContext& ctx)
    : ctx_(ctx),
      throttled_(ctx.cfg.sysfs_root + "/devices/platform/soc/soc:firmware/get_throttled") {}

void PowerCollector::collect(int64_t, qw::wire::NodeSample* s) {
  auto& buf = ctx_.buf;
  if (throttled_.read(buf)) {
    if (auto raw = parseThrottled(buf))
      decodeThrottled(*raw, s->mutable_host()->mutable_throttled());
    else
      ctx_.fail("throttled", "throttled: cannot parse " + throttled_.path());
  } else if (throttled_.lastErrno() == ENOENT) {
    ctx_.unsupported("throttled: no " + throttled_.path() + " (not a Raspberry Pi)");
  } else {
    ctx_.fail("throttled", throttled_.error());
  }
}

}  // namespace qw::agent
