#include "experiments/train_config.hpp"

#include <algorithm>
#include <iterator>

#include "core/error.hpp"
#include "experiments/mc.hpp"
#include "experiments/train.hpp"

namespace aimc::experiments {

namespace {
constexpr const char* kArchitectures[] = {"mlp", "cnn", "resnet8", "resnet20", "snn_cnn", "snn_mlp"};
}  // namespace

std::span<const Param<TrainModelParams>> TrainModelParams::params() {
  using P = TrainModelParams;
  static const Param<P> t[] = {
      {"architecture", &P::architecture, "",
       "reference architecture trained from a fresh initialization (train.seed): mlp, cnn, resnet8 or resnet20; "
       "exclusive with path",
       "README \"Reference models\""},
      {"path", &P::path, "",
       "model file to fine-tune (HDF5, from `aimc train` or `aimc import`), relative to the working directory; "
       "exclusive with architecture",
       "the HWA flow of aihwkit: train digitally, then fine-tune with hardware-aware training"},
  };
  return t;
}

void TrainModelParams::check() const {
  if (architecture.empty() == path.empty())
    throw Error(std::string("parameter 'model.") + (path.empty() ? "architecture" : "path") +
                "': set exactly one of model.architecture (a fresh network) and model.path (a model file to "
                "fine-tune)");
  if (!architecture.empty() && std::find(std::begin(kArchitectures), std::end(kArchitectures), architecture) ==
                                   std::end(kArchitectures))
    throw Error("parameter 'model.architecture' = \"" + architecture + "\": must be one of mlp|cnn|resnet8|resnet20|snn_cnn|snn_mlp");
}

std::span<const Param<TrainDataParams>> TrainDataParams::params() {
  using P = TrainDataParams;
  static const Param<P> t[] = {
      {"train_limit", &P::train_limit, "1", "train on the first N training images (0: all)",
       "short runs and tests", between(0, 1000000000)},
  };
  return t;
}

nets::TrainParams TrainConfig::train(const nets::TrainParams& defaults) const {
  const auto* t = subtable(file.root, "train", file.path, "");
  if (!t) {
    nets::TrainParams p = defaults;
    try {
      validate(p, "train");
      validate(p.optimizer, "train");
    } catch (const Error& e) {
      throw Error(file.path + ": " + e.what());
    }
    return p;
  }
  // One [train] table, two parameter tables: each reader accepts the other's keys.
  nets::TrainParams p = read_params<nets::TrainParams>(*t, file.path, "train", defaults,
                                                       param_names<nets::OptimizerParams>());
  p.optimizer =
      read_params<nets::OptimizerParams>(*t, file.path, "train", defaults.optimizer, param_names<nets::TrainParams>());
  return p;
}

TrainConfig parse_train_config(const ConfigFile& f) {
  TrainConfig c;
  c.file = f;
  const std::string& file = f.path;
  const auto& root = f.root;
  for (const char* k : {"mc", "sweep"})
    if (root.contains(k))
      fail_at(file, k,
              "a training config describes one hardware point: [mc] and [sweep] belong to `aimc mc` campaigns");
  std::vector<std::string> sections = {"model", "data", "train", "hwa"};
  sections.insert(sections.end(), analog_section_names().begin(), analog_section_names().end());
  check_keys(root, sections, file, "");
  auto sub = [&](const char* name) { return subtable(root, name, file, ""); };

  const auto* tm = sub("model");
  if (!tm)
    fail_at(file, "model", "missing: the [model] table must set architecture = \"mlp\" (or cnn, resnet8, resnet20) or "
                           "path = \"model.h5\" (a model file to fine-tune)");
  c.model = read_params<TrainModelParams>(*tm, file, "model");
  if (const auto* t = sub("data")) {
    c.data = read_params<McDataParams>(*t, file, "data", {}, param_names<TrainDataParams>());
    c.train_data = read_params<TrainDataParams>(*t, file, "data", {}, param_names<McDataParams>());
    c.subset_given = t->contains("subset");
  }
  c.train(nets::TrainParams{});  // the keys and types of [train], before any file is read

  if (const auto* t = sub("hwa")) {
    c.hwa_on = true;
    c.hwa = read_params<nets::HwaParams>(*t, file, "hwa");
  }
  read_analog_sections(root, file, c.analog);
  if (!c.hwa_on) {
    for (const auto& s : analog_section_names())
      if (root.contains(s))
        fail_at(file, s, "hardware sections configure hardware-aware training: add an [hwa] section (its keys: "
                         "docs/parameters.md) or remove this one");
  } else {
    try {
      c.analog.validate();
    } catch (const Error& e) {
      throw Error(file + ": " + e.what());
    }
  }
  return c;
}

nets::TrainParams architecture_defaults(const std::string& architecture) {
  nets::TrainParams p;
  p.epochs = default_epochs(architecture);
  p.optimizer.lr = default_lr(architecture);
  p.optimizer.weight_decay = default_weight_decay(architecture);
  p.augment = default_augment(architecture);
  p.augment_shift = default_augment_shift(architecture);
  return p;
}

nets::TrainParams fine_tune_defaults(const nets::ModelMeta& m) {
  nets::TrainParams p;
  p.epochs = kFineTuneEpochs;
  p.schedule = "cosine";
  const auto& r = m.recipe;
  if (r.optimizer.empty()) {
    p.optimizer.lr = 1e-4;
    return p;
  }
  p.optimizer.kind = r.optimizer;
  p.optimizer.lr = r.lr / 10;
  p.optimizer.weight_decay = r.weight_decay;
  p.batch_size = r.batch_size;
  p.augment = r.augment;
  p.augment_shift = r.augment_shift;
  return p;
}

}  // namespace aimc::experiments
