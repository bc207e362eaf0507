// Name resolution under the request's deadline (http_client.h): a lookup that hangs is abandoned
// at the deadline and the request says "resolve timeout"; loopback only, the lookup is injected.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "qw/http_client.h"

using namespace std::chrono_literals;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// A lookup that blocks until the returned promise is set (or 10 s).
qw::HostLookup hangingLookup(std::shared_future<void> release) {
  return [release](const std::string&, const std::string&, boost::system::error_code& ec) {
    release.wait_for(10s);
    ec = net::error::host_not_found;
    return std::vector<tcp::endpoint>{};
  };
}

template <class F>
void runCoro(net::io_context& ioc, F f) {
  net::co_spawn(ioc, std::move(f), net::detached);
  ioc.run();
}

}  // namespace

TEST_CASE("a hung name lookup ends at the deadline, a quick one and an IP literal do not wait") {
  net::io_context ioc(1);
  std::promise<void> release;
  auto released = release.get_future().share();
  bool timed_out = false;
  boost::system::error_code ec;
  auto start = std::chrono::steady_clock::now();
  std::chrono::milliseconds took{};
  runCoro(ioc, [&]() -> net::awaitable<void> {
    auto url = *qw::parseUrl("http://etcd.invalid:2379");
    auto eps = co_await qw::resolveWithDeadline(url, std::chrono::steady_clock::now() + 100ms, ec,
                                                &timed_out, hangingLookup(released));
    took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
    CHECK(eps.empty());
  });
  release.set_value();  // let the abandoned lookup thread finish
  CHECK(timed_out);
  CHECK(ec == net::error::timed_out);
  CHECK(took >= 90ms);
  CHECK(took < 2s);

  net::io_context ioc2(1);
  std::vector<tcp::endpoint> got;
  bool to2 = true;
  boost::system::error_code ec2;
  runCoro(ioc2, [&]() -> net::awaitable<void> {
    auto url = *qw::parseUrl("http://etcd.example:2379");
    got = co_await qw::resolveWithDeadline(
        url, std::chrono::steady_clock::now() + 5s, ec2, &to2,
        [](const std::string& host, const std::string& port, boost::system::error_code&) {
          CHECK(host == "etcd.example");
          CHECK(port == "2379");
          return std::vector<tcp::endpoint>{{net::ip::make_address("127.0.0.1"), 2379}};
        });
  });
  CHECK_FALSE(ec2);
  CHECK_FALSE(to2);
  REQUIRE(got.size() == 1);
  CHECK(got[0].port() == 2379);

  net::io_context ioc3(1);
  runCoro(ioc3, [&]() -> net::awaitable<void> {
    auto url = *qw::parseUrl("http://[::1]:2379");
    boost::system::error_code e;
    // A past deadline: a literal needs no lookup, so it still resolves.
    auto eps = co_await qw::resolveWithDeadline(url, std::chrono::steady_clock::now() - 1s, e,
                                                nullptr, hangingLookup(released));
    CHECK_FALSE(e);
    REQUIRE(eps.size() == 1);
    CHECK(eps[0].address().is_v6());
  });
}

TEST_CASE("a request whose name lookup hangs fails with resolve timeout within its deadline") {
  net::io_context ioc(1);
  // A loopback HTTP server that answers one request.
  tcp::acceptor acc(ioc, {net::ip::make_address("127.0.0.1"), 0});
  auto port = acc.local_endpoint().port();
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto sock = co_await acc.async_accept(net::use_awaitable);
        char buf[1024];
        co_await sock.async_read_some(net::buffer(buf), net::use_awaitable);
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        co_await net::async_write(sock, net::buffer(resp), net::use_awaitable);
      },
      net::detached);
  std::promise<void> release;
  auto released = release.get_future().share();
  qw::HttpResult hung, fine;
  std::chrono::milliseconds took{};
  runCoro(ioc, [&]() -> net::awaitable<void> {
    qw::HttpSession s(*qw::parseUrl("http://etcd.invalid:" + std::to_string(port)), nullptr);
    s.setLookup(hangingLookup(released));
    qw::HttpRequest req;
    req.timeout = 200ms;
    auto start = std::chrono::steady_clock::now();
    hung = co_await s.fetch("/health", req);
    took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
    qw::HttpSession ok(*qw::parseUrl("http://etcd.local:" + std::to_string(port)), nullptr);
    ok.setLookup([port](const std::string&, const std::string&, boost::system::error_code&) {
      return std::vector<tcp::endpoint>{{net::ip::make_address("127.0.0.1"), port}};
    });
    req.timeout = 2s;
    fine = co_await ok.fetch("/health", req);
  });
  release.set_value();
  CHECK_FALSE(hung.ok);
  CHECK(hung.error == "resolve timeout");
  CHECK(took < 2s);
  CHECK(fine.ok);
  CHECK(fine.status == 200);
  CHECK(fine.body == "ok");
}
