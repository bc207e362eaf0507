#include "qw/agent/sys/worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qw::agent {

namespace {

// ioprio_set(2): IOPRIO_WHO_PROCESS with who 0 is the calling thread; the class sits above
// IOPRIO_CLASS_SHIFT (13) and IOPRIO_CLASS_IDLE is 3 (include/uapi/linux/ioprio.h).
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassIdle = 3;

std::string lowerPriorities() {
  std::string out;
  sched_param sp{};
  sp.sched_priority = 0;
  // Policies are per thread on Linux: pid 0 is the calling thread.
  if (::sched_setscheduler(0, SCHED_IDLE, &sp) == 0)
    out = "SCHED_IDLE";
  else
    out = std::string("SCHED_IDLE refused (") + std::strerror(errno) + ")";
  // Nice values are per thread too (setpriority on a thread id); ignored under SCHED_IDLE but
  // kept should the policy be refused.
  auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, tid, 19) == 0)
    out += ", nice 19";
  else
    out += std::string(", nice 19 refused (") + std::strerror(errno) + ")";
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, kIoprioClassIdle << kIoprioClassShift) == 0)
    out += ", I/O idle";
  else
    out += std::string(", I/O idle refused (") + std::strerror(errno) + ")";
  return out;
}

}  // namespace

IdleWorker::IdleWorker(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {
  thread_ = std::thread([this] { loop(); });
}

IdleWorker::~IdleWorker() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IdleWorker::enqueue(std::function<void()> f) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    jobs_.push_back(std::move(f));
  }
  cv_.notify_all();
}

std::string IdleWorker::priorities() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return started_; });
  return priorities_;
}

size_t IdleWorker::pending() {
  std::lock_guard<std::mutex> l(mu_);
  return jobs_.size() + running_;
}

void IdleWorker::loop() {
  ::pthread_setname_np(::pthread_self(), "qw-idle");
  std::string p = lowerPriorities();
  std::unique_lock<std::mutex> l(mu_);
  priorities_ = std::move(p);
  started_ = true;
  cv_.notify_all();
  for (;;) {
    cv_.wait(l, [&] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    running_ = 1;
    l.unlock();
    try {
      job();
    } catch (...) {
      // A job that throws delivers no result; the worker keeps going.
    }
    l.lock();
    running_ = 0;
  }
}

}  // namespace qw::agent
