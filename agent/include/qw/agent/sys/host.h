#pragma once
// The node's own signals (DESIGN.md section 3) in one call per cycle: the host collectors
// (collect/*_collector.h) over configurable procfs/sysfs roots, the slower ones every
// `slow_interval_ms` and repeated in between, the disk every cycle. The parsers are in parse/,
// the file, device and process helpers in sys/; this header includes them for the callers that
// used to find everything here.
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "qw/agent/collect/collector.h"
#include "qw/agent/parse/cpufreq.h"
#include "qw/agent/parse/diskstats.h"
#include "qw/agent/parse/loadavg.h"
#include "qw/agent/parse/meminfo.h"
#include "qw/agent/parse/pressure.h"
#include "qw/agent/parse/proc_pid.h"
#include "qw/agent/parse/proc_stat.h"
#include "qw/agent/parse/thermal.h"
#include "qw/agent/parse/throttled.h"
#include "qw/agent/sys/block_device.h"
#include "qw/agent/sys/etcd_process.h"
#include "qw/agent/sys/sys_file.h"
#include "qw/strings.h"
#include "sample.pb.h"

namespace qw::agent {

using qw::parseUint;

class DiskCollector;
class LoadMemoryCollector;

class HostSampler {
 public:
  explicit HostSampler(HostConfig cfg);
  ~HostSampler();
  // One cycle: fills s->host() and s->disk(). Never throws; a failing item is counted and left
  // absent, the others are still filled. Between slow readings the host part repeats the last
  // ones, except the pressure stall totals, which are deltas and ride only on the sample that
  // read them.
  void sample(int64_t steady_ms, qw::wire::NodeSample* s);
  uint64_t errors() const { return ctx_.errors; }
  const std::string& lastError() const { return ctx_.last_error; }
  // The collectors that read in the last cycle, and their failures as ("collector/kind", text),
  // for collect/error_once.h.
  const std::vector<std::string>& ranLastCycle() const { return ran_; }
  const std::vector<std::pair<std::string, std::string>>& lastCycleErrors() const {
    return cycle_errors_;
  }
  // Lines that appeared in `unsupported` for the first time since the last call (to log once).
  std::vector<std::string> takeNewUnsupported();
  const std::string& dataDir() const { return ctx_.data_dir; }
  const BlockDevice& device() const;
  int etcdPid() const { return ctx_.pid; }

 private:
  void run(Collector& c, int64_t steady_ms, qw::wire::NodeSample* s);

  HostContext ctx_;
  std::unique_ptr<DiskCollector> disk_;
  LoadMemoryCollector* load_ = nullptr;
  std::vector<std::unique_ptr<Collector>> slow_;  // in the order they fill the sample
  std::vector<std::string> ran_;
  std::vector<std::pair<std::string, std::string>> cycle_errors_;

  int64_t slow_at_ = -1;  // steady ms of the last slow reading, -1: due
  qw::wire::HostSample slow_sample_;
  std::set<std::string> slow_unsupported_;
};

}  // namespace qw::agent
