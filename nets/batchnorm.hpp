#pragma once
/// Batch normalization over the channels of HWC images (Ioffe & Szegedy, ICML 2015).
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

/// BatchNorm(shape, eps, momentum), per channel c over the batch and all h * w positions:
///   train: y = gamma_c (x - mu_c) / sqrt(var_c + eps) + beta_c with the batch mean mu_c and biased
///          variance var_c (Ioffe & Szegedy 2015, Alg. 1); then, PyTorch's convention,
///          running_mean = (1 - momentum) running_mean + momentum mu_c,
///          running_var  = (1 - momentum) running_var + momentum var_c n / (n - 1)  (unbiased, n =
///          batch * h * w values per channel; train mode needs n >= 2).
///   eval:  y = (x - running_mean_c) s_c + beta_c with s_c = gamma_c / sqrt(running_var_c + eps), the
///          affine map fold_batchnorm (nets/fold.hpp) merges into the layer before.
/// ONNX BatchNormalization's momentum m_onnx is 1 - momentum here.
///
/// Statistics, normalization and gradients are computed in double from the float inputs and rounded
/// once to float; the per-channel sums run over fixed chunks of samples, reduced in chunk order, so
/// results are bit-identical for any thread count. backward() follows a train-mode forward (it uses
/// the batch statistics): dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat)).
///
/// Parameter slots in order: weight (gamma, 1 x c, init 1), bias (beta, 1 x c, init 0), running_mean
/// (1 x c, init 0, trainable false), running_var (1 x c, init 1, trainable false); none decays.
/// Spec kind "batchnorm", args c, h, w, optional eps (float > 0, default 1e-5) and momentum (float in
/// [0, 1], default 0.1), written only when they differ from the defaults.
class BatchNorm final : public Layer {
 public:
  static constexpr double kDefaultEps = 1e-5;
  static constexpr double kDefaultMomentum = 0.1;

  explicit BatchNorm(Shape shape, double eps = kDefaultEps, double momentum = kDefaultMomentum);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  /// gamma = 1, beta = 0, running_mean = 0, running_var = 1 (PyTorch's reset); gradients zeroed. No draws.
  void init(Stream& stream) override;

  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  const Matrix& gamma() const { return params_[0]->value; }
  const Matrix& beta() const { return params_[1]->value; }
  const Matrix& running_mean() const { return params_[2]->value; }
  const Matrix& running_var() const { return params_[3]->value; }

 private:
  Shape shape_;
  double eps_, momentum_;
  Matrix x_;                          ///< input of the last train-mode forward
  std::vector<double> mean_, inv_std_;  ///< its batch statistics per channel
  std::vector<double> parts_;         ///< per-chunk per-channel partial sums (2 per channel)
  bool have_cache_ = false;
};

}  // namespace aimc::nets
