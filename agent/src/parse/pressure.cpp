#include "qw/agent/parse/pressure.h"

#include "qw/strings.h"

namespace qw::agent {

bool parsePressure(std::string_view text, std::optional<PressureLine>* some,
                   std::optional<PressureLine>* full) {
  bool any = false;
  forEachLine(text, [&](std::string_view line) {
    auto f = splitFields(line);
    if (f.size() != 5 || (f[0] != "some" && f[0] != "full")) return true;
    PressureLine p;
    bool ok = true;
    for (size_t i = 1; i < 5 && ok; ++i) {
      auto eq = f[i].find('=');
      if (eq == std::string_view::npos) {
        ok = false;
        break;
      }
      auto key = f[i].substr(0, eq);
      auto val = f[i].substr(eq + 1);
      if (key == "total") {
        auto v = parseUint(val);
        ok = v.has_value();
        if (v) p.total_us = *v;
      } else {
        auto v = parseDouble(val);
        ok = v.has_value();
        if (!v) break;
        if (key == "avg10")
          p.avg10 = *v;
        else if (key == "avg60")
          p.avg60 = *v;
        else if (key == "avg300")
          p.avg300 = *v;
        else
          ok = false;
      }
    }
    if (!ok) return true;
    (f[0] == "some" ? *some : *full) = p;
    any = true;
    return true;
  });
  return any;
}

}  // namespace qw::agent
