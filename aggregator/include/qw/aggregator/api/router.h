#pragma once
// The API's route table: method + path pattern -> handler. A pattern's "{name}" segment matches
// one non-empty path segment (percent-decoded into the handler's PathParams). A path no route
// has is 404, a path some route has but not for this method is 405 (with Allow); both with a
// JSON error body. HEAD is served by the GET route.
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>

namespace qw::aggregator {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using PathParams = std::map<std::string, std::string>;
using SyncHandler = std::function<Response(const Request&, const PathParams&)>;
// For a handler that waits (e.g. for an agent's answer): runs on the connection's coroutine.
using AsyncHandler =
    std::function<boost::asio::awaitable<Response>(const Request&, const PathParams&)>;

Response jsonResponse(const Request& req, boost::beast::http::status st, std::string body);
Response errorResponse(const Request& req, boost::beast::http::status st, const std::string& error,
                       const std::string& detail);

// Does the request carry "Authorization: Bearer `token`"? Compared in constant time.
bool bearerMatches(const Request& req, const std::string& token);

// Does `path` match `pattern` ("/api/v1/nodes/{name}/series")? Fills `params` when it does.
bool matchPattern(std::string_view pattern, std::string_view path, PathParams* params);

class Router {
 public:
  void add(boost::beast::http::verb method, std::string pattern, SyncHandler h);
  void addAsync(boost::beast::http::verb method, std::string pattern, AsyncHandler h);

  struct Route {
    boost::beast::http::verb method;
    std::string pattern;
    SyncHandler sync;
    AsyncHandler async;  // set instead of sync
  };
  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed };
    Kind kind = Kind::kNotFound;
    const Route* route = nullptr;
    PathParams params;
    std::string allow;  // for kMethodNotAllowed: "GET, HEAD"
  };
  // The first route (in the order added) whose pattern and method match.
  Match match(boost::beast::http::verb method, std::string_view path) const;
  // Runs the matching route, or answers 404/405.
  boost::asio::awaitable<Response> dispatch(const Request& req) const;
  // The same for sync routes only; an async route's request is answered 500 (tests, benches).
  Response dispatchSync(const Request& req) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace qw::aggregator
