#pragma once
/// Max and average pooling over channel-last (HWC) images, no padding.
#include <cstdint>
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

/// Common geometry of the pooling layers: a kernel x kernel window moved by stride over each channel,
/// without padding; H_out = (H - kernel) / stride + 1 (floor), likewise W_out. Rows and columns the
/// last window does not reach are ignored. Spec args: in_c, in_h, in_w, kernel, stride.
class Pool2d : public Layer {
 public:
  LayerSpec spec() const override;
  Shape input_shape() const override { return in_; }
  Shape output_shape() const override { return out_; }
  int kernel() const { return kernel_; }
  int stride() const { return stride_; }

 protected:
  Pool2d(const char* kind, Shape in, int kernel, int stride);
  const char* kind_;
  Shape in_, out_;
  int kernel_, stride_;
};

/// Maximum over each window, per channel. The gradient goes to the first maximal input of the window
/// (row-major window order) on ties. Spec kind "maxpool2d".
class MaxPool2d final : public Pool2d {
 public:
  MaxPool2d(Shape in, int kernel, int stride);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;

 private:
  /// Per output element, the feature index (within its sample) of the selected input.
  std::vector<std::int32_t> argmax_;
  long rows_ = 0;
  bool have_cache_ = false;
};

/// Mean over each window, per channel. Spec kind "avgpool2d".
class AvgPool2d final : public Pool2d {
 public:
  AvgPool2d(Shape in, int kernel, int stride);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;

 private:
  long rows_ = 0;
  bool have_cache_ = false;
};

}  // namespace aimc::nets
