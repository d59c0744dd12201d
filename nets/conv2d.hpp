#pragma once
/// 2-D convolution over channel-last (HWC) images by im2col + GEMM.
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

/// Conv2d(in, out_channels, kernel, stride, pad): square kernel, equal stride and zero padding on
/// both axes. Output extent H_out = (H + 2 pad - kernel) / stride + 1 (floor), likewise W_out.
///
/// The crossbar view of the weight is (K x out_channels) with K = kernel * kernel * in.c; row
/// (kh * kernel + kw) * in.c + c holds the tap at kernel offset (kh, kw), input channel c. lower()
/// builds one patch row of K entries in that order per output position (oh, ow) of every sample, so
/// the products (B * H_out * W_out, out_channels) are already the output (B, H_out * W_out *
/// out_channels) in HWC and raise() only adds the bias (Chellapilla et al., 2006, "High performance
/// convolutional neural networks for document processing").
///
/// forward()/backward() run in parallel over fixed chunks of samples (nets/detail.hpp) and reduce
/// per-chunk weight gradients in chunk order: bit-identical for any thread count. They keep state and
/// must not be called concurrently on one object; lower() and raise() are const and thread-safe.
/// Spec: kind "conv2d", args in_c, in_h, in_w, out_c, kernel, stride, pad.
class Conv2d final : public MatmulLayer {
 public:
  Conv2d(Shape in, int out_channels, int kernel, int stride = 1, int pad = 0);

  /// Factory of the layer registry (layer.cpp).
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return in_; }
  Shape output_shape() const override { return out_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  /// He/Kaiming uniform weights U(-sqrt(6/K), sqrt(6/K)) with fan-in K = kernel^2 * in.c (He et al.,
  /// ICCV 2015, Eq. 10 with a uniform law of the same variance 2/K), zero bias. Gradients are zeroed.
  void init(Stream& stream) override;
  long long macs() const override { return (long long)positions() * patch_size() * out_.c; }

  const Matrix& weight() const override { return wp().value; }
  const Matrix& bias() const override { return bp().value; }
  int positions() const override { return out_.h * out_.w; }
  /// Fills scratch (B * positions(), K) with the im2col patches of x and returns it.
  const Matrix& lower(const Matrix& x, Matrix& scratch) const override;
  Eigen::Ref<const Matrix> lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                         Matrix& scratch) const override;
  void raise(const Matrix& products, Matrix& y) const override;

  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int pad() const { return pad_; }
  /// K = kernel^2 * in.c, the number of crossbar input rows.
  int patch_size() const { return kernel_ * kernel_ * in_.c; }

 private:
  /// Patch rows of samples [b0, b0 + nb) of x into cols (nb * positions(), K), row-major.
  void im2col(const float* x, long nb, float* cols) const;
  /// Scatter-adds patch-row gradients back to the input gradient of nb samples (dx zeroed first).
  void col2im(const float* dcols, long nb, float* dx) const;

  Shape in_, out_;
  int kernel_, stride_, pad_;
  Parameter& wp() const { return *params_[0]; }
  Parameter& bp() const { return *params_[1]; }
  Matrix x_;  ///< input of the last train-mode forward
  bool have_x_ = false;
  /// Per-thread scratch (patches and their gradients of one chunk), kept between calls.
  std::vector<std::vector<float>> cols_, dcols_;
  /// Per-chunk weight and bias gradients, reduced in chunk order.
  Matrix dw_parts_, db_parts_;
};

}  // namespace aimc::nets
