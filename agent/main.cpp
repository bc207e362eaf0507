// quorumwatch-agent: samples the local etcd member and streams to the aggregator.
#include <cstdio>
#include <iostream>

#include "qw/agent/agent.h"
#include "qw/log.h"

int main(int argc, char** argv) {
  qw::agent::AgentConfig cfg;
  qw::Options opts("quorumwatch-agent",
                   "Samples the local etcd member and its node, and streams the samples to the "
                   "quorumwatch aggregator.");
  qw::agent::registerOptions(opts, &cfg);
  if (auto err = opts.parse(argc, argv)) {
    std::fprintf(stderr, "quorumwatch-agent: %s\n", err->c_str());
    return 2;
  }
  if (opts.helpRequested()) {
    std::cout << opts.helpText();
    return 0;
  }
  if (auto err = qw::agent::validate(cfg); !err.empty()) {
    std::fprintf(stderr, "quorumwatch-agent: %s\n", err.c_str());
    return 2;
  }
  if (cfg.print_config) {
    std::cout << opts.dump();
    return 0;
  }
  if (!qw::initLogging(cfg.log_level)) {
    std::fprintf(stderr, "quorumwatch-agent: bad --log-level '%s'\n", cfg.log_level.c_str());
    return 2;
  }
  return qw::agent::runAgent(cfg);
}
