#pragma once
/// Model files (HDF5), format version 2 (version 1 files, chains of integer-argument layers with
/// parameters inside each layer group, are still read):
///   /                 attributes: format = "aimc-model", format_version = 2, input_c/h/w,
///                     architecture (readable text), name, dataset, epochs, seed, test_accuracy,
///                     train_seconds, created (UTC), aimc_version, git_commit; optional (ModelMeta):
///                     train_* (the recipe), train_config (the TOML text of `aimc train CONFIG`),
///                     fine_tuned_from and fine_tuned_from_accuracy, and for hardware-aware training
///                     hwa_seed, hwa_layers and one attribute "hwa.<key>" per [hwa] key
///   /hwa              optional: datasets input_range_layers (node names) and input_range (the DAC full
///                     scales hardware-aware training ended with, in the units of the layer inputs)
///   /parameters/NNNN  the parameter store: one float dataset per distinct tensor (ids 0..count-1),
///                     attributes name, trainable, decay. A tensor shared by several layers is here once.
///   /layers/NNNN      one group per node in topological order: attributes kind and name; datasets
///                     inputs (int64 node indices, -1 = the network input) and params (int64 tensor
///                     ids, one per parameter slot; absent for layers without parameters); subgroup
///                     args with one attribute per scalar argument (int64, double or string) and one
///                     1-D dataset per list argument.
///
/// Format version 1:
///   /                 attributes: format = "aimc-model", format_version = 1, input_c/h/w,
///                     architecture (readable text), name, dataset, epochs, seed, test_accuracy,
///                     train_seconds, created (UTC), aimc_version, git_commit
///   /layers/NNNN      one group per layer in order; attribute `kind` and one int64 attribute per
///                     LayerSpec argument; one float dataset per parameter ("weight" in crossbar view
///                     (inputs x outputs), "bias" (1 x outputs)).
/// Files are written to a temporary name and renamed, so an existing model is never left half written.
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "nets/network.hpp"

namespace aimc::nets {

inline constexpr int kModelFormatVersion = 2;

struct ModelMeta {
  std::string name;     ///< e.g. "mlp"
  std::string dataset;  ///< e.g. "fashion-mnist"
  int epochs = 0;
  int seed = 0;
  double test_accuracy = 0;
  double train_seconds = 0;
  std::string created;  ///< filled on save if empty
  /// How it was trained (attributes train_*; empty/0 when unknown, e.g. imported models and files
  /// written before these attributes existed).
  struct Recipe {
    std::string optimizer;  ///< "adam" | "sgd"
    double lr = 0;          ///< initial learning rate
    std::string schedule;   ///< "cosine" | "constant"
    int batch_size = 0;
    double weight_decay = 0;
    std::string augment;  ///< "none" | "shift-flip"
    int augment_shift = 0;  ///< px
  } recipe;
  /// The config a model was trained from (`aimc train CONFIG.toml`), verbatim, hardware sections
  /// included (attribute train_config; empty for the --model form, imports and older files).
  std::string train_config = {};
  /// The model file training started from (attribute fine_tuned_from; empty: trained from a fresh
  /// initialization) and the test accuracy that file recorded (fine_tuned_from_accuracy).
  std::string fine_tuned_from = {};
  double fine_tuned_from_accuracy = 0;
  /// Hardware-aware training (nets/hwa.hpp); `settings` is empty when the model was trained digitally.
  struct Hwa {
    /// Every [hwa] key (HwaParams::params()) and its value: attributes "hwa.<key>", a float for
    /// numbers and flags, a string for names.
    std::vector<std::pair<std::string, std::variant<double, std::string>>> settings;
    std::int64_t seed = 0;  ///< seed of the HWA noise streams (attribute hwa_seed)
    std::string layers;     ///< node names of the layers trained with HWA, ", "-separated (hwa_layers)
    /// With io = "quantized": the DAC full scale of each HWA layer at the end of training (calibrated,
    /// or learned with input_range = "learned"), by node name; datasets /hwa/input_range_layers and
    /// /hwa/input_range. AnalogConfig::input_ranges takes them (mapping.input_range = "model").
    std::vector<std::pair<std::string, double>> input_ranges;
    bool on() const { return !settings.empty(); }
  } hwa = {};  // (= {}: aggregate initializations that stop at recipe stay warning-free)
};

void save_model(const std::string& path, Network& net, const ModelMeta& meta);

struct LoadedModel {
  Network net;
  ModelMeta meta;
};
/// Validates format, version, layer specs and parameter shapes; errors name the file and the part.
LoadedModel load_model(const std::string& path);

/// Current UTC time as ISO 8601.
std::string utc_now();

}  // namespace aimc::nets
