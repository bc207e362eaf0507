#pragma once
// Command-line and config-file options (DESIGN.md section 2): the config file is `key = value`
// lines with `#` comments, a key is a flag's name without `--`, a repeatable flag repeats its line.
// Flags given on the command line override the file. Unknown keys are errors.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace qw {

class Options {
 public:
  Options(std::string program, std::string summary);

  void addString(const std::string& name, const std::string& help, std::string* out);
  void addList(const std::string& name, const std::string& help, std::vector<std::string>* out);
  void addFlag(const std::string& name, const std::string& help, bool* out);
  void addDuration(const std::string& name, const std::string& help, std::chrono::milliseconds* out,
                   std::chrono::milliseconds min, std::chrono::milliseconds max);
  void addInt(const std::string& name, const std::string& help, int64_t* out, int64_t min,
              int64_t max);
  void addDouble(const std::string& name, const std::string& help, double* out, double min,
                 double max);
  // Arguments that are not options (e.g. a CLI sub-command) are collected here; without it, a
  // positional argument is an error.
  void allowPositional(std::vector<std::string>* out) { positional_ = out; }

  // Returns an error message (for the user) or nullopt. Reads `--config FILE` first.
  std::optional<std::string> parse(int argc, const char* const* argv);
  // Parses config-file text (used by parse(); public for tests).
  std::optional<std::string> parseConfigText(const std::string& text, const std::string& origin);

  bool helpRequested() const { return help_; }
  std::string helpText() const;
  // Every option with its resolved value, in config-file syntax.
  std::string dump() const;
  // Where the value in effect came from: "--name", "FILE:LINE", or "" for the default.
  std::string originOf(const std::string& name) const;

 private:
  enum class Kind { kString, kList, kFlag, kDuration, kInt, kDouble };
  struct Opt {
    std::string name;
    std::string help;
    Kind kind;
    std::function<std::optional<std::string>(const std::string&)> set;
    std::function<std::string()> get;
    std::function<void()> clear;  // lists: forget file values when the command line gives some
    std::string origin;           // "--name" or "FILE:LINE" of the value in effect; "" = default
  };
  Opt* find(const std::string& name);
  std::optional<std::string> apply(Opt& opt, const std::string& value, const std::string& origin);

  std::string program_;
  std::string summary_;
  std::vector<Opt> opts_;
  std::vector<std::string>* positional_ = nullptr;
  bool help_ = false;
};

// "1s", "250ms", "2m", "1h", "1.5s"; a bare number means seconds.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace qw
