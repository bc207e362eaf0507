#pragma once
// The CLI's side of the aggregator's API: one HTTP call, its answer read into the generated
// proto message (api.proto) so that a renamed field fails the build, not a script. Exit codes
// (README "CLI"): 0 ok or safe, 1 unsafe or a problem, 2 cannot tell, 3 usage, 4 no answer.
#include <optional>
#include <string>

#include <google/protobuf/message.h>

namespace qw::cli {

constexpr int kOk = 0, kUnsafe = 1, kCannotTell = 2, kUsage = 3, kNoAnswer = 4;

struct Answer {
  int status = 0;    // HTTP status; 0 when no answer came
  std::string body;  // as sent (what --json prints)
};

class Client {
 public:
  Client(std::string server, std::string token)
      : server_(std::move(server)), token_(std::move(token)) {}
  const std::string& server() const { return server_; }
  bool hasToken() const { return !token_.empty(); }

  // Calls `path`; on a 2xx answer reads it into `out` (unknown fields are skipped: a newer
  // aggregator may say more) and returns nullopt. Otherwise prints why to stderr and returns
  // the exit code: 4 no answer or an unreadable one, 3 for 400/401/403/404 (the request, the
  // node or the token), 1 for 409 (refused now), 2 for other errors (the aggregator cannot tell:
  // an agent not connected, a timeout).
  std::optional<int> call(const std::string& method, const std::string& path,
                          google::protobuf::Message* out, Answer* answer = nullptr) const;

 private:
  std::string server_;
  std::string token_;
};

std::string urlEncode(const std::string& s);
// The message as the API prints it (proto field names, every field).
std::string toJson(const google::protobuf::Message& m);

}  // namespace qw::cli
