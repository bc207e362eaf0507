#include "qw/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include <cstdlib>
#include <cstring>
#include <optional>

#include <boost/asio/steady_timer.hpp>

#include "qw/log.h"

namespace qw {

namespace net = boost::asio;

// The timers live in a shared block the handlers reach through a weak_ptr: a handler that runs
// after the notifier is gone (or after stopping()) does nothing.
struct SystemdNotifier::Timers {
  std::optional<net::steady_timer> watchdog;
  std::chrono::microseconds watchdog_every{0};
  std::optional<net::steady_timer> status;
  std::chrono::milliseconds status_every{0};
  std::function<std::string()> status_fn;
  bool stopped = false;
  // driveFromLoop(): when tick() last pinged and sent a status line.
  bool loop_driven = false;
  std::chrono::steady_clock::time_point pinged{}, status_at{};
};

namespace {

// The sd_notify(3) protocol itself: one datagram to the AF_UNIX socket named by NOTIFY_SOCKET
// ('@' = abstract namespace). Spoken directly, so the agent needs no libsystemd (and none of the
// compression and crypto libraries it pulls in) to run under Type=notify.
int notifyDatagram(const std::string& msg) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return 0;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) return -EINVAL;
  std::memcpy(sa.sun_path, path, len);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  auto sl = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  ssize_t n =
      ::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), sl);
  int err = errno;
  ::close(fd);
  return n < 0 ? -err : 1;
}

// sd_watchdog_enabled(3): WATCHDOG_USEC, for this process when WATCHDOG_PID names one.
uint64_t watchdogUsec() {
  const char* us = std::getenv("WATCHDOG_USEC");
  if (!us || !*us) return 0;
  if (const char* pid = std::getenv("WATCHDOG_PID");
      pid && *pid && std::strtol(pid, nullptr, 10) != ::getpid())
    return 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(us, &end, 10);
  return end && *end == '\0' ? v : 0;
}

}  // namespace

SystemdNotifier::SystemdNotifier() : timers_(std::make_shared<Timers>()) {
  const char* s = std::getenv("NOTIFY_SOCKET");
  enabled_ = s != nullptr && *s != '\0';
}

SystemdNotifier::~SystemdNotifier() {
  timers_->stopped = true;
  if (timers_->watchdog) timers_->watchdog->cancel();
  if (timers_->status) timers_->status->cancel();
}

void SystemdNotifier::send(const std::string& msg) {
  if (!enabled_) return;
  int r = notifyDatagram(msg);
  if (r < 0) {
    // Logged once: a broken notify socket would otherwise flood the log every ping.
    static bool warned = false;
    if (!warned) qw::logger("systemd")->warn("sd_notify failed: {}", std::strerror(-r));
    warned = true;
  }
}

void SystemdNotifier::ready(const std::string& status) {
  last_status_ = status;
  send("READY=1\nSTATUS=" + status);
}

void SystemdNotifier::status(const std::string& status) {
  if (status == last_status_) return;
  last_status_ = status;
  send("STATUS=" + status);
}

void SystemdNotifier::stopping(const std::string& status) {
  timers_->stopped = true;
  if (timers_->watchdog) timers_->watchdog->cancel();
  if (timers_->status) timers_->status->cancel();
  if (status.empty()) {
    send("STOPPING=1");
  } else {
    last_status_ = status;
    send("STOPPING=1\nSTATUS=" + status);
  }
}

namespace {

void armWatchdog(const std::shared_ptr<SystemdNotifier::Timers>& t) {
  t->watchdog->expires_after(t->watchdog_every / 2);
  std::weak_ptr<SystemdNotifier::Timers> weak = t;
  t->watchdog->async_wait([weak](const boost::system::error_code& ec) {
    auto s = weak.lock();
    if (ec || !s || s->stopped) return;
    // The environment was checked when the watchdog started; sd_notify reads it again.
    notifyDatagram("WATCHDOG=1");
    armWatchdog(s);
  });
}

void armStatus(const std::shared_ptr<SystemdNotifier::Timers>& t, SystemdNotifier* n) {
  t->status->expires_after(t->status_every);
  std::weak_ptr<SystemdNotifier::Timers> weak = t;
  t->status->async_wait([weak, n](const boost::system::error_code& ec) {
    auto s = weak.lock();
    if (ec || !s || s->stopped) return;
    n->status(s->status_fn());
    armStatus(s, n);
  });
}

}  // namespace

std::chrono::microseconds SystemdNotifier::startWatchdog(net::any_io_executor ex) {
  if (!enabled_) return std::chrono::microseconds(0);
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is this process.
  uint64_t usec = watchdogUsec();
  if (usec == 0) return std::chrono::microseconds(0);
  timers_->watchdog_every = std::chrono::microseconds(usec);
  timers_->watchdog.emplace(ex);
  armWatchdog(timers_);
  qw::logger("systemd")->info("watchdog: pinging every {} ms", usec / 2000);
  return timers_->watchdog_every;
}

std::chrono::microseconds SystemdNotifier::watchdogInterval() const {
  return enabled_ ? std::chrono::microseconds(watchdogUsec()) : std::chrono::microseconds(0);
}

void SystemdNotifier::driveFromLoop(std::chrono::milliseconds status_every,
                                    std::function<std::string()> fn) {
  if (!enabled_) return;
  timers_->loop_driven = true;
  timers_->watchdog_every = watchdogInterval();
  timers_->status_every = status_every;
  timers_->status_fn = std::move(fn);
  if (timers_->watchdog_every.count() > 0)
    qw::logger("systemd")->info("watchdog: pinging from the sampling loop, at least every {} ms",
                                timers_->watchdog_every.count() / 2000);
}

void SystemdNotifier::tick(std::chrono::steady_clock::time_point now) {
  auto& t = *timers_;
  if (!enabled_ || !t.loop_driven || t.stopped) return;
  if (t.watchdog_every.count() > 0 && now - t.pinged >= t.watchdog_every / 2) {
    t.pinged = now;
    send("WATCHDOG=1");
  }
  if (t.status_fn && t.status_every.count() > 0 && now - t.status_at >= t.status_every) {
    t.status_at = now;
    status(t.status_fn());
  }
}

void SystemdNotifier::periodicStatus(net::any_io_executor ex, std::chrono::milliseconds every,
                                     std::function<std::string()> fn) {
  if (!enabled_ || every.count() <= 0) return;
  timers_->status_every = every;
  timers_->status_fn = std::move(fn);
  timers_->status.emplace(ex);
  armStatus(timers_, this);
}

}  // namespace qw
