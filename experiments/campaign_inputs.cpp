#include "experiments/campaign_inputs.hpp"

#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "data/load.hpp"
#include "nets/fold.hpp"

namespace aimc::experiments {

namespace fs = std::filesystem;

namespace {
std::string to_str(long long v) { return std::to_string(v); }
}  // namespace

data::Dataset load_split(const std::string& config_path, const McDataParams& d, const std::string& split,
                         std::size_t max_items) {
  if (d.dataset != "file") {
    if (!d.path.empty() || !d.calibration_path.empty())
      fail_at(config_path, "data.path", "set only with dataset = \"file\" (dataset is \"" + d.dataset + "\")");
    return data::load_dataset(d.dataset, split, d.dir, max_items);
  }
  if (d.path.empty()) fail_at(config_path, "data.path", "dataset = \"file\" needs the path of the test set file");
  std::string p = d.path;
  const char* key = "data.path";
  if (split == "train") {
    if (!d.calibration_path.empty()) {
      p = d.calibration_path;
      key = "data.calibration_path";
    } else if (d.path.find(data::split_placeholder) == std::string::npos) {
      fail_at(config_path, "data.calibration_path",
              "dataset = \"file\": name the training file for calibration (or put {split} in data.path)");
    }
  }
  try {
    return data::load_dataset(p, split, "", max_items);
  } catch (const Error& e) {
    fail_at(config_path, key, e.what());
  }
}

std::span<const Param<McModelParams>> McModelParams::params() {
  using P = McModelParams;
  static const Param<P> t[] = {
      {"path", &P::path, "", "model file (HDF5, written by `aimc train`), relative to the working directory",
       "required"},
  };
  return t;
}

std::span<const Param<McDataParams>> McDataParams::params() {
  using P = McDataParams;
  static const Param<P> t[] = {
      {"dataset", &P::dataset, "", "evaluation dataset: a built-in set, or file (then path, calibration_path)",
       "Fashion-MNIST (Xiao et al., 2017), Debian dataset-fashion-mnist; CIFAR-10 (Krizhevsky 2009) binary batches",
       {}, {"fashion-mnist", "cifar10", "file"}},
      {"subset", &P::subset, "1", "first N test images evaluated by every trial",
       "2,000 images: binomial sd of one trial's accuracy <= 1.1%", between(1, 10000000)},
      {"calibration", &P::calibration, "1", "first N training images calibrating DAC/ADC/sense-amp ranges",
       "calibration on training data, never on the test subset", between(1, 10000000)},
      {"dir", &P::dir, "", "directory of a built-in dataset (empty: $AIMC_FASHION_MNIST_DIR / $AIMC_CIFAR10_DIR, else the default)",
       "data/README.md"},
      {"path", &P::path, "", "dataset = file: the test set (.npz / .h5 with x (N,C,H,W) float32, y (N,) labels; CIFAR-10 .bin); {split} -> test",
       "data/README.md"},
      {"calibration_path", &P::calibration_path, "",
       "dataset = file: the training file for calibration (empty: path with {split} -> train)", "data/README.md"},
  };
  return t;
}

void read_model_and_data(const toml::table& root, const std::string& file, const std::string& use, McModelParams& m,
                         McDataParams& d) {
  const auto* tm = subtable(root, "model", file, "");
  if (!tm) fail_at(file, "model.path", "missing: the [model] table must name the model file (path = \"...\")");
  m = read_params<McModelParams>(*tm, file, "model");
  if (m.path.empty()) fail_at(file, "model.path", "missing: the model file to " + use);
  if (const auto* t = subtable(root, "data", file, "")) d = read_params<McDataParams>(*t, file, "data");
}

CampaignInputs load_campaign_inputs(const std::string& config_path, const McModelParams& m, const McDataParams& d) {
  if (!fs::exists(m.path)) throw Error(config_path + ": model.path = \"" + m.path + "\": model file not found");
  CampaignInputs in{nets::load_model(m.path), load_split(config_path, d, "test", std::size_t(d.subset))};
  in.model.net = hardware_network(in.model.net);
  auto& test = in.test;
  if (d.subset > test.size())
    fail_at(config_path, "data.subset", to_str(d.subset) + " exceeds the " + to_str(test.size()) + " test images");
  test = test.head(d.subset);
  check_model_fits(config_path, m.path, in.model.net, d, test);
  return in;
}

void check_model_fits(const std::string& config_path, const std::string& model_path, const nets::Network& net,
                      const McDataParams& d, const data::Dataset& set) {
  const Shape s = net.input_shape();
  const auto outputs = net.output_shape().size();
  if (s.size() != set.shape.size() || outputs < set.classes)
    throw Error(config_path + ": model " + model_path + " takes inputs (" + to_str(s.c) + ", " + to_str(s.h) + ", " +
                to_str(s.w) + ") with " + to_str(outputs) + " outputs, but dataset " + d.dataset + " has (" +
                to_str(set.shape.c) + ", " + to_str(set.shape.h) + ", " + to_str(set.shape.w) + ") and " +
                to_str(set.classes) + " classes");
}

data::Dataset load_calibration(const std::string& config_path, const McDataParams& d) {
  return load_split(config_path, d, "train", std::size_t(d.calibration)).head(d.calibration);
}

nets::Network hardware_network(const nets::Network& net) { return nets::fold_batchnorm(net); }

}  // namespace aimc::experiments
