#pragma once
#include <string>

#include <google/protobuf/message.h>

#include "api.pb.h"
#include "qw/aggregator/model/series.h"

namespace qw::aggregator {

// API JSON (DESIGN.md s6): snake_case names, every field present, enums as strings.
std::string toJson(const google::protobuf::Message& m);
// The same JSON as toJson for messages of scalar, string, enum, nested and repeated fields (no
// maps or well-known types: those go to toJson), printed by walking the message's descriptor
// with reflection. protobuf's own printer builds an intermediate stream per message and costs
// about 2.5 us per series point (a 3600-point answer: +8 ms, bench_query); this one about a tenth.
// Used for the series answer; a unit test holds it to toJson's output.
std::string toJsonFast(const google::protobuf::Message& m);
std::string errorJson(const std::string& error, const std::string& detail);

// The closed vocabularies of the API as its enums. Text stored by another version that this one
// does not know maps to the UNSPECIFIED value (printed as such), never to a neighbour.
qw::api::Event::Kind eventKind(const std::string& name);
qw::api::Severity severityOf(const std::string& name);
qw::api::MetricInfo::Kind metricKind(MetricKind k);

}  // namespace qw::aggregator
