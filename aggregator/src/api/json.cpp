#include "qw/aggregator/api/json.h"

#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <cmath>
#include <cstdio>

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

namespace {

namespace pb = google::protobuf;

void putString(std::string* out, const std::string& v) {
  *out += '"';
  for (unsigned char c : v) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}

void putDouble(std::string* out, double v) {
  if (std::isnan(v)) {
    *out += "\"NaN\"";
  } else if (std::isinf(v)) {
    *out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out->append(buf, r.ptr);
  }
}

template <class T>
void putInt(std::string* out, T v, bool quoted) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  if (quoted) *out += '"';
  out->append(buf, r.ptr);
  if (quoted) *out += '"';
}

bool printable(const pb::Descriptor* d) {
  if (d->well_known_type() != pb::Descriptor::WELLKNOWNTYPE_UNSPECIFIED) return false;
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_map() || f->type() == pb::FieldDescriptor::TYPE_BYTES) return false;
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !printable(f->message_type()))
      return false;
  }
  return true;
}

void putMessage(std::string* out, const pb::Message& m);

void putValue(std::string* out, const pb::Message& m, const pb::FieldDescriptor* f, int index) {
  const auto* r = m.GetReflection();
  using F = pb::FieldDescriptor;
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case F::CPPTYPE_DOUBLE:
      putDouble(out, rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      break;
    case F::CPPTYPE_FLOAT:
      putDouble(out, rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      break;
    case F::CPPTYPE_INT32:
      putInt(out, rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), false);
      break;
    case F::CPPTYPE_UINT32:
      putInt(out, rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), false);
      break;
    case F::CPPTYPE_INT64:  // proto3 JSON prints 64-bit integers as strings
      putInt(out, rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), true);
      break;
    case F::CPPTYPE_UINT64:
      putInt(out, rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), true);
      break;
    case F::CPPTYPE_BOOL:
      *out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case F::CPPTYPE_ENUM: {
      int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      if (const auto* e = f->enum_type()->FindValueByNumber(v))
        putString(out, e->name());
      else
        putInt(out, v, false);
      break;
    }
    case F::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      putString(out, s);  // bytes fields are left to toJson (printable)
      break;
    }
    case F::CPPTYPE_MESSAGE:
      putMessage(out, rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
      break;
  }
}

void putMessage(std::string* out, const pb::Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  *out += '{';
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    // As toJson prints with always_print_primitive_fields: a proto3 optional or a message field
    // that is not set is left out, every other field printed (its default when unset).
    if (!f->is_repeated() && f->has_presence() && !r->HasField(m, f)) continue;
    if (!first) *out += ',';
    first = false;
    putString(out, f->name());
    *out += ':';
    if (f->is_repeated()) {
      *out += '[';
      int n = r->FieldSize(m, f);
      for (int k = 0; k < n; ++k) {
        if (k) *out += ',';
        putValue(out, m, f, k);
      }
      *out += ']';
    } else {
      putValue(out, m, f, -1);
    }
  }
  *out += '}';
}

}  // namespace

std::string toJsonFast(const google::protobuf::Message& m) {
  if (!printable(m.GetDescriptor())) return toJson(m);
  std::string out;
  out.reserve(static_cast<size_t>(m.ByteSizeLong()) * 2 + 64);
  putMessage(&out, m);
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
