#include "qw/agent/collect/collector.h"

namespace qw::agent {

void HostContext::fail(const std::string& kind, const std::string& what) {
  ++errors;
  last_error = what;
  cycle_errors.emplace_back(kind, what);
}

void HostContext::unsupported(const std::string& what) {
  unsupported_now.insert(what);
  if (unsupported_logged.insert(what).second) new_unsupported.push_back(what);
}

}  // namespace qw::agent
