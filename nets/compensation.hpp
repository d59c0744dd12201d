#pragma once
/// Residual compensation block (CorrectNet's error compensation, Eldebiky et al., DATE 2023,
/// arXiv:2211.14917, Sec. III-B): a small variation-free (digital) layer after a layer whose output
/// still carries the errors of the analog hardware, y = x + C(x), so that training C with the
/// backbone frozen teaches it to pull the noisy feature map back towards the clean one.
///
/// Kind "compensation", args c, h, w (the feature map it follows, HWC) and rank. C acts on the
/// channel vector of every position (a 1x1 convolution of a feature map, a dense map of a feature
/// vector with h = w = 1):
///   rank = 0 or rank >= c:  C(x) = x W + b,      W (c x c), zero-initialized;
///   0 < rank < c:           C(x) = (x A) B + b,  A (c x rank) He-uniform, B (rank x c) zero-initialized
///                           (a linear low-rank bottleneck).
/// b (1 x c) is zero-initialized, so an initialized block is exactly the identity (y = x bit for bit:
/// x + 0 in float is x) and the gradient still reaches W (or B) from the first step.
/// Arg relu = 1 (for a site whose feature map is non-negative, after a ReLU): y = max(x + C(x), 0), so
/// the corrected map stays in the domain the next layer was trained on (and its DAC was calibrated
/// for: an unsigned DAC clips negative inputs, a digital layer would not, and a block trained through
/// the one would compute something else on the other); still exactly the identity at initialization
/// for x >= 0, gradient 0 where the output is clamped.
/// It is not a MatmulLayer: the analog mapping and hardware-aware training never place it on analog
/// hardware, and the ordinals of the backbone's Dense/Conv2d layers (per-layer overrides) stay as
/// they were.
#include "nets/layer.hpp"

namespace aimc::nets {

class Compensation final : public Layer {
 public:
  Compensation(int c, int h, int w, int rank, bool relu = false);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return {c_, h_, w_}; }
  Shape output_shape() const override { return {c_, h_, w_}; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  /// Identity start: W (or B) and b zero, A He-uniform U(-sqrt(6/c), sqrt(6/c)); gradients zeroed.
  void init(Stream& stream) override;
  long long macs() const override;
  /// True when C has the low-rank form (slots a, b_, bias); else slots weight, bias.
  bool low_rank() const { return rank_ > 0 && rank_ < c_; }
  int rank() const { return rank_; }
  bool relu() const { return relu_; }

 private:
  int c_, h_, w_, rank_;
  bool relu_;
  Matrix x_, xa_, y_;  ///< input, x A and (relu) output of the last train-mode forward
  bool have_x_ = false;
};

}  // namespace aimc::nets
