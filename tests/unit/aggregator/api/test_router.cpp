#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "qw/aggregator/api/router.h"

using namespace qw::aggregator;
namespace http = boost::beast::http;

namespace {

Request get(const std::string& target, http::verb v = http::verb::get) {
  Request r{v, target, 11};
  return r;
}

Response text(const Request& req, std::string body) {
  Response res{http::status::ok, req.version()};
  res.body() = std::move(body);
  return res;
}

Router table() {
  Router r;
  r.add(http::verb::get, "/api/v1/nodes",
        [](const Request& q, const PathParams&) { return text(q, "nodes"); });
  r.add(http::verb::get, "/api/v1/nodes/{name}",
        [](const Request& q, const PathParams& p) { return text(q, "node " + p.at("name")); });
  r.add(http::verb::get, "/api/v1/nodes/{name}/series",
        [](const Request& q, const PathParams& p) { return text(q, "series " + p.at("name")); });
  r.add(http::verb::post, "/api/v1/things/{a}/{b}",
        [](const Request& q, const PathParams& p) { return text(q, p.at("a") + "+" + p.at("b")); });
  r.addAsync(http::verb::get, "/api/v1/nodes/{name}/config",
             [](const Request& q, const PathParams& p) -> boost::asio::awaitable<Response> {
               co_return text(q, "config " + p.at("name"));
             });
  return r;
}

}  // namespace

TEST_CASE("router: patterns, path parameters") {
  PathParams p;
  CHECK(matchPattern("/a/b", "/a/b", &p));
  CHECK(p.empty());
  CHECK_FALSE(matchPattern("/a/b", "/a/b/", &p));
  CHECK_FALSE(matchPattern("/a/b", "/a", &p));
  CHECK_FALSE(matchPattern("/a", "/a/b", &p));
  CHECK(matchPattern("/", "/", &p));
  CHECK_FALSE(matchPattern("/", "", &p));
  CHECK(matchPattern("/n/{name}/s", "/n/pi-1/s", &p));
  CHECK(p.at("name") == "pi-1");
  CHECK_FALSE(matchPattern("/n/{name}/s", "/n//s", &p));  // empty segment
  CHECK_FALSE(matchPattern("/n/{name}", "/n/a/b", &p));   // one segment only
  CHECK(matchPattern("/n/{name}", "/n/pi%201", &p));
  CHECK(p.at("name") == "pi 1");  // decoded
}

TEST_CASE("router: route table, 404 and 405 with JSON errors") {
  auto r = table();
  using K = Router::Match::Kind;
  CHECK(r.dispatchSync(get("/api/v1/nodes")).body() == "nodes");
  CHECK(r.dispatchSync(get("/api/v1/nodes?x=1")).body() == "nodes");
  CHECK(r.dispatchSync(get("/api/v1/nodes/pi-3")).body() == "node pi-3");
  CHECK(r.dispatchSync(get("/api/v1/nodes/pi-3/series?metric=x")).body() == "series pi-3");
  CHECK(r.dispatchSync(get("/api/v1/things/1/2", http::verb::post)).body() == "1+2");
  CHECK(r.match(http::verb::head, "/api/v1/nodes").kind == K::kFound);  // HEAD: the GET route

  auto nf = r.dispatchSync(get("/api/v1/nope"));
  CHECK(nf.result() == http::status::not_found);
  CHECK(nf[http::field::content_type] == "application/json");
  auto j = nlohmann::json::parse(nf.body());
  CHECK(j["error"] == "not_found");
  CHECK(j["detail"] == "no such path: /api/v1/nope");
  CHECK(r.dispatchSync(get("/api/v1/nodes/a/b/c")).result() == http::status::not_found);

  auto na = r.dispatchSync(get("/api/v1/nodes", http::verb::delete_));
  CHECK(na.result() == http::status::method_not_allowed);
  CHECK(na[http::field::allow] == "GET, HEAD");
  CHECK(nlohmann::json::parse(na.body())["error"] == "method_not_allowed");
  auto m = r.match(http::verb::get, "/api/v1/things/1/2");
  CHECK(m.kind == K::kMethodNotAllowed);
  CHECK(m.allow == "POST");
}

TEST_CASE("router: async routes run on the connection's coroutine") {
  auto r = table();
  boost::asio::io_context ioc;
  auto req = get("/api/v1/nodes/pi-2/config");
  auto fut = boost::asio::co_spawn(ioc, r.dispatch(req), boost::asio::use_future);
  ioc.run();
  CHECK(fut.get().body() == "config pi-2");
  // A sync dispatcher cannot run it.
  CHECK(r.dispatchSync(req).result() == http::status::internal_server_error);
  auto sync = get("/api/v1/nodes/pi-2");
  auto fut2 = boost::asio::co_spawn(ioc, r.dispatch(sync), boost::asio::use_future);
  ioc.restart();
  ioc.run();
  CHECK(fut2.get().body() == "node pi-2");
}
