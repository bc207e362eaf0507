#include "qw/aggregator/api/json.h"

#include <google/protobuf/util/json_util.h>

#include "api.pb.h"

namespace qw::aggregator {

std::string toJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(m, &out, o);
  if (!st.ok()) return errorJson("internal", "cannot print JSON");
  return out;
}

std::string errorJson(const std::string& error, const std::string& detail) {
  qw::api::ErrorBody b;
  b.set_error(error);
  b.set_detail(detail);
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(b, &out, o);
  return out;
}

qw::api::Event::Kind eventKind(const std::string& name) {
  qw::api::Event::Kind k = qw::api::Event::KIND_UNSPECIFIED;
  return qw::api::Event::Kind_Parse(name, &k) ? k : qw::api::Event::KIND_UNSPECIFIED;
}

qw::api::Severity severityOf(const std::string& name) {
  qw::api::Severity s = qw::api::SEVERITY_UNSPECIFIED;
  return qw::api::Severity_Parse(name, &s) ? s : qw::api::SEVERITY_UNSPECIFIED;
}

qw::api::MetricInfo::Kind metricKind(MetricKind k) {
  switch (k) {
    case MetricKind::kGauge:
      return qw::api::MetricInfo::GAUGE;
    case MetricKind::kCounter:
      return qw::api::MetricInfo::COUNTER;
    case MetricKind::kHistogram:
      return qw::api::MetricInfo::HISTOGRAM;
  }
  return qw::api::MetricInfo::KIND_UNSPECIFIED;
}

}  // namespace qw::aggregator
