#pragma once
// SHA-256 (FIPS 180-4), incremental: an etcd snapshot ends with the SHA-256 of everything before
// it, and snapshots are GBs, so the hash is fed chunk by chunk.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qw::snapshot {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256() { reset(); }
  // Adds `len` bytes to the message.
  void update(const void* data, size_t len);
  // The digest of everything updated since construction or the last finish(); the object is
  // then reset for a new message.
  Digest finish();
  void reset();

  // The digest of one whole message.
  static Digest of(std::string_view data);

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_{};
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lowercase hex of `len` bytes.
std::string toHex(const uint8_t* data, size_t len);
inline std::string toHex(const Sha256::Digest& d) { return toHex(d.data(), d.size()); }

}  // namespace qw::snapshot
