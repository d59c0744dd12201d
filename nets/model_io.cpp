#include "nets/model_io.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <new>
#include <stdexcept>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <unistd.h>

#include "core/durable.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "nets/hwa.hpp"

namespace aimc::nets {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

namespace {
/// Attribute names of the [hwa] settings: "hwa." + key (the key as in the config).
constexpr std::string_view kHwaPrefix = "hwa.";

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
    if (const auto& r = meta.recipe; !r.optimizer.empty()) {
      h5::set_attr(f, "train_optimizer", r.optimizer);
      h5::set_attr(f, "train_lr", r.lr);
      h5::set_attr(f, "train_schedule", r.schedule);
      h5::set_attr(f, "train_batch_size", r.batch_size);
      h5::set_attr(f, "train_weight_decay", r.weight_decay);
      h5::set_attr(f, "train_augment", r.augment);
      h5::set_attr(f, "train_augment_shift", r.augment_shift);
    }
    if (!meta.train_config.empty()) h5::set_attr(f, "train_config", meta.train_config);
    if (!meta.fine_tuned_from.empty()) {
      h5::set_attr(f, "fine_tuned_from", meta.fine_tuned_from);
      h5::set_attr(f, "fine_tuned_from_accuracy", meta.fine_tuned_from_accuracy);
    }
    if (meta.hwa.on()) {
      h5::set_attr(f, "hwa_seed", meta.hwa.seed);
      h5::set_attr(f, "hwa_layers", meta.hwa.layers);
      for (const auto& [k, v] : meta.hwa.settings)
        std::visit([&, &k = k](const auto& x) { h5::set_attr(f, std::string(kHwaPrefix) + k, x); }, v);
      if (!meta.hwa.input_ranges.empty()) {
        auto g = h5::group(f, "hwa");
        std::vector<std::string> names;
        std::vector<double> ranges;
        for (const auto& [n, r] : meta.hwa.input_ranges) {
          names.push_back(n);
          ranges.push_back(r);
        }
        h5::write_strings(g, "input_range_layers", names, "node names of the layers of input_range");
        h5::write(g, "input_range", ranges, "", "DAC full scale of each layer at the end of HWA training (layer input units)");
      }
    }
    h5::set_attr(f, "aimc_version", AIMC_VERSION);
    h5::set_attr(f, "git_commit", AIMC_GIT_COMMIT);
    // The parameter store: every distinct tensor once; layers refer to tensors by id.
    const auto store = net.parameter_store();
    auto params = h5::group(f, "parameters");
    h5::set_attr(params, "count", static_cast<std::int64_t>(store.size()));
    for (std::size_t i = 0; i < store.size(); ++i) {
      h5::write(params, layer_group(i), store[i]->value, "1", "trained parameter");
      auto d = params.openDataSet(layer_group(i));
      h5::set_attr(d, "name", store[i]->name);
      h5::set_attr(d, "trainable", store[i]->trainable ? 1 : 0);
      h5::set_attr(d, "decay", store[i]->decay ? 1 : 0);
    }
    auto layers = h5::group(f, "layers");
    h5::set_attr(layers, "count", static_cast<std::int64_t>(net.size()));
    for (std::size_t i = 0; i < net.size(); ++i) {
      auto g = h5::group(layers, layer_group(i));
      const auto s = net.layer(i).spec();
      h5::set_attr(g, "kind", s.kind);
      h5::set_attr(g, "name", net.name(i));
      std::vector<std::int64_t> in(net.inputs(i).begin(), net.inputs(i).end()), ids;
      h5::write(g, "inputs", in, "1", "indices of the input nodes (-1: the network input)");
      for (const auto& p : net.layer(i).params())
        ids.push_back(std::int64_t(std::find(store.begin(), store.end(), p) - store.begin()));
      if (!ids.empty()) h5::write(g, "params", ids, "1", "ids of this layer's parameter slots in /parameters");
      auto args = h5::group(g, "args");
      for (const auto& [k, v] : s.args) {
        if (const auto* x = std::get_if<long long>(&v)) h5::set_attr(args, k, static_cast<std::int64_t>(*x));
        else if (const auto* x = std::get_if<double>(&v)) h5::set_attr(args, k, *x);
        else if (const auto* x = std::get_if<std::string>(&v)) h5::set_attr(args, k, *x);
        else if (const auto* x = std::get_if<std::vector<long long>>(&v))
          h5::write(args, k, std::vector<std::int64_t>(x->begin(), x->end()), "1", "list argument");
        else h5::write(args, k, std::get<std::vector<double>>(v), "1", "list argument");
      }
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


/// The number of objects in group `g` (named `name`), which must equal its attribute 'count' (at least
/// `min`): a count that disagrees with the file means a damaged file, not a network to truncate silently.
std::int64_t checked_count(const H5::Group& g, const std::string& name, const std::string& path, std::int64_t min) {
  const auto objects = h5::names(g, path);
  const std::int64_t count = int_attr(g, "count", path, min, std::int64_t(objects.size()), "group '" + name + "': ");
  if (std::size_t(count) != objects.size())
    throw Error(path + ": group '" + name + "' holds " + std::to_string(objects.size()) +
                " objects but its attribute 'count' is " + std::to_string(count));
  return count;
}

/// Calls make_layer, turning allocation failures of absurd arguments into an Error.
std::unique_ptr<Layer> make_checked(const LayerSpec& spec) {
  try {
    return make_layer(spec);
  } catch (const std::bad_alloc&) {  // arguments within each layer's ranges can still ask for terabytes
    throw Error("its arguments describe a layer too large to allocate");
  } catch (const std::length_error&) {
    throw Error("its arguments describe a layer too large to allocate");
  }
}

/// Format 2: /parameters (the parameter store) and /layers/NNNN with kind, name, inputs, params, args.
void load_graph(const H5::H5File& f, const std::string& path, Network& net) {
  auto pg = h5::open_group(f, "parameters", path);
  const std::int64_t n_params = checked_count(pg, "parameters", path, 0);
  std::vector<ParamPtr> store(static_cast<std::size_t>(n_params));
  auto layers = h5::open_group(f, "layers", path);
  const std::int64_t count = checked_count(layers, "layers", path, 1);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::string where = path + ": layer " + std::to_string(i);
    auto g = h5::open_group(layers, layer_group(std::size_t(i)), path);
    LayerSpec spec{h5::attr_string(g, "kind", path), {}};
    try {
      const std::string name = h5::attr_string(g, "name", path);
      auto args = h5::open_group(g, "args", path);
      for (const auto& k : h5::attr_names(args, path)) {
        const char t = h5::attr_kind(args, k, path);
        if (t == 'i') spec.args.emplace_back(k, static_cast<long long>(h5::attr_int(args, k, path)));
        else if (t == 'f') spec.args.emplace_back(k, h5::attr_double(args, k, path));
        else if (t == 's') spec.args.emplace_back(k, h5::attr_string(args, k, path));
        else throw Error("argument '" + k + "' has an unsupported type");
      }
      for (const auto& k : h5::names(args, path)) {
        const auto d = h5::dims(args, k, path);
        if (d.size() != 1 || d[0] > (1u << 20)) throw Error("list argument '" + k + "' is not a short 1-D list");
        // By the stored type: HDF5 would convert a float list to integers silently (truncating).
        bool is_float = false;
        try {
          is_float = args.openDataSet(k).getTypeClass() == H5T_FLOAT;
        } catch (const H5::Exception&) {
          throw Error("list argument '" + k + "' cannot be opened");
        }
        if (is_float) {
          spec.args.emplace_back(k, h5::read_doubles(args, k, path));
        } else {
          auto v = h5::read_ints(args, k, path);
          spec.args.emplace_back(k, std::vector<long long>(v.begin(), v.end()));
        }
      }
      std::vector<std::string> inputs;
      const auto in_dims = h5::dims(g, "inputs", path);
      if (in_dims.size() != 1 || in_dims[0] < 1 || in_dims[0] > 4096) throw Error("dataset 'inputs' is not a 1-D list of 1..4096 nodes");
      for (auto k : h5::read_ints(g, "inputs", path)) {
        if (k < -1 || k >= i) throw Error("input " + std::to_string(k) + " is not an earlier node (or -1, the network input)");
        inputs.push_back(k == -1 ? std::string("input") : net.name(std::size_t(k)));
      }
      auto layer = make_checked(spec);
      std::vector<std::int64_t> ids;
      if (h5::exists(g, "params")) {
        const auto pd = h5::dims(g, "params", path);
        if (pd.size() != 1 || pd[0] > 4096) throw Error("dataset 'params' is not a 1-D list");
        ids = h5::read_ints(g, "params", path);
      }
      if (ids.size() != layer->params().size())
        throw Error("lists " + std::to_string(ids.size()) + " parameters, the layer has " +
                    std::to_string(layer->params().size()));
      for (std::size_t s = 0; s < ids.size(); ++s) {
        const Parameter& slot = *layer->params()[s];
        if (ids[s] < 0 || ids[s] >= n_params)
          throw Error("parameter '" + slot.name + "' refers to tensor " + std::to_string(ids[s]) + ", the file has " +
                      std::to_string(n_params));
        auto& p = store[std::size_t(ids[s])];
        if (!p) {
          const std::string ds = layer_group(std::size_t(ids[s]));
          if (!h5::exists(pg, ds)) throw Error("parameter tensor /parameters/" + ds + " is missing");
          auto d = h5::dims(pg, ds, path);
          if (d.size() != 2 || Eigen::Index(d[0]) != slot.value.rows() || Eigen::Index(d[1]) != slot.value.cols())
            throw Error("parameter '" + slot.name + "' has shape " +
                        (d.size() == 2 ? std::to_string(d[0]) + "x" + std::to_string(d[1]) : std::to_string(d.size()) + "-D") +
                        ", expected " + std::to_string(slot.value.rows()) + "x" + std::to_string(slot.value.cols()) +
                        " (/parameters/" + ds + ")");
          p = std::make_shared<Parameter>();
          auto dset = pg.openDataSet(ds);
          // The flags default to the layer's own when a file lacks them.
          p->name = slot.name;
          p->trainable = h5::has_attr(dset, "trainable") ? h5::attr_int(dset, "trainable", path) != 0 : slot.trainable;
          p->decay = h5::has_attr(dset, "decay") ? h5::attr_int(dset, "decay", path) != 0 : slot.decay;
          p->value = h5::read_matrix(pg, ds, path);
          if (!p->value.allFinite()) throw Error("parameter '" + slot.name + "' holds NaN or infinite values");
          p->grad = Matrix::Zero(p->value.rows(), p->value.cols());
        }
        layer->bind(s, p);
      }
      net.add(name, std::move(layer), inputs);
    } catch (const Error& e) {
      throw Error(where + " (" + spec.kind + "): " + e.what());
    }
  }
}
}  // namespace

LoadedModel load_model(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(path + ": model file not found");
  auto f = h5::open_read(path);
  if (!h5::has_attr(f, "format") || h5::attr_string(f, "format", path) != "aimc-model")
    throw Error(path + ": not an aimc model file (attribute 'format' is not \"aimc-model\")");
  auto version = h5::attr_int(f, "format_version", path);
  if (version != 1 && version != kModelFormatVersion)
    throw Error(path + ": unsupported model format_version " + std::to_string(version) + " (this aimc reads 1.." +
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
  if (h5::has_attr(f, "train_optimizer")) {
    auto& r = m.meta.recipe;
    r.optimizer = h5::attr_string(f, "train_optimizer", path);
    r.lr = h5::attr_double(f, "train_lr", path);
    r.schedule = h5::attr_string(f, "train_schedule", path);
    r.batch_size = int_attr(f, "train_batch_size", path, 0, INT_MAX);
    r.weight_decay = h5::attr_double(f, "train_weight_decay", path);
    r.augment = h5::attr_string(f, "train_augment", path);
    r.augment_shift = int_attr(f, "train_augment_shift", path, 0, INT_MAX);
  }
  if (h5::has_attr(f, "train_config")) m.meta.train_config = h5::attr_string(f, "train_config", path);
  if (h5::has_attr(f, "fine_tuned_from")) {
    m.meta.fine_tuned_from = h5::attr_string(f, "fine_tuned_from", path);
    m.meta.fine_tuned_from_accuracy = h5::attr_double(f, "fine_tuned_from_accuracy", path);
  }
  for (const auto& name : h5::attr_names(f, path)) {
    if (!name.starts_with(kHwaPrefix)) continue;
    const std::string key = name.substr(kHwaPrefix.size());
    const char kind = h5::attr_kind(f, name, path);
    if (kind == 's') m.meta.hwa.settings.emplace_back(key, h5::attr_string(f, name, path));
    else if (kind == 'f' || kind == 'i') m.meta.hwa.settings.emplace_back(key, h5::attr_double(f, name, path));
    else throw Error(path + ": attribute '" + name + "' is neither a number nor a string");
  }
  if (m.meta.hwa.on()) {
    // In the order of the [hwa] table (the order they were written in), keys this aimc does not know last.
    auto rank = [](const std::string& k) {
      const auto t = HwaParams::params();
      for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i].name == k) return i;
      return t.size();
    };
    std::stable_sort(m.meta.hwa.settings.begin(), m.meta.hwa.settings.end(),
                     [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
    m.meta.hwa.seed = h5::attr_int(f, "hwa_seed", path);
    m.meta.hwa.layers = h5::attr_string(f, "hwa_layers", path);
    if (h5::exists(f, "hwa")) {
      const auto g = h5::open_group(f, "hwa", path);
      const auto names = h5::read_strings(g, "input_range_layers", path);
      const auto ranges = h5::read_doubles(g, "input_range", path);
      if (names.size() != ranges.size())
        throw Error(path + ": /hwa holds " + std::to_string(names.size()) + " input_range_layers but " +
                    std::to_string(ranges.size()) + " input_range values");
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (!std::isfinite(ranges[i]) || !(ranges[i] > 0))
          throw Error(path + ": /hwa/input_range of layer '" + names[i] + "' = " + to_str(ranges[i]) +
                      ", expected a finite value > 0");
        m.meta.hwa.input_ranges.emplace_back(names[i], ranges[i]);
      }
    }
  }
  if (version >= 2) {
    load_graph(f, path, m.net);
    return m;
  }
  auto layers = h5::open_group(f, "layers", path);
  const std::int64_t count = checked_count(layers, "layers", path, 1);
  for (std::int64_t i = 0; i < count; ++i) {
    std::string where = path + ": layer " + std::to_string(i);
    auto g = h5::open_group(layers, layer_group(std::size_t(i)), path);
    LayerSpec spec{h5::attr_string(g, "kind", path), {}};
    // Every attribute but `kind` is an integer argument of the layer; make_layer checks they are complete.
    try {
      LayerSpec probe = spec;
      for (const auto& name : h5::attr_names(g, path)) {
        if (name == "kind") continue;
        probe.args.emplace_back(name, static_cast<long long>(h5::attr_int(g, name, path)));
      }
      m.net.add(make_checked(probe));
    } catch (const Error& e) {
      throw Error(where + " (" + spec.kind + "): " + e.what());
    }
    const auto params = m.net.layer(std::size_t(i)).parameters();
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
