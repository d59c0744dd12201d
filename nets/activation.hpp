#pragma once
/// Element-wise activation and reshaping layers.
#include <cstdint>
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

/// ReLU: y = max(x, 0) element-wise, shape kept. The derivative at x = 0 is taken as 0.
/// Spec kind "relu", args c, h, w.
class ReLU final : public Layer {
 public:
  explicit ReLU(Shape shape);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;

 private:
  Shape shape_;
  std::vector<std::uint8_t> mask_;  ///< x > 0 in the last train-mode forward
  long rows_ = 0;
  bool have_mask_ = false;
};

/// Clip: y = min(max(x, min), max) element-wise, shape kept (ONNX Clip; ReLU6 is min 0, max 6). The
/// gradient passes where min < x < max and is 0 elsewhere (also at the bounds). The bounds are kept as
/// given (double) and compared in float; either may be infinite (a one-sided clip), neither NaN, and
/// min <= max. Spec kind "clip", args c, h, w, min, max.
class Clip final : public Layer {
 public:
  Clip(Shape shape, double min, double max);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  double min() const { return min_; }
  double max() const { return max_; }

 private:
  Shape shape_;
  double min_, max_;
  std::vector<std::uint8_t> mask_;  ///< min < x < max in the last train-mode forward
  long rows_ = 0;
  bool have_mask_ = false;
};

/// Flatten: an image (c, h, w) becomes a vector (c*h*w, 1, 1). Samples are already flat rows in the
/// HWC layout, so data pass through unchanged and only the declared shape changes.
/// Spec kind "flatten", args c, h, w (the input shape).
class Flatten final : public Layer {
 public:
  explicit Flatten(Shape in);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return in_; }
  Shape output_shape() const override { return {in_.size(), 1, 1}; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;

 private:
  Shape in_;
  long rows_ = 0;
  bool have_cache_ = false;
};

}  // namespace aimc::nets
