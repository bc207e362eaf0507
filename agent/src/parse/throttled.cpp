#include "qw/agent/parse/throttled.h"

#include "qw/strings.h"

namespace qw::agent {

std::optional<uint32_t> parseThrottled(std::string_view text) {
  text = trim(text);
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    text.remove_prefix(2);
  if (text.size() > 8) return std::nullopt;
  auto v = parseHex(text);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

void decodeThrottled(uint32_t raw, qw::wire::Throttled* t) {
  t->set_raw(raw);
  t->set_under_voltage(raw & (1u << 0));
  t->set_freq_capped(raw & (1u << 1));
  t->set_throttled(raw & (1u << 2));
  t->set_soft_temp_limit(raw & (1u << 3));
  t->set_under_voltage_since_boot(raw & (1u << 16));
  t->set_freq_capped_since_boot(raw & (1u << 17));
  t->set_throttled_since_boot(raw & (1u << 18));
  t->set_soft_temp_limit_since_boot(raw & (1u << 19));
}

}  // namespace qw::agent
