#pragma once
// Autodetection of where etcd lives (ETCD_REFERENCE.md section 4): k3s (embedded etcd) and
// kubeadm (static pod) layouts under a configurable root. Only options the operator left at
// their defaults are filled; every value says why it is what it is (--print-config).
#include <map>
#include <string>

#include "qw/agent/app/agent.h"
#include "qw/options.h"
#include "wire.pb.h"

namespace qw::agent {

struct Detection {
  std::string flavor;                          // "k3s", "kubeadm" or "etcd"
  std::string why;                             // what was found (or not)
  std::map<std::string, std::string> reasons;  // option name -> why it has its value
};

// Fills unset options of `cfg` from the layout found under cfg->detect_root (when
// cfg->etcd_flavor is "auto"; a named flavor applies that layout's defaults without looking).
Detection detectLayout(const Options& opts, AgentConfig* cfg);

// `key = value  # why` for every option (DESIGN.md: --print-config shows what it resolved and why).
std::string describeConfig(const Options& opts, const Detection& d);
// The same as a message (the GetConfig command's answer), not yet redacted.
qw::wire::ConfigReport configReport(const Options& opts, const Detection& d);

}  // namespace qw::agent
