#pragma once
/// TOML configuration: files are parsed with toml++ and read into typed structs through their
/// parameter tables (core/params.hpp). Every key is checked: an unknown key is an error that names
/// the nearest valid one, a wrong type or range names the file and the key path.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/params.hpp"

namespace aimc {

/// A parsed TOML document plus the name of the file it came from (for messages).
struct ConfigFile {
  std::string path;
  std::string text;  ///< verbatim, for results files
  toml::table root;
};

/// Reads and parses a TOML file; a missing file or a syntax error is an Error naming the file and line.
ConfigFile load_config(const std::string& path);
/// Parses TOML text (path is only used in messages).
ConfigFile parse_config(const std::string& text, const std::string& path = "<string>");

/// Throws if `t` has a key not in `allowed`, naming the nearest allowed key.
void check_keys(const toml::table& t, const std::vector<std::string>& allowed, std::string_view file,
                std::string_view path);

/// A sub-table by key; nullptr if absent; Error if present but not a table.
const toml::table* subtable(const toml::table& t, std::string_view key, std::string_view file, std::string_view path);

/// What a node holds, for messages: the value itself for scalars (strings quoted and shortened),
/// "a table", "an array", "a date" ... for the rest. Always one line.
std::string describe(const toml::node& n);

/// Conversions of one value at `key` (a full key path, for messages). Each throws
/// Error("<file>: <key>: expected ..., got <what it is>") for a value of another kind.
/// A number: an integer or a float, finite (TOML's nan and inf are rejected).
double to_number(const toml::node& n, std::string_view file, std::string_view key);
/// An integer (a float such as 2.5 or 2.0 is rejected: counts and bit widths are written as integers).
/// The value is TOML's 64-bit integer; narrowing it is the caller's range check.
long long to_integer(const toml::node& n, std::string_view file, std::string_view key);
bool to_bool(const toml::node& n, std::string_view file, std::string_view key);
std::string to_string(const toml::node& n, std::string_view file, std::string_view key);

/// Typed access with a default. Integers are accepted where doubles are expected.
double get_double(const toml::table& t, std::string_view key, double def, std::string_view file, std::string_view path);
long long get_int(const toml::table& t, std::string_view key, long long def, std::string_view file, std::string_view path);
bool get_bool(const toml::table& t, std::string_view key, bool def, std::string_view file, std::string_view path);
std::string get_string(const toml::table& t, std::string_view key, const std::string& def, std::string_view file,
                       std::string_view path);
/// A number or an array of numbers (sweep axes), each finite. Empty arrays are an Error.
std::vector<double> get_numbers(const toml::node& n, std::string_view file, std::string_view keypath);

std::string join_path(std::string_view path, std::string_view key);

/// Reads the keys of `t` into a copy of `start` through S's parameter table and validates the result.
/// Unknown keys (outside S's table and `extra_keys`) are errors naming the nearest valid key. An `int`
/// parameter is range-checked on TOML's 64-bit value before it is narrowed, so 4294967304 is an error
/// and never wraps to 8.
template <HasParams S>
S read_params(const toml::table& t, std::string_view file, std::string_view path, S start = S{},
              const std::vector<std::string>& extra_keys = {}) {
  std::vector<std::string> allowed = param_names<S>();
  allowed.insert(allowed.end(), extra_keys.begin(), extra_keys.end());
  check_keys(t, allowed, file, path);
  for (const auto& p : S::params()) {
    const toml::node* n = t.get(p.name);
    if (!n) continue;
    std::string key = join_path(path, p.name);
    std::visit(
        [&](auto m) {
          using T = member_t<decltype(m)>;
          if constexpr (std::is_same_v<T, double>) {
            start.*m = to_number(*n, file, key);
          } else if constexpr (std::is_same_v<T, int>) {
            const long long v = to_integer(*n, file, key);
            const Range r = int_range(p.range);
            if (!r.contains(static_cast<double>(v)))
              throw Error(std::string(file) + ": parameter '" + key + "' = " + std::to_string(v) + ": must be in " +
                          r.str());
            start.*m = static_cast<int>(v);
          } else if constexpr (std::is_same_v<T, bool>) {
            start.*m = to_bool(*n, file, key);
          } else {
            start.*m = to_string(*n, file, key);
          }
        },
        p.member);
  }
  try {
    validate(start, path);
  } catch (const Error& e) {
    throw Error(std::string(file) + ": " + e.what());
  }
  return start;
}

}  // namespace aimc
