#pragma once
/// What every campaign that evaluates a model file reads first (mc, hardnn): the [model] and [data]
/// sections, the model, the test subset and the calibration images, checked against each other. Errors
/// name the config file and key; nothing is written, so existing results stay untouched.
#include <span>
#include <string>

#include "core/config.hpp"
#include "core/params.hpp"
#include "data/dataset.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

struct McModelParams {
  std::string path;  ///< model file (HDF5, from `aimc train`), relative to the working directory
  static std::span<const Param<McModelParams>> params();
};

struct McDataParams {
  std::string dataset = "fashion-mnist";  ///< fashion-mnist | cifar10 | file (then `path`)
  int subset = 2000;       ///< first N test images evaluated by every trial
  int calibration = 256;   ///< first N training images used to calibrate DAC/ADC ranges
  std::string dir;         ///< dataset directory of a named set ("" : its environment variable or default)
  std::string path;        ///< dataset = "file": test set file (.npz, .h5, CIFAR-10 .bin; "{split}" -> test)
  std::string calibration_path;  ///< dataset = "file": calibration (training) file; "" = path with {split} = train
  static std::span<const Param<McDataParams>> params();
};

/// Reads the [model] table (required; model.path must be set: the error ends "the model file to
/// <use>") and the optional [data] table of a campaign config `file`.
void read_model_and_data(const toml::table& root, const std::string& file, const std::string& use, McModelParams& m,
                         McDataParams& d);

/// The first `max_items` samples of one split ("train" | "test") of the configured data set (all with
/// the default): the built-in set of data.dataset, or with dataset = "file" data.path (its "{split}"
/// replaced) and, for "train", data.calibration_path when set. Errors name the config file and the
/// [data] key.
data::Dataset load_split(const std::string& config_path, const McDataParams& d, const std::string& split,
                         std::size_t max_items = std::size_t(-1));
/// Throws an Error naming the config and the model file unless `net` takes the samples of `set` (of
/// data set `d`) and has an output per class.
void check_model_fits(const std::string& config_path, const std::string& model_path, const nets::Network& net,
                      const McDataParams& d, const data::Dataset& set);

/// A campaign's model and its test subset.
struct CampaignInputs {
  nets::LoadedModel model;
  data::Dataset test;  ///< the first data.subset test images
};
/// Loads [model] and the first [data] subset of the test set and checks that they fit each other
/// (input size, enough outputs for the classes). Errors name the config file and key; nothing is
/// written, so existing results stay untouched. Shared by every campaign that evaluates a model file.
CampaignInputs load_campaign_inputs(const std::string& config_path, const McModelParams& m, const McDataParams& d);
/// The first data.calibration images of the training split (or data.calibration_path): the clean
/// activations that set converter ranges, never the test images.
data::Dataset load_calibration(const std::string& config_path, const McDataParams& d);

/// The network a campaign maps onto hardware: BatchNorm nodes folded into the convolution or dense
/// layer before them (nets/fold.hpp), as a chip programs the folded weights.
nets::Network hardware_network(const nets::Network& net);

}  // namespace aimc::experiments
