#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "qw/fs_util.h"
#include "qw/http_client.h"

namespace qw::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TempDir::TempDir(const std::string& prefix) {
  std::string base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  std::string tmpl = base + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (keep_ || std::getenv("QW_KEEP_TMP")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Process::Process(std::vector<std::string> argv, std::string log_path) : log_(std::move(log_path)) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execv(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0) stop(SIGKILL, 5s);
}

bool Process::running() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    pid_ = -1;
    return false;
  }
  return true;
}

void Process::kill(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  if (sig == SIGKILL) {
    int st = 0;
    if (waitpid(pid_, &st, 0) == pid_) status_ = st;
    pid_ = -1;
  }
}

int Process::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return status_;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
  pid_ = -1;
  return status_;
}

std::string Process::log() const { return readFile(log_).value_or(""); }

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a free port");
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string binDir() {
  if (const char* e = std::getenv("QW_BIN_DIR")) return e;
#ifdef QW_BIN_DIR
  return QW_BIN_DIR;
#else
  return "build/bin";
#endif
}

std::optional<nlohmann::json> getJson(int port, const std::string& path, int* status) {
  HttpRequest req;
  req.timeout = 3s;
  auto r = httpFetchSync("http://127.0.0.1:" + std::to_string(port) + path, req);
  if (!r.ok) return std::nullopt;
  if (status) *status = r.status;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

CliResult runCli(int port, const std::string& args) {
  return runShell(binDir() + "/quorumwatch --server http://127.0.0.1:" + std::to_string(port) +
                  " " + args);
}

CliResult runShell(const std::string& command) {
  std::string cmd = command + " 2>&1";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string etcdBinary() {
  if (const char* b = std::getenv("QW_ETCD_BIN")) return b;
  std::string v = std::getenv("QW_ETCD") ? std::getenv("QW_ETCD") : "3.4";
  if (v == "3.4") return "/usr/bin/etcd";
  std::string cache = std::getenv("QW_CACHE_DIR")
                          ? std::getenv("QW_CACHE_DIR")
                          : std::string(std::getenv("HOME") ? std::getenv("HOME") : "/root") +
                                "/.cache/quorumwatch";
  return cache + "/etcd-" + v + "/root/usr/bin/etcd";
}

EtcdCluster::EtcdCluster(int n, const std::string& dir, std::vector<std::string> extra)
    : dir_(dir), extra_(std::move(extra)), members_(static_cast<size_t>(n)), binary_(etcdBinary()) {
  if (access(binary_.c_str(), X_OK) != 0)
    throw std::runtime_error("etcd binary not found at " + binary_ +
                             " (run scripts/deps.sh; QW_ETCD selects the version)");
  for (int i = 0; i < n; ++i) members_[i].name = "m" + std::to_string(i + 1);
}

EtcdCluster::~EtcdCluster() = default;

std::string EtcdCluster::clientUrl(int i) const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") +
         std::to_string(members_[i].client_port);
}

namespace {
void run(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0)
    throw std::runtime_error("command failed: " + cmd);
}
}  // namespace

TlsFiles makeTestCertificates(const std::string& dir) {
  TlsFiles t{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", dir + "/client.crt",
             dir + "/client.key"};
  std::ofstream(dir + "/server.ext")
      << "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
      << "keyUsage=digitalSignature,keyEncipherment\n";
  std::ofstream(dir + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=qw-test-ca -keyout " + dir +
      "/ca.key -out " + t.ca);
  for (std::string who : {"server", "client"}) {
    run("openssl req -newkey rsa:2048 -nodes -subj /CN=qw-" + who + " -keyout " + dir + "/" + who +
        ".key -out " + dir + "/" + who + ".csr");
    run("openssl x509 -req -days 2 -in " + dir + "/" + who + ".csr -CA " + t.ca + " -CAkey " + dir +
        "/ca.key -CAcreateserial -extfile " + dir + "/" + who + ".ext -out " + dir + "/" + who +
        ".crt");
  }
  return t;
}

pid_t EtcdCluster::pid(int i) const { return members_[i].proc ? members_[i].proc->pid() : 0; }

std::vector<std::string> EtcdCluster::args(int i) const {
  const auto& m = members_[i];
  std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
  std::vector<std::string> a = {
      binary_,
      "--name=" + m.name,
      "--data-dir=" + dataDir(i),
      "--listen-client-urls=" + clientUrl(i),
      "--advertise-client-urls=" + clientUrl(i),
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=" + initialCluster(i < original_ ? original_ : i + 1),
      i < original_ ? "--initial-cluster-state=new" : "--initial-cluster-state=existing",
      "--initial-cluster-token=" + token_,
      "--logger=zap",
      "--log-level=warn"};
  if (tls_) {
    a.push_back("--cert-file=" + tls_->server_cert);
    a.push_back("--key-file=" + tls_->server_key);
    a.push_back("--trusted-ca-file=" + tls_->ca);
    a.push_back("--client-cert-auth");
  }
  for (const auto& e : extra_) a.push_back(e);
  if (!m.wrapper.empty()) a.insert(a.begin(), m.wrapper.begin(), m.wrapper.end());
  return a;
}

void EtcdCluster::start(std::chrono::milliseconds timeout) {
  original_ = size();
  for (int attempt = 0; attempt < 4; ++attempt) {
    for (auto& m : members_) {
      m.client_port = freePort();
      m.peer_port = freePort();
    }
    for (int i = 0; i < size(); ++i) {
      std::error_code ec;
      fs::remove_all(dir_ + "/" + members_[i].name + ".etcd", ec);
      members_[i].proc = std::make_unique<Process>(args(i), dir_ + "/" + members_[i].name + ".log");
    }
    bool ok = waitFor(
        [&] {
          for (int i = 0; i < size(); ++i)
            if (!running(i)) return true;  // a bind race: stop waiting, retry
          for (int i = 0; i < size(); ++i)
            if (!hasLeader(i)) return false;
          return true;
        },
        timeout);
    bool all_running = true;
    for (int i = 0; i < size(); ++i) all_running &= running(i);
    if (ok && all_running) return;
    for (auto& m : members_) m.proc.reset();
  }
  throw std::runtime_error("etcd cluster did not start (see " + dir_ + "/m*.log)");
}

std::string EtcdCluster::initialCluster(int upto) const {
  std::string s;
  for (int i = 0; i < upto; ++i)
    s += (s.empty() ? "" : ",") + members_[i].name +
         "=http://127.0.0.1:" + std::to_string(members_[i].peer_port);
  return s;
}

HttpResult EtcdCluster::post(int i, const std::string& path, const std::string& body) const {
  HttpRequest req;
  req.method = "POST";
  req.body = body;
  req.timeout = 5s;
  return httpFetchSync(
      clientUrl(i) + path, req,
      tls_ ? makeClientTls(tls_->ca, tls_->client_cert, tls_->client_key) : nullptr);
}

int EtcdCluster::addLearner(std::chrono::milliseconds timeout) {
  Member m;
  m.name = "m" + std::to_string(size() + 1);
  m.client_port = freePort();
  m.peer_port = freePort();
  std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
  std::string last;
  bool added = waitFor(
      [&] {
        auto r = post(0, "/v3/cluster/member/add",
                      nlohmann::json{{"peerURLs", {peer}}, {"isLearner", true}}.dump());
        last = r.ok ? r.body : r.error;
        return r.ok && r.status == 200;
      },
      timeout, 500ms);
  if (!added) throw std::runtime_error("member add --learner failed: " + last);
  members_.push_back(std::move(m));
  int i = size() - 1;
  members_[i].proc = std::make_unique<Process>(args(i), dir_ + "/" + members_[i].name + ".log");
  return i;
}

bool EtcdCluster::running(int i) const { return members_[i].proc && members_[i].proc->running(); }

void EtcdCluster::kill9(int i) { members_[i].proc->kill(SIGKILL); }

void EtcdCluster::rebuild(const std::string& token, std::chrono::milliseconds timeout) {
  for (int i = 0; i < size(); ++i) {
    if (members_[i].proc) members_[i].proc->stop(9);
    members_[i].proc.reset();
    std::filesystem::remove_all(dataDir(i));
  }
  token_ = token;
  for (int i = 0; i < original_; ++i) restart(i);
  if (!waitLeader(timeout)) throw std::runtime_error("rebuilt etcd cluster elected no leader");
}

void EtcdCluster::restart(int i) {
  members_[i].proc.reset();
  members_[i].proc = std::make_unique<Process>(args(i), dir_ + "/" + members_[i].name + ".log");
}

bool EtcdCluster::hasLeader(int i) const {
  HttpRequest req;
  req.method = "POST";
  req.body = "{}";
  req.timeout = 1s;
  auto r =
      httpFetchSync(clientUrl(i) + "/v3/maintenance/status", req,
                    tls_ ? makeClientTls(tls_->ca, tls_->client_cert, tls_->client_key) : nullptr);
  if (!r.ok || r.status != 200) return false;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return !j.is_discarded() && j.contains("leader");
}

bool EtcdCluster::waitLeader(std::chrono::milliseconds timeout) {
  return waitFor(
      [&] {
        for (int i = 0; i < size(); ++i)
          if (running(i) && hasLeader(i)) return true;
        return false;
      },
      timeout);
}

Aggregator::Aggregator(const std::string& dir, std::vector<std::string> extra)
    : dir_(dir), extra_(std::move(extra)) {}

int Aggregator::start(std::chrono::milliseconds timeout) {
  std::string log = dir_ + "/aggregator." + std::to_string(++starts_) + ".log";
  std::vector<std::string> argv = {binDir() + "/quorumwatch-aggregator", "--listen",
                                   port_ ? "127.0.0.1:" + std::to_string(port_) : "127.0.0.1:0",
                                   "--db", dbPath(), "--cluster-name", "test",
                                   // No snapshots taken unless a test asks (a later
                                   // --snapshot-every in `extra` wins).
                                   "--snapshot-every", "0"};
  for (const auto& e : extra_) argv.push_back(e);
  proc_ = std::make_unique<Process>(argv, log);
  static const std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
  int found = 0;
  bool ok = waitFor(
      [&] {
        std::smatch m;
        std::string text = proc_->log();
        if (std::regex_search(text, m, re)) {
          found = std::stoi(m[1]);
          return true;
        }
        return !proc_->running();
      },
      timeout, 20ms);
  if (!ok || found == 0) throw std::runtime_error("aggregator did not start: " + proc_->log());
  port_ = found;
  return port_;
}

std::string Aggregator::streamUrl() const {
  return "ws://127.0.0.1:" + std::to_string(port_) + "/v1/stream";
}

Agent::Agent(const std::string& dir, const std::string& node, const std::string& etcd_url,
             const std::string& aggregator_url, std::vector<std::string> extra)
    : dir_(dir), node_(node) {
  argv_ = {binDir() + "/quorumwatch-agent", "--cluster-name", "test", "--node-name", node,
           "--etcd-endpoint", etcd_url, "--aggregator", aggregator_url, "--fast-interval", "500ms",
           "--etcd-timeout", "400ms", "--reconnect-base", "100ms", "--reconnect-max", "1s",
           "--metrics-interval", "1s",
           // The default nice 10 could starve agents on a CI machine loaded by parallel tests;
           // one test checks the defaults.
           "--nice=-1"};
  for (const auto& e : extra) argv_.push_back(e);
}

void Agent::start() {
  proc_ = std::make_unique<Process>(
      argv_, dir_ + "/agent-" + node_ + "." + std::to_string(++starts_) + ".log");
}

ClusterStack::ClusterStack(const std::string& name, int members,
                           std::vector<std::string> etcd_flags,
                           std::vector<std::string> agent_flags_in,
                           std::vector<std::string> aggregator_flags)
    : tmp(name),
      etcd(members, tmp.path(), std::move(etcd_flags)),
      agg(tmp.path(), std::move(aggregator_flags)),
      agent_flags(std::move(agent_flags_in)) {
  etcd.start();
  port = agg.start();
  for (int i = 0; i < members; ++i) addAgent(i);
}

void ClusterStack::addAgent(int i) {
  agents.push_back(std::make_unique<Agent>(tmp.path(), "node-" + std::to_string(i + 1),
                                           etcd.clientUrl(i), agg.streamUrl(), agent_flags));
  agents.back()->start();
}

bool ClusterStack::view(const std::function<bool(const nlohmann::json&)>& pred) {
  auto v = getJson(port, "/api/v1/cluster");
  if (!v) return false;
  last = *v;
  return pred(*v);
}

bool ClusterStack::waitView(const std::function<bool(const nlohmann::json&)>& pred,
                            std::chrono::milliseconds timeout) {
  return waitFor([&] { return view(pred); }, timeout);
}

bool healthyWithTolerance1(const nlohmann::json& v) {
  return v["state"] == "HEALTHY" && v["failure_tolerance"] == 1;
}

Produced stopAndReport(Agent& a) {
  a.stop();
  static const std::regex re(
      "stopped: instance ([0-9a-f]+) produced ([0-9]+) batches \\(seq 1\\.\\.[0-9]+\\), ([0-9]+) "
      "unacknowledged, ([0-9]+) dropped");
  std::smatch m;
  std::string log = a.process().log();
  Produced p;
  if (std::regex_search(log, m, re)) {
    p.instance = m[1];
    p.batches = std::stoull(m[2]);
    p.unacked = std::stoull(m[3]);
    p.dropped = std::stoull(m[4]);
  }
  return p;
}

uint64_t seriesPoints(const std::string& db_path, const std::string& node,
                      const std::string& metric) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + db_path);
  }
  sqlite3_stmt* st = nullptr;
  uint64_t n = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM points JOIN series ON series.id = series_id "
                         "WHERE node = ? AND metric = ?",
                         -1, &st, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, node.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, metric.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) n = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  }
  std::string err = sqlite3_errmsg(db);
  bool ok = st != nullptr;
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (!ok) throw std::runtime_error("series query on " + db_path + ": " + err);
  return n;
}

std::vector<std::string> storedSamplePayloads(const std::string& db_path, const std::string& node) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + db_path);
  }
  sqlite3_stmt* st = nullptr;
  std::vector<std::string> out;
  if (sqlite3_prepare_v2(db, "SELECT payload FROM samples WHERE node=? ORDER BY recv_ms", -1, &st,
                         nullptr) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, node.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(st, 0);  // NULL for an empty blob
      out.emplace_back(p ? static_cast<const char*>(p) : "",
                       static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    }
  }
  std::string err = sqlite3_errmsg(db);
  bool ok = st != nullptr;
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (!ok) throw std::runtime_error("samples query on " + db_path + ": " + err);
  return out;
}

std::string writeTokenFile(const std::string& dir, const std::string& token) {
  std::string path = dir + "/token";
  {
    std::ofstream f(path, std::ios::trunc);
    f << token << "\n";
    if (!f) throw std::runtime_error("cannot write " + path);
  }
  if (::chmod(path.c_str(), 0600) != 0) throw std::runtime_error("cannot chmod " + path);
  return path;
}

int envInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : def;
}

}  // namespace qw::test
