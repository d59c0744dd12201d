#pragma once
/// Max, average and global average pooling over channel-last (HWC) images.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

/// Window of a pooling layer: the ONNX MaxPool / AveragePool attributes kernel_shape, strides and pads.
struct PoolGeometry {
  int kh = 1, kw = 1;  ///< window extent (kernel_shape)
  int sh = 1, sw = 1;  ///< strides
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  ///< pads [top, left, bottom, right]
  /// Square window, equal strides, no padding (the required spec args).
  static PoolGeometry square(int kernel, int stride);
  bool operator==(const PoolGeometry&) const = default;
};

/// Common geometry of the pooling layers: a kh x kw window moved by (sh, sw) over each channel of the
/// input padded by pads; H_out = floor((H + pad_top + pad_bottom - kh) / sh) + 1, likewise W_out (no
/// ceil_mode). Rows and columns the last window does not reach are ignored. Every pad must be smaller
/// than the window on its axis, so every window holds at least one input value.
/// Spec args: required in_c, in_h, in_w, kernel, stride (square window, equal strides, no padding);
/// optional kernel_shape [kh, kw], strides [sh, sw], pads [top, left, bottom, right]. spec() writes
/// kernel = kh, stride = sh and each optional argument only where it differs from what they imply.
class Pool2d : public Layer {
 public:
  LayerSpec spec() const override;
  Shape input_shape() const override { return in_; }
  Shape output_shape() const override { return out_; }
  const PoolGeometry& geometry() const { return g_; }
  int kernel() const { return g_.kh; }
  int stride() const { return g_.sh; }

 protected:
  Pool2d(const char* kind, Shape in, const PoolGeometry& g);
  /// Window of output (oh, ow) clipped to the input: rows [i0, i1), columns [j0, j1) of the input.
  void window(int oh, int ow, int& i0, int& i1, int& j0, int& j1) const {
    const int ih = oh * g_.sh - g_.pad_top, iw = ow * g_.sw - g_.pad_left;
    i0 = std::max(0, ih), i1 = std::min(in_.h, ih + g_.kh);
    j0 = std::max(0, iw), j1 = std::min(in_.w, iw + g_.kw);
  }
  const char* kind_;
  Shape in_, out_;
  PoolGeometry g_;
};

/// Maximum over each window, per channel; padding never wins (only input values compete). The
/// gradient goes to the first maximal input of the window (row-major window order) on ties.
/// Spec kind "maxpool2d".
class MaxPool2d final : public Pool2d {
 public:
  MaxPool2d(Shape in, int kernel, int stride);
  MaxPool2d(Shape in, const PoolGeometry& g);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;

 private:
  /// Per output element, the feature index (within its sample) of the selected input.
  std::vector<std::int32_t> argmax_;
  long rows_ = 0;
  bool have_cache_ = false;
};

/// Mean over each window, per channel. With count_include_pad (the default, PyTorch's) the window sum
/// is divided by kh * kw, padded zeros included; without it by the number of input values in the
/// window. Spec kind "avgpool2d", optional arg count_include_pad (0 or 1, default 1; written only when 0).
class AvgPool2d final : public Pool2d {
 public:
  AvgPool2d(Shape in, int kernel, int stride);
  AvgPool2d(Shape in, const PoolGeometry& g, bool count_include_pad = true);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  bool count_include_pad() const { return count_include_pad_; }
  /// 1 / divisor of the window of output (oh, ow).
  float scale(int oh, int ow) const;

 private:
  bool count_include_pad_;
  long rows_ = 0;
  bool have_cache_ = false;
};

/// Global average pooling: (c, h, w) -> (c, 1, 1), the mean of each channel over all h * w positions
/// (summed in double, rounded once). Spec kind "globalavgpool", args c, h, w (the input shape).
class GlobalAvgPool final : public Layer {
 public:
  explicit GlobalAvgPool(Shape in);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return in_; }
  Shape output_shape() const override { return {in_.c, 1, 1}; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;

 private:
  Shape in_;
  long rows_ = 0;
  bool have_cache_ = false;
};

}  // namespace aimc::nets
