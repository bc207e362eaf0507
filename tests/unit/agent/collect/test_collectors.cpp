// Each host collector through the Collector interface (collect/collector.h) on the fixture trees
// (tests/fixtures/hosts): what it fills, its name and interval, and the error kinds it reports.
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "qw/agent/collect/disk_collector.h"
#include "qw/agent/collect/load_memory_collector.h"
#include "qw/agent/collect/power_collector.h"
#include "qw/agent/collect/pressure_collector.h"
#include "qw/agent/collect/process_collector.h"
#include "qw/agent/collect/thermal_collector.h"
#include "sample.pb.h"

using namespace qw::agent;

namespace {
HostConfig fixture(const std::string& name, const std::string& device) {
  HostConfig c;
  std::string root = std::string(QW_FIXTURES) + "/hosts/" + name;
  c.procfs_root = root + "/proc";
  c.sysfs_root = root + "/sys";
  c.data_device = device;
  c.etcd_port = "2379";
  c.slow_interval_ms = 5000;
  return c;
}
}  // namespace

TEST_CASE("collectors fill their own signal group of a Raspberry Pi sample") {
  HostContext ctx(fixture("pi4", "179:2"));
  std::vector<std::unique_ptr<Collector>> all;
  all.push_back(std::make_unique<ProcessCollector>(ctx));
  all.push_back(std::make_unique<ThermalCollector>(ctx));
  all.push_back(std::make_unique<PowerCollector>(ctx));
  all.push_back(std::make_unique<PressureCollector>(ctx));
  all.push_back(std::make_unique<LoadMemoryCollector>(ctx));
  all.push_back(std::make_unique<DiskCollector>(ctx));
  std::vector<std::string> names;
  for (auto& c : all) {
    names.emplace_back(c->name());
    CHECK(c->intervalMs() == (c->name() == "disk" ? 0 : 5000));
  }
  CHECK(names ==
        std::vector<std::string>{"process", "thermal", "power", "pressure", "load", "disk"});

  qw::wire::NodeSample s;
  all[2]->collect(0, &s);  // power alone: only the firmware flags
  CHECK(s.host().has_throttled());
  CHECK(s.host().thermal_size() == 0);
  CHECK_FALSE(s.has_disk());
  for (auto& c : all) c->collect(0, &s);
  CHECK(ctx.errors == 0);
  CHECK(ctx.cycle_errors.empty());
  CHECK(s.host().etcd_pid() == 4242);
  CHECK(s.host().thermal_size() == 1);
  CHECK(s.host().has_io_some());
  CHECK(s.host().mem_total_bytes() > 0);
  CHECK(s.disk().device() == "mmcblk0");
  CHECK(s.disk().etcd_write_bytes_total() > 0);  // the process collector found etcd for it
}

TEST_CASE("a collector's failures carry a stable kind and unsupported items are said once") {
  HostContext ctx(fixture("garbage", "8:0"));
  ThermalCollector thermal(ctx);
  LoadMemoryCollector load(ctx);
  qw::wire::NodeSample s;
  thermal.collect(0, &s);
  load.collect(0, &s);
  REQUIRE_FALSE(ctx.cycle_errors.empty());
  for (const auto& [kind, text] : ctx.cycle_errors) {
    INFO(kind << ": " << text);
    CHECK_FALSE(kind.empty());
    CHECK(text.find(kind.substr(0, kind.find(' '))) != std::string::npos);
  }
  CHECK(ctx.errors == ctx.cycle_errors.size());
  CHECK(ctx.last_error == ctx.cycle_errors.back().second);

  HostContext none(fixture("missing", ""));
  PowerCollector power(none);
  qw::wire::NodeSample a, b;
  power.collect(0, &a);
  power.collect(1000, &b);
  CHECK(none.errors == 0);
  CHECK(none.unsupported_now.size() == 1);
  CHECK(none.new_unsupported.size() == 1);  // logged once however often it is read
}
