#pragma once
#include <string>

#include <google/protobuf/message.h>

namespace qw::aggregator {

// API JSON (DESIGN.md s6): snake_case names, every field present, enums as strings.
std::string toJson(const google::protobuf::Message& m);
std::string errorJson(const std::string& error, const std::string& detail);

}  // namespace qw::aggregator
