// The snapshot catalogue on real etcd (3.4 and 3.5): snapshots saved with the real etcdctl into an
// agent's --snapshot-dir, with damaged copies beside them (truncated, trailer flipped, a .part,
// one of another cluster), reach GET /api/v1/snapshots through the command channel, each judged
// with its reason; the good one is verified with the revision and the live key count etcd
// reported; a file that disappears is an event.
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string etcdctl() { return fs::path(etcdBinary()).parent_path().string() + "/etcdctl"; }

// Runs etcdctl against `url`; its stdout.
std::string ctl(const std::string& url, const std::string& args, const std::string& dir) {
  std::string out = dir + "/etcdctl.out";
  std::string cmd =
      "ETCDCTL_API=3 " + etcdctl() + " --endpoints " + url + " " + args + " > " + out + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (rc != 0) FAIL("etcdctl " << args << ": " << text);
  return text;
}

void copyWith(const std::string& from, const std::string& to,
              const std::function<void(std::string&)>& change) {
  std::ifstream in(from, std::ios::binary);
  std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  change(b);
  std::ofstream(to, std::ios::binary) << b;
}

const json* snapshot(const json& l, const std::string& path) {
  for (const auto& s : l["snapshots"])
    if (s["path"] == path) return &s;
  return nullptr;
}

bool hasReason(const json& s, const std::string& part) {
  for (const auto& r : s["reasons"])
    if (r.get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("the snapshot catalogue verifies a real snapshot and names what is wrong with the rest",
          "[snapshots]") {
  TempDir tmp("qw-snapshots");
  std::string snaps = tmp.path() + "/snapshots";
  fs::create_directories(snaps);
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  std::string url = etcd.clientUrl(0);
  for (int i = 0; i < 20; ++i)
    ctl(url, "put /k/" + std::to_string(i) + " v" + std::to_string(i), tmp.path());
  ctl(url, "put /k/3 again", tmp.path());
  ctl(url, "del /k/5", tmp.path());
  auto count = json::parse(ctl(url, "get /k/ --prefix --limit=1 -w json", tmp.path()));
  int64_t live = count["count"];
  int64_t revision = count["header"]["revision"];
  CHECK(live == 19);
  std::string good = snaps + "/etcd-snapshot-good";
  ctl(url, "snapshot save " + good, tmp.path());

  // Another cluster's snapshot: a second one-member cluster (another member id).
  std::string other_dir = tmp.path() + "/other";
  fs::create_directories(other_dir);
  {
    EtcdCluster other(1, other_dir);
    other.start();
    ctl(other.clientUrl(0), "put /x y", tmp.path());
    ctl(other.clientUrl(0), "snapshot save " + snaps + "/etcd-snapshot-other", tmp.path());
  }
  // Damaged copies, older than the good one (the newest verified must be the good one).
  copyWith(good, snaps + "/etcd-snapshot-truncated",
           [](std::string& b) { b.resize(b.size() - 4096); });
  copyWith(good, snaps + "/etcd-snapshot-flipped", [](std::string& b) { b.back() ^= 0x5a; });
  copyWith(good, snaps + "/etcd-snapshot-inflight.part", [](std::string&) {});
  copyWith(good, snaps + "/etcd-snapshot-page", [](std::string& b) {
    for (size_t i = 4 * 4096; i < 4 * 4096 + 64 && i < b.size(); ++i) b[i] = '\xff';
  });

  // No copies off the node: every verified snapshot then sits where etcd's data is.
  std::string table = tmp.path() + "/risk.table";
  std::ofstream(table) << "warning.SNAPSHOT_SAME_DISK.raise_after_seconds = 1\n";
  Aggregator agg(tmp.path(),
                 {"--snapshot-poll", "1s", "--snapshot-copies", "0", "--risk-table", table});
  int port = agg.start();
  Agent a(tmp.path(), "node-1", url, agg.streamUrl(),
          {"--snapshot-dir", snaps, "--snapshot-scan-interval", "2s"});
  a.start();

  json l;
  bool done = waitFor(
      [&] {
        auto r = getJson(port, "/api/v1/snapshots");
        if (!r || (*r)["snapshots"].size() != 6) return false;
        for (const auto& s : (*r)["snapshots"])
          if (s["status"] == "pending") return false;
        // The cluster check needs the member history: wait until the good one is verified.
        const auto* g = snapshot(*r, good);
        if (!g || (*g)["status"] != "verified") return false;
        l = *r;
        return true;
      },
      60s, 250ms);
  INFO(l.dump(2));
  REQUIRE(done);
  const auto& g = *snapshot(l, good);
  CHECK(g["verified"] == true);
  CHECK(g["node"] == "node-1");
  CHECK(g["revision"] == revision);
  CHECK(g["live_keys"] == live);
  CHECK(g["member_ids"].size() == 1);
  CHECK(g["sha256"].get<std::string>().size() == 64);
  CHECK(l["newest_verified"] == "node-1:" + good);
  CHECK(l["verified"] == 1);
  CHECK(l["failing"] == 5);

  const auto* t = snapshot(l, snaps + "/etcd-snapshot-truncated");
  REQUIRE(t);
  CHECK((*t)["status"] == "failed");
  CHECK(hasReason(*t, "complete"));
  const auto* f = snapshot(l, snaps + "/etcd-snapshot-flipped");
  REQUIRE(f);
  CHECK(hasReason(*f, "complete"));
  CHECK(hasReason(*f, "SHA-256"));
  const auto* p = snapshot(l, snaps + "/etcd-snapshot-inflight.part");
  REQUIRE(p);
  CHECK(hasReason(*p, ".part"));
  const auto* pg = snapshot(l, snaps + "/etcd-snapshot-page");
  REQUIRE(pg);
  CHECK((*pg)["status"] == "failed");
  const auto* o = snapshot(l, snaps + "/etcd-snapshot-other");
  REQUIRE(o);
  CHECK((*o)["status"] == "failed");
  CHECK(hasReason(*o, "another cluster"));
  bool complete_ok = false;
  for (const auto& c : (*o)["checks"]) complete_ok |= c["check"] == "complete" && c["ok"] == true;
  CHECK(complete_ok);  // a sound file: only the cluster check fails

  auto ev = getJson(port, "/api/v1/events?kind=SNAPSHOT_FAILED");
  REQUIRE(ev);
  CHECK((*ev)["events"].size() == 5);

  // The snapshot and etcd's data on one disk, no copy elsewhere: SNAPSHOT_SAME_DISK.
  if (g.value("same_disk_as_data", false)) {
    CHECK(waitFor(
        [&] {
          auto v = getJson(port, "/api/v1/cluster");
          if (!v) return false;
          for (const auto& w : (*v)["warnings"])
            if (w["code"] == "SNAPSHOT_SAME_DISK") return true;
          return false;
        },
        30s, 250ms));
  } else {
    WARN("the disk under the snapshot dir is not known here: SNAPSHOT_SAME_DISK not checked");
  }

  // A file that disappears is an event.
  fs::remove(snaps + "/etcd-snapshot-truncated");
  REQUIRE(waitFor(
      [&] {
        auto e = getJson(port, "/api/v1/events?kind=SNAPSHOT_GONE");
        return e && (*e)["events"].size() == 1;
      },
      30s, 500ms));
}

namespace {

// POST to the aggregator's API; the status (0: no answer) and the JSON body.
std::pair<int, json> post(int port, const std::string& path, const std::string& token) {
  qw::HttpRequest req;
  req.method = "POST";
  req.timeout = 5s;
  req.bearer_token = token;
  auto r = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(port) + path, req);
  if (!r.ok) return {0, json()};
  return {r.status, json::parse(r.body, nullptr, false)};
}

json finishedDrills(int port) {
  json out = json::array();
  auto d = getJson(port, "/api/v1/drills");
  if (!d) return out;
  for (const auto& x : (*d)["drills"])
    if (x["status"] == "passed" || x["status"] == "failed") out.push_back(x);
  return out;
}

// `n` keys under `prefix`, one of them deleted again; what etcd then counts: live keys and the
// revision.
std::pair<int64_t, int64_t> fill(const std::string& url, const std::string& prefix, int n,
                                 const std::string& dir) {
  for (int i = 0; i < n; ++i)
    ctl(url, "put " + prefix + std::to_string(i) + " value-" + std::to_string(i), dir);
  ctl(url, "del " + prefix + "3", dir);
  auto count = json::parse(ctl(url, "get " + prefix + " --prefix --limit=1 -w json", dir));
  return {count["count"].get<int64_t>(), count["header"]["revision"].get<int64_t>()};
}

bool hasWarning(const json& view, const std::string& code) {
  for (const auto& w : view["warnings"])
    if (w["code"] == code) return true;
  return false;
}

}  // namespace

TEST_CASE(
    "a verified snapshot is copied off its node and drilled and a damaged copy fails its drill",
    "[snapshots][drills]") {
  TempDir tmp("qw-drills");
  std::string snaps = tmp.path() + "/node-snapshots";
  fs::create_directories(snaps);
  const std::string token = "drill-token-0123456789";
  std::string token_file = writeTokenFile(tmp.path(), token);
  EtcdCluster etcd(1, tmp.path());
  etcd.start();
  std::string url = etcd.clientUrl(0);
  const auto [live, revision] = fill(url, "/d/", 30, tmp.path());
  std::string good = snaps + "/etcd-snapshot-drill";
  ctl(url, "snapshot save " + good, tmp.path());

  std::string bin_dir = fs::path(etcdBinary()).parent_path().string();
  Aggregator agg(tmp.path(), {"--token-file", token_file, "--snapshot-poll", "1s", "--etcd-bin-dir",
                              bin_dir, "--drill-timeout", "120s"});
  int port = agg.start();
  Agent a(tmp.path(), "node-1", url, agg.streamUrl(),
          {"--token-file", token_file, "--snapshot-dir", snaps, "--snapshot-scan-interval", "2s"});
  a.start();

  // The copy arrives verified and, being new, is drilled once.
  json l;
  bool copied = waitFor(
      [&] {
        auto r = getJson(port, "/api/v1/snapshots");
        if (!r) return false;
        l = *r;
        return !l["copies"].empty() && l["copies"][0]["status"] == "verified";
      },
      90s, 250ms);
  INFO(l.dump(2));
  REQUIRE(copied);
  const auto& c = l["copies"][0];
  CHECK(c["source_node"] == "node-1");
  CHECK(c["source_path"] == "etcd-snapshot-drill");
  CHECK(c["revision"] == revision);
  CHECK(c["live_keys"] == live);
  CHECK(c["sha256"] == (*snapshot(l, good))["sha256"]);
  std::string copy_dir = l["copy_dir"];
  CHECK(copy_dir == tmp.path() + "/snapshot-copies");
  std::string copy_path = copy_dir + "/" + c["file"].get<std::string>();
  struct stat st {};
  REQUIRE(::stat(copy_path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(copy_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(fs::file_size(copy_path) == fs::file_size(good));

  json drills;
  REQUIRE(waitFor(
      [&] {
        drills = finishedDrills(port);
        return drills.size() == 1;
      },
      120s, 250ms));
  INFO(drills.dump(2));
  const auto& d = drills[0];
  REQUIRE(d["status"] == "passed");
  CHECK(d["trigger"] == "schedule");
  CHECK(d["revision"] == revision);
  CHECK(d["live_keys"] == live);
  CHECK(d["expected_revision"] == revision);
  CHECK(d["version_matches"] == true);
  CHECK(d["tool"] == (fs::exists(bin_dir + "/etcdutl") ? "etcdutl" : "etcdctl"));
  CHECK(d["rto_ms"].get<double>() > 0);
  auto after = getJson(port, "/api/v1/snapshots");
  REQUIRE(after);
  CHECK((*snapshot(*after, good))["drilled"] == true);
  CHECK((*after)["newest_drilled"] == "node-1:" + good);
  for (const char* kind : {"SNAPSHOT_COPIED", "DRILL_PASSED"}) {
    auto ev = getJson(port, std::string("/api/v1/events?kind=") + kind);
    REQUIRE(ev);
    CHECK((*ev)["events"].size() == 1);
  }

  auto listed = runCli(port, "snapshots");
  INFO(listed.out);
  CHECK(listed.code == 0);
  CHECK(listed.out.find("newest drilled: node-1:" + good) != std::string::npos);
  CHECK(listed.out.find("node-1__etcd-snapshot-drill") != std::string::npos);
  CHECK(json::parse(runCli(port, "--json snapshots").out)["copies"].size() == 1);

  // On demand: the token is required, on loopback too.
  CHECK(post(port, "/api/v1/drills", "").first == 401);
  CHECK(post(port, "/api/v1/drills", "wrong-token").first == 401);
  CHECK(runCli(port, "drill").code == 3);
  auto [code, queued] = post(port, "/api/v1/drills", token);
  REQUIRE(code == 202);
  CHECK(queued["status"] == "running");
  CHECK(queued["trigger"] == "api");
  REQUIRE(waitFor([&] { return finishedDrills(port).size() == 2; }, 120s, 250ms));
  CHECK(finishedDrills(port)[0]["status"] == "passed");
  auto waited = runCli(port, "drill --wait --token-file " + token_file);
  INFO(waited.out);
  CHECK(waited.code == 0);
  CHECK(waited.out.find("passed") != std::string::npos);
  REQUIRE(finishedDrills(port).size() == 3);

  // A copy damaged after it was verified: its drill fails (etcd's own hash check refuses it) and
  // DRILL_FAILED is raised; the cluster's state stays what its members make it.
  {
    std::fstream f(copy_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(copy_path) / 2));
    f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
  }
  auto broken = runCli(port, "drill --wait --token-file " + token_file);
  INFO(broken.out);
  CHECK(broken.code == 1);
  CHECK(broken.out.find("FAILED") != std::string::npos);
  REQUIRE(finishedDrills(port).size() == 4);
  auto failed = finishedDrills(port)[0];
  INFO(failed.dump(2));
  CHECK(failed["status"] == "failed");
  CHECK(!failed["error"].get<std::string>().empty());
  json view;
  REQUIRE(waitFor(
      [&] {
        auto v = getJson(port, "/api/v1/cluster");
        if (!v || !hasWarning(*v, "DRILL_FAILED")) return false;
        view = *v;
        return true;
      },
      30s, 250ms));
  for (const auto& r : view["reasons"])
    CHECK(r.get<std::string>().find("restore drill") == std::string::npos);
  // And a risk factor that says what it costs (multiplier 1: the probability stays).
  bool factor = false;
  for (const auto& f : view["factors"])
    factor |= f["rule"] == "recoverability.drill_failed" && f["multiplier"] == 1;
  CHECK(factor);
  qw::HttpRequest get;
  auto m = qw::httpFetchSync("http://127.0.0.1:" + std::to_string(port) + "/metrics", get);
  REQUIRE(m.ok);
  INFO(m.body.substr(m.body.find("quorumwatch_snapshots_verified")));
  CHECK(m.body.find("quorumwatch_drill_last_passed{cluster=\"test\"} 0\n") != std::string::npos);
  CHECK(m.body.find("quorumwatch_snapshot_copies_verified{cluster=\"test\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("a scheduled snapshot is taken through a follower's agent, copied off and drilled",
          "[snapshots][take]") {
  TempDir tmp("qw-take");
  const std::string token = "take-token-0123456789";
  std::string token_file = writeTokenFile(tmp.path(), token);
  EtcdCluster etcd(3, tmp.path());
  etcd.start();
  std::string url = etcd.clientUrl(0);
  const auto [live, revision] = fill(url, "/t/", 40, tmp.path());

  std::string bin_dir = fs::path(etcdBinary()).parent_path().string();
  Aggregator agg(tmp.path(),
                 {"--token-file", token_file, "--snapshot-poll", "1s", "--snapshot-every", "1h",
                  "--snapshot-keep", "1", "--etcd-bin-dir", bin_dir, "--drill-timeout", "120s"});
  int port = agg.start();
  std::vector<std::unique_ptr<Agent>> agents;
  std::vector<std::string> dirs;
  for (int i = 0; i < 3; ++i) {
    std::string node = "node-" + std::to_string(i + 1);
    dirs.push_back(tmp.path() + "/snaps-" + node);
    fs::create_directories(dirs.back());
    agents.push_back(std::make_unique<Agent>(
        tmp.path(), node, etcd.clientUrl(i), agg.streamUrl(),
        std::vector<std::string>{"--token-file", token_file, "--snapshot-dir", dirs.back(),
                                 "--snapshot-scan-interval", "2s"}));
    agents.back()->start();
  }

  // Nothing verified exists: one is due at once, on a follower.
  json l;
  bool taken = waitFor(
      [&] {
        auto r = getJson(port, "/api/v1/snapshots");
        if (!r) return false;
        l = *r;
        for (const auto& t : l["schedule"]["takes"])
          if (t["status"] == "taken") return !l["copies"].empty() && l["copies"][0]["verified"];
        return false;
      },
      120s, 250ms);
  INFO(l.dump(2));
  REQUIRE(taken);
  json take;
  for (const auto& t : l["schedule"]["takes"])
    if (t["status"] == "taken") take = t;
  CHECK(take["trigger"] == "schedule");
  auto view = getJson(port, "/api/v1/cluster");
  REQUIRE(view);
  std::string leader_node;
  for (const auto& m : (*view)["members"])
    if (m["is_leader"] == true) leader_node = m["node"];
  CHECK(take["node"] != leader_node);
  std::string path = take["path"];
  CHECK(fs::path(path).filename().string().rfind("quorumwatch-", 0) == 0);
  CHECK(fs::path(path).extension() == ".db");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(take["size_bytes"] == static_cast<double>(st.st_size));
  for (const auto& d : dirs)
    for (const auto& e : fs::directory_iterator(d)) CHECK(e.path().extension() != ".part");
  const auto* s = snapshot(l, path);
  REQUIRE(s);
  CHECK((*s)["verified"] == true);
  CHECK((*s)["revision"].get<int64_t>() >= revision);
  CHECK((*s)["live_keys"] == live);
  CHECK(l["copies"][0]["source_node"] == take["node"]);
  CHECK(l["copies"][0]["sha256"] == (*s)["sha256"]);
  CHECK(l["schedule"]["every_seconds"] == 3600);
  CHECK(!l["schedule"]["next_due"].get<std::string>().empty());
  CHECK(l["schedule"]["not_possible"] == "");

  // The new copy is drilled: what etcd restores is what the agent's reader found.
  json drills;
  REQUIRE(waitFor(
      [&] {
        drills = finishedDrills(port);
        return drills.size() == 1;
      },
      120s, 250ms));
  INFO(drills.dump(2));
  CHECK(drills[0]["status"] == "passed");
  CHECK(drills[0]["revision"] == (*s)["revision"]);
  CHECK(drills[0]["live_keys"] == live);

  // On demand, with the token; the node keeps one file of its own (--snapshot-keep 1).
  CHECK(post(port, "/api/v1/snapshots", "").first == 401);
  std::this_thread::sleep_for(1100ms);  // names are per second
  ctl(url, "put /t/after yes", tmp.path());
  auto [code, started] = post(port, "/api/v1/snapshots", token);
  INFO(started.dump());
  REQUIRE(code == 202);
  CHECK(started["trigger"] == "api");
  json second;
  REQUIRE(waitFor(
      [&] {
        auto r = getJson(port, "/api/v1/snapshots");
        if (!r) return false;
        int n = 0;
        for (const auto& t : (*r)["schedule"]["takes"])
          if (t["status"] == "taken") {
            if (n == 0) second = t;
            ++n;
          }
        return n == 2;
      },
      120s, 250ms));
  INFO(second.dump(2));
  CHECK(second["trigger"] == "api");
  CHECK(second["path"] != path);
  for (const auto& d : dirs) {
    int own = 0;
    for (const auto& e : fs::directory_iterator(d))
      own += e.path().filename().string().rfind("quorumwatch-", 0) == 0;
    CHECK(own <= 1);
  }
  if (second["node"] == take["node"]) {
    CHECK(!fs::exists(path));
    REQUIRE(second["removed"].size() == 1);
    CHECK(second["removed"][0] == path);
  }
  auto ev = getJson(port, "/api/v1/events?kind=SNAPSHOT_TAKEN");
  REQUIRE(ev);
  CHECK((*ev)["events"].size() == 2);
}
