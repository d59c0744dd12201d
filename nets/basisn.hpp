#pragma once
/// BasisN (Eldebiky, Zhang, Yin, Zhuo, Lin, Schlichtmann, Li, "BasisN: Reprogramming-Free RRAM-Based
/// In-Memory-Computing by Basis Combination for Deep Neural Networks", arXiv:2407.03738): the kernels of
/// every participating layer are combinations of M global basis vectors of length L, shared by all
/// layers, with quantized per-layer coefficients. The basis is written to the crossbars once; each layer
/// applies its inputs to the basis crossbar and combines the M responses digitally.
///
/// Representation (this project's reading of the paper, stated so it can be checked):
///   A Dense or Conv2d layer (groups = 1) with crossbar view W (K = kh kw C inputs x N outputs) has its
///   input channels cut into S = ceil(C / g) groups of g = L / (kh kw) channels (the last group zero-padded),
///   so a segment is the kh x kw x g receptive field of one channel group: for 3x3 convolutions with
///   L = 9 g it is "3x3 kernels over input-channel groups". A dense layer is the 1x1 case on a 1x1 image:
///   its K inputs are cut into S = ceil(K / L) consecutive vectors of length L (the last zero-padded).
///   The rows of W belonging to segment s (taps major, channels minor, padded to L) are W_s (L x N), and
///       W_s = B C_s,   B (L x M) the global basis,  C_s (M x N) the layer's coefficients,
///   i.e. the kernel slice of output o over segment s is sum_j c_{s,j,o} B_j.
///   The layer then computes y = sum_s (X_s B) C_s + b with X_s (P x L) the inputs of segment s at the
///   P output positions. It is two graph nodes, so the analog mapping needs no special case:
///     "basis_product": a MatmulLayer whose crossbar weight is B (a slot bound to the one shared tensor);
///                      its crossbar input rows are the segments X_s (positions() = P S), its output the
///                      responses R (channel s M + j at each output position = X_s B_j).
///     "basis_combine": digital, y = R C + b per output position, C = [C_0; ...; C_{S-1}] (S M x N),
///                      the coefficients quantized in the forward pass (below).
///   With M = L and C_s = B^T W_s for an orthonormal B the pair computes the original layer (up to float
///   rounding: the sum is taken in another order).
///
/// Quantization (straight-through estimator: backward uses the quantized values for dL/dx and passes
/// dL/dQ(C) to C unchanged, Bengio et al. 2013):
///   coefficients, per output column o with scale s_o = max_k |C_ko|:
///     uniform, b bits:  Q(c) = s_o round(c / s_o (2^(b-1) - 1)) / (2^(b-1) - 1)
///     pow2, b bits:     Q(c) = sign(c) s_o 2^(-e), e in {0, ..., 2^(b-1) - 2}, the nearest power in
///                       log2 (|c| / s_o in [2^(k-1), 2^k) rounds up iff its mantissa >= 2^(-1/2)); values
///                       below s_o 2^(-(E - 1/2)), E = 2^(b-1) - 1 levels, become 0. Each product is then a
///                       shift of the basis response (shift-and-add combination).
///   The basis is not quantized here: on hardware it is held at the precision of the analog array
///   model that `aimc mc` maps it onto (continuous RRAM conductances with their programming variation, or
///   B bits through mapping.weight_slices), the same way as any other layer's weights.
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "data/dataset.hpp"
#include "nets/conv2d.hpp"
#include "nets/layer.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

namespace aimc::nets {

/// Rounds every entry of w to the quantizer above: mode "uniform" | "pow2", bits >= 2, one scale per
/// column (per_column) or one for the whole matrix. bits == 0 copies w.
void basis_quantize(const Matrix& w, int bits, const std::string& mode, bool per_column, Matrix& q);

/// The crossbar half of a BasisN layer. Kind "basis_product": args in_c, in_h, in_w, kernel, stride, pad
/// (and the optional conv2d geometry args kernel_shape, strides, pads, dilations), length L, size M.
/// Slots: "basis" (L x M, usually bound to the network's shared basis),
/// "bias" (1 x M, zero and frozen: a MatmulLayer has one; the basis has no bias).
class BasisProduct final : public MatmulLayer {
 public:
  BasisProduct(Shape in, const ConvGeometry& g, int length, int size);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return in_; }
  Shape output_shape() const override { return out_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  /// U(-sqrt(3/L), sqrt(3/L)) (unit-variance responses for unit inputs; to_basisn sets B itself).
  void init(Stream& stream) override;
  long long macs() const override { return (long long)positions() * length_ * size_; }

  /// The basis (L x M): the crossbar's weights.
  const Matrix& weight() const override { return params_[0]->value; }
  const Matrix& bias() const override { return params_[1]->value; }
  int positions() const override { return out_.h * out_.w * segments_; }
  const Matrix& lower(const Matrix& x, Matrix& scratch) const override;
  Eigen::Ref<const Matrix> lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                         Matrix& scratch) const override;
  void raise(const Matrix& products, Matrix& y) const override;

  int length() const { return length_; }
  int size() const { return size_; }
  int segments() const { return segments_; }
  int group() const { return group_; }
  const ConvGeometry& geometry() const { return conv_.geometry(); }

 private:
  /// Segment rows of samples [0, nb) of x into rows (nb * positions(), L).
  void lower_rows(const float* x, long nb, float* rows, std::vector<float>& buf) const;
  Shape in_, out_;
  Conv2d conv_;  // geometry and im2col only (its own slots are unused)
  int length_, size_, segments_, group_;
  std::vector<std::vector<float>> rows_, drows_, buf_;  // per-thread scratch
  Matrix dw_parts_;                                     // per-chunk basis gradients, reduced in chunk order
  Matrix x_;
  bool have_x_ = false;
};

/// The digital half. Kind "basis_combine": args segments S, size M, out N, h, w (output positions),
/// coeff_bits (0 = float), coeff_mode ("uniform" | "pow2"). Slots "coeff" (S M x N), "bias" (1 x N).
/// Not a MatmulLayer: the analog mapping never places it on a crossbar.
class BasisCombine final : public Layer {
 public:
  BasisCombine(int segments, int size, int out, int h, int w, int coeff_bits = 0, std::string coeff_mode = "pow2");
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return {segments_ * size_, h_, w_}; }
  Shape output_shape() const override { return {out_, h_, w_}; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  void init(Stream& stream) override;
  long long macs() const override { return (long long)h_ * w_ * segments_ * size_ * out_; }

  /// The coefficients as used (quantized when coeff_bits > 0).
  Matrix coefficients() const;
  int coeff_bits() const { return bits_; }
  const std::string& coeff_mode() const { return mode_; }
  void set_quantization(int bits, const std::string& mode);

 private:
  int segments_, size_, out_, h_, w_, bits_;
  std::string mode_;
  Matrix cq_;  // the coefficients of the last forward
  Matrix x_;
  bool have_x_ = false;
};

/// What to_basisn converts and how.
struct BasisOptions {
  int length = 72;                  ///< L, basis vector length (9 g for 3x3 kernels over g channels)
  int size = 64;                    ///< M, number of basis vectors (<= L)
  std::string layers = "all";       ///< all | inner (first and last Dense/Conv2d stay standard) | list "0,2"
  int coeff_bits = 0;               ///< 0: float coefficients (set bits for quantization-aware fine-tuning)
  std::string coeff_mode = "pow2";  ///< uniform | pow2
};

/// One converted layer.
struct BasisLayerInfo {
  std::string name;
  long long rows = 0, cols = 0, positions = 0;  ///< K, N, P of the standard layer
  int segments = 0;                              ///< S
  /// ||W - W_basis||_F / ||W||_F right after the conversion (float coefficients), over the weights the
  /// layer has (the zero-padded rows of a last segment meet zero inputs and are not counted).
  double fit_error = 0;
};

/// Replaces each selected Dense/Conv2d node (groups = 1, kh kw dividing L) by a basis_product node
/// "<name>.basis" and a basis_combine node "<name>" (later readers keep reading "<name>"). The basis is
/// the top-M left singular vectors of all segments W_s (columns) of all converted layers, each layer's
/// segments weighted by 1 / ||W_l||_F so that every layer counts equally whatever its scale; each layer's
/// coefficients are C_s = B^T W_s, the least-squares fit onto that orthonormal basis. Other nodes are
/// copied. Errors name the option (basisn.length, basisn.size, basisn.layers).
Network to_basisn(const Network& net, const BasisOptions& o, std::vector<BasisLayerInfo>* info = nullptr);

/// The one basis tensor of a BasisN network (nullptr if it has no basis_product node).
ParamPtr shared_basis(const Network& net);

/// Sets the coefficient quantization of every basis_combine node.
void set_coefficient_quantization(Network& net, int bits, const std::string& mode);

/// Freezes or thaws the basis and the coefficients (and the combine biases with the coefficients);
/// every other tensor is set to `others`.
void set_basis_trainable(Network& net, bool basis, bool coefficients, bool others);

}  // namespace aimc::nets
