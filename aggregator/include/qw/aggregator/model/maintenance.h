#pragma once
// Planned maintenance windows (POST /api/v1/maintenance): "node-3 will be stopped for 30 minutes".
// While a window lasts, that node's warnings are expected rather than an incident, "safe to
// stop?" counts the node as down, and the recovery plans say to bring it back, not to replace it.
// A window ends by itself; it is kept in memory only (an aggregator restart forgets it, and the
// warnings then show as they are: the safe side).
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace qw::aggregator {

struct MaintenanceWindow {
  std::string node;
  int64_t started_wall_ms = 0;
  int64_t until_wall_ms = 0;
  std::string reason;
};

class MaintenanceBook {
 public:
  // Starts (or replaces) the window of `node`, from now until now + duration.
  MaintenanceWindow start(const std::string& node, int64_t now_wall_ms, int64_t duration_ms,
                          std::string reason);
  // Ends the window of `node` now; false when it had none.
  bool end(const std::string& node);
  // The windows open at `now`, by node name; expired ones are dropped.
  std::vector<MaintenanceWindow> active(int64_t now_wall_ms);

  static constexpr int64_t kMaxDurationMs = 24LL * 3600 * 1000;  // a day: longer is no "stop"

 private:
  std::mutex mu_;
  std::map<std::string, MaintenanceWindow> windows_;
};

// The window of `node` in `windows`, if any.
const MaintenanceWindow* findWindow(const std::vector<MaintenanceWindow>& windows,
                                    const std::string& node);

}  // namespace qw::aggregator
