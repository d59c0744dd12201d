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

/// Typed access with a default. Integers are accepted where doubles are expected.
double get_double(const toml::table& t, std::string_view key, double def, std::string_view file, std::string_view path);
long long get_int(const toml::table& t, std::string_view key, long long def, std::string_view file, std::string_view path);
bool get_bool(const toml::table& t, std::string_view key, bool def, std::string_view file, std::string_view path);
std::string get_string(const toml::table& t, std::string_view key, const std::string& def, std::string_view file,
                       std::string_view path);
/// A number or an array of numbers (sweep axes). Empty arrays are an Error.
std::vector<double> get_numbers(const toml::node& n, std::string_view file, std::string_view keypath);

std::string join_path(std::string_view path, std::string_view key);

/// Reads the keys of `t` into a copy of `start` through S's parameter table and validates the result.
/// Unknown keys (outside S's table and `extra_keys`) are errors naming the nearest valid key.
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
            if (auto v = n->value<double>()) start.*m = *v;
            else fail_at(file, key, "expected a number");
          } else if constexpr (std::is_same_v<T, int>) {
            if (!n->is_integer()) fail_at(file, key, "expected an integer");
            start.*m = static_cast<int>(*n->value<long long>());
          } else if constexpr (std::is_same_v<T, bool>) {
            if (!n->is_boolean()) fail_at(file, key, "expected true or false");
            start.*m = *n->value<bool>();
          } else {
            if (!n->is_string()) fail_at(file, key, "expected a string");
            start.*m = *n->value<std::string>();
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
