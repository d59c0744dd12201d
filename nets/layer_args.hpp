#pragma once
/// Reading a LayerSpec's arguments inside a layer factory (not part of the public layer contract).
#include <initializer_list>
#include <string>
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets::detail {

/// Checks a spec's arguments on construction: every key must be one of `expected` and appear at most
/// once. Reads then throw Error naming the kind and the key when a required one is missing, has the
/// wrong type or does not fit an int.
struct Args {
  const LayerSpec& spec;
  std::vector<std::string> keys;

  Args(const LayerSpec& s, std::initializer_list<const char*> expected);
  std::string list() const;
  int operator()(const std::string& key) const;                  ///< required integer
  int opt(const std::string& key, int fallback) const;           ///< optional integer
  double real(const std::string& key, double fallback) const;    ///< optional number
  /// Optional list of exactly n integers.
  std::vector<int> ints(const std::string& key, std::size_t n, std::vector<int> fallback) const;

 private:
  int fit_int(const std::string& key, long long v) const;
};

}  // namespace aimc::nets::detail
