// quorumwatch-agent: samples the local etcd member and streams to the aggregator.
#include <cstdio>
#include <iostream>

#include "qw/agent/app/agent.h"
#include "qw/agent/app/detect.h"
#include "qw/agent/sys/host.h"
#include "qw/agent/sys/unit_watch.h"
#include "qw/agent/uplink/commands.h"
#include "qw/log.h"
#include "qw/url.h"

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
  auto detection = qw::agent::detectLayout(opts, &cfg);
  if (auto err = qw::agent::validate(cfg); !err.empty()) {
    std::fprintf(stderr, "quorumwatch-agent: %s (after detecting %s: %s)\n", err.c_str(),
                 detection.flavor.c_str(), detection.why.c_str());
    return 2;
  }
  if (cfg.print_config) {
    std::cout << qw::agent::describeConfig(opts, detection);
    // What one sampling cycle finds on this node.
    qw::agent::HostConfig h;
    h.procfs_root = cfg.procfs_root;
    h.sysfs_root = cfg.sysfs_root;
    h.data_dir = cfg.etcd_data_dir;
    h.data_device = cfg.etcd_data_device;
    if (auto u = qw::parseUrl(cfg.etcd_endpoint)) h.etcd_port = u->port;
    qw::agent::HostSampler host(h);
    qw::wire::NodeSample s;
    host.sample(0, &s);
    std::cout << "# probe: etcd process "
              << (host.etcdPid() ? std::to_string(host.etcdPid()) : "not found") << ", data dir "
              << (host.dataDir().empty() ? "unknown" : host.dataDir()) << "\n";
    if (!host.device().disk.empty())
      std::cout << "# probe: block device " << host.device().disk
                << (host.device().partition.empty()
                        ? ""
                        : " (partition " + host.device().partition + ")")
                << "\n";
    std::cout << "# probe: " << s.host().thermal_size() << " thermal zones, "
              << s.host().cpufreq_size() << " cpufreq policies, get_throttled "
              << (s.host().has_throttled() ? "yes" : "no") << ", pressure "
              << (s.host().has_io_some() ? "yes" : "no") << "\n";
    for (const auto& u : s.host().unsupported()) std::cout << "# not supported: " << u << "\n";
    if (!cfg.etcd_unit.empty()) {
      qw::agent::UnitWatcher unit(cfg.etcd_unit);
      auto st = unit.poll();
      if (st.restarts)
        std::cout << "# probe: unit " << cfg.etcd_unit << " " << st.active_state << ", "
                  << *st.restarts << " restarts\n";
      else
        std::cout << "# not supported: " << (st.unsupported.empty() ? st.error : st.unsupported)
                  << "\n";
    }
    if (host.errors()) std::cout << "# probe error: " << host.lastError() << "\n";
    return 0;
  }
  cfg.etcd_flavor = detection.flavor;
  cfg.commands = qw::agent::makeAgentCommands(qw::agent::configReport(opts, detection));
  if (!qw::initLogging(cfg.log_level)) {
    std::fprintf(stderr, "quorumwatch-agent: bad --log-level '%s'\n", cfg.log_level.c_str());
    return 2;
  }
  return qw::agent::runAgent(cfg);
}
