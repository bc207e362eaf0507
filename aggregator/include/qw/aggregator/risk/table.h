#pragma once
// The risk model's numbers, in one versioned table (aggregator/src/risk/table.cpp): the base
// hazards, the probability that makes a cluster AT_RISK, the horizon, and every multiplier with
// its threshold, explanation, action and source. `--risk-table FILE` overrides any of them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api.pb.h"
#include "qw/aggregator/model/signals.h"

namespace qw::aggregator::risk {

struct Rule {
  std::string id;        // "wal_fsync_p99.guidance": unique, used by overrides and in factors
  std::string signal;    // the quantity it reads (a MemberSignals name or a derived one, table.cpp)
  bool at_most = false;  // false: matches value >= threshold; true: value <= threshold
  double threshold = 0;
  double multiplier = 1;
  std::string explanation;  // one line: what the value means for this member's etcd
  std::string action;       // what to do about it
  std::string source;       // where the threshold comes from
  // Where the signal is read from, resolved once by the table (table.cpp), so a view does not
  // look a name up: a MemberSignals field, or one of the quantities the engine derives.
  std::optional<double> MemberSignals::*field = nullptr;
  enum class Derived {
    kNone,
    kTemperatureHeadroom,
    kFsAvailRatio,
    kEtcdRestarts,
    kNodeReboots,
    kLeaderChanges,
    // Recoverability (cluster-wide, from SnapshotHealth): 1 or 0, and ages.
    kNoVerifiedSnapshot,
    kSnapshotAgeHours,
    kDrillFailed,
    kNoPassedDrill
  };
  Derived derived = Derived::kNone;
};

// One early warning (risk/warnings.h): its condition's threshold (what it means depends on the
// code; README "Warnings"), a second threshold that makes it CRITICAL where the code has one, and
// its hysteresis: raised once the condition has held raise_after, cleared once it has been absent
// clear_after.
struct WarningRule {
  qw::api::Warning::Code code = qw::api::Warning::CODE_UNSPECIFIED;
  qw::api::Severity severity = qw::api::WARNING;
  double threshold = 0;
  double critical_threshold = 0;  // 0: no CRITICAL level
  int64_t raise_after_ms = 0;
  int64_t clear_after_ms = 0;
  std::string action;
  std::string source;
};

struct Table {
  std::string version;
  // Unplanned failures per day of one healthy member (its etcd, node, disk or power), and of a
  // named failure domain shared by several members (a power supply, a switch, a shelf).
  double member_hazard_per_day = 0;
  double domain_hazard_per_day = 0;
  double at_risk_probability = 0.01;  // quorum-loss probability at which the state is AT_RISK
  uint32_t horizon_seconds = 86400;
  std::vector<Rule> rules;  // rules on one signal: the strongest that matches counts
  std::vector<WarningRule> warnings;
  // The rule of `code`; null when the table has none (the condition is then not evaluated).
  const WarningRule* warning(qw::api::Warning::Code code) const;
};

const Table& defaultTable();

// Overrides from text in the config-file syntax (qw/options.h: "key = value", '#' comments):
// member_hazard_per_day, domain_hazard_per_day, at_risk_probability, horizon_seconds, version,
// RULE.threshold, RULE.multiplier, warning.CODE.threshold, warning.CODE.critical_threshold,
// warning.CODE.raise_after_seconds, warning.CODE.clear_after_seconds. Returns an error naming
// ORIGIN:LINE (unknown key, bad number, out of range), the table as it was.
std::optional<std::string> applyOverrides(const std::string& text, const std::string& origin,
                                          Table* t);

}  // namespace qw::aggregator::risk
