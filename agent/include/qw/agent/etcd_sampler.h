#pragma once
// Samples the local etcd member over its HTTP gateway: status (our reachability test), /health,
// member list and alarms. Each call has a short deadline: a hung etcd is "unreachable: timeout",
// never a stalled agent.
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "qw/http_client.h"
#include "qw/url.h"
#include "sample.pb.h"

namespace qw::agent {

struct EtcdSamplerConfig {
  Url endpoint;                                    // client URL, e.g. http://127.0.0.1:2379
  std::shared_ptr<boost::asio::ssl::context> tls;  // for https endpoints
  std::chrono::milliseconds timeout{800};
};

class EtcdSampler {
 public:
  explicit EtcdSampler(EtcdSamplerConfig cfg)
      : cfg_(std::move(cfg)), session_(cfg_.endpoint, cfg_.tls) {}
  // Fills `out`. Returns the error of this cycle ("" when every call succeeded).
  boost::asio::awaitable<std::string> sample(qw::wire::EtcdSample* out);

 private:
  EtcdSamplerConfig cfg_;
  HttpSession session_;  // kept alive: one connect (and TLS handshake) instead of four a cycle
};

}  // namespace qw::agent
