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

  struct Timers;  // implementation detail (sd_notify.cpp)

 private:
  void send(const std::string& msg);

  bool enabled_ = false;
  std::string last_status_;
  std::shared_ptr<Timers> timers_;
};

}  // namespace qw
