#include "nets/layer.hpp"

#include <algorithm>
#include <climits>

#include "core/error.hpp"
#include "nets/activation.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"
#include "nets/pool.hpp"

namespace aimc::nets {

long long LayerSpec::get(const std::string& key) const {
  for (const auto& [k, v] : args)
    if (k == key) return v;
  throw Error("layer '" + kind + "': missing argument '" + key + "'");
}

namespace {

/// Reads a spec's arguments: every expected key must be present exactly once, no other key may
/// appear, and each value must fit an int.
struct Args {
  const LayerSpec& spec;
  std::vector<std::string> keys;

  Args(const LayerSpec& s, std::initializer_list<const char*> expected) : spec(s) {
    for (const char* k : expected) keys.emplace_back(k);
    for (std::size_t i = 0; i < s.args.size(); ++i) {
      const std::string& k = s.args[i].first;
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        throw Error("layer '" + s.kind + "': unexpected argument '" + k + "' (expected " + list() + ")");
      for (std::size_t j = 0; j < i; ++j)
        if (s.args[j].first == k) throw Error("layer '" + s.kind + "': argument '" + k + "' given twice");
    }
  }
  std::string list() const {
    std::string s;
    for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
    return s;
  }
  int operator()(const std::string& key) const {
    long long v = spec.get(key);
    if (v < INT_MIN || v > INT_MAX)
      throw Error("layer '" + spec.kind + "': argument '" + key + "' = " + std::to_string(v) + " does not fit an int");
    return int(v);
  }
};

}  // namespace

std::unique_ptr<Layer> make_layer(const LayerSpec& spec) {
  const std::string& k = spec.kind;
  if (k == "dense") {
    Args a(spec, {"in", "out"});
    return std::make_unique<Dense>(a("in"), a("out"));
  }
  if (k == "conv2d") {
    Args a(spec, {"in_c", "in_h", "in_w", "out_c", "kernel", "stride", "pad"});
    return std::make_unique<Conv2d>(Shape{a("in_c"), a("in_h"), a("in_w")}, a("out_c"), a("kernel"), a("stride"),
                                    a("pad"));
  }
  if (k == "maxpool2d" || k == "avgpool2d") {
    Args a(spec, {"in_c", "in_h", "in_w", "kernel", "stride"});
    Shape in{a("in_c"), a("in_h"), a("in_w")};
    if (k == "maxpool2d") return std::make_unique<MaxPool2d>(in, a("kernel"), a("stride"));
    return std::make_unique<AvgPool2d>(in, a("kernel"), a("stride"));
  }
  if (k == "relu" || k == "flatten") {
    Args a(spec, {"c", "h", "w"});
    Shape s{a("c"), a("h"), a("w")};
    if (k == "relu") return std::make_unique<ReLU>(s);
    return std::make_unique<Flatten>(s);
  }
  throw Error("unknown layer kind '" + k + "' (expected dense, conv2d, maxpool2d, avgpool2d, relu or flatten)");
}

}  // namespace aimc::nets
