#pragma once
// The dashboard's files (aggregator/web/), compiled into the binary at build time by
// cmake/QwEmbedWeb.cmake: nothing is read from disk or fetched at run time.
#include <span>
#include <string_view>

namespace qw::aggregator {

struct WebAsset {
  std::string_view path;          // "/index.html", "/app.js"
  std::string_view content_type;  // with its charset for text
  std::string_view body;
  std::string_view etag;  // strong, quoted: the first 16 hex digits of the file's SHA-256
};

std::span<const WebAsset> webAssets();

}  // namespace qw::aggregator
