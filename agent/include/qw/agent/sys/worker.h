#pragma once
// One background thread at the lowest CPU and I/O priority (SCHED_IDLE, nice 19, ioprio class
// idle) for work that may block: it runs posted jobs in order and hands each result back to the
// agent's io_context (boost::asio::post), so the sampling loop never waits on it. The sd-bus unit
// poll (sys/unit_watch.h, a round trip of up to 250 ms) runs here.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

namespace qw::agent {

class IdleWorker {
 public:
  // Results are delivered on `ex`. The thread starts here and sets its priorities first.
  explicit IdleWorker(boost::asio::any_io_executor ex);
  // Stops the thread after the job it is running (jobs not started are dropped) and joins it.
  ~IdleWorker();
  IdleWorker(const IdleWorker&) = delete;
  IdleWorker& operator=(const IdleWorker&) = delete;

  // Runs job() on the worker thread, then done(result) on the executor. done is not called for
  // a job dropped at stop, nor after the io_context stopped running.
  template <class Job, class Done>
  void post(Job job, Done done) {
    using R = std::invoke_result_t<Job&>;
    enqueue([job = std::move(job), done = std::move(done), ex = ex_]() mutable {
      R r = job();
      boost::asio::post(
          ex, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    });
  }

  // What the thread got, e.g. "SCHED_IDLE, nice 19, I/O idle", or why a step was refused
  // (waits until the thread has set them).
  std::string priorities();
  // Jobs posted and not finished yet (the running one included).
  size_t pending();

 private:
  void enqueue(std::function<void()> f);
  void loop();

  boost::asio::any_io_executor ex_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  size_t running_ = 0;
  bool stop_ = false;
  bool started_ = false;
  std::string priorities_;
  std::thread thread_;
};

}  // namespace qw::agent
