// HttpSession::watchClose (http_client.h): a server closing the kept-alive connection between
// requests wakes the watcher at once; unwatch and a new request end the watch; a session
// destroyed while watching is safe (ASan). Loopback only.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "qw/http_client.h"

using namespace std::chrono_literals;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Answers `requests` requests on one connection, then closes it after `close_after`.
net::awaitable<void> serve(tcp::acceptor& acc, int requests,
                           std::chrono::milliseconds close_after) {
  auto sock = co_await acc.async_accept(net::use_awaitable);
  std::string buf;
  for (int i = 0; i < requests; ++i) {
    boost::system::error_code ec;
    size_t n = co_await net::async_read_until(sock, net::dynamic_buffer(buf), "\r\n\r\n",
                                              net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    buf.erase(0, n);
    std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    co_await net::async_write(sock, net::buffer(answer), net::use_awaitable);
  }
  net::steady_timer t(sock.get_executor());
  t.expires_after(close_after);
  co_await t.async_wait(net::use_awaitable);
  sock.close();
}

qw::Url urlOf(const tcp::acceptor& acc) {
  auto u = qw::parseUrl("http://127.0.0.1:" + std::to_string(acc.local_endpoint().port()));
  REQUIRE(u);
  return *u;
}

qw::HttpRequest get() {
  qw::HttpRequest r;
  r.timeout = 5000ms;
  return r;
}

}  // namespace

TEST_CASE("a server closing the idle kept-alive connection wakes the watcher at once") {
  net::io_context ioc(1);
  tcp::acceptor acc(ioc, {net::ip::make_address("127.0.0.1"), 0});
  net::co_spawn(ioc, serve(acc, 1, 100ms), net::detached);
  qw::HttpSession session(urlOf(acc), nullptr);
  bool answered = false, closed = false;
  std::chrono::steady_clock::time_point watched, woke;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto r = co_await session.fetch("/", get());
        answered = r.ok && r.status == 200;
        watched = std::chrono::steady_clock::now();
        session.watchClose([&] {
          closed = true;
          woke = std::chrono::steady_clock::now();
        });
      },
      net::detached);
  ioc.run_for(5s);
  REQUIRE(answered);
  REQUIRE(closed);
  // The close came 100 ms after the answer; the wake-up follows it, not a poll interval.
  CHECK(woke - watched < 2s);
}

TEST_CASE("unwatch and a new request end the watch without a callback") {
  net::io_context ioc(1);
  tcp::acceptor acc(ioc, {net::ip::make_address("127.0.0.1"), 0});
  net::co_spawn(ioc, serve(acc, 2, 100ms), net::detached);
  qw::HttpSession session(urlOf(acc), nullptr);
  int callbacks = 0, answers = 0;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto r = co_await session.fetch("/", get());
        answers += r.ok;
        session.watchClose([&] { ++callbacks; });
        session.watchClose([&] { ++callbacks; });  // one watch at a time: ignored
        // A request while watching: the watch ends, the kept-alive connection serves it.
        r = co_await session.fetch("/", get());
        answers += r.ok;
        session.watchClose([&] { ++callbacks; });
        session.unwatch();
      },
      net::detached);
  ioc.run_for(2s);
  CHECK(answers == 2);
  CHECK(callbacks == 0);
  CHECK(session.connects() == 1);
}

TEST_CASE("a session destroyed while it watches is not touched afterwards") {
  net::io_context ioc(1);
  tcp::acceptor acc(ioc, {net::ip::make_address("127.0.0.1"), 0});
  net::co_spawn(ioc, serve(acc, 1, 50ms), net::detached);
  auto session = std::make_unique<qw::HttpSession>(urlOf(acc), nullptr);
  int callbacks = 0;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        co_await session->fetch("/", get());
        session->watchClose([&] { ++callbacks; });
        session.reset();
      },
      net::detached);
  ioc.run_for(1s);
  CHECK(callbacks == 0);
}

TEST_CASE("without a connection there is nothing to watch") {
  net::io_context ioc(1);
  auto u = qw::parseUrl("http://127.0.0.1:9");
  REQUIRE(u);
  qw::HttpSession session(*u, nullptr);
  int callbacks = 0;
  session.watchClose([&] { ++callbacks; });
  ioc.run_for(100ms);
  CHECK(callbacks == 0);
}
