// snapshots and drill.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "api.pb.h"
#include "commands.h"

namespace qw::cli {

namespace {

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", bytes / (1 << 20));
  return b;
}

std::string ageText(double seconds) {
  char b[32];
  if (seconds < 3600)
    std::snprintf(b, sizeof b, "%.0f min", seconds / 60);
  else
    std::snprintf(b, sizeof b, "%.1f h", seconds / 3600);
  return b;
}

}  // namespace

// 0 when a verified snapshot exists, 1 when none does.
int snapshots(const Context& c) {
  qw::api::SnapshotList l;
  Answer a;
  if (auto rc = c.client.call("GET", "/api/v1/snapshots", &l, &a)) return *rc;
  int rc = l.newest_verified().empty() ? kUnsafe : kOk;
  if (c.json) {
    std::cout << a.body << "\n";
    return rc;
  }
  if (rc == kOk)
    std::printf("newest verified: %s (%s old)%s\n", l.newest_verified().c_str(),
                ageText(l.newest_verified_age_seconds()).c_str(),
                l.newest_drilled().empty() ? ", not drilled"
                                           : (", newest drilled: " + l.newest_drilled()).c_str());
  else
    std::printf("%s\n", c.style.red("no verified snapshot").c_str());
  std::printf("  %-10s %-9s %-10s %-9s %-8s %-9s %s\n", "NODE", "STATUS", "SIZE", "AGE", "DRILLED",
              "SAME-DISK", "PATH / REASONS");
  for (const auto& x : l.snapshots()) {
    std::string same = !x.has_same_disk_as_data() ? "?" : x.same_disk_as_data() ? "yes" : "no";
    char status[16];
    std::snprintf(status, sizeof status, "%-9s", x.status().c_str());
    std::printf("  %-10s %s %-10s %-9s %-8s %-9s %s\n", x.node().c_str(),
                c.style.stateAs(x.status(), status).c_str(), mib(x.size_bytes()).c_str(),
                ageText(x.age_seconds()).c_str(), x.drilled() ? "yes" : "no", same.c_str(),
                x.path().c_str());
    for (const auto& r : x.reasons()) std::printf("      - %s\n", r.c_str());
  }
  std::printf("copies in %s:\n", l.copy_dir().c_str());
  for (const auto& cp : l.copies())
    std::printf("  %-40s %-9s %-10s drill %s\n", cp.file().c_str(), cp.status().c_str(),
                mib(cp.size_bytes()).c_str(),
                cp.has_last_drill() ? cp.last_drill().status().c_str() : "never");
  if (!l.copy_error().empty()) std::printf("  ! %s\n", l.copy_error().c_str());
  if (l.has_schedule()) {
    const auto& s = l.schedule();
    if (s.every_seconds() <= 0)
      std::printf("snapshots taken by the aggregator: off\n");
    else
      std::printf("snapshots taken by the aggregator: every %s, next due %s\n",
                  ageText(s.every_seconds()).c_str(), s.next_due().c_str());
    if (!s.not_possible().empty())
      std::printf("  ! no node can take one: %s\n", s.not_possible().c_str());
    if (!s.takes().empty()) {
      const auto& t = s.takes(0);
      std::printf("  last: %s on %s at %s %s\n", t.status().c_str(), t.node().c_str(),
                  t.started_at().c_str(),
                  t.status() == "failed" ? t.error().c_str() : t.path().c_str());
    }
  }
  return rc;
}

// Starts a restore drill of the newest verified copy (the token is required); with `wait` shows
// its progress and exits 0 when it passed, 1 when it failed.
int drill(const Context& c, bool wait) {
  if (!c.client.hasToken()) {
    std::fprintf(stderr, "quorumwatch: drill needs the aggregator's token (--token-file FILE)\n");
    return kUsage;
  }
  qw::api::Drill started;
  Answer a;
  if (auto rc = c.client.call("POST", "/api/v1/drills", &started, &a)) return *rc;
  const double id = started.id();
  if (!wait) {
    if (c.json)
      std::cout << a.body << "\n";
    else
      std::printf("drill %.0f of %s started\n", id, started.copy().c_str());
    return kOk;
  }
  const bool tty = ::isatty(STDOUT_FILENO) && !c.json;
  std::string last_line;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    qw::api::DrillList list;
    if (auto rc = c.client.call("GET", "/api/v1/drills", &list)) return *rc;
    const qw::api::Drill* d = nullptr;
    for (const auto& x : list.drills())
      if (x.id() == id) d = &x;
    if (!d) {
      std::fprintf(stderr, "quorumwatch: drill %.0f is no longer listed\n", id);
      return kCannotTell;
    }
    if (d->status() == "running") {
      if (c.json) continue;
      char line[128];
      std::snprintf(line, sizeof line, "drill %.0f: %s %.0f%%", id, d->phase().c_str(),
                    d->percent());
      if (line != last_line) {
        if (tty)
          std::printf("\r%-60s", line);
        else
          std::printf("%s\n", line);
        std::fflush(stdout);
        last_line = line;
      }
      continue;
    }
    if (tty) std::printf("\n");
    const bool passed = d->status() == "passed";
    if (c.json) {
      std::cout << toJson(*d) << "\n";
    } else if (passed) {
      std::printf(
          "drill %.0f %s: %s restored with %s %s in %.0f ms and answering after %.0f ms more "
          "(RTO %.0f ms); revision %.0f, %.0f keys as our reader found%s\n",
          id, c.style.green("passed").c_str(), d->copy().c_str(), d->tool().c_str(),
          d->etcd_version().c_str(), d->restore_ms(), d->start_ms(), d->rto_ms(), d->revision(),
          d->live_keys(), d->version_matches() ? "" : " (etcd's version is not the snapshot's)");
    } else {
      std::printf("drill %.0f %s: %s\n", id, c.style.red("FAILED").c_str(), d->error().c_str());
    }
    return passed ? kOk : kUnsafe;
  }
}

}  // namespace qw::cli
