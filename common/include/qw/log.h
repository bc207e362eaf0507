#pragma once
// One named spdlog logger per component, all sharing one sink (stderr, or the journal's stream
// when systemd runs us: journald adds the timestamp, so we drop ours).
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace qw {

// Call once from main. level: trace, debug, info, warn, error. Returns false on a bad level.
bool initLogging(const std::string& level);
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace qw
