#include "qw/agent/collect/etcd_sampler.h"

#include "qw/agent/parse/etcd_parse.h"
#include "qw/http_client.h"

namespace qw::agent {

namespace net = boost::asio;

bool EtcdSampler::Refresh::due(const qw::wire::EtcdSample& s,
                               std::chrono::steady_clock::time_point now,
                               std::chrono::milliseconds interval) const {
  return !good || now - at >= interval || s.raft_term() != term || s.leader_id() != leader ||
         s.member_id() != self;
}

void EtcdSampler::Refresh::done(const qw::wire::EtcdSample& s,
                                std::chrono::steady_clock::time_point now) {
  good = true;
  at = now;
  term = s.raft_term();
  leader = s.leader_id();
  self = s.member_id();
}

net::awaitable<std::string> EtcdSampler::sample(qw::wire::EtcdSample* out) {
  HttpRequest post;
  post.method = "POST";
  post.body = "{}";
  post.timeout = cfg_.timeout;

  // The status call is the reachability test (DESIGN.md s7: /health is false under any alarm).
  ++calls_.status;
  auto st = co_await session_.fetch("/v3/maintenance/status", post);
  out->set_status_latency_us(static_cast<uint32_t>(st.latency_us));
  if (!st.ok) {
    members_.good = health_.good = false;  // ask both again once it answers
    out->set_reachable(false);
    out->set_error(st.error);
    co_return "status: " + st.error;
  }
  if (st.status != 200) {
    members_.good = health_.good = false;  // ask both again once it answers
    out->set_reachable(false);
    auto ge = gatewayError(st.body);
    out->set_error("status call answered HTTP " + std::to_string(st.status) +
                   (ge ? ": " + *ge : std::string()));
    co_return out->error();
  }
  if (auto err = parseStatus(st.body, out)) {
    members_.good = health_.good = false;  // ask both again once it answers
    out->set_reachable(false);
    out->set_error(*err);
    co_return *err;
  }
  out->set_reachable(true);

  std::string errors;
  auto note = [&](const std::string& e) { errors += (errors.empty() ? "" : "; ") + e; };

  auto now = std::chrono::steady_clock::now();
  if (health_.due(*out, now, cfg_.health_interval)) {
    HttpRequest get;
    get.timeout = cfg_.timeout;
    ++calls_.health;
    auto h = co_await session_.fetch("/health", get);
    health_.good = false;
    if (!h.ok)
      note("health: " + h.error);
    else if (auto err = parseHealth(h.body, out))
      note(*err);
    else if (out->health())  // unhealthy: asked again every cycle
      health_.done(*out, now);
  }

  if (members_.due(*out, now, cfg_.members_interval)) {
    ++calls_.members;
    auto ml = co_await session_.fetch("/v3/cluster/member/list", post);
    members_.good = false;
    if (!ml.ok)
      note("member list: " + ml.error);
    else if (auto err = parseMemberList(ml.body, out))
      note(*err);
    else
      members_.done(*out, now);
  }

  if (!alarmsFromStatusErrors(out)) {
    HttpRequest alarm = post;
    alarm.body = R"({"action":"GET"})";
    ++calls_.alarms;
    auto al = co_await session_.fetch("/v3/maintenance/alarm", alarm);
    if (!al.ok)
      note("alarms: " + al.error);
    else if (auto err = parseAlarms(al.body, out))
      note(*err);
  }
  co_return errors;
}

}  // namespace qw::agent
