#include "qw/agent/etcd_sampler.h"

#include "qw/agent/etcd_parse.h"
#include "qw/http_client.h"

namespace qw::agent {

namespace net = boost::asio;

net::awaitable<std::string> EtcdSampler::sample(qw::wire::EtcdSample* out) {
  HttpRequest post;
  post.method = "POST";
  post.body = "{}";
  post.timeout = cfg_.timeout;

  // The status call is the reachability test (DESIGN.md s7: /health is false under any alarm).
  auto st = co_await session_.fetch("/v3/maintenance/status", post);
  out->set_status_latency_us(static_cast<uint32_t>(st.latency_us));
  if (!st.ok) {
    out->set_reachable(false);
    out->set_error(st.error);
    co_return "status: " + st.error;
  }
  if (st.status != 200) {
    out->set_reachable(false);
    auto ge = gatewayError(st.body);
    out->set_error("status call answered HTTP " + std::to_string(st.status) +
                   (ge ? ": " + *ge : std::string()));
    co_return out->error();
  }
  if (auto err = parseStatus(st.body, out)) {
    out->set_reachable(false);
    out->set_error(*err);
    co_return *err;
  }
  out->set_reachable(true);

  std::string errors;
  auto note = [&](const std::string& e) { errors += (errors.empty() ? "" : "; ") + e; };

  HttpRequest get;
  get.timeout = cfg_.timeout;
  auto h = co_await session_.fetch("/health", get);
  if (!h.ok)
    note("health: " + h.error);
  else if (auto err = parseHealth(h.body, out))
    note(*err);

  auto ml = co_await session_.fetch("/v3/cluster/member/list", post);
  if (!ml.ok)
    note("member list: " + ml.error);
  else if (auto err = parseMemberList(ml.body, out))
    note(*err);

  HttpRequest alarm = post;
  alarm.body = R"({"action":"GET"})";
  auto al = co_await session_.fetch("/v3/maintenance/alarm", alarm);
  if (!al.ok)
    note("alarms: " + al.error);
  else if (auto err = parseAlarms(al.body, out))
    note(*err);
  co_return errors;
}

}  // namespace qw::agent
