#include "client.h"

#include <cctype>
#include <chrono>
#include <cstdio>

#include <google/protobuf/util/json_util.h>

#include "api.pb.h"
#include "qw/http_client.h"

namespace qw::cli {

std::string urlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string toJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::optional<int> Client::call(const std::string& method, const std::string& path,
                                google::protobuf::Message* out, Answer* answer) const {
  qw::HttpRequest req;
  req.method = method;
  req.bearer_token = token_;
  req.timeout = std::chrono::seconds(10);
  auto r = qw::httpFetchSync(server_ + path, req);
  if (!r.ok) {
    std::fprintf(stderr, "quorumwatch: no answer from the aggregator at %s: %s\n", server_.c_str(),
                 r.error.c_str());
    return kNoAnswer;
  }
  if (answer) *answer = {r.status, r.body};
  google::protobuf::util::JsonParseOptions po;
  po.ignore_unknown_fields = true;
  if (r.status < 200 || r.status > 299) {
    qw::api::ErrorBody e;
    std::string detail = r.body;
    if (google::protobuf::util::JsonStringToMessage(r.body, &e, po).ok() && !e.detail().empty())
      detail = e.detail();
    std::fprintf(stderr, "quorumwatch: %s (HTTP %d)\n", detail.c_str(), r.status);
    if (r.status == 400 || r.status == 401 || r.status == 403 || r.status == 404 || r.status == 405)
      return kUsage;
    if (r.status == 409) return kUnsafe;
    return kCannotTell;
  }
  if (out && !google::protobuf::util::JsonStringToMessage(r.body, out, po).ok()) {
    std::fprintf(stderr,
                 "quorumwatch: the aggregator at %s sent an answer this CLI cannot read "
                 "(HTTP %d, %zu bytes)\n",
                 server_.c_str(), r.status, r.body.size());
    return kNoAnswer;
  }
  return std::nullopt;
}

}  // namespace qw::cli
