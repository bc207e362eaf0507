#pragma once
// systemd service notifications (sd_notify(3)) for Type=notify units: READY=1 once start-up is
// done, STATUS= lines for `systemctl status`, STOPPING=1, and WATCHDOG=1 pings sent by a timer on
// the service's own event loop, so a stuck loop stops pinging and systemd restarts the service
// (WatchdogSec=). Every call is a no-op when NOTIFY_SOCKET is unset (not started by systemd).
//
// Lifetime: create it after the io_context whose executor startWatchdog() gets (so it is
// destroyed first); it cancels its timers when destroyed. Single-threaded use (the event loop).
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

namespace qw {

class SystemdNotifier {
 public:
  SystemdNotifier();
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // NOTIFY_SOCKET is set: systemd (or a test) listens.
  bool enabled() const { return enabled_; }
  // READY=1 with a STATUS= line.
  void ready(const std::string& status);
  void status(const std::string& status);
  // STOPPING=1 (and a STATUS= line when given); also stops the watchdog pings and status updates.
  void stopping(const std::string& status = {});

  // When systemd asked for watchdog pings (WatchdogSec=: WATCHDOG_USEC for this process), sends
  // WATCHDOG=1 every interval/2 from a timer on `ex`. Returns the interval, 0 when off.
  std::chrono::microseconds startWatchdog(boost::asio::any_io_executor ex);
  // Every `every`, sends STATUS=fn() when the text changed since the last STATUS= line.
  void periodicStatus(boost::asio::any_io_executor ex, std::chrono::milliseconds every,
                      std::function<std::string()> fn);

  // The interval systemd asked for (WATCHDOG_USEC for this process), 0 when none.
  std::chrono::microseconds watchdogInterval() const;
  // Instead of startWatchdog() and periodicStatus(): the caller's own loop calls tick() every
  // turn, and WATCHDOG=1 (once half the interval has passed since the last ping) and STATUS=fn()
  // (every `status_every`, when changed) ride on it. No timers, so no wake-ups of their own: for
  // the agent, whose sampling cycle turns every second anyway. The caller checks that its loop
  // turns often enough (at most a quarter of watchdogInterval()); a loop that stops turning stops
  // pinging, and systemd restarts the service.
  void driveFromLoop(std::chrono::milliseconds status_every, std::function<std::string()> fn);
  void tick(std::chrono::steady_clock::time_point now);

  struct Timers;  // implementation detail (sd_notify.cpp)

 private:
  void send(const std::string& msg);

  bool enabled_ = false;
  std::string last_status_;
  std::shared_ptr<Timers> timers_;
};

}  // namespace qw
