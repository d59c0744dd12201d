#pragma once
/// Fixed per-channel input normalization.
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

/// y = (x - mean_c) / std_c per channel c (torchvision's Normalize), shape kept; no parameters. An
/// imported model's input normalization is this node, first in the graph, so every command that
/// feeds the model raw data applies it. Computed in double from the float input, rounded once.
/// Spec kind "normalize", args c, h, w, mean (list of c numbers), std (list of c positive numbers).
class Normalize final : public Layer {
 public:
  Normalize(Shape shape, std::vector<double> mean, std::vector<double> sd);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return std_; }

 private:
  Shape shape_;
  std::vector<double> mean_, std_;
  long rows_ = 0;
  bool have_cache_ = false;
};

}  // namespace aimc::nets
