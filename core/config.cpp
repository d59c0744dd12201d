#include "core/config.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
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
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": cannot read config file: is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open config file" + (errno ? std::string(": ") + std::strerror(errno) : ""));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read config file");
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

std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::integer: return std::to_string(*n.value<long long>());
    case toml::node_type::floating_point: {
      const double v = *n.value<double>();
      if (std::isnan(v)) return "nan";
      if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
      return to_str(v);
    }
    case toml::node_type::boolean: return *n.value<bool>() ? "true" : "false";
    case toml::node_type::string: {
      const std::string v = *n.value<std::string>();
      std::string q = "\"";
      for (unsigned char ch : v.substr(0, 40)) {
        const char* hex = "0123456789abcdef";
        if (ch == '"' || ch == '\\') q += {'\\', char(ch)};
        else if (ch < 0x20 || ch == 0x7f) q += {'\\', 'x', hex[ch >> 4], hex[ch & 15]};  // keeps messages one line
        else q += char(ch);
      }
      return q + (v.size() > 40 ? "...\"" : "\"");
    }
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

double to_number(const toml::node& n, std::string_view file, std::string_view key) {
  double v = 0;
  if (n.is_floating_point()) v = *n.value<double>();
  else if (n.is_integer()) v = static_cast<double>(*n.value<long long>());  // exact up to 2^53, rounded beyond
  else fail_at(file, key, "expected a number, got " + describe(n));
  if (!std::isfinite(v)) fail_at(file, key, "expected a finite number, got " + describe(n));
  return v;
}

long long to_integer(const toml::node& n, std::string_view file, std::string_view key) {
  if (!n.is_integer()) fail_at(file, key, "expected an integer, got " + describe(n));
  return *n.value<long long>();
}

bool to_bool(const toml::node& n, std::string_view file, std::string_view key) {
  if (!n.is_boolean()) fail_at(file, key, "expected true or false, got " + describe(n));
  return *n.value<bool>();
}

std::string to_string(const toml::node& n, std::string_view file, std::string_view key) {
  if (!n.is_string()) fail_at(file, key, "expected a string, got " + describe(n));
  return *n.value<std::string>();
}

double get_double(const toml::table& t, std::string_view key, double def, std::string_view file, std::string_view path) {
  const toml::node* n = t.get(key);
  return n ? to_number(*n, file, join_path(path, key)) : def;
}

long long get_int(const toml::table& t, std::string_view key, long long def, std::string_view file,
                  std::string_view path) {
  const toml::node* n = t.get(key);
  return n ? to_integer(*n, file, join_path(path, key)) : def;
}

bool get_bool(const toml::table& t, std::string_view key, bool def, std::string_view file, std::string_view path) {
  const toml::node* n = t.get(key);
  return n ? to_bool(*n, file, join_path(path, key)) : def;
}

std::string get_string(const toml::table& t, std::string_view key, const std::string& def, std::string_view file,
                       std::string_view path) {
  const toml::node* n = t.get(key);
  return n ? to_string(*n, file, join_path(path, key)) : def;
}

std::vector<double> get_numbers(const toml::node& n, std::string_view file, std::string_view keypath) {
  std::vector<double> out;
  if (n.is_number()) {
    out.push_back(to_number(n, file, keypath));
    return out;
  }
  const toml::array* a = n.as_array();
  if (!a) fail_at(file, keypath, "expected a number or an array of numbers, got " + describe(n));
  for (const auto& e : *a) {
    if (!e.is_number()) fail_at(file, keypath, "expected an array of numbers, got " + describe(e) + " in it");
    out.push_back(to_number(e, file, keypath));
  }
  if (out.empty()) fail_at(file, keypath, "empty array: a sweep axis needs at least one value");
  return out;
}

}  // namespace aimc
