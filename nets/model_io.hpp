#pragma once
/// Model files (HDF5), format version 1:
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

inline constexpr int kModelFormatVersion = 1;

struct ModelMeta {
  std::string name;     ///< e.g. "mlp"
  std::string dataset;  ///< e.g. "fashion-mnist"
  int epochs = 0;
  int seed = 0;
  double test_accuracy = 0;
  double train_seconds = 0;
  std::string created;  ///< filled on save if empty
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
