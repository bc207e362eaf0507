#include "qw/aggregator/model/maintenance.h"

namespace qw::aggregator {

MaintenanceWindow MaintenanceBook::start(const std::string& node, int64_t now_wall_ms,
                                         int64_t duration_ms, std::string reason) {
  std::lock_guard lock(mu_);
  MaintenanceWindow w{node, now_wall_ms, now_wall_ms + duration_ms, std::move(reason)};
  windows_[node] = w;
  return w;
}

bool MaintenanceBook::end(const std::string& node) {
  std::lock_guard lock(mu_);
  return windows_.erase(node) > 0;
}

std::vector<MaintenanceWindow> MaintenanceBook::active(int64_t now_wall_ms) {
  std::lock_guard lock(mu_);
  std::vector<MaintenanceWindow> out;
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (it->second.until_wall_ms <= now_wall_ms) {
      it = windows_.erase(it);
      continue;
    }
    out.push_back(it->second);
    ++it;
  }
  return out;
}

const MaintenanceWindow* findWindow(const std::vector<MaintenanceWindow>& windows,
                                    const std::string& node) {
  for (const auto& w : windows)
    if (w.node == node) return &w;
  return nullptr;
}

}  // namespace qw::aggregator
