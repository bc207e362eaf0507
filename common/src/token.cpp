#include "qw/token.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace qw {

std::string readTokenFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot read token file '" + path + "': " + std::strerror(errno));
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    throw std::runtime_error("token file '" + path +
                             "' is accessible by group or others; chmod 600 it");
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line))
    throw std::runtime_error("cannot read token file '" + path + "'");
  auto b = line.find_first_not_of(" \t\r\n");
  auto e = line.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) throw std::runtime_error("token file '" + path + "' is empty");
  return line.substr(b, e - b + 1);
}

bool constantTimeEquals(const std::string& a, const std::string& b) {
  // Length leaks, content does not; tokens have a fixed length anyway.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& ref = a.size() == b.size() ? b : a;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ ref[i]);
  return diff == 0;
}

}  // namespace qw
