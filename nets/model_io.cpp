#include "nets/model_io.hpp"

#include <chrono>
#include <climits>
#include <new>
#include <stdexcept>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <unistd.h>

#include "core/durable.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"

namespace aimc::nets {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

namespace {
std::string layer_group(std::size_t i) {
  char b[16];
  std::snprintf(b, sizeof b, "%04zu", i);
  return b;
}
}  // namespace

void save_model(const std::string& path, Network& net, const ModelMeta& meta) {
  // replace_h5: built in memory, written to a temporary file, synced and renamed, so an existing model is
  // never left half written (also not on a full disk).
  replace_h5(path, [&](H5::H5File& f) {
    h5::set_attr(f, "format", "aimc-model");
    h5::set_attr(f, "format_version", kModelFormatVersion);
    h5::set_attr(f, "input_c", net.input_shape().c);
    h5::set_attr(f, "input_h", net.input_shape().h);
    h5::set_attr(f, "input_w", net.input_shape().w);
    h5::set_attr(f, "architecture", net.summary());
    h5::set_attr(f, "name", meta.name);
    h5::set_attr(f, "dataset", meta.dataset);
    h5::set_attr(f, "epochs", meta.epochs);
    h5::set_attr(f, "seed", meta.seed);
    h5::set_attr(f, "test_accuracy", meta.test_accuracy);
    h5::set_attr(f, "train_seconds", meta.train_seconds);
    h5::set_attr(f, "created", meta.created.empty() ? utc_now() : meta.created);
    h5::set_attr(f, "aimc_version", AIMC_VERSION);
    h5::set_attr(f, "git_commit", AIMC_GIT_COMMIT);
    auto layers = h5::group(f, "layers");
    h5::set_attr(layers, "count", static_cast<std::int64_t>(net.size()));
    for (std::size_t i = 0; i < net.size(); ++i) {
      auto g = h5::group(layers, layer_group(i));
      auto s = net.layer(i).spec();
      h5::set_attr(g, "kind", s.kind);
      for (auto& [k, v] : s.args) h5::set_attr(g, k, static_cast<std::int64_t>(v));
      for (auto* p : net.layer(i).parameters()) h5::write(g, p->name, p->value, "1", "trained parameter");
    }
  });
}

namespace {

/// An integer attribute that must lie in [lo, hi] (values from the file are checked before they
/// become sizes or ints).
int int_attr(const H5::H5Object& o, const std::string& name, const std::string& path, std::int64_t lo, std::int64_t hi,
             const std::string& where = "") {
  const std::int64_t v = h5::attr_int(o, name, path);
  if (v < lo || v > hi)
    throw Error(path + ": " + where + "attribute '" + name + "' = " + std::to_string(v) + ", expected " +
                std::to_string(lo) + ".." + std::to_string(hi));
  return int(v);
}

}  // namespace

LoadedModel load_model(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(path + ": model file not found");
  auto f = h5::open_read(path);
  if (!h5::has_attr(f, "format") || h5::attr_string(f, "format", path) != "aimc-model")
    throw Error(path + ": not an aimc model file (attribute 'format' is not \"aimc-model\")");
  auto version = h5::attr_int(f, "format_version", path);
  if (version != kModelFormatVersion)
    throw Error(path + ": unsupported model format_version " + std::to_string(version) + " (this aimc reads " +
                std::to_string(kModelFormatVersion) + ")");
  // Input sides up to 2^20 and at most 2^30 values per sample, so Shape::size() stays within int.
  constexpr std::int64_t max_side = 1 << 20, max_input = 1 << 30;
  Shape in{int_attr(f, "input_c", path, 1, max_side), int_attr(f, "input_h", path, 1, max_side),
           int_attr(f, "input_w", path, 1, max_side)};
  if (std::int64_t(in.c) * in.h * in.w > max_input)
    throw Error(path + ": input shape " + std::to_string(in.c) + "x" + std::to_string(in.h) + "x" + std::to_string(in.w) +
                " has more than " + std::to_string(max_input) + " values");
  LoadedModel m{Network(in), {}};
  m.meta.name = h5::attr_string(f, "name", path);
  m.meta.dataset = h5::attr_string(f, "dataset", path);
  m.meta.epochs = int_attr(f, "epochs", path, 0, INT_MAX);
  m.meta.seed = int_attr(f, "seed", path, INT_MIN, INT_MAX);
  m.meta.test_accuracy = h5::attr_double(f, "test_accuracy", path);
  m.meta.train_seconds = h5::attr_double(f, "train_seconds", path);
  m.meta.created = h5::attr_string(f, "created", path);
  auto layers = h5::open_group(f, "layers", path);
  // Exactly `count` layer groups: a count that disagrees with the file means a damaged file, not a
  // network to truncate silently.
  const auto groups = h5::names(layers, path);
  const std::int64_t count = int_attr(layers, "count", path, 1, std::int64_t(groups.size()), "group 'layers': ");
  if (std::size_t(count) != groups.size())
    throw Error(path + ": group 'layers' holds " + std::to_string(groups.size()) + " objects but its attribute 'count' is " +
                std::to_string(count));
  for (std::int64_t i = 0; i < count; ++i) {
    std::string where = path + ": layer " + std::to_string(i);
    auto g = h5::open_group(layers, layer_group(std::size_t(i)), path);
    LayerSpec spec{h5::attr_string(g, "kind", path), {}};
    // Every attribute but `kind` is an integer argument of the layer; make_layer checks they are complete.
    try {
      LayerSpec probe = spec;
      for (const auto& name : h5::attr_names(g, path)) {
        if (name == "kind") continue;
        probe.args.emplace_back(name, h5::attr_int(g, name, path));
      }
      std::unique_ptr<Layer> layer;
      try {
        layer = make_layer(probe);
      } catch (const std::bad_alloc&) {  // arguments within each layer's ranges can still ask for terabytes
        throw Error("its arguments describe a layer too large to allocate");
      } catch (const std::length_error&) {
        throw Error("its arguments describe a layer too large to allocate");
      }
      m.net.add(std::move(layer));
    } catch (const Error& e) {
      throw Error(where + " (" + spec.kind + "): " + e.what());
    }
    auto params = m.net.layer(std::size_t(i)).parameters();
    for (auto* p : params) {
      if (!h5::exists(g, p->name)) throw Error(where + " (" + spec.kind + "): missing parameter '" + p->name + "'");
      auto d = h5::dims(g, p->name, path);
      if (d.size() != 2 || Eigen::Index(d[0]) != p->value.rows() || Eigen::Index(d[1]) != p->value.cols())
        throw Error(where + " (" + spec.kind + "): parameter '" + p->name + "' has shape " +
                    (d.size() == 2 ? std::to_string(d[0]) + "x" + std::to_string(d[1]) : std::to_string(d.size()) + "-D") +
                    ", expected " + std::to_string(p->value.rows()) + "x" + std::to_string(p->value.cols()));
      p->value = h5::read_matrix(g, p->name, path);
      if (!p->value.allFinite())
        throw Error(where + " (" + spec.kind + "): parameter '" + p->name + "' holds NaN or infinite values");
      p->grad = Matrix::Zero(p->value.rows(), p->value.cols());
    }
  }
  return m;
}

}  // namespace aimc::nets
