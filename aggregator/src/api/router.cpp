#include "qw/aggregator/api/router.h"

#include "qw/aggregator/api/json.h"
#include "qw/aggregator/api/params.h"
#include "qw/token.h"

namespace qw::aggregator {

namespace http = boost::beast::http;

Response jsonResponse(const Request& req, http::status st, std::string body) {
  Response res{st, req.version()};
  res.set(http::field::server, "quorumwatch-aggregator");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

bool bearerMatches(const Request& req, const std::string& token) {
  auto h = req[http::field::authorization];
  std::string v(h.data(), h.size());
  const std::string prefix = "Bearer ";
  if (v.rfind(prefix, 0) != 0) return false;
  return constantTimeEquals(v.substr(prefix.size()), token);
}

Response errorResponse(const Request& req, http::status st, const std::string& error,
                       const std::string& detail) {
  return jsonResponse(req, st, errorJson(error, detail));
}

bool matchPattern(std::string_view pattern, std::string_view path, PathParams* params) {
  PathParams found;
  for (;;) {
    if (pattern.empty() || path.empty()) {
      if (!pattern.empty() || !path.empty()) return false;
      break;
    }
    if (pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    auto pe = pattern.find('/');
    auto se = path.find('/');
    auto pseg = pattern.substr(0, pe);
    auto seg = path.substr(0, se);
    if (pseg.size() >= 2 && pseg.front() == '{' && pseg.back() == '}') {
      if (seg.empty()) return false;
      found[std::string(pseg.substr(1, pseg.size() - 2))] = urlDecode(seg);
    } else if (pseg != seg) {
      return false;
    }
    pattern = pe == std::string_view::npos ? std::string_view() : pattern.substr(pe);
    path = se == std::string_view::npos ? std::string_view() : path.substr(se);
  }
  if (params) *params = std::move(found);
  return true;
}

void Router::add(http::verb method, std::string pattern, SyncHandler h) {
  routes_.push_back({method, std::move(pattern), std::move(h), nullptr});
}

void Router::addAsync(http::verb method, std::string pattern, AsyncHandler h) {
  routes_.push_back({method, std::move(pattern), nullptr, std::move(h)});
}

Router::Match Router::match(http::verb method, std::string_view path) const {
  Match m;
  const http::verb want = method == http::verb::head ? http::verb::get : method;
  for (const auto& r : routes_) {
    PathParams params;
    if (!matchPattern(r.pattern, path, &params)) continue;
    if (r.method == want) {
      m.kind = Match::Kind::kFound;
      m.route = &r;
      m.params = std::move(params);
      return m;
    }
    m.kind = Match::Kind::kMethodNotAllowed;
    std::string verb(http::to_string(r.method));
    if (m.allow.find(verb) == std::string::npos)
      m.allow +=
          (m.allow.empty() ? "" : ", ") + verb + (r.method == http::verb::get ? ", HEAD" : "");
  }
  return m;
}

namespace {

Response refusal(const Request& req, const Router::Match& m, const std::string& path) {
  if (m.kind == Router::Match::Kind::kMethodNotAllowed) {
    auto res = errorResponse(req, http::status::method_not_allowed, "method_not_allowed",
                             "only " + m.allow + " on " + path);
    res.set(http::field::allow, m.allow);
    return res;
  }
  return errorResponse(req, http::status::not_found, "not_found", "no such path: " + path);
}

}  // namespace

boost::asio::awaitable<Response> Router::dispatch(const Request& req) const {
  std::string path = targetPath(req.target());
  auto m = match(req.method(), path);
  if (m.kind != Match::Kind::kFound) co_return refusal(req, m, path);
  if (m.route->async) co_return co_await m.route->async(req, m.params);
  co_return m.route->sync(req, m.params);
}

Response Router::dispatchSync(const Request& req) const {
  std::string path = targetPath(req.target());
  auto m = match(req.method(), path);
  if (m.kind != Match::Kind::kFound) return refusal(req, m, path);
  if (m.route->async)
    return errorResponse(req, http::status::internal_server_error, "internal",
                         "this route answers asynchronously");
  return m.route->sync(req, m.params);
}

}  // namespace qw::aggregator
