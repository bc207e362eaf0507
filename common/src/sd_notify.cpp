#include "qw/sd_notify.h"

#include <systemd/sd-daemon.h>

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
};

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
  int r = sd_notify(0, msg.c_str());
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
    sd_notify(0, "WATCHDOG=1");
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
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is this process.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  timers_->watchdog_every = std::chrono::microseconds(usec);
  timers_->watchdog.emplace(ex);
  armWatchdog(timers_);
  qw::logger("systemd")->info("watchdog: pinging every {} ms", usec / 2000);
  return timers_->watchdog_every;
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
