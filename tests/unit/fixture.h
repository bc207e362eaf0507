#pragma once
#include <string>

#include "qw/fs_util.h"

// A captured etcd answer from tests/fixtures. The 3.5 `.txt` captures end with an "HTTP <code>"
// line added by the capture script; it is stripped here.
inline std::string fixture(const std::string& rel) {
  auto s = qw::readFile(std::string(QW_FIXTURES) + "/" + rel);
  if (!s) throw std::runtime_error("missing fixture " + rel);
  auto pos = s->rfind("\nHTTP ");
  if (pos != std::string::npos) s->resize(pos);
  return *s;
}
