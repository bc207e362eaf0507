// The etcd configuration collector (collect/etcd_config_collector.h): the read runs on the
// worker, a delivered configuration rides on one sample, and reads come when etcd's pid changes
// and once a minute.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "qw/agent/collect/etcd_config_collector.h"
#include "sample.pb.h"

using namespace qw::agent;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

// Runs the loop's ready handlers until the worker has nothing left and its results are
// delivered (polled against a 5 s deadline).
void drain(net::io_context& ioc, IdleWorker& worker) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (worker.pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    ioc.restart();
    ioc.poll();
    std::this_thread::sleep_for(1ms);
  }
  ioc.restart();
  ioc.poll();  // the delivery the last job posted
}

}  // namespace

TEST_CASE("etcd's configuration is read on the worker when etcd is found and once a minute") {
  net::io_context ioc(1);
  IdleWorker worker(ioc.get_executor());
  std::string tree = std::string(QW_FIXTURES) + "/hosts/pi4";
  EtcdConfigPaths paths;
  paths.procfs_root = tree + "/proc";
  paths.root = tree + "/root";
  paths.unit = "k3s.service";
  paths.flavor = "k3s";
  EtcdConfigCollector config(paths, worker);
  CHECK(config.name() == "etcd-config");
  CHECK(config.intervalMs() == 60000);
  auto cycle = [&](int64_t now_ms) {
    qw::wire::NodeSample s;
    config.collect(now_ms, &s);
    return s;
  };

  config.setProcess(0, "");
  CHECK_FALSE(cycle(0).has_etcd_config());
  CHECK(worker.pending() == 0);  // no etcd: nothing to read

  config.setProcess(4242, tree + "/root/var/lib/rancher/k3s/server/db/etcd");
  CHECK_FALSE(cycle(1000).has_etcd_config());  // posted; not delivered yet
  drain(ioc, worker);
  auto first = cycle(2000);
  REQUIRE(first.has_etcd_config());
  CHECK(first.etcd_config().pid() == 4242);
  CHECK(first.etcd_config().heartbeat_interval_ms() == 250);
  CHECK_FALSE(cycle(3000).has_etcd_config());  // one sample carries it

  // Not due again until a minute after the read.
  cycle(60999);
  CHECK(worker.pending() == 0);
  drain(ioc, worker);
  CHECK_FALSE(cycle(61000).has_etcd_config());
  drain(ioc, worker);
  CHECK(cycle(61001).has_etcd_config());

  // etcd gone and back (a new process): read again at once.
  config.setProcess(0, "");
  CHECK_FALSE(cycle(62000).has_etcd_config());
  config.setProcess(4242, "");
  cycle(63000);
  drain(ioc, worker);
  CHECK(cycle(64000).has_etcd_config());
}
