#pragma once
// Integration harness: real etcd members, the real agent and aggregator binaries, real SQLite
// files and sockets on 127.0.0.1, in a temporary directory. Every process started is killed
// (SIGKILL, then reaped) when its owner goes away, also when a test fails; children also get
// PR_SET_PDEATHSIG so a crashed test runner leaves nothing behind.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qw/http_client.h"

namespace qw::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "qw-test");
  ~TempDir();
  const std::string& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  bool running();  // reaps if it exited
  void kill(int sig);
  // Sends sig, waits up to `timeout` for exit, then SIGKILL. Returns the exit status (waitpid).
  int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  const std::string& logPath() const { return log_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  std::string log_;
};

// A TCP port that was free a moment ago (bind to 0 and close). Callers retry on a race.
int freePort();
// Polls `cond` until it returns true or the deadline passes; returns the last value.
bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every = std::chrono::milliseconds(100));
// Directory holding the project's binaries (QW_BIN_DIR at build time, or $QW_BIN_DIR).
std::string binDir();
// GET JSON from the aggregator; nullopt on transport error or non-JSON.
std::optional<nlohmann::json> getJson(int port, const std::string& path, int* status = nullptr);

// The real `quorumwatch` CLI against the aggregator on `port` (stdout and stderr together).
struct CliResult {
  int code = -1;  // exit status; -1 when it did not exit normally
  std::string out;
};
CliResult runCli(int port, const std::string& args);
// `command` through sh -c (popen), stderr with stdout.
CliResult runShell(const std::string& command);

// Which etcd to run: $QW_ETCD_BIN, else by $QW_ETCD ("3.4" = Debian's /usr/bin/etcd, "3.5" = the
// cache scripts/deps.sh fills).
std::string etcdBinary();

// Certificates for an etcd cluster with https client URLs and --client-cert-auth, made with the
// openssl CLI: the server certificate carries serverAuth and clientAuth (etcd's gateway dials
// itself with it and fails with 503 otherwise), IP SAN 127.0.0.1.
struct TlsFiles {
  std::string ca, server_cert, server_key, client_cert, client_key;
};
TlsFiles makeTestCertificates(const std::string& dir);

class EtcdCluster {
 public:
  EtcdCluster(int members, const std::string& dir, std::vector<std::string> extra_flags = {});
  ~EtcdCluster();
  // Starts every member and waits for a leader; retries with fresh ports if a bind races.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  int size() const { return static_cast<int>(members_.size()); }
  std::string name(int i) const { return members_[i].name; }
  std::string clientUrl(int i) const;
  void kill9(int i);
  void restart(int i);
  // What a restore does to the cluster's identity: every member stopped, its data dir removed and
  // started again as a new cluster with `token` (new cluster id, new member ids).
  void rebuild(const std::string& token,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool running(int i) const;
  pid_t pid(int i) const;
  std::string dataDir(int i) const { return dir_ + "/" + members_[i].name + ".etcd"; }
  // Does member i answer its status call and see a leader?
  bool hasLeader(int i) const;
  bool waitLeader(std::chrono::milliseconds timeout);
  // https client URLs with client-certificate auth; call before start().
  void enableTls(const TlsFiles& t) { tls_ = t; }
  // Runs member i under `prefix` (an absolute path first: e.g. strace with a fault injection); call
  // before start(). pid(i)
  // is then the wrapper's.
  void wrap(int i, std::vector<std::string> prefix) { members_[i].wrapper = std::move(prefix); }
  // POST a JSON body to member i's gateway (e.g. "/v3/kv/put").
  HttpResult post(int i, const std::string& path, const std::string& body) const;
  // Adds a learner through member 0 (retrying while etcd refuses: peers must have been connected
  // for 5 s) and starts it. Returns its index.
  int addLearner(std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  struct Member {
    std::string name;
    int client_port = 0, peer_port = 0;
    std::unique_ptr<Process> proc;
    std::vector<std::string> wrapper;
  };
  std::vector<std::string> args(int i) const;
  std::string initialCluster(int upto) const;
  std::string dir_;
  std::vector<std::string> extra_;
  std::vector<Member> members_;
  std::optional<TlsFiles> tls_;
  int original_ = 0;  // members of the initial cluster; later ones joined as learners
  std::string token_ = "qw-test";
  std::string binary_;
};

class Aggregator {
 public:
  Aggregator(const std::string& dir, std::vector<std::string> extra = {});
  // Starts and waits for "listening on"; returns the port.
  int start(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  void kill9() { proc_->kill(9); }
  int stop() { return proc_->stop(); }
  int port() const { return port_; }
  std::string streamUrl() const;
  std::string dbPath() const { return dir_ + "/aggregator.db"; }
  Process& process() { return *proc_; }
  void setExtra(std::vector<std::string> extra) { extra_ = std::move(extra); }  // next start

 private:
  std::string dir_;
  std::vector<std::string> extra_;
  std::unique_ptr<Process> proc_;
  int port_ = 0;
  int starts_ = 0;
};

class Agent {
 public:
  Agent(const std::string& dir, const std::string& node, const std::string& etcd_url,
        const std::string& aggregator_url, std::vector<std::string> extra = {});
  void start();
  int stop() { return proc_->stop(); }
  Process& process() { return *proc_; }

 private:
  std::string dir_, node_;
  std::vector<std::string> argv_;
  std::unique_ptr<Process> proc_;
  int starts_ = 0;
};

// The usual integration set-up: N etcd members, the aggregator and one agent per member
// (node-1..node-N), started in that order; `view` polls /api/v1/cluster and keeps the last answer.
class ClusterStack {
 public:
  explicit ClusterStack(const std::string& name, int members = 3,
                        std::vector<std::string> etcd_flags = {},
                        std::vector<std::string> agent_flags = {},
                        std::vector<std::string> aggregator_flags = {});
  void addAgent(int member);
  bool view(const std::function<bool(const nlohmann::json&)>& pred);
  bool waitView(const std::function<bool(const nlohmann::json&)>& pred,
                std::chrono::milliseconds timeout);

  TempDir tmp;
  EtcdCluster etcd;
  Aggregator agg;
  std::vector<std::unique_ptr<Agent>> agents;
  std::vector<std::string> agent_flags;
  int port = 0;
  nlohmann::json last;
};

bool healthyWithTolerance1(const nlohmann::json& v);

// What an agent's instance produced, from its last log line after SIGTERM.
struct Produced {
  std::string instance;
  uint64_t batches = 0, unacked = 0, dropped = 0;
};
Produced stopAndReport(Agent& a);

// Points of one series of `node` in the aggregator's database (e.g. "etcd_reachable": one per
// stored sample).
uint64_t seriesPoints(const std::string& db_path, const std::string& node,
                      const std::string& metric);

// The serialized NodeSamples of `node` stored in the aggregator's database, oldest first.
std::vector<std::string> storedSamplePayloads(const std::string& db_path, const std::string& node);

// Writes `token` to DIR/token with mode 0600 (the daemons refuse a token file others can read);
// returns its path.
std::string writeTokenFile(const std::string& dir, const std::string& token);

// Environment integer (e.g. QW_KILLS), `def` when unset.
int envInt(const char* name, int def);

}  // namespace qw::test
