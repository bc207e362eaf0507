// The idle-priority worker (sys/worker.h): jobs run off the loop thread at SCHED_IDLE and idle
// I/O priority, results come back on the io_context, and a job that blocks does not block it.
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "qw/agent/sys/worker.h"

using namespace qw::agent;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {
struct JobView {
  std::thread::id thread;
  int policy = -1;
  long ioprio = -1;
};
}  // namespace

TEST_CASE("a job runs on the worker at idle priority and its result comes back on the loop") {
  net::io_context ioc(1);
  IdleWorker worker(ioc.get_executor());
  INFO(worker.priorities());
  const auto loop_thread = std::this_thread::get_id();
  std::optional<JobView> got;
  bool on_loop = false;
  worker.post(
      [] {
        JobView v;
        v.thread = std::this_thread::get_id();
        v.policy = ::sched_getscheduler(0);
        v.ioprio = ::syscall(SYS_ioprio_get, 1, 0);  // IOPRIO_WHO_PROCESS, this thread
        return v;
      },
      [&](JobView v) {
        on_loop = ioc.get_executor().running_in_this_thread() &&
                  std::this_thread::get_id() == loop_thread;
        got = v;
        ioc.stop();
      });
  net::steady_timer guard(ioc, 5s);
  guard.async_wait([&](const boost::system::error_code&) { ioc.stop(); });
  ioc.run();
  REQUIRE(got);
  CHECK(on_loop);
  CHECK(got->thread != loop_thread);
  CHECK(got->policy == SCHED_IDLE);
  CHECK((got->ioprio >> 13) == 3);  // IOPRIO_CLASS_IDLE
  CHECK_THAT(worker.priorities(), Catch::StartsWith("SCHED_IDLE, nice 19, I/O idle"));
}

TEST_CASE("a blocked job does not block the loop, and results arrive in order") {
  net::io_context ioc(1);
  IdleWorker worker(ioc.get_executor());
  std::promise<void> release;
  auto released = release.get_future().share();
  std::vector<int> results;
  int ticks = 0;
  worker.post(
      [released] {
        released.wait();
        return 1;
      },
      [&](int v) { results.push_back(v); });
  worker.post([] { return 2; },
              [&](int v) {
                results.push_back(v);
                ioc.stop();
              });
  // The loop keeps turning while the first job blocks: ten 5 ms ticks, then the job is let go.
  net::steady_timer tick(ioc);
  std::function<void()> again = [&] {
    tick.expires_after(5ms);
    tick.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (++ticks == 10) {
        CHECK(results.empty());
        CHECK(worker.pending() == 2);
        release.set_value();
        return;
      }
      again();
    });
  };
  again();
  net::steady_timer guard(ioc, 5s);
  guard.async_wait([&](const boost::system::error_code&) { ioc.stop(); });
  ioc.run();
  CHECK(ticks == 10);
  CHECK(results == std::vector<int>{1, 2});
}

TEST_CASE("a worker destroyed with jobs queued drops them and joins") {
  net::io_context ioc(1);
  std::atomic<int> ran{0};
  std::atomic<bool> started{false};
  {
    IdleWorker worker(ioc.get_executor());
    std::promise<void> release;
    auto released = release.get_future().share();
    worker.post(
        [&, released] {
          started = true;
          released.wait();
          return ++ran;
        },
        [](int) {});
    for (int i = 0; i < 5; ++i) worker.post([&] { return ++ran; }, [](int) {});
    std::thread([r = std::move(release)]() mutable {
      std::this_thread::sleep_for(20ms);
      r.set_value();
    }).detach();
    while (!started) std::this_thread::sleep_for(1ms);
  }
  // The running job finished; the five queued behind it were dropped.
  CHECK(ran == 1);
}
