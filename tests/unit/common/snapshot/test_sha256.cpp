#include <catch2/catch.hpp>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "qw/snapshot/sha256.h"

using qw::snapshot::Sha256;
using qw::snapshot::toHex;

namespace {

std::string hexOf(std::string_view s) { return toHex(Sha256::of(s)); }

// What `sha256sum FILE` prints as the hash (the first field), or "" when it cannot be run.
std::string sha256sumOf(const std::string& path) {
  std::string cmd = "sha256sum '" + path + "' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  char line[256] = {};
  std::string out;
  if (fgets(line, sizeof line, p)) out = line;
  pclose(p);
  auto sp = out.find(' ');
  return sp == std::string::npos ? "" : out.substr(0, sp);
}

}  // namespace

TEST_CASE("sha256: FIPS 180-4 example vectors") {
  CHECK(hexOf("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hexOf("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // The 448-bit message: padding needs a second block.
  CHECK(hexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // The 896-bit message.
  CHECK(hexOf("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklm"
              "nopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("sha256: one million a fed in uneven pieces") {
  const std::string expect = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  std::string a(1000000, 'a');
  CHECK(hexOf(a) == expect);
  Sha256 h;
  size_t done = 0, step = 1;
  while (done < a.size()) {
    size_t n = std::min(step, a.size() - done);
    h.update(a.data() + done, n);
    done += n;
    step = step * 3 % 1021 + 1;  // 1 .. 1021 bytes: crosses block edges every way
  }
  CHECK(toHex(h.finish()) == expect);
  // finish() resets: the object hashes a new message.
  h.update("abc", 3);
  CHECK(toHex(h.finish()) == hexOf("abc"));
}

TEST_CASE("sha256: every split of a message gives the same digest") {
  std::string msg;
  for (int i = 0; i < 200; ++i) msg.push_back(char(i * 7 + 3));
  auto whole = Sha256::of(msg);
  for (size_t cut = 0; cut <= msg.size(); ++cut) {
    Sha256 h;
    h.update(msg.data(), cut);
    h.update(msg.data() + cut, msg.size() - cut);
    REQUIRE(h.finish() == whole);
  }
  // Lengths around the padding boundary (55, 56, 63, 64 bytes) differ from each other.
  CHECK(hexOf(std::string(55, 'x')) != hexOf(std::string(56, 'x')));
}

TEST_CASE("sha256: agrees with sha256sum on a file") {
  auto path = std::filesystem::temp_directory_path() / ("qw-sha256-" + std::to_string(getpid()));
  std::mt19937_64 rng(42);
  std::string data(3 * 65536 + 77, '\0');
  for (auto& c : data) c = char(rng());
  {
    std::ofstream f(path, std::ios::binary);
    f.write(data.data(), std::streamsize(data.size()));
  }
  std::string tool = sha256sumOf(path.string());
  std::filesystem::remove(path);
  if (tool.empty()) {
    WARN("sha256sum not available: compared with nothing");
    return;
  }
  CHECK(hexOf(data) == tool);
}

TEST_CASE("sha256: toHex") {
  const uint8_t b[] = {0x00, 0x0f, 0xa0, 0xff};
  CHECK(toHex(b, 4) == "000fa0ff");
  CHECK(toHex(b, 0).empty());
}
