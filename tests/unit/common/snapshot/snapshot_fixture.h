#pragma once
// Shared by the snapshot tests: the real snapshots in tests/fixtures/snapshots (made by make.sh)
// with what etcd said about them, and a temporary directory for damaged copies.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace snapfix {

inline std::string dir() { return std::string(QW_FIXTURES) + "/snapshots"; }

inline std::string readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("missing fixture " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void writeAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), std::streamsize(data.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

// NAME.expect: key=value lines, '#' comments.
inline std::map<std::string, std::string> expect(const std::string& name) {
  std::map<std::string, std::string> out;
  std::istringstream in(readAll(dir() + "/" + name + ".expect"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

inline uint64_t num(const std::map<std::string, std::string>& e, const std::string& key) {
  auto it = e.find(key);
  if (it == e.end() || it->second.empty()) throw std::runtime_error("no " + key + " expected");
  return std::stoull(it->second);
}

// The fixtures every test runs on.
inline const char* const kNames[] = {"etcd-3.4", "etcd-3.5", "etcd-3.5-other"};

// A directory under $TMPDIR removed with everything in it at the end of the scope.
class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "qw-snaptest.XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `data` to NAME in the directory and returns its path.
  std::string put(const std::string& name, const std::string& data) const {
    writeAll(file(name), data);
    return file(name);
  }

 private:
  std::string path_;
};

}  // namespace snapfix
