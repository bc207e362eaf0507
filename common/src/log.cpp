#include "qw/log.h"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace qw {

namespace {
std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;

spdlog::sink_ptr sink() {
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    // Under systemd (JOURNAL_STREAM set) journald stamps each line; keep ours short.
    if (std::getenv("JOURNAL_STREAM") != nullptr)
      g_sink->set_pattern("<%^%l%$> %n: %v");
    else
      g_sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %n: %v");
  }
  return g_sink;
}
}  // namespace

bool initLogging(const std::string& level) {
  std::lock_guard lk(g_mu);
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") return false;
  g_level = lvl;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
  return true;
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  std::lock_guard lk(g_mu);
  if (auto l = spdlog::get(component)) return l;
  auto l = std::make_shared<spdlog::logger>(component, sink());
  l->set_level(g_level);
  l->flush_on(spdlog::level::trace);
  spdlog::register_logger(l);
  return l;
}

}  // namespace qw
