#include "qw/ids.h"

namespace qw {

uint64_t bootKey(std::string_view boot_id) {
  uint64_t key = 0;
  int digits = 0;
  for (char c : boot_id) {
    if (digits == 16) break;
    if (c == '-') continue;
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      return 0;
    key = key << 4 | static_cast<uint64_t>(v);
    ++digits;
  }
  return digits == 16 ? key : 0;
}

}  // namespace qw
