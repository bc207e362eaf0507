// systemd notify protocol against the real binaries: a unix datagram socket stands in for
// systemd's NOTIFY_SOCKET; WATCHDOG_USEC asks for watchdog pings (interval/2 each).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "harness.h"

namespace {

using namespace std::chrono_literals;
using qw::test::TempDir;

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) throw std::runtime_error("socket path too long");
    path.copy(a.sun_path, path.size());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("bind " + path + " failed");
  }
  ~NotifySocket() { close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Reads datagrams until `pred` holds for everything received so far or the deadline passes.
  bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) messages.emplace_back(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // How many datagrams carry `line` as one of their lines.
  int count(const std::string& line) const {
    int c = 0;
    for (const auto& m : messages)
      if (("\n" + m + "\n").find("\n" + line + "\n") != std::string::npos) ++c;
    return c;
  }
  bool hasPrefix(const std::string& prefix) const {
    for (const auto& m : messages)
      if (("\n" + m).find("\n" + prefix) != std::string::npos) return true;
    return false;
  }
  std::string all() const {
    std::string s;
    for (const auto& m : messages) s += "[" + m + "] ";
    return s;
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> messages;

 private:
  std::string path_;
  int fd_ = -1;
};

// Sets NOTIFY_SOCKET and WATCHDOG_USEC for the processes started in its scope (they inherit the
// environment at fork), and removes them again.
class NotifyEnv {
 public:
  NotifyEnv(const std::string& socket, const std::string& watchdog_usec) {
    setenv("NOTIFY_SOCKET", socket.c_str(), 1);
    setenv("WATCHDOG_USEC", watchdog_usec.c_str(), 1);
    unsetenv("WATCHDOG_PID");
  }
  ~NotifyEnv() {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
  }
};

void checkNotifyProtocol(NotifySocket& sock, qw::test::Process& proc) {
  bool ready = sock.waitFor([&] { return sock.count("READY=1") >= 1; }, 20s);
  INFO("process log:\n" << proc.log());
  INFO("received: " << sock.all());
  REQUIRE(ready);
  CHECK(sock.count("READY=1") == 1);
  CHECK(sock.hasPrefix("STATUS="));
  // WATCHDOG_USEC=400000: a ping every 200 ms; 3 of them well within 10 s.
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(sock.waitFor([&] { return sock.count("WATCHDOG=1") >= 3; }, 10s));
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 5s);
  proc.stop(SIGTERM);
  sock.waitFor([&] { return sock.count("STOPPING=1") >= 1; }, 2s);
  CHECK(sock.count("STOPPING=1") == 1);
}

}  // namespace

TEST_CASE("aggregator: READY=1, STATUS= and periodic WATCHDOG=1 on NOTIFY_SOCKET", "[systemd]") {
  TempDir tmp("qw-systemd");
  NotifySocket sock(tmp.path() + "/notify.sock");
  qw::test::Aggregator agg(tmp.path());
  {
    NotifyEnv env(sock.path(), "400000");
    agg.start();
  }
  checkNotifyProtocol(sock, agg.process());
}

TEST_CASE("aggregator: the STATUS= line counts the agents connected", "[systemd]") {
  TempDir tmp("qw-systemd-count");
  NotifySocket sock(tmp.path() + "/notify.sock");
  qw::test::Aggregator agg(tmp.path());
  {
    NotifyEnv env(sock.path(), "400000");
    agg.start();
  }
  // No etcd behind it: the agent streams "unreachable" samples, which is all this needs.
  qw::test::Agent agent(tmp.path(), "n1",
                        "http://127.0.0.1:" + std::to_string(qw::test::freePort()),
                        agg.streamUrl());
  agent.start();
  INFO("received: " << sock.all());
  // STATUS= every 5 s; the first after the agent connected says so.
  CHECK(sock.waitFor([&] { return sock.all().find("1 agents connected") != std::string::npos; },
                     20s));
  agent.stop();
}

TEST_CASE("agent: READY=1, STATUS= and periodic WATCHDOG=1 on NOTIFY_SOCKET", "[systemd]") {
  TempDir tmp("qw-systemd");
  NotifySocket sock(tmp.path() + "/notify.sock");
  qw::test::Aggregator agg(tmp.path());
  agg.start();
  // No etcd at all: the agent must still start, report and ping (etcd down is what it monitors).
  std::string etcd = "http://127.0.0.1:" + std::to_string(qw::test::freePort());
  qw::test::Agent agent(tmp.path(), "node-1", etcd, agg.streamUrl(), {"--drain-timeout", "0s"});
  {
    NotifyEnv env(sock.path(), "400000");
    agent.start();
  }
  checkNotifyProtocol(sock, agent.process());
  // A 1 s cycle cannot carry pings due every 200 ms: they come from a timer.
  CHECK(agent.process().log().find("pinging from a timer") != std::string::npos);
}

TEST_CASE("no NOTIFY_SOCKET: the aggregator runs as before and sends nothing", "[systemd]") {
  TempDir tmp("qw-systemd");
  NotifySocket sock(tmp.path() + "/notify.sock");
  unsetenv("NOTIFY_SOCKET");
  setenv("WATCHDOG_USEC", "400000", 1);
  qw::test::Aggregator agg(tmp.path());
  agg.start();
  unsetenv("WATCHDOG_USEC");
  sock.waitFor([] { return false; }, 1s);
  CHECK(sock.messages.empty());
  CHECK(agg.stop() == 0);
}

TEST_CASE("agent: the sampling loop carries WATCHDOG=1 and STATUS= when it turns often enough",
          "[systemd]") {
  TempDir tmp("qw-systemd");
  NotifySocket sock(tmp.path() + "/notify.sock");
  qw::test::Aggregator agg(tmp.path());
  agg.start();
  std::string etcd = "http://127.0.0.1:" + std::to_string(qw::test::freePort());
  // A cycle every 100 ms against a 400 ms watchdog: four turns per interval, so no timers.
  qw::test::Agent agent(tmp.path(), "node-1", etcd, agg.streamUrl(),
                        {"--drain-timeout", "0s", "--fast-interval", "100ms"});
  {
    NotifyEnv env(sock.path(), "400000");
    agent.start();
  }
  checkNotifyProtocol(sock, agent.process());
  CHECK(agent.process().log().find("pinging from the sampling loop") != std::string::npos);
  CHECK(agent.process().log().find("pinging from a timer") == std::string::npos);
}
