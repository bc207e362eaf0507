#include "qw/aggregator/snapshots/drill.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace qw::aggregator {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1ull << 20;

// Every way a drill ends early; runDrill turns it into DrillResult::error.
struct DrillError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int64_t msSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string seconds(std::chrono::milliseconds d) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", static_cast<double>(d.count()) / 1000.0);
  return b;
}

std::string trim(std::string s) {
  auto ws = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && ws(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && ws(s[i])) ++i;
  return s.substr(i);
}

std::string lastLine(const std::string& text) {
  std::string t = trim(text);
  auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// etcd 3.5 logs JSON lines; an operator wants their message and error, not the caller and ts.
std::string readableLogLine(const std::string& line) {
  if (line.empty() || line[0] != '{') return line;
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("msg") || !j["msg"].is_string()) return line;
  std::string s = j["msg"].get<std::string>();
  if (j.contains("error") && j["error"].is_string()) s += ": " + j["error"].get<std::string>();
  return s;
}

std::string logTail(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "(no log)";
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 65536);
  in.seekg(from);
  std::string tail(static_cast<size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  std::string line = readableLogLine(lastLine(tail));
  return line.empty() ? "(its log is empty)" : line;
}

class Deadline {
 public:
  Deadline(std::chrono::milliseconds timeout, const std::atomic<bool>* cancel)
      : end_(Clock::now() + timeout), timeout_(timeout), cancel_(cancel) {}
  void setPhase(std::string phase) { phase_ = std::move(phase); }
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(); }
  bool expired() const { return Clock::now() >= end_; }
  std::string timeoutMessage() const {
    return "timed out after " + seconds(timeout_) + " s in " + phase_;
  }
  void check() const {
    if (cancelled()) throw DrillError("cancelled");
    if (expired()) throw DrillError(timeoutMessage());
  }

 private:
  Clock::time_point end_;
  std::chrono::milliseconds timeout_;
  const std::atomic<bool>* cancel_;
  std::string phase_;
};

// Reports each phase once at its first percentage and, within a phase, only increases.
class Progress {
 public:
  explicit Progress(const DrillConfig& cfg) : fn_(cfg.progress) {}
  void operator()(const std::string& phase, int percent) {
    if (!fn_ || (phase == phase_ && percent <= percent_)) return;
    phase_ = phase;
    percent_ = percent;
    fn_(phase, percent);
  }

 private:
  std::function<void(const std::string&, int)> fn_;
  std::string phase_;
  int percent_ = -1;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// A spawned tool in its own process group. Destroying it stops the group (SIGTERM, then SIGKILL
// after 5 s) and reaps it, so no path out of the drill leaves an etcd running.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(); }
  pid_t pid() const { return pid_; }

  // True once it has exited; `status` is its wait status.
  bool reap(int* status) {
    if (!reaped_) {
      pid_t r;
      while ((r = ::waitpid(pid_, &status_, WNOHANG)) < 0 && errno == EINTR) {
      }
      reaped_ = r == pid_ || (r < 0 && errno == ECHILD);
    }
    if (reaped_ && status) *status = status_;
    return reaped_;
  }

  void stop() {
    if (reap(nullptr)) return;
    ::kill(-pid_, SIGTERM);
    const auto until = Clock::now() + 5s;
    while (!reap(nullptr) && Clock::now() < until) std::this_thread::sleep_for(10ms);
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
};

std::string describeStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

struct Command {
  std::string path;
  std::vector<std::string> args;  // after argv[0]
  std::vector<std::string> extra_env;
};

// The caller's environment without ETCD_* and ETCDCTL_*: etcd takes every flag from such a
// variable too, and the drill's etcd must not pick up settings meant for the host's member.
std::vector<std::string> childEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string v = *e;
    if (v.rfind("ETCD_", 0) != 0 && v.rfind("ETCDCTL_", 0) != 0) env.push_back(std::move(v));
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> cStrings(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// posix_spawn rather than fork: no copy of a large multithreaded aggregator, and nothing runs in
// a half-made child. The child gets its own process group (so stopping it reaches anything it
// starts), default signal handling and mask (the aggregator's blocked or ignored signals would
// otherwise carry over exec), stdin from /dev/null and none of our other descriptors.
pid_t spawn(const Command& c, int out_fd, int err_fd) {
  std::vector<std::string> argv{c.path};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  std::vector<std::string> env = childEnv(c.extra_env);
  auto argp = cStrings(argv);
  auto envp = cStrings(env);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int err = posix_spawn(&pid, c.path.c_str(), &fa, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (err != 0) throw DrillError("cannot run " + c.path + ": " + std::strerror(err));
  return pid;
}

struct Captured {
  int status = 0;
  std::string out;
  std::string err;
};

// Runs a short-lived tool to its end, draining stdout and stderr as it goes (a full pipe would
// stall it). `check` throws to abandon it; the Child guard then stops it.
Captured runCapture(const Command& c, const std::function<void()>& check) {
  int out_p[2], err_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0) throw DrillError(std::string("pipe: ") + strerror(errno));
  Fd out_r(out_p[0]), out_w(out_p[1]);
  if (::pipe2(err_p, O_CLOEXEC) != 0) throw DrillError(std::string("pipe: ") + strerror(errno));
  Fd err_r(err_p[0]), err_w(err_p[1]);
  Child child(spawn(c, out_w.get(), err_w.get()));
  out_w.reset();
  err_w.reset();
  Captured cap;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&cap.out, &cap.err};
  for (;;) {
    ::poll(fds, 2, 50);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0)
        sinks[i]->append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR)
        fds[i].fd = -1;  // poll skips negative descriptors; the Fd still closes it
    }
    if (fds[0].fd < 0 && fds[1].fd < 0 && child.reap(&cap.status)) return cap;
    check();
  }
}

std::vector<int> versionParts(const std::string& v) {
  std::vector<int> parts;
  size_t i = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
    size_t end = i;
    parts.push_back(std::stoi(v.substr(i), &end));
    i += end;
    if (i < v.size() && v[i] == '.') ++i;
  }
  return parts;
}

bool sameMinor(const std::string& a, const std::string& b) {
  auto x = versionParts(a), y = versionParts(b);
  return x.size() >= 2 && y.size() >= 2 && x[0] == y[0] && x[1] == y[1];
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::optional<EtcdInstall> probeOne(const std::string& dir) {
  const std::string etcd = dir + "/etcd";
  if (!executable(etcd)) return std::nullopt;
  const auto until = Clock::now() + 10s;
  Captured cap;
  try {
    cap = runCapture({etcd, {"--version"}, {}}, [&] {
      if (Clock::now() >= until) throw DrillError("etcd --version hung");
    });
  } catch (const DrillError&) {
    return std::nullopt;
  }
  const std::string key = "etcd Version:";
  auto at = cap.out.find(key);
  if (cap.status != 0 || at == std::string::npos) return std::nullopt;
  auto nl = cap.out.find('\n', at);
  EtcdInstall in;
  in.dir = dir;
  in.version = trim(cap.out.substr(at + key.size(), nl - at - key.size()));
  in.has_etcdutl = executable(dir + "/etcdutl");
  return in;
}

struct Choice {
  EtcdInstall install;
  bool matches = false;
  std::string note;
};

Choice chooseEtcd(const DrillConfig& cfg) {
  if (cfg.etcd_bin_dirs.empty())
    throw DrillError("no --etcd-bin-dir given: the drill needs an etcd to restore into");
  auto found = probeEtcdInstalls(cfg.etcd_bin_dirs);
  if (found.empty()) {
    std::string dirs;
    for (const auto& d : cfg.etcd_bin_dirs) dirs += (dirs.empty() ? "" : ", ") + d;
    throw DrillError("no etcd binary in --etcd-bin-dir " + dirs);
  }
  // Newest first, so the first match is the newest patch of the wanted minor.
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return versionParts(a.version) > versionParts(b.version);
  });
  const std::string& want = cfg.snapshot_cluster_version;
  for (const auto& in : found)
    if (sameMinor(in.version, want))
      return {in, true,
              "etcd " + in.version + " in " + in.dir + " matches the snapshot's " +
                  "cluster version " + want};
  std::string why = want.empty() ? "the snapshot's cluster version is not known"
                                 : "no etcd " + want.substr(0, want.rfind('.')) +
                                       " among the candidates for the snapshot's cluster "
                                       "version " +
                                       want;
  return {found.front(), false,
          why + ": using the newest, etcd " + found.front().version + " in " + found.front().dir};
}

uint64_t hostMemoryMap(uint64_t snapshot_bytes, std::vector<std::string>& notes) {
  // A 32-bit host (armhf) runs a 32-bit etcdutl: 3 GiB of address space at best, so its 10 GiB
  // default cannot be mapped.
  const uint64_t cap = sizeof(void*) == 4 ? 256 * kMiB : 1024 * kMiB;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  const uint64_t half_ram =
      pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2 : cap;
  // Room to rewrite the restored db without remapping; rounded up to whole MiB.
  const uint64_t floor = (2 * snapshot_bytes + kMiB - 1) / kMiB * kMiB;
  const uint64_t size = std::max(std::min(cap, half_ram), floor);
  notes.push_back("memory map " + std::to_string(size / kMiB) + " MiB: the smaller of " +
                  std::to_string(cap / kMiB) + " MiB and half the RAM (" +
                  std::to_string(half_ram / kMiB) + " MiB), at least twice the snapshot");
  return size;
}

std::string randomToken() {
  std::random_device rd;
  char b[17];
  std::snprintf(b, sizeof b, "%08x%08x", rd(), rd());
  return b;
}

std::string restoreFailure(const Captured& cap) {
  std::string line = lastLine(cap.err.empty() ? cap.out : cap.err);
  if (line.empty()) line = "no message, " + describeStatus(cap.status);
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  std::string s = "snapshot restore failed: " + line;
  if (line.find("expected sha256") != std::string::npos)
    s += " (the file's content does not match the hash etcd appended when it saved it: the "
         "snapshot is corrupted or truncated)";
  else if (line.find("missing hash") != std::string::npos)
    s += " (a copy of a data dir's db rather than a saved snapshot: it carries no hash to check)";
  return s;
}

struct Ports {
  int client = 0;
  int peer = 0;
};

int bindLoopback(const Fd& s) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s.get() < 0 || ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw DrillError(std::string("cannot find a free loopback port: ") + strerror(errno));
  return ntohs(a.sin_port);
}

// Both sockets stay bound until both ports are known, so the two differ. etcd may still lose
// one to another process before it binds; the caller retries then.
Ports freePorts() {
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  Fd peer(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return {bindLoopback(client), bindLoopback(peer)};
}

std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

void restore(const std::string& snapshot, const EtcdInstall& in, const std::string& data_dir,
             int peer, const DrillConfig& cfg, const Deadline& dl, DrillResult& r) {
  auto check = [&] { dl.check(); };
  const std::string member = "drill=" + url(peer);
  std::vector<std::string> args{"snapshot",
                                "restore",
                                snapshot,
                                "--data-dir",
                                data_dir,
                                "--name",
                                "drill",
                                "--initial-cluster",
                                member,
                                "--initial-advertise-peer-urls",
                                url(peer),
                                "--initial-cluster-token",
                                "qw-drill-" + randomToken()};
  Command c{in.dir + "/etcdutl", {}, {}};
  if (in.has_etcdutl) {
    r.tool = "etcdutl";
    auto help = runCapture({c.path, {"snapshot", "restore", "--help"}, {}}, check);
    if ((help.out + help.err).find("--initial-memory-map-size") != std::string::npos) {
      uint64_t size = cfg.memory_map_bytes;
      if (size == 0)
        size = hostMemoryMap(fs::file_size(snapshot), r.notes);
      else
        r.notes.push_back("memory map " + std::to_string(size) + " bytes, as configured");
      args.push_back("--initial-memory-map-size");
      args.push_back(std::to_string(size));
    } else {
      r.notes.push_back("this etcdutl has no --initial-memory-map-size: its default applies");
    }
  } else {
    // etcd 3.4 has no etcdutl; its etcdctl restores (without any memory-map flag).
    r.tool = "etcdctl";
    c.path = in.dir + "/etcdctl";
    c.extra_env.push_back("ETCDCTL_API=3");
    if (!executable(c.path))
      throw DrillError("neither etcdutl nor etcdctl in " + in.dir +
                       " to restore the snapshot with");
  }
  c.args = std::move(args);
  const auto t0 = Clock::now();
  auto cap = runCapture(c, check);
  r.restore_ms = msSince(t0);
  if (!WIFEXITED(cap.status) || WEXITSTATUS(cap.status) != 0) throw DrillError(restoreFailure(cap));
}

struct HttpReply {
  int status = 0;
  std::string body;
};

std::string dechunk(const std::string& s) {
  std::string out;
  size_t i = 0;
  for (;;) {
    auto eol = s.find("\r\n", i);
    if (eol == std::string::npos) return out;
    size_t n = std::strtoul(s.c_str() + i, nullptr, 16);
    if (n == 0 || eol + 2 + n > s.size()) return out;
    out.append(s, eol + 2, n);
    i = eol + 2 + n + 2;
  }
}

std::optional<HttpReply> parseHttp(const std::string& raw) {
  auto end = raw.find("\r\n\r\n");
  int status = 0;
  if (end == std::string::npos || std::sscanf(raw.c_str(), "HTTP/1.%*d %d", &status) != 1)
    return std::nullopt;
  std::string head = raw.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string body = raw.substr(end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) body = dechunk(body);
  return HttpReply{status, std::move(body)};
}

// One HTTP/1.1 POST with Connection: close to 127.0.0.1:port. nullopt when nothing answered
// (refused, reset, closed early): etcd is not serving yet. An etcd that accepted the connection
// before it serves answers on it once it does, so the reply is awaited on the same connection,
// with `check` called every 50 ms.
std::optional<HttpReply> httpPost(int port, const std::string& path, const std::string& body,
                                  const std::function<void()>& check) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (s.get() < 0 || ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return std::nullopt;
  const std::string req =
      "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = ::send(s.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  for (;;) {
    pollfd p{s.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) == 0) {
      check();
      continue;
    }
    char buf[4096];
    ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return parseHttp(raw);
    raw.append(buf, static_cast<size_t>(n));
  }
}

struct Answer {
  int64_t revision = 0;
  uint64_t live_keys = 0;
};

// The gateway sends 64-bit integers as JSON strings; accept numbers too.
template <typename T>
T jsonInt(const nlohmann::json& v) {
  if (v.is_string()) return static_cast<T>(std::stoll(v.get<std::string>()));
  return v.get<T>();
}

Answer parseAnswer(const std::string& body) {
  try {
    auto j = nlohmann::json::parse(body);
    Answer a;
    a.revision = jsonInt<int64_t>(j.at("header").at("revision"));
    if (j.contains("count")) a.live_keys = jsonInt<uint64_t>(j["count"]);
    return a;
  } catch (const std::exception& e) {
    throw DrillError("etcd's answer to /v3/kv/range is not what etcd sends (" +
                     std::string(e.what()) + "): " + body.substr(0, 200));
  }
}

// etcd exited because a port it was given had been taken meanwhile.
struct PortTaken {};

Answer awaitAnswer(Child& etcd, int port, const std::string& log, const Deadline& dl,
                   Progress& progress) {
  const auto spawned = Clock::now();
  std::string last_reply;
  auto check = [&] {
    int status = 0;
    if (etcd.reap(&status)) {
      std::string line = logTail(log);
      if (line.find("address already in use") != std::string::npos) throw PortTaken{};
      throw DrillError("etcd exited (" + describeStatus(status) + ") before answering: " + line);
    }
    if (dl.cancelled()) throw DrillError("cancelled");
    if (dl.expired())
      throw DrillError(dl.timeoutMessage() + ": etcd did not answer within " +
                       std::to_string(msSince(spawned) / 1000) +
                       " s: " + (last_reply.empty() ? logTail(log) : last_reply));
    // Creeps towards 89 (half way after 3 s): how long etcd takes is not known beforehand.
    const int64_t t = msSince(spawned);
    progress("start", 41 + static_cast<int>(48 * t / (t + 3000)));
  };
  const std::string body = R"({"key":"AA==","range_end":"AA==","count_only":true})";
  for (;;) {
    auto reply = httpPost(port, "/v3/kv/range", body, check);
    if (reply && reply->status == 200) return parseAnswer(reply->body);
    // Not ready yet (a leaderless etcd may refuse); kept for the error should it never answer.
    if (reply) last_reply = "HTTP " + std::to_string(reply->status) + " " + reply->body;
    std::this_thread::sleep_for(50ms);
    check();
  }
}

Command etcdCommand(const EtcdInstall& in, const std::string& data_dir, Ports p) {
  // The restored data dir holds the member and its WAL, so etcd restarts that member and needs
  // no --initial-* flags; leaving them out also means that a dir without a WAL fails instead of
  // bootstrapping an empty cluster. The peer URL is set only so etcd does not take the default
  // port 2380 of a member running on this host.
  return {in.dir + "/etcd",
          {"--data-dir", data_dir, "--name", "drill", "--listen-client-urls", url(p.client),
           "--advertise-client-urls", url(p.client), "--listen-peer-urls", url(p.peer)},
          {}};
}

Answer startAndAsk(const EtcdInstall& in, const std::string& work, Ports ports, const Deadline& dl,
                   Progress& progress, DrillResult& r) {
  const std::string log = work + "/etcd.log";
  Fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log_fd.get() < 0) throw DrillError("cannot write " + log + ": " + strerror(errno));
  for (int attempt = 1;; ++attempt) {
    // A retry's peer port differs from the one restored into the membership; a single member
    // never dials its own peer URL, so that does not matter.
    if (attempt > 1) ports = freePorts();
    const auto t0 = Clock::now();
    Child etcd(spawn(etcdCommand(in, work + "/data", ports), log_fd.get(), log_fd.get()));
    r.etcd_pid = etcd.pid();
    try {
      Answer a = awaitAnswer(etcd, ports.client, log, dl, progress);
      r.start_ms = msSince(t0);
      return a;
    } catch (const PortTaken&) {
      if (attempt == 3)
        throw DrillError("etcd could not bind its loopback ports in 3 tries: " + logTail(log));
      r.notes.push_back("etcd lost a port to another process; trying other ports");
    }
  }
}

void compare(const Answer& a, DrillResult& r) {
  r.revision = a.revision;
  r.live_keys = a.live_keys;
  std::vector<std::string> bad;
  if (r.expected_revision && *r.expected_revision != a.revision)
    bad.push_back("revision " + std::to_string(a.revision) + ", expected " +
                  std::to_string(*r.expected_revision));
  if (r.expected_live_keys && *r.expected_live_keys != a.live_keys)
    bad.push_back(std::to_string(a.live_keys) + " live keys, expected " +
                  std::to_string(*r.expected_live_keys));
  if (bad.empty()) return;
  std::string s = "the restored etcd does not hold what the snapshot should: ";
  for (size_t i = 0; i < bad.size(); ++i) s += (i ? "; " : "") + bad[i];
  throw DrillError(s);
}

// Removes the scratch dir, after the Child guards made later have stopped etcd.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& parent) {
    std::string tmpl = (parent.empty() ? "." : parent) + "/qw-drill-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw DrillError("cannot make a scratch dir under " + parent + ": " + strerror(errno));
    path_ = tmpl;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void drill(const std::string& snapshot, const DrillConfig& cfg, Progress& progress,
           DrillResult& r) {
  Deadline dl(cfg.timeout, cfg.cancel);
  dl.setPhase("restore");
  progress("restore", 0);
  std::error_code ec;
  if (!fs::is_regular_file(snapshot, ec))
    throw DrillError("no snapshot file " + snapshot + (ec ? ": " + ec.message() : ""));
  Choice choice = chooseEtcd(cfg);
  r.etcd_dir = choice.install.dir;
  r.etcd_version = choice.install.version;
  r.version_matches = choice.matches;
  r.notes.push_back(choice.note);
  dl.check();

  ScratchDir work(cfg.work_dir);
  r.work_subdir = work.path();
  const Ports ports = freePorts();
  restore(fs::absolute(snapshot).string(), choice.install, work.path() + "/data", ports.peer, cfg,
          dl, r);

  dl.setPhase("start");
  progress("start", 40);
  Answer a = startAndAsk(choice.install, work.path(), ports, dl, progress, r);

  dl.setPhase("compare");
  progress("compare", 90);
  compare(a, r);
  r.ok = true;
}

}  // namespace

std::vector<EtcdInstall> probeEtcdInstalls(const std::vector<std::string>& dirs) {
  std::vector<EtcdInstall> found;
  for (const auto& d : dirs)
    if (auto in = probeOne(d)) found.push_back(std::move(*in));
  return found;
}

DrillResult runDrill(const std::string& snapshot_path, const DrillConfig& cfg) {
  const auto t0 = Clock::now();
  DrillResult r;
  r.expected_revision = cfg.expected_revision;
  r.expected_live_keys = cfg.expected_live_keys;
  Progress progress(cfg);
  try {
    drill(snapshot_path, cfg, progress, r);
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = e.what();
  }
  r.total_ms = msSince(t0);
  try {
    progress("done", 100);
  } catch (const std::exception& e) {
    r.notes.push_back(std::string("the progress callback failed: ") + e.what());
  }
  return r;
}

}  // namespace qw::aggregator
