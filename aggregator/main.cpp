// quorumwatch-aggregator: stores agent samples and serves the cluster's quorum view.
#include <cstdio>
#include <iostream>

#include "qw/aggregator/app/aggregator.h"
#include "qw/log.h"

int main(int argc, char** argv) {
  qw::aggregator::AggregatorConfig cfg;
  qw::Options opts("quorumwatch-aggregator",
                   "Receives samples from quorumwatch agents, stores them in SQLite and serves the "
                   "etcd cluster's quorum view over HTTP.");
  qw::aggregator::registerOptions(opts, &cfg);
  if (auto err = opts.parse(argc, argv)) {
    std::fprintf(stderr, "quorumwatch-aggregator: %s\n", err->c_str());
    return 2;
  }
  if (opts.helpRequested()) {
    std::cout << opts.helpText();
    return 0;
  }
  if (auto err = qw::aggregator::validate(cfg); !err.empty()) {
    std::fprintf(stderr, "quorumwatch-aggregator: %s\n", err.c_str());
    return 2;
  }
  if (!qw::initLogging(cfg.log_level)) {
    std::fprintf(stderr, "quorumwatch-aggregator: bad --log-level '%s'\n", cfg.log_level.c_str());
    return 2;
  }
  return qw::aggregator::runAggregator(cfg);
}
