#pragma once
// systemd units' environment and environment files, for the etcd process's environment when
// /proc/PID/environ is not readable (sys/etcd_config_reader.cpp).
#include <string>
#include <string_view>
#include <vector>

namespace qw::agent {

// A systemd unit's environment (systemd.exec(5)): its Environment= assignments and its
// EnvironmentFile= paths (a leading '-': the file may be missing), with the specifiers %n, %N,
// %p, %i (of `unit_name`), %H, %l (of `host_name`) and %% expanded; an entry with another
// specifier is left out (its value is not known here). Call once per file, the unit first and
// then its drop-ins; an empty assignment resets what came before, as systemd does.
struct UnitEnvironment {
  std::vector<std::string> assignments;  // KEY=VALUE
  struct File {
    std::string path;
    bool optional = false;
  };
  std::vector<File> files;
};
void addUnitEnvironment(std::string_view unit_text, std::string_view unit_name,
                        std::string_view host_name, UnitEnvironment* into);
// An EnvironmentFile's KEY=VALUE lines: '#' and ';' start comment lines, a value may be in single
// or double quotes.
std::vector<std::string> parseEnvironmentFile(std::string_view text);

}  // namespace qw::agent
