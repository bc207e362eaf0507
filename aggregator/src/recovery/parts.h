#pragma once
// What the recovery planner's files share (planner.cpp, restore.cpp, defrag.cpp); not an API.
#include <string>
#include <vector>

#include "qw/aggregator/recovery/planner.h"

namespace qw::aggregator::recovery {

const PlannerNode* findNode(const PlannerInput& in, const std::string& name);
// A step that brings member `m` back with its data dir as it is (its start command, or what to
// do when the node itself is down), checked with its health.
void bringBack(const PlannerInput& in, const qw::api::MemberView& m, qw::api::RecoveryPlan* p);
// The last step: every voter healthy.
void finalCheck(const PlannerInput& in, qw::api::RecoveryPlan* p, const std::string& why);
// The client URLs of `ms` joined with commas; `*via` a node of theirs (for the TLS files).
std::string clientUrls(const PlannerInput& in, const std::vector<const qw::api::MemberView*>& ms,
                       const PlannerNode** via);
// A signal to the etcd pid `n`'s agent reported, only while that pid still holds its data dir;
// `*check` says it stopped. "" when nothing known can be stopped that way (a supervisor's).
std::string stopProcess(const PlannerNode& n, std::string* check);
// `cmd` until it succeeds or `done` holds, for a minute (see planner.cpp).
std::string retried(const std::string& done, const std::string& cmd);
// `now_ms` as 20261203T113028Z: a file-name stamp without colons.
std::string fileStamp(int64_t now_ms);
// Replaces the members of `gone` (quorum holds without them): remove, move the data dir aside,
// add as a learner, start empty, promote; one at a time.
void replaceMembers(const PlannerInput& in, const std::vector<const qw::api::MemberView*>& gone,
                    qw::api::RecoveryPlan* p);
// Lost members without quorum: RESTORE_FROM_SURVIVOR or RESTORE_FROM_SNAPSHOT (restore.cpp).
void planRestore(const PlannerInput& in, qw::api::RecoveryPlan* p);
// Compaction, then every voter defragmented: followers one at a time (with `pause_seconds`
// between them), leadership moved to a defragmented follower, the old leader last (defrag.cpp).
// Each is checked with the member's health, or with its status while an alarm is active (health
// fails under any alarm).
void defragSteps(const PlannerInput& in, double pause_seconds, bool alarm_active,
                 qw::api::RecoveryPlan* p);

}  // namespace qw::aggregator::recovery
