// The floor under the agent's CPU: the same I/O at the same cadences, in plain system calls,
// with no parsing, no protobuf and no event library. qw-bench-agent-footprint runs it beside the
// agent and node_exporter, so a run says how much of the agent's CPU is the work itself (wake-ups,
// loopback TCP to etcd and the aggregator, procfs and sysfs reads) and how much is the agent.
//   qw-bench-probe-floor --etcd PORT --sink PORT --etcd-pid PID --disk-stat PATH --data-dir DIR
// Every second: the status call (keep-alive), the disk's stat file, etcd's /proc/PID/io, one
// ~600-byte frame to the sink. Every 5 s: /health, the member list, pressure, load, memory and
// etcd's /proc/PID/stat; a 6-byte "ack" comes back from the sink. Every 10 s: the whole /metrics
// body on a second connection, and statvfs of the data dir. Runs until killed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

int connectLoopback(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
  int one = 1;
  ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return s;
}

std::vector<char> buf(1 << 20);

// One HTTP/1.1 exchange on a kept-alive socket, waiting for the answer in epoll as an event loop
// does. Reads until the Content-Length is in, or the last chunk of a chunked body.
void exchange(int ep, int s, std::string_view request) {
  if (::write(s, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
    die("write");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = s;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  size_t got = 0, header = 0;
  long want = -1;  // -1 headers not in yet, -2 chunked
  for (bool done = false; !done;) {
    epoll_event out{};
    if (::epoll_wait(ep, &out, 1, 2000) != 1) die("epoll_wait (etcd did not answer)");
    ssize_t r = ::read(s, buf.data() + got, buf.size() - got - 1);
    if (r <= 0) die("read");
    got += static_cast<size_t>(r);
    std::string_view text(buf.data(), got);
    if (want == -1) {
      auto end = text.find("\r\n\r\n");
      if (end == std::string_view::npos) continue;
      header = end + 4;
      auto head = text.substr(0, end);
      auto cl = head.find("Content-Length: ");
      want = cl == std::string_view::npos ? -2 : std::atol(head.data() + cl + 16);
    }
    if (want == -2)
      done = got >= 5 && text.substr(got - 5) == "0\r\n\r\n";
    else
      done = got - header >= static_cast<size_t>(want);
  }
  ::epoll_ctl(ep, EPOLL_CTL_DEL, s, nullptr);
}

void readFd(int fd) {
  if (fd >= 0) (void)!::pread(fd, buf.data(), 65536, 0);
}

}  // namespace

int main(int argc, char** argv) {
  int etcd_port = 0, sink_port = 0;
  std::string pid, disk_stat, data_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view k = argv[i];
    if (k == "--etcd")
      etcd_port = std::atoi(argv[i + 1]);
    else if (k == "--sink")
      sink_port = std::atoi(argv[i + 1]);
    else if (k == "--etcd-pid")
      pid = argv[i + 1];
    else if (k == "--disk-stat")
      disk_stat = argv[i + 1];
    else if (k == "--data-dir")
      data_dir = argv[i + 1];
  }
  if (!etcd_port || !sink_port || pid.empty()) {
    std::fprintf(stderr,
                 "usage: %s --etcd PORT --sink PORT --etcd-pid PID [--disk-stat PATH] "
                 "[--data-dir DIR]\n",
                 argv[0]);
    return 2;
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  int probe = connectLoopback(etcd_port), scrape = connectLoopback(etcd_port);
  int uplink = connectLoopback(sink_port);
  const std::string status =
      "POST /v3/maintenance/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: 2\r\n\r\n{}";
  const std::string health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string members =
      "POST /v3/cluster/member/list HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: 2\r\n\r\n{}";
  const std::string metrics = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  int disk = disk_stat.empty() ? ::open("/proc/diskstats", O_RDONLY | O_CLOEXEC)
                               : ::open(disk_stat.c_str(), O_RDONLY | O_CLOEXEC);
  int io = ::open(("/proc/" + pid + "/io").c_str(), O_RDONLY | O_CLOEXEC);
  std::vector<int> slow;
  for (std::string f : {"/proc/pressure/io", "/proc/pressure/cpu", "/proc/pressure/memory",
                        "/proc/loadavg", "/proc/meminfo"})
    slow.push_back(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
  slow.push_back(::open(("/proc/" + pid + "/stat").c_str(), O_RDONLY | O_CLOEXEC));
  std::string frame(600, 'x');

  int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  itimerspec every{{1, 0}, {1, 0}};
  ::timerfd_settime(timer, 0, &every, nullptr);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = timer;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, timer, &ev);
  ev.data.fd = uplink;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, uplink, &ev);
  for (uint64_t tick = 0;;) {
    epoll_event out{};
    if (::epoll_wait(ep, &out, 1, -1) != 1) continue;
    if (out.data.fd == uplink) {  // an ack
      if (::read(uplink, buf.data(), 64) <= 0) return 0;
      continue;
    }
    uint64_t n = 0;
    (void)!::read(timer, &n, sizeof n);
    // The probes' own connection is not in the set while idle, like the agent's.
    ::epoll_ctl(ep, EPOLL_CTL_DEL, uplink, nullptr);
    exchange(ep, probe, status);
    if (tick % 5 == 0) {
      exchange(ep, probe, health);
      exchange(ep, probe, members);
      for (int fd : slow) readFd(fd);
    }
    readFd(disk);
    readFd(io);
    if (::write(uplink, frame.data(), frame.size()) < 0) return 0;
    if (tick % 10 == 0) {
      exchange(ep, scrape, metrics);
      struct statvfs v {};
      if (!data_dir.empty()) ::statvfs(data_dir.c_str(), &v);
    }
    ::epoll_ctl(ep, EPOLL_CTL_ADD, uplink, &ev);
    ++tick;
  }
}
