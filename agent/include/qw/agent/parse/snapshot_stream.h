#pragma once
// etcd's snapshot stream through its gRPC gateway (POST /v3/maintenance/snapshot, ETCD_REFERENCE.md
// section 3; captures in tests/fixtures/etcd-*/snap_gateway.json): one JSON object a line,
// {"result":{"blob":"<base64>","remaining_bytes":"N"}} (an empty blob and a zero count are left
// out), 32 KiB of the db a line, the last blob the 32-byte SHA-256 of everything before it; an
// {"error":{...,"message":"..."}} line when etcd gives up. Untrusted bytes: fuzzed
// (tests/fuzz/fuzz_snapshot_stream.cpp).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace qw::agent {

// The gateway's stream, cut into lines, each line's blob decoded. Feed it the body as it
// arrives; every decoded blob goes to `sink` in order.
class GatewaySnapshotDecoder {
 public:
  using Sink = std::function<void(std::string_view bytes)>;
  explicit GatewaySnapshotDecoder(Sink sink) : sink_(std::move(sink)) {}
  // Consumes a piece of the body. Returns the error that ends the stream: a line that is not
  // JSON, an {"error":...} line (etcd's message), a blob that is not base64, a line longer than
  // 4 MiB (etcd's are ~44 KiB).
  std::optional<std::string> feed(std::string_view piece);
  // At the end of the body: the last line, then whether anything arrived at all.
  std::optional<std::string> finish();
  uint64_t bytes() const { return bytes_; }
  uint64_t lines() const { return lines_; }

 private:
  std::optional<std::string> line(std::string_view l);
  Sink sink_;
  std::string partial_;
  uint64_t bytes_ = 0, lines_ = 0;
  bool failed_ = false;
};

}  // namespace qw::agent
