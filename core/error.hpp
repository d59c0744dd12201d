#pragma once
/// aimc::Error: the one exception type for anything a user can cause (bad config, file, parameter).
/// Its message is a single line that names where (file, key or parameter), the bad value and what
/// was expected, so the CLI can print it as is and exit non-zero.
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace aimc {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// "<file>: <key>: <problem>"; empty parts are left out.
std::string where(std::string_view file, std::string_view key);

/// Throws Error("<file>: <key>: <problem>").
[[noreturn]] void fail_at(std::string_view file, std::string_view key, std::string_view problem);

/// Throws Error("parameter '<name>' = <value>: <expected>").
[[noreturn]] void fail_param(std::string_view name, double value, std::string_view expected);

/// Always-on check for user-caused conditions.
inline void require(bool ok, const std::string& message) {
  if (!ok) throw Error(message);
}

template <class T>
std::string to_str(const T& v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

}  // namespace aimc
