#pragma once
/// Denoising block (Azizi, Sadeghi, Kamal, Pedram, "Efficient Noise Mitigation for Enhancing
/// Inference Accuracy in DNNs on Mixed-Signal Accelerators", arXiv:2409.18553): a small bottleneck
/// inserted after a feature map that carries the analog hardware's noise, trained with the backbone
/// frozen, y = x + D(x), exactly the identity when inserted.
///
/// Kind "denoise", args c, h, w (the feature map it follows, HWC rows), r (reduction: m = floor(c / r)
/// hidden channels, 1 <= r <= c) and form ("residual" | "probabilistic"). D is a bottleneck:
///   feature map (h w > 1):  1x1 conv c -> m, ReLU, 3x3 conv m -> m (pad 1, stride 1), ReLU, 1x1 conv m -> o
///   feature vector (h = w = 1): dense c -> m, ReLU, dense m -> m, ReLU, dense m -> o
/// with o = c ("residual") or o = 2c ("probabilistic"). Slots w1 (c x m), b1, w2 (9m x m, the 3x3 conv's
/// crossbar view, or m x m), b2, w3 (m x o), b3: the first two maps He-uniform, the last one (w3, b3)
/// zero-initialized, so an initialized block gives y == x bit for bit (x + 0.f == x, x - 0.f == x).
///
/// Forms, with h3 the last map's output at one position:
///   residual:       y = x + h3.
///   probabilistic:  h3 = (mu, s) (channels [0, c) and [c, 2c)), a per-element Gaussian model of the
///                   noise in x: x = clean + e, e ~ N(mu, exp(s)), s the log variance. y = x - mu in
///                   eval and in train mode (deterministic: no sampling of e in the forward pass).
///                   nll() is the extra loss term that fits (mu, s) to the observed noise.
/// The paper's block "predicts a noise mean and variance" (its abstract and summaries); its equations
/// were not reachable from this project's sources, so the probabilistic form and nll() below are this
/// project's reading of it, not a transcription.
///
/// Not a MatmulLayer: the analog mapping and hardware-aware training never place it on analog
/// hardware, and the ordinals of the backbone's Dense/Conv2d layers stay as they were. The maps are
/// Conv2d objects held internally (their slots bound to this layer's slots at every forward), serial
/// over fixed chunks as Conv2d itself: bit-identical for any thread count.
#include <memory>
#include <string>

#include "nets/conv2d.hpp"
#include "nets/layer.hpp"

namespace aimc::nets {

class Denoise final : public Layer {
 public:
  enum class Form { residual, probabilistic };
  /// Throws Error naming "denoise" and the argument for c, h, w < 1 or r outside [1, c].
  Denoise(int c, int h, int w, int r, Form form);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  /// "residual" / "probabilistic"; Error naming "denoise" and 'form' for anything else.
  static Form parse_form(const std::string& name);
  static const char* form_name(Form f);

  LayerSpec spec() const override;
  Shape input_shape() const override { return {c_, h_, w_}; }
  Shape output_shape() const override { return {c_, h_, w_}; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  /// dx from dy (plus, if nll() was called with a gradient request since the last forward, the NLL's
  /// gradient, so the result is the gradient of upstream loss + weight * nll); adds to the slots' gradients.
  void backward(const Matrix& dy, Matrix& dx) override;
  /// w1, w2 He-uniform U(-sqrt(6/F), sqrt(6/F)) (F = fan-in: c, then 9m or m) drawn in that order
  /// from `stream`; b1, b2, w3, b3 zero; gradients zeroed.
  void init(Stream& stream) override;
  /// positions * (c m + k^2 m^2 + m o), k = 3 for a feature map, 1 for a vector.
  long long macs() const override;

  /// Probabilistic form only (Error otherwise), after a Mode::train forward of the batch x (Error
  /// otherwise). With r = x - target (the noise actually present, target = the clean feature map,
  /// same shape as x), s' = clamp(s, -10, 10) and N = number of elements of x:
  ///   nll = (1/N) sum over elements 0.5 (log(2 pi) + s' + (r - mu)^2 exp(-s')),
  /// the mean Gaussian negative log-likelihood of r under N(mu, exp(s')) (in double). If dy is given,
  /// it is set to d nll / d h3 (B, h w 2c: per position mu's then s's gradients; the s gradient is 0
  /// where s is clamped), and the next backward() adds that to the head's gradient and adds
  /// d nll / dx through r, (r - mu) exp(-s') / N, to dx. target is not a function of x (no gradient).
  /// The gradients (dy and the pending ones) are those of weight * nll; the value returned is nll.
  double nll(const Matrix& target, Matrix* dy, double weight = 1.0);

  Form form() const { return form_; }
  int hidden() const { return m_; }
  int reduction() const { return r_; }

 private:
  void sync();  ///< binds the internal maps' slots to this layer's current slots
  int c_, h_, w_, r_, m_, o_;
  Form form_;
  std::unique_ptr<Conv2d> map1_, map2_, map3_;
  Matrix x_, z1_, a1_, z2_, a2_, h3_;  ///< input, pre/post-ReLU hiddens and head output of the last forward
  Matrix pending_head_, pending_dx_;   ///< nll() gradient awaiting backward() (empty: none)
  bool have_x_ = false;
};

}  // namespace aimc::nets
