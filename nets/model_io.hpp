#pragma once
/// Model files (HDF5), format version 2 (version 1 files, chains of integer-argument layers with
/// parameters inside each layer group, are still read):
///   /                 attributes: format = "aimc-model", format_version = 2, input_c/h/w,
///                     architecture (readable text), name, dataset, epochs, seed, test_accuracy,
///                     train_seconds, created (UTC), aimc_version, git_commit
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
#include <string>

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
