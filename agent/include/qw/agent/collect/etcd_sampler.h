#pragma once
// Samples the local etcd member over its HTTP gateway: status (our reachability test, and the
// alarms, which etcd lists in its "errors"), /health, and the member list. Each call has a short
// deadline: a hung etcd is "unreachable: timeout", never a stalled agent.
//
// Loopback HTTP is most of the agent's CPU (the sender's kernel runs the receiver's TCP path), so
// calls are made only when they can say something new:
// - alarms come from the status call's errors ("memberID:N alarm:NOSPACE "); the alarm call is
//   made only for an alarm entry that does not parse;
// - the member list is fetched every `members_interval`, and at once when the raft term, the
//   leader or the member id changes, or after a failed call. A sample without a fresh list has
//   members_ok = false (the aggregator keeps the last list it trusted);
// - /health is a linearizable read, a raft round trip to the followers, so asking it every second
//   loads the etcd being watched: it is asked every `health_interval`, every cycle while its
//   last answer was not healthy, and at once on a raft term, leader or member change. A sample
//   without it has no `health` (unknown, not false).
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "qw/http_client.h"
#include "qw/tls_client.h"
#include "qw/url.h"
#include "sample.pb.h"

namespace qw::agent {

struct EtcdSamplerConfig {
  Url endpoint;                           // client URL, e.g. http://127.0.0.1:2379
  std::shared_ptr<TlsClientContext> tls;  // for https endpoints
  std::chrono::milliseconds timeout{800};
  std::chrono::milliseconds members_interval{5000};
  std::chrono::milliseconds health_interval{5000};
};

class EtcdSampler {
 public:
  explicit EtcdSampler(EtcdSamplerConfig cfg)
      : cfg_(std::move(cfg)), session_(cfg_.endpoint, cfg_.tls) {}
  // Fills `out`. Returns the error of this cycle ("" when every call succeeded).
  boost::asio::awaitable<std::string> sample(qw::wire::EtcdSample* out);
  // Until the next sample: `on_close` runs when etcd closes the kept-alive connection (a killed
  // etcd's kernel closes it at once), so the agent probes and reports now, not at its next tick.
  void watchClose(std::function<void()> on_close) { session_.watchClose(std::move(on_close)); }
  void unwatch() { session_.unwatch(); }
  // Calls made so far, by kind (benchmarks and tests).
  struct Calls {
    uint64_t status = 0, health = 0, members = 0, alarms = 0;
  };
  const Calls& calls() const { return calls_; }

 private:
  // When a periodic call last gave a good answer, and the raft state it was given in.
  struct Refresh {
    bool good = false;
    std::chrono::steady_clock::time_point at{};
    uint64_t term = 0, leader = 0, self = 0;
    bool due(const qw::wire::EtcdSample& s, std::chrono::steady_clock::time_point now,
             std::chrono::milliseconds interval) const;
    void done(const qw::wire::EtcdSample& s, std::chrono::steady_clock::time_point now);
  };
  EtcdSamplerConfig cfg_;
  Calls calls_;
  Refresh members_, health_;
  HttpSession session_;  // kept alive: one connect (and TLS handshake) instead of four a cycle
};

}  // namespace qw::agent
