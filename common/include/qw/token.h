#pragma once
#include <optional>
#include <string>

namespace qw {

// Reads a bearer token file: first line, whitespace trimmed. Refuses a file that group or others
// can read (a token is a password). Throws std::runtime_error with the reason (start-up only).
std::string readTokenFile(const std::string& path);

// Compares in time independent of where the strings differ.
bool constantTimeEquals(const std::string& a, const std::string& b);

}  // namespace qw
