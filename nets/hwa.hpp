#pragma once
/// Hardware-aware (HWA) training: every selected Dense/Conv2d layer computes its train-mode forward
/// through a differentiable model of the analog hardware, and its backward by the straight-through
/// estimator (STE). It is a Product (nets/layer.hpp) installed on the layers, so the ordinary
/// Network::forward/backward and nets::train run it; eval-mode passes stay digital.
///
/// Per mini-batch step s (set by begin_step) and selected layer l (ordinal among the selected ones):
///   1. weight noise, drawn once per step from Stream(seed, "hwa.weights", {s, l}), z ~ N(0, 1) per
///      weight, the same perturbed W~ in forward and backward (the semantics of aihwkit's weight
///      modifiers, aihwkit docs "WeightModifierParameter"):
///        additive        W~ = W + sigma_w max|W| z
///        multiplicative  W~ = W (1 + sigma_w z)
///        lognormal       W~ = W exp(sigma_w z)
///   2. DAC (io = "quantized"): x -> Dac::quantize(x) with the layer's calibrated full scale x_max
///      (devices/dac.hpp); STE: dL/dx = dL/dx_q where |x| <= x_max (and x >= 0 for unsigned inputs),
///      0 outside (where the quantizer clips).
///   3. the layer's own product and bias with W~: y = lower(x_q) W~ + b;
///   4. ADC (io = "quantized") on the pre-bias output Y = y - b per output channel j, ranges s_j
///      calibrated like the analog mapping's (devices/adc.hpp), ADC noise from
///      Stream(seed, "hwa.adc", {s, l}); STE: gradient passes where |Y| <= s_j, 0 where it clips;
///   5. output noise (sigma_out > 0): Y += sigma_out f_j z, f_j the channel's calibrated full scale
///      (the ADC range s_j, or max |Y_j| on the calibration batch with io = "ideal"), z from
///      Stream(seed, "hwa.out", {s, l}); the bias is added digitally after it (its gradient is dL/dy).
/// The gradient is computed with W~ and added to the layer's weight Parameter, so the optimizer
/// steps the clean reference weights, which are restored at the end of backward(). A frozen
/// weight (trainable = false) is therefore never changed.
/// After each optimizer step (end_step) the weights of the selected layers are clipped:
///   clip = "fixed": |w| <= clip_value;  clip = "sigma": |w| <= clip_value * std(W of the layer).
///
/// Simplification (stated): the ADC sees each output channel's whole dot product, as if the layer's
/// K inputs fit in one tile; the analog mapping (nets/analog.hpp) splits K > tile_rows into tiles
/// whose partial sums are converted separately.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "devices/adc.hpp"
#include "devices/dac.hpp"
#include "nets/network.hpp"
#include "nets/optimizer.hpp"

namespace aimc::nets {

struct HwaParams {
  std::string weight_noise = "none";  ///< none | additive | multiplicative | lognormal
  double sigma_w = 0.0;               ///< spread of the weight noise (relative; see the file comment)
  std::string io = "ideal";           ///< ideal | quantized: DAC and ADC of the [dac] and [adc] sections
  double sigma_out = 0.0;             ///< additive output noise relative to the channel's full scale
  std::string clip = "none";          ///< weight clipping after each step: none | fixed | sigma
  double clip_value = 0.0;            ///< fixed: bound on |w|; sigma: bound in standard deviations of W
  static std::span<const Param<HwaParams>> params();
  /// clip != none needs clip_value > 0; weight_noise != none needs sigma_w > 0.
  void check() const;
};

/// HWA training of a network: installs an HWA product on the given layers (network node indices of
/// Dense/Conv2d layers) and removes them again when destroyed. Not thread-safe; one per network.
class HwaTraining final : public StepHook {
 public:
  HwaTraining(Network& net, const HwaParams& p, const devices::DacParams& dac, const devices::AdcParams& adc,
              std::vector<std::size_t> layers, std::uint64_t seed);
  ~HwaTraining() override;
  HwaTraining(const HwaTraining&) = delete;
  HwaTraining& operator=(const HwaTraining&) = delete;

  /// Sets the DAC full scales and ADC ranges (io = "quantized") and the output-noise full scales from
  /// the clean digital activations of network inputs x (an eval-mode forward). Required before the
  /// first train-mode forward when io = "quantized" or sigma_out > 0; may be repeated (e.g. per epoch).
  void calibrate(const Matrix& x);
  void begin_step(std::uint64_t step) override;
  void end_step(std::uint64_t step) override;

  const std::vector<std::size_t>& layers() const { return layers_; }
  /// Full scale of the DAC of selected layer l (ordinal), after calibrate().
  double x_max(std::size_t l) const;
  /// ADC range per output channel of selected layer l, after calibrate() with io = "quantized".
  const std::vector<double>& adc_range(std::size_t l) const;

  class Product;  // hwa.cpp

 private:
  Network& net_;
  HwaParams p_;
  std::vector<std::size_t> layers_;
  std::vector<std::shared_ptr<Product>> products_;
  std::uint64_t step_ = 0;
};

/// Node indices of every Dense/Conv2d layer of `net`, in order (all analog).
std::vector<std::size_t> matmul_layers(const Network& net);

}  // namespace aimc::nets
