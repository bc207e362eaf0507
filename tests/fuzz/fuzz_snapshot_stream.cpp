// libFuzzer target: the input is a body of etcd's gateway snapshot stream (what
// POST /v3/maintenance/snapshot answers), fed to the agent's decoder in pieces whose sizes come
// from the input's first byte. It must end with data or an error in words for any bytes; the
// bytes it hands on must be the same whatever the piece size. scripts/fuzz.sh builds and runs it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "qw/agent/parse/snapshot_stream.h"

namespace {

std::string decode(std::string_view body, size_t piece, bool* ok) {
  std::string out;
  qw::agent::GatewaySnapshotDecoder d([&](std::string_view b) { out.append(b); });
  std::optional<std::string> err;
  for (size_t i = 0; i < body.size() && !err; i += piece) err = d.feed(body.substr(i, piece));
  if (!err) err = d.finish();
  if (err && err->empty()) {
    std::fprintf(stderr, "an error without words\n");
    std::abort();
  }
  *ok = !err;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 64;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool ok_small = false, ok_whole = false;
  std::string small = decode(body, piece, &ok_small);
  std::string whole = decode(body, body.size() + 1, &ok_whole);
  if (ok_small != ok_whole || (ok_whole && small != whole)) {
    std::fprintf(stderr, "the piece size (%zu) changed the answer\n", piece);
    std::abort();
  }
  return 0;
}
