// The TLS client (mbedTLS, common/include/qw/tls_client.h) against real servers: etcd with
// --client-cert-auth, and `openssl s_server` with a certificate that names only localhost.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "../harness/harness.h"

using namespace qw::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {
std::string readFileText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("the TLS client talks to etcd with a client certificate and says why it refuses",
          "[tls]") {
  TempDir tmp("qw-tlsc");
  auto certs = makeTestCertificates(tmp.path());
  EtcdCluster etcd(1, tmp.path());
  etcd.enableTls(certs);
  etcd.start();
  std::string url = etcd.clientUrl(0);
  REQUIRE(url.rfind("https://127.0.0.1:", 0) == 0);
  auto ctx = qw::makeClientTls(certs.ca, certs.client_cert, certs.client_key);

  auto h = qw::httpFetchSync(url + "/health", {}, ctx);
  INFO(h.error);
  REQUIRE(h.ok);
  CHECK(h.status == 200);
  CHECK_THAT(h.body, Contains("true"));

  // A DNS name: SNI and the name check against the certificate's DNS names.
  std::string port = url.substr(url.rfind(':') + 1);
  auto l = qw::httpFetchSync("https://localhost:" + port + "/health", {}, ctx);
  INFO(l.error);
  CHECK((l.ok && l.status == 200));

  // The agent's use: one kept-alive session, /metrics streamed in small pieces (many TLS records
  // and partial reads), then a gateway POST on the same connection.
  boost::asio::io_context ioc;
  qw::HttpSession session(*qw::parseUrl(url), ctx);
  std::vector<std::string> bodies;
  qw::HttpResult status;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
          std::string body;
          size_t largest = 0;
          qw::HttpRequest get;
          get.read_chunk = 1000;
          get.on_body = [&](std::string_view p) {
            largest = std::max(largest, p.size());
            body.append(p);
          };
          auto r = co_await session.fetch("/metrics", get);
          CHECK(r.ok);
          CHECK(r.status == 200);
          CHECK(largest <= 1000);
          bodies.push_back(body);
        }
        qw::HttpRequest post;
        post.method = "POST";
        post.body = "{}";
        status = co_await session.fetch("/v3/maintenance/status", post);
      },
      boost::asio::detached);
  ioc.run();
  REQUIRE(bodies.size() == 2);
  for (const auto& b : bodies) {
    CHECK(b.size() > 20000);
    CHECK_THAT(b, Contains("etcd_server_has_leader 1"));
  }
  CHECK(status.ok);
  CHECK(status.status == 200);
  CHECK_THAT(status.body, Contains("\"leader\""));
  CHECK(session.connects() == 1);

  // The key formats kubeadm (RSA, PKCS#1) and k3s (EC P-256, SEC1) write; the test's own
  // client key above is PKCS#8.
  const std::string d = tmp.path();
  std::ofstream(d + "/ec.ext") << "extendedKeyUsage=clientAuth\n";
  std::string cmd =
      "openssl rsa -in " + certs.client_key + " -traditional -out " + d +
      "/pkcs1.key 2>/dev/null && openssl ecparam -name prime256v1 -genkey -noout -out " + d +
      "/ec.key && openssl req -new -key " + d + "/ec.key -subj /CN=qw-ec -out " + d +
      "/ec.csr && openssl x509 -req -days 2 -in " + d + "/ec.csr -CA " + certs.ca + " -CAkey " + d +
      "/ca.key -CAcreateserial -extfile " + d + "/ec.ext -out " + d + "/ec.crt 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  REQUIRE(readFileText(d + "/pkcs1.key").find("BEGIN RSA PRIVATE KEY") != std::string::npos);
  REQUIRE(readFileText(d + "/ec.key").find("BEGIN EC PRIVATE KEY") != std::string::npos);
  auto p1 = qw::httpFetchSync(url + "/health", {},
                              qw::makeClientTls(certs.ca, certs.client_cert, d + "/pkcs1.key"));
  INFO(p1.error);
  CHECK((p1.ok && p1.status == 200));
  auto ec = qw::httpFetchSync(url + "/health", {},
                              qw::makeClientTls(certs.ca, d + "/ec.crt", d + "/ec.key"));
  INFO(ec.error);
  CHECK((ec.ok && ec.status == 200));

  // A CA that did not sign etcd's certificate.
  TempDir other("qw-tlsc-other");
  auto other_certs = makeTestCertificates(other.path());
  auto wrong_ca = qw::makeClientTls(other_certs.ca, certs.client_cert, certs.client_key);
  auto w = qw::httpFetchSync(url + "/health", {}, wrong_ca);
  CHECK_FALSE(w.ok);
  CHECK_THAT(w.error, Contains("certificate verify failed"));

  // No client certificate: etcd (--client-cert-auth) ends the handshake.
  auto anonymous = qw::makeClientTls(certs.ca, "", "");
  auto a = qw::httpFetchSync(url + "/health", {}, anonymous);
  CHECK_FALSE(a.ok);
  // mbedTLS 2.28 reports the alert, not which one: "TLS: SSL - A fatal alert message was
  // received from our peer" (README, Operations, says what it usually means).
  CHECK_THAT(a.error, Contains("TLS: SSL - "));

  // Files that cannot work are refused at start-up, with the file named.
  CHECK_THROWS_WITH(qw::makeClientTls(certs.ca, certs.client_cert, certs.server_key),
                    Contains("does not belong to certificate"));
  CHECK_THROWS_WITH(qw::makeClientTls(tmp.path() + "/missing.pem", "", ""),
                    Contains("cannot load CA file '" + tmp.path() + "/missing.pem'"));
  CHECK_THROWS_WITH(qw::makeClientTls(certs.ca, certs.client_cert, ""),
                    Contains("needs both a certificate and a key"));
  std::ofstream(tmp.path() + "/garbage.key") << "not a key\n";
  CHECK_THROWS_WITH(qw::makeClientTls(certs.ca, certs.client_cert, tmp.path() + "/garbage.key"),
                    Contains("cannot load key"));
}

TEST_CASE("an IP-literal host must be among the certificate's IP addresses", "[tls]") {
  TempDir tmp("qw-tlsc-ip");
  auto certs = makeTestCertificates(tmp.path());
  // A server certificate naming localhost only (no IP SAN), signed by the same CA.
  const std::string d = tmp.path();
  std::ofstream(d + "/dns.ext") << "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n";
  std::string cmd = "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout " + d +
                    "/dns.key -out " + d +
                    "/dns.csr 2>/dev/null && openssl x509 -req -days 2 -in " + d + "/dns.csr -CA " +
                    certs.ca + " -CAkey " + d + "/ca.key -CAcreateserial -extfile " + d +
                    "/dns.ext -out " + d + "/dns.crt 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  int port = freePort();
  Process server({"/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                  "-cert", d + "/dns.crt", "-key", d + "/dns.key", "-www", "-quiet"},
                 d + "/s_server.log");
  auto ctx = qw::makeClientTls(certs.ca, "", "");
  std::string by_name = "https://localhost:" + std::to_string(port) + "/";
  qw::HttpResult ok;
  bool connected = waitFor(
      [&] {
        ok = qw::httpFetchSync(by_name, {}, ctx);
        return ok.ok;
      },
      10s);
  INFO(ok.error);
  REQUIRE(connected);
  CHECK(ok.status == 200);

  auto by_ip = qw::httpFetchSync("https://127.0.0.1:" + std::to_string(port) + "/", {}, ctx);
  CHECK_FALSE(by_ip.ok);
  CHECK_THAT(by_ip.error, Contains("certificate verify failed"));
  CHECK_THAT(by_ip.error, Contains("CN"));
}
