#include "core/error.hpp"

namespace aimc {

std::string where(std::string_view file, std::string_view key) {
  std::string s;
  if (!file.empty()) s += file;
  if (!key.empty()) {
    if (!s.empty()) s += ": ";
    s += key;
  }
  return s;
}

void fail_at(std::string_view file, std::string_view key, std::string_view problem) {
  std::string w = where(file, key);
  throw Error(w.empty() ? std::string(problem) : w + ": " + std::string(problem));
}

void fail_param(std::string_view name, double value, std::string_view expected) {
  throw Error("parameter '" + std::string(name) + "' = " + to_str(value) + ": " + std::string(expected));
}

}  // namespace aimc
