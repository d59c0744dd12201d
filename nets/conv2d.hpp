#pragma once
/// 2-D convolution over channel-last (HWC) images by im2col + GEMM.
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

namespace detail {
struct Args;
}

/// Geometry of a Conv2d beyond the square case: the ONNX Conv attributes kernel_shape, strides, pads,
/// dilations and group (onnx.ai/onnx/operators/onnx__Conv.html), spelled as in the layer spec.
struct ConvGeometry {
  int kh = 1, kw = 1;  ///< kernel taps along h and w (kernel_shape)
  int sh = 1, sw = 1;  ///< strides
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  ///< zero padding (pads [top, left, bottom, right])
  int dh = 1, dw = 1;  ///< dilations: tap (i, j) reads the input at offset (i dh, j dw) from the window corner
  int groups = 1;      ///< in_c and out_c are split into this many groups; output group g reads input group g only
  /// Square kernel, equal strides, symmetric padding, no dilation, one group (the required spec args).
  static ConvGeometry square(int kernel, int stride, int pad);
  /// The geometry a layer spec describes: kernel, stride, pad and the optional kernel_shape, strides,
  /// pads, dilations (each overriding its scalar); groups is left at 1. Shared by every kind that takes
  /// conv2d's geometry arguments (conv2d, basis_product).
  static ConvGeometry from_args(const detail::Args& a);
  /// Appends kernel, stride, pad and each optional argument that differs from what they imply.
  void to_args(LayerSpec& s) const;
  bool operator==(const ConvGeometry&) const = default;
};

/// Conv2d(in, out_channels, geometry). Output extent
///   H_out = floor((H + pad_top + pad_bottom - dh (kh - 1) - 1) / sh) + 1, likewise W_out;
/// rows and columns the last window does not reach are ignored.
///
/// The crossbar view of the weight is (K x out_channels) with K = kh * kw * in.c; row (i * kw + j) * in.c
/// + c holds the tap at kernel offset (i, j), input channel c. lower() builds one patch row of K
/// entries in that order per output position (oh, ow) of every sample, so the products (B * H_out *
/// W_out, out_channels) are already the output (B, H_out * W_out * out_channels) in HWC and raise()
/// only adds the bias (Chellapilla et al., 2006, "High performance convolutional neural networks for
/// document processing").
///
/// Grouped convolution (groups > 1; depthwise: groups == in.c): the crossbar view keeps all in.c
/// channels per tap and is block-diagonal. Entry (row of channel c, output o) is structurally zero
/// unless c / (in.c / groups) == o / (out_channels / groups): this is the weight an analog array is
/// programmed with (zeros off the diagonal blocks), and raise(lower(x) * weight()) is the layer output.
/// init() draws only the in-group entries, backward() never adds to the others (masked gradient), and
/// forward() throws Error if one of them is not 0 (a file or an importer that wrote a dense weight).
/// forward()/backward() themselves compute group by group, one GEMM over the in-group taps
/// (kh * kw * in.c / groups rows) per group, so a depthwise layer costs in.c / groups times fewer
/// multiply-adds than its crossbar view.
///
/// forward()/backward() run in parallel over fixed chunks of samples (nets/detail.hpp) and reduce
/// per-chunk weight gradients in chunk order: bit-identical for any thread count. They keep state and
/// must not be called concurrently on one object; lower() and raise() are const and thread-safe.
///
/// Spec: kind "conv2d", required args in_c, in_h, in_w, out_c, kernel, stride, pad (square kernel,
/// equal strides, symmetric padding); optional kernel_shape [kh, kw], strides [sh, sw], pads [top,
/// left, bottom, right] (each overrides its scalar), dilations [dh, dw] (default [1, 1]), groups
/// (default 1). spec() writes kernel = kh, stride = sh, pad = pad_top and each optional argument only
/// where it differs from what those imply, so square layers keep their old specs.
class Conv2d final : public MatmulLayer {
 public:
  Conv2d(Shape in, int out_channels, int kernel, int stride = 1, int pad = 0);
  Conv2d(Shape in, int out_channels, const ConvGeometry& geometry);

  /// Factory of the layer registry (layer.cpp).
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return in_; }
  Shape output_shape() const override { return out_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  /// He/Kaiming uniform weights U(-sqrt(6/F), sqrt(6/F)) with fan-in F = kh * kw * in.c / groups (He et
  /// al., ICCV 2015, Eq. 10 with a uniform law of the same variance 2/F), drawn for the in-group
  /// entries only (in compact order: output-major within a row of group_patch_size() taps); zero bias.
  /// Gradients are zeroed.
  void init(Stream& stream) override;
  /// Multiply-adds per sample actually needed: positions * kh * kw * (in.c / groups) * out.c.
  long long macs() const override { return (long long)positions() * group_patch_size() * out_.c; }

  const Matrix& weight() const override { return wp().value; }
  const Matrix& bias() const override { return bp().value; }
  int positions() const override { return out_.h * out_.w; }
  /// Fills scratch (B * positions(), K) with the im2col patches of x and returns it.
  const Matrix& lower(const Matrix& x, Matrix& scratch) const override;
  Eigen::Ref<const Matrix> lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                         Matrix& scratch) const override;
  void raise(const Matrix& products, Matrix& y) const override;

  const ConvGeometry& geometry() const { return g_; }
  int groups() const { return g_.groups; }
  /// The square-case accessors (kernel_shape[0], strides[0], pads[0]).
  int kernel() const { return g_.kh; }
  int stride() const { return g_.sh; }
  int pad() const { return g_.pad_top; }
  /// K = kh * kw * in.c, the number of crossbar input rows.
  int patch_size() const { return g_.kh * g_.kw * in_.c; }
  /// kh * kw * in.c / groups: the taps one output reads (the fan-in).
  int group_patch_size() const { return g_.kh * g_.kw * (in_.c / g_.groups); }
  /// True if crossbar weight entry (row, col) is inside a diagonal block (always for groups == 1).
  bool in_group(int row, int col) const {
    return (row % in_.c) / (in_.c / g_.groups) == col / (out_.c / g_.groups);
  }
  /// Patch rows of samples [0, nb) of x (row-major samples, in_shape().size() floats each) over input
  /// channels [c0, c0 + cg) only, into cols (nb * positions(), kh * kw * cg), taps major, channels minor.
  /// Const and thread-safe (the BasisN product lowers channel groups with it, nets/basisn.hpp).
  void patches(const float* x, long nb, int c0, int cg, float* cols) const { im2col(x, nb, c0, cg, cols); }
  /// The adjoint of patches(): scatter-adds patch-row gradients of channels [c0, c0 + cg) into dx.
  void patches_add_grad(const float* dcols, long nb, int c0, int cg, float* dx) const {
    col2im_add(dcols, nb, c0, cg, dx);
  }

 private:
  /// Patch rows of samples [b0, b0 + nb) of x into cols (nb * positions(), kh * kw * cg), row-major,
  /// for input channels [c0, c0 + cg) only (all channels: c0 = 0, cg = in.c).
  void im2col(const float* x, long nb, int c0, int cg, float* cols) const;
  /// Scatter-adds patch-row gradients of channels [c0, c0 + cg) back to the input gradient of nb samples.
  void col2im_add(const float* dcols, long nb, int c0, int cg, float* dx) const;
  /// The in-group entries of the weight as a (group_patch_size() x out.c) matrix (column o holds the
  /// taps of output o over its group's channels); throws Error if an off-group entry is not 0.
  void compact_weight();
  /// Full crossbar row of compact row r (tap t = r / cg, channel c = r % cg) for output group g.
  int full_row(int r, int g) const {
    const int cg = in_.c / g_.groups;
    return (r / cg) * in_.c + g * cg + r % cg;
  }

  Shape in_, out_;
  ConvGeometry g_;
  Parameter& wp() const { return *params_[0]; }
  Parameter& bp() const { return *params_[1]; }
  Matrix x_;  ///< input of the last train-mode forward
  bool have_x_ = false;
  Matrix wc_;  ///< compact weight (groups > 1; for one group the weight itself is used)
  /// Per-thread scratch (patches and their gradients of one chunk), kept between calls.
  std::vector<std::vector<float>> cols_, dcols_;
  /// Per-chunk weight and bias gradients (compact rows), reduced in chunk order.
  Matrix dw_parts_, db_parts_;
};

}  // namespace aimc::nets
