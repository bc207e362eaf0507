// The dashboard: its files as served (types, policy, ETag, HEAD, nothing from disk), and the page
// in a real headless Chromium (tests/browser/dashboard.mjs, playwright-core) against a real
// aggregator fed by real agents on a real etcd cluster: HEALTHY and tolerance 1; after kill -9
// of a member the lowered tolerance, that member unhealthy with its reason and the event within
// 2 s without a reload; recovered after the restart. Screenshots go to build*/artifacts/browser/.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// One raw HTTP/1.1 exchange (the request as written, Connection: close): the whole answer.
std::string raw(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[8192];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string header(const std::string& answer, const std::string& name) {
  std::regex re("\r\n" + name + ": ([^\r]*)\r\n", std::regex::icase);
  std::smatch m;
  return std::regex_search(answer, m, re) ? m[1].str() : "";
}

std::string body(const std::string& answer) {
  auto i = answer.find("\r\n\r\n");
  return i == std::string::npos ? "" : answer.substr(i + 4);
}

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + "\r\n";
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("dashboard: embedded files with their types, policy, ETag and HEAD", "[dashboard]") {
  TempDir tmp("qw-dash-files");
  Aggregator agg(tmp.path());
  int port = agg.start();
  const std::string src = QW_SOURCE_DIR "/aggregator/web/";

  auto index = raw(port, get("/"));
  REQUIRE(index.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(header(index, "Content-Type") == "text/html; charset=utf-8");
  CHECK(header(index, "Content-Security-Policy").find("default-src 'none'") == 0);
  CHECK(header(index, "Content-Security-Policy").find("script-src 'self'") != std::string::npos);
  CHECK(header(index, "Cache-Control") == "no-cache");
  CHECK(header(index, "X-Content-Type-Options") == "nosniff");
  CHECK(body(index) == readFile(src + "index.html"));  // byte for byte the file in the tree
  const std::string etag = header(index, "ETag");
  CHECK(std::regex_match(etag, std::regex("\"[0-9a-f]{16}\"")));
  CHECK(raw(port, get("/index.html")).find(etag) != std::string::npos);

  // Revalidation: 304 without a body; a changed ETag gets the file again.
  auto again = raw(port, get("/", "If-None-Match: " + etag + "\r\n"));
  CHECK(again.rfind("HTTP/1.1 304", 0) == 0);
  CHECK(body(again).empty());
  CHECK(raw(port, get("/", "If-None-Match: \"0000000000000000\"\r\n")).rfind("HTTP/1.1 200", 0) ==
        0);

  for (const auto& entry : fs::directory_iterator(src)) {
    std::string name = entry.path().filename().string();
    auto ext = entry.path().extension().string();
    if (ext != ".js" && ext != ".css" && ext != ".svg") continue;
    auto a = raw(port, get("/" + name));
    INFO(name);
    CHECK(a.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(body(a) == readFile(entry.path().string()));
    if (ext == ".js") CHECK(header(a, "Content-Type") == "text/javascript; charset=utf-8");
    if (ext == ".css") CHECK(header(a, "Content-Type") == "text/css; charset=utf-8");
    if (ext == ".svg") CHECK(header(a, "Content-Type") == "image/svg+xml");
  }

  // HEAD: the GET's headers and length, no body (the connection stays usable).
  auto head = raw(port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(header(head, "Content-Length") == std::to_string(readFile(src + "index.html").size()));
  CHECK(body(head).empty());

  // Nothing else is served: no traversal, no directory, no file from disk.
  for (const char* p : {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/web/index.html",
                        "/index.html/", "/app.js%00.html", "//etc/passwd"}) {
    INFO(p);
    CHECK(raw(port, get(p)).rfind("HTTP/1.1 404", 0) == 0);
  }
  CHECK(raw(port, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .rfind("HTTP/1.1 405", 0) == 0);
}

TEST_CASE("dashboard: a real browser sees a member die and come back without a reload",
          "[dashboard][browser]") {
  const std::string script = QW_SOURCE_DIR "/tests/browser/dashboard.mjs";
  REQUIRE(fs::exists(QW_SOURCE_DIR "/tests/browser/node_modules/playwright-core"));
  REQUIRE(fs::exists("/usr/bin/chromium"));
  ClusterStack s("qw-dash", 3);
  REQUIRE(s.waitView(healthyWithTolerance1, 40s));
  const std::string artifacts = QW_ARTIFACT_DIR "/browser";
  fs::create_directories(artifacts);
  TempDir hs("qw-dash-handshake");
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port) + "/";
  Process browser({"/usr/bin/node", script, "--url", url, "--artifacts", artifacts, "--handshake",
                   hs.path(), "--kill-node", "node-2", "--timeout-ms", "2000"},
                  hs.path() + "/browser.log");
  auto seen = [&](const char* f) { return fs::exists(hs.path() + "/" + f); };
  auto log = [&] { return readFile(hs.path() + "/browser.log"); };

  {
    INFO(log());
    REQUIRE(waitFor([&] { return seen("healthy") || !browser.running(); }, 90s, 100ms));
  }
  {
    INFO(log());
    REQUIRE(seen("healthy"));
  }
  s.etcd.kill9(1);
  std::ofstream(hs.path() + "/killed") << "node-2\n";
  {
    INFO(log());
    REQUIRE(waitFor([&] { return seen("degraded") || !browser.running(); }, 60s, 100ms));
  }
  {
    INFO(log());
    REQUIRE(seen("degraded"));
  }
  s.etcd.restart(1);
  std::ofstream(hs.path() + "/restarted") << "node-2\n";
  {
    INFO(log());
    REQUIRE(waitFor([&] { return !browser.running(); }, 120s, 100ms));
  }
  const std::string out = log();
  auto at = out.rfind("QW-BROWSER-RESULT ");
  {
    INFO(out);
    REQUIRE(at != std::string::npos);
  }
  auto line = out.substr(at + 18, out.find('\n', at) - at - 18);
  auto r = json::parse(line, nullptr, false);
  {
    INFO(out);
    REQUIRE(!r.is_discarded());
  }
  INFO(out);
  CHECK(r["ok"] == true);
  CHECK(r["external_requests"].empty());
  CHECK(r["console_errors"].empty());
  CHECK(r["http_errors"].empty());
  CHECK(r["degraded_ms"]["tolerance"].get<double>() <= 2000);
  CHECK(r["degraded_ms"]["card"].get<double>() <= 2000);
  CHECK(r["degraded_ms"]["event"].get<double>() <= 2000);
  for (const auto& shot : r["screenshots"]) CHECK(fs::file_size(shot.get<std::string>()) > 1000);
  // The figures the note quotes, printed where ctest --output-on-failure and -V show them.
  std::printf("dashboard: page %s bytes, first render %s ms, degraded after %s; screenshots %s\n",
              r["page_bytes"].dump().c_str(), r["first_render_ms"].dump().c_str(),
              r["degraded_ms"].dump().c_str(), r["screenshots"].dump().c_str());
}
