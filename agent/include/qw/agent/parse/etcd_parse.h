#pragma once
// Pure parsers for etcd's HTTP answers (ETCD_REFERENCE.md section 3). They take the body and fill
// the wire sample; they never log or do I/O. 3.4 (compact) and 3.5 (spaced) JSON both parse.
#include <optional>
#include <string>
#include <string_view>

#include "sample.pb.h"

namespace qw::agent {

// /health: {"health":"true"} (3.4) or {"health":"true","reason":""} (3.5). Returns an error
// message or nullopt.
std::optional<std::string> parseHealth(std::string_view body, qw::wire::EtcdSample* out);
// POST /v3/maintenance/status answer.
std::optional<std::string> parseStatus(std::string_view body, qw::wire::EtcdSample* out);
// POST /v3/cluster/member/list answer.
std::optional<std::string> parseMemberList(std::string_view body, qw::wire::EtcdSample* out);
// POST /v3/maintenance/alarm {"action":"GET"} answer.
std::optional<std::string> parseAlarms(std::string_view body, qw::wire::EtcdSample* out);
// The alarms the status call lists in its "errors", one "memberID:<decimal> alarm:<TYPE> " entry
// (protobuf text) per alarm; other errors ("etcdserver: no leader") are not alarms. Fills alarms
// and sets alarms_ok, and returns true, when every alarm entry parsed; false leaves `out`'s alarms
// alone (the caller then asks the alarm call).
bool alarmsFromStatusErrors(qw::wire::EtcdSample* out);
// The gateway's error object {"error","message","code"}, if the body is one.
std::optional<std::string> gatewayError(std::string_view body);

}  // namespace qw::agent
