#pragma once
/// An in-memory labelled dataset: one sample per row of x (features in HWC order, see core/tensor.hpp).
#include <string>

#include "core/tensor.hpp"

namespace aimc::data {

struct Dataset {
  std::string name;  ///< e.g. "fashion-mnist/test"
  Matrix x;          ///< (n, shape.size()) features
  VectorI y;         ///< (n) labels in [0, classes)
  Shape shape;       ///< per-sample shape
  int classes = 0;
  long long size() const { return x.rows(); }
  /// The first n samples (n clamped to size()).
  Dataset head(long long n) const;
};

}  // namespace aimc::data
