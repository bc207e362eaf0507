// The unit collector (collect/unit_collector.h): the D-Bus poll runs on the worker, the sample
// gets the last result delivered, and a missing bus or unit is reported, never waited on.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>

#include "qw/agent/collect/unit_collector.h"
#include "sample.pb.h"

using namespace qw::agent;
using namespace std::chrono_literals;
namespace net = boost::asio;

TEST_CASE("the unit collector polls on the worker and reports the last result it delivered") {
  net::io_context ioc(1);
  IdleWorker worker(ioc.get_executor());
  UnitCollector unit("quorumwatch-test-nonexistent.service", worker, 10000);
  CHECK(unit.name() == "unit");
  CHECK(unit.intervalMs() == 10000);
  qw::wire::NodeSample first;
  unit.collect(0, &first);  // posts the poll; nothing delivered yet
  CHECK_FALSE(unit.polled());
  CHECK(first.host().unsupported_size() == 0);
  CHECK_FALSE(unit.takeDelivered());
  // Run the loop until the result is back.
  net::steady_timer t(ioc);
  std::function<void()> wait = [&] {
    t.expires_after(5ms);
    t.async_wait([&](const boost::system::error_code&) {
      if (unit.polled())
        ioc.stop();
      else
        wait();
    });
  };
  wait();
  net::steady_timer guard(ioc, 5s);
  guard.async_wait([&](const boost::system::error_code&) { ioc.stop(); });
  ioc.run();
  REQUIRE(unit.polled());
  qw::wire::NodeSample second;
  unit.collect(1000, &second);  // not due again: the last result, no new poll
  CHECK(worker.pending() == 0);
  // Here there is either no system bus (unsupported, said once) or a bus without that unit.
  if (second.host().unsupported_size() > 0) {
    CHECK_THAT(second.host().unsupported(0), Catch::Contains("unit restarts"));
    auto u = unit.takeNewUnsupported();
    REQUIRE(u);
    CHECK_FALSE(unit.takeNewUnsupported());
  }
  CHECK(unit.takeDelivered());
  CHECK_FALSE(unit.takeDelivered());
}

TEST_CASE("no unit configured: nothing polled, nothing reported") {
  net::io_context ioc(1);
  IdleWorker worker(ioc.get_executor());
  UnitCollector unit("", worker);
  qw::wire::NodeSample s;
  unit.collect(0, &s);
  CHECK(worker.pending() == 0);
  CHECK_FALSE(s.has_host());
}
