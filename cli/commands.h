#pragma once
// The CLI's commands, one function each; each returns the exit code (client.h).
#include <optional>
#include <string>
#include <vector>

#include "client.h"
#include "style.h"

namespace qw::cli {

struct Context {
  Client client;
  Style style;
  bool json = false;
};

int status(const Context& c);
int whatif(const Context& c, const std::vector<std::string>& nodes);
int events(const Context& c, const std::string& since, bool follow, const std::string& kind,
           const std::string& node, int limit);
int snapshots(const Context& c);
int drill(const Context& c, bool wait);
int plan(const Context& c, const std::string& path);
int series(const Context& c, const std::string& node, const std::string& metric,
           const std::string& since, const std::string& agg);
int config(const Context& c, const std::string& node);
// maintenance: the list (no node), open a window (`duration` set) or end it (`end`).
int maintenance(const Context& c, const std::string& node, const std::string& duration,
                const std::string& reason, bool end);

// "1h", "30m" before now, or a time as the API takes it (unix seconds, RFC 3339), as the API's
// since/from parameter; nullopt when neither.
std::optional<std::string> sinceParam(const std::string& text, double now_seconds);

}  // namespace qw::cli
