#pragma once
/// `aimc import`: an ONNX model (torch.onnx.export) becomes an aimc model file (nets/onnx_import.hpp).
#include <string>
#include <vector>

namespace aimc::experiments {

struct ImportCliOptions {
  std::string model;                   ///< the .onnx file
  std::string out;                     ///< aimc model file to write (HDF5)
  std::vector<long long> input_shape;  ///< C, H, W for dynamic or missing input dimensions (empty: from the file)
  std::vector<double> mean, std;       ///< per-channel input normalization (empty: none)
  std::string name;                    ///< model name in the file (default: the file stem)
  bool force = false;                  ///< overwrite an existing model file
};

/// Imports, writes the model file (temporary file + rename: never half written) and prints the network
/// summary and its MACs per sample. Errors are aimc::Error naming the file.
int run_import(const ImportCliOptions& o);

}  // namespace aimc::experiments
