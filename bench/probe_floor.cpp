// The floor under the agent's CPU: the same I/O at the same cadences, in plain system calls,
// with no parsing, no protobuf and no event library. qw-bench-agent-footprint runs it beside the
// agent and node_exporter, so a run says how much of the agent's CPU is the work itself (wake-ups,
// loopback TCP to etcd and the aggregator, procfs and sysfs reads) and how much is the agent.
//   qw-bench-probe-floor --etcd PORT --sink PORT --etcd-pid PID --disk-stat PATH --data-dir DIR
// Every second: the status call (keep-alive), the disk's stat file, etcd's /proc/PID/io, one
// ~600-byte frame to the sink. Every 5 s: /health, the member list, pressure, load, memory and
// etcd's /proc/PID/stat; a 6-byte "ack" comes back from the sink. Every 10 s: the whole /metrics
// body on a second connection, and statvfs of the data dir. Runs until killed.
// With --cacert/--cert/--key the etcd connections speak TLS through mbedTLS's record layer (the
// agent's TLS library), blocking, with no stream adapter: the floor for etcd on https.
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

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

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

// TLS for the etcd connections (null: plain TCP).
struct Tls {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt ca, crt;
  mbedtls_pk_context key;
  mbedtls_ssl_config conf;
};

struct Conn {
  int fd = -1;
  mbedtls_net_context* net = nullptr;  // on the heap: the session keeps its address
  mbedtls_ssl_context* ssl = nullptr;
};

Conn connectEtcd(int port, Tls* tls) {
  Conn c;
  c.fd = connectLoopback(port);
  if (!tls) return c;
  c.net = new mbedtls_net_context;
  c.net->fd = c.fd;
  c.ssl = new mbedtls_ssl_context;
  mbedtls_ssl_init(c.ssl);
  if (mbedtls_ssl_setup(c.ssl, &tls->conf) != 0) die("mbedtls_ssl_setup");
  mbedtls_ssl_set_hostname(c.ssl, "localhost");
  mbedtls_ssl_set_bio(c.ssl, c.net, mbedtls_net_send, mbedtls_net_recv, nullptr);
  if (int r = mbedtls_ssl_handshake(c.ssl); r != 0) {
    std::fprintf(stderr, "TLS handshake: -0x%04x\n", -r);
    std::exit(1);
  }
  return c;
}

ssize_t sendAll(Conn& c, std::string_view data) {
  if (!c.ssl) return ::write(c.fd, data.data(), data.size());
  int r =
      mbedtls_ssl_write(c.ssl, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return r;
}

ssize_t recvSome(Conn& c, char* to, size_t n) {
  if (!c.ssl) return ::read(c.fd, to, n);
  return mbedtls_ssl_read(c.ssl, reinterpret_cast<unsigned char*>(to), n);
}

// One HTTP/1.1 exchange on a kept-alive socket, waiting for the answer in epoll as an event loop
// does. Reads until the Content-Length is in, or the last chunk of a chunked body.
void exchange(int ep, Conn& c, std::string_view request) {
  if (ssize_t w = sendAll(c, request); w != static_cast<ssize_t>(request.size())) {
    std::fprintf(stderr, "write returned %zd\n", w);
    std::exit(1);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = c.fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  size_t got = 0, header = 0;
  long want = -1;  // -1 headers not in yet, -2 chunked
  for (bool done = false; !done;) {
    // Wait in epoll only when the TLS layer holds no decrypted bytes already.
    if (!c.ssl || mbedtls_ssl_get_bytes_avail(c.ssl) == 0) {
      epoll_event out{};
      if (::epoll_wait(ep, &out, 1, 2000) != 1) die("epoll_wait (etcd did not answer)");
    }
    ssize_t r = recvSome(c, buf.data() + got, buf.size() - got - 1);
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
  ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
}

void readFd(int fd) {
  if (fd >= 0) (void)!::pread(fd, buf.data(), 65536, 0);
}

}  // namespace

int main(int argc, char** argv) {
  int etcd_port = 0, sink_port = 0;
  std::string pid, disk_stat, data_dir, cacert, cert, key;
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
    else if (k == "--cacert")
      cacert = argv[i + 1];
    else if (k == "--cert")
      cert = argv[i + 1];
    else if (k == "--key")
      key = argv[i + 1];
  }
  if (!etcd_port || !sink_port || pid.empty()) {
    std::fprintf(stderr,
                 "usage: %s --etcd PORT --sink PORT --etcd-pid PID [--disk-stat PATH] "
                 "[--data-dir DIR] [--cacert CA --cert CERT --key KEY]\n",
                 argv[0]);
    return 2;
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  Tls tls_state;
  Tls* tls = nullptr;
  if (!cacert.empty()) {
    tls = &tls_state;
    mbedtls_entropy_init(&tls->entropy);
    mbedtls_ctr_drbg_init(&tls->drbg);
    mbedtls_x509_crt_init(&tls->ca);
    mbedtls_x509_crt_init(&tls->crt);
    mbedtls_pk_init(&tls->key);
    mbedtls_ssl_config_init(&tls->conf);
    if (mbedtls_ctr_drbg_seed(&tls->drbg, mbedtls_entropy_func, &tls->entropy, nullptr, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&tls->ca, cacert.c_str()) != 0 ||
        mbedtls_x509_crt_parse_file(&tls->crt, cert.c_str()) != 0 ||
        mbedtls_pk_parse_keyfile(&tls->key, key.c_str(), nullptr) != 0 ||
        mbedtls_ssl_config_defaults(&tls->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
      die("TLS set-up");
    mbedtls_ssl_conf_rng(&tls->conf, mbedtls_ctr_drbg_random, &tls->drbg);
    mbedtls_ssl_conf_ca_chain(&tls->conf, &tls->ca, nullptr);
    mbedtls_ssl_conf_authmode(&tls->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    if (mbedtls_ssl_conf_own_cert(&tls->conf, &tls->crt, &tls->key) != 0) die("TLS identity");
  }
  Conn probe = connectEtcd(etcd_port, tls), scrape = connectEtcd(etcd_port, tls);
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
