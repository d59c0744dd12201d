#include "core/config.hpp"

#include <fstream>
#include <sstream>

namespace aimc {

std::string join_path(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

ConfigFile parse_config(const std::string& text, const std::string& path) {
  ConfigFile c;
  c.path = path;
  c.text = text;
  try {
    c.root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": TOML syntax error: " +
                std::string(e.description()));
  }
  return c;
}

ConfigFile load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open config file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

void check_keys(const toml::table& t, const std::vector<std::string>& allowed, std::string_view file,
                std::string_view path) {
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    bool ok = false;
    for (const auto& a : allowed) ok = ok || a == key;
    if (ok) continue;
    std::string hint = nearest(key, allowed);
    fail_at(file, join_path(path, key), hint.empty() ? "unknown key" : "unknown key (did you mean '" + hint + "'?)");
  }
}

const toml::table* subtable(const toml::table& t, std::string_view key, std::string_view file, std::string_view path) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) fail_at(file, join_path(path, key), "expected a table");
  return n->as_table();
}

double get_double(const toml::table& t, std::string_view key, double def, std::string_view file, std::string_view path) {
  const toml::node* n = t.get(key);
  if (!n) return def;
  if (auto v = n->value<double>()) return *v;
  fail_at(file, join_path(path, key), "expected a number");
}

long long get_int(const toml::table& t, std::string_view key, long long def, std::string_view file,
                  std::string_view path) {
  const toml::node* n = t.get(key);
  if (!n) return def;
  if (!n->is_integer()) fail_at(file, join_path(path, key), "expected an integer");
  return *n->value<long long>();
}

bool get_bool(const toml::table& t, std::string_view key, bool def, std::string_view file, std::string_view path) {
  const toml::node* n = t.get(key);
  if (!n) return def;
  if (!n->is_boolean()) fail_at(file, join_path(path, key), "expected true or false");
  return *n->value<bool>();
}

std::string get_string(const toml::table& t, std::string_view key, const std::string& def, std::string_view file,
                       std::string_view path) {
  const toml::node* n = t.get(key);
  if (!n) return def;
  if (!n->is_string()) fail_at(file, join_path(path, key), "expected a string");
  return *n->value<std::string>();
}

std::vector<double> get_numbers(const toml::node& n, std::string_view file, std::string_view keypath) {
  std::vector<double> out;
  if (auto v = n.value<double>()) {
    out.push_back(*v);
    return out;
  }
  const toml::array* a = n.as_array();
  if (!a) fail_at(file, keypath, "expected a number or an array of numbers");
  for (const auto& e : *a) {
    auto v = e.value<double>();
    if (!v) fail_at(file, keypath, "expected an array of numbers");
    out.push_back(*v);
  }
  if (out.empty()) fail_at(file, keypath, "empty array: a sweep axis needs at least one value");
  return out;
}

}  // namespace aimc
