#include "qw/agent/parse/snapshot_stream.h"

#include <mbedtls/base64.h>
#include <nlohmann/json.hpp>

namespace qw::agent {

namespace {
constexpr size_t kMaxLine = 4u << 20;
}  // namespace

std::optional<std::string> GatewaySnapshotDecoder::feed(std::string_view piece) {
  if (failed_) return "the stream failed before";
  while (!piece.empty()) {
    auto nl = piece.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + piece.size() > kMaxLine) {
        failed_ = true;
        return "a line of etcd's snapshot stream is longer than 4 MiB";
      }
      partial_.append(piece);
      return std::nullopt;
    }
    if (partial_.size() + nl > kMaxLine) {
      failed_ = true;
      return "a line of etcd's snapshot stream is longer than 4 MiB";
    }
    std::optional<std::string> err;
    if (partial_.empty()) {
      err = line(piece.substr(0, nl));
    } else {
      partial_.append(piece.substr(0, nl));
      std::string whole = std::move(partial_);
      partial_.clear();
      err = line(whole);
    }
    if (err) {
      failed_ = true;
      return err;
    }
    piece.remove_prefix(nl + 1);
  }
  return std::nullopt;
}

std::optional<std::string> GatewaySnapshotDecoder::finish() {
  if (failed_) return "the stream failed before";
  if (!partial_.empty()) {
    std::string whole = std::move(partial_);
    partial_.clear();
    if (auto err = line(whole)) {
      failed_ = true;
      return err;
    }
  }
  if (bytes_ == 0) return "etcd's snapshot stream held no data";
  return std::nullopt;
}

std::optional<std::string> GatewaySnapshotDecoder::line(std::string_view l) {
  while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
  if (l.empty()) return std::nullopt;
  ++lines_;
  auto j = nlohmann::json::parse(l, nullptr, false);
  const std::string at = "line " + std::to_string(lines_) + " of etcd's snapshot stream";
  if (j.is_discarded() || !j.is_object()) return at + " is not JSON";
  if (auto e = j.find("error"); e != j.end()) {
    std::string msg = e->is_object() && e->contains("message") && (*e)["message"].is_string()
                          ? (*e)["message"].get<std::string>()
                          : e->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return "etcd: " + msg;
  }
  auto r = j.find("result");
  if (r == j.end() || !r->is_object()) return at + " has no result";
  auto b = r->find("blob");
  if (b == r->end()) return std::nullopt;  // an empty blob is left out of the JSON
  if (!b->is_string()) return at + ": the blob is not a string";
  const auto& text = b->get_ref<const std::string&>();
  std::string raw(text.size() / 4 * 3 + 3, '\0');
  size_t n = 0;
  if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), &n,
                            reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 0)
    return at + ": the blob is not base64";
  raw.resize(n);
  bytes_ += n;
  sink_(raw);
  return std::nullopt;
}

}  // namespace qw::agent
