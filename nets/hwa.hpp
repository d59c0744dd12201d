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
///        device          W~ = the effective weights (devices/analog_array.hpp) of W programmed on the
///                        configured substrate (mapping.substrate and its section, e.g. [pcm] with its
///                        pcm.t_inference_s), cut into mapping.tile_rows x mapping.tile_cols tiles with
///                        w_max = max |W| as the analog mapping does; tile (r, c) programmed from
///                        Stream(seed, "hwa.weights", {s, l}).child("tile", {r, c}), and scaled by
///                        the configured mapping.drift_compensation factor(s) computed from its
///                        reference and effective weights as nets/analog.hpp does (the analog
///                        mapping scales the outputs; a scale of the outputs before the bias is the
///                        same scale of W). sigma_w is unused.
///   2. DAC (io = "quantized"): x -> Dac::quantize(x) with the layer's full scale x_max
///      (devices/dac.hpp); STE: dL/dx = dL/dx_q where |x| <= x_max (and x >= 0 for unsigned inputs),
///      0 outside (where the quantizer clips). x_max is the calibrated max |x| (input_range =
///      "calibrated") or a trained parameter initialized to it (input_range = "learned", the clipping
///      gradient of PACT, Choi et al. 2018, as in aihwkit's learn_input_range):
///        dL/dx_max = sum over clipped inputs of dL/dx_q sign(x)
///      stepped by the training optimizer with the network's parameters (StepHook::parameters), kept
///      >= 1e-6 of its initial value.
///   3. the layer's own product and bias with W~: y = lower(x_q) W~ + b;
///   4. read-out (io = "quantized") of the pre-bias output Y = y - b per output channel j, after
///      mapping.readout: "adc": ranges s_j calibrated like the analog mapping's (devices/adc.hpp), ADC
///      noise from Stream(seed, "hwa.adc", {s, l}); "sense_amp": the 1-bit sense amplifier
///      (devices/sense_amp.hpp) with its per-column scale s_j calibrated on the clean outputs, offsets
///      drawn per step from Stream(seed, "hwa.sense_amp", {s, l}) and read noise from
///      Stream(seed, "hwa.adc", {s, l}); "ideal": no conversion. STE: the gradient passes where
///      |Y| <= s_j (the hardtanh STE of a binarizer, Hubara et al. 2016, for the sense amplifier), 0
///      where it clips;
///   4'. partial_sums = "tile" (io = "quantized", mapping.readout != "ideal"): the layer's K crossbar
///      inputs are cut into row blocks r of mapping.tile_rows rows, as the analog mapping cuts its
///      tiles, and each block's partial sum P_r = lower(x_q)[:, rows r] W~[rows r, :] is converted by
///      its own read-out and the results are summed digitally, Y = sum_r read_r(P_r) (step 4 of
///      nets/analog.hpp with one DAC phase; the ADC-less 1-bit partial sums of Apolinario et al.,
///      arXiv:2211.02167). Read-out r is calibrated on block r's partial sums of the calibration
///      batch (ADC ranges s_rj, or the sense amplifier's least-squares scales s_rj with zero offsets),
///      its sense-amp offsets are drawn per step from Stream(seed, "hwa.sense_amp", {s, l})
///      .child("tile", {r}) and its read noise (ADC or sense-amp) from Stream(seed, "hwa.adc", {s, l})
///      .child("tile", {r}). STE: dL/dP_r = dL/dY where |P_r| <= s_rj, 0 where block r clips; the
///      weight gradient of rows r is X_r^T dL/dP_r and the lowered input gradient of rows r is
///      dL/dP_r W~_r^T (scattered back through im2col for Conv2d). Column splitting (tile_cols) does
///      not change a per-column conversion, so only rows matter. With tile_rows >= K there is one
///      block, the whole dot product: the "layer" computation runs and the numbers are the same.
///   5. output noise (sigma_out > 0): Y += sigma_out f_j z, f_j the channel's calibrated full scale
///      (the read-out's s_j, sum_r s_rj for partial_sums = "tile", or max |Y_j| on the calibration
///      batch without a read-out), z from Stream(seed, "hwa.out", {s, l}); the bias is added
///      digitally after it (its gradient is dL/dy, unmasked).
/// The gradient is computed with W~ and added to the layer's weight Parameter, so the optimizer
/// steps the clean reference weights, which are restored at the end of backward(). A frozen
/// weight (trainable = false) is therefore never changed.
/// After each optimizer step (end_step) the weights of the selected layers are clipped:
///   clip = "fixed": |w| <= clip_value;  clip = "sigma": |w| <= clip_value * std(W of the layer).
///
/// Per-layer settings are the configuration's for that layer (AnalogConfig::for_layer with the
/// layer's ordinal among the network's Dense/Conv2d layers), so overrides apply as in `aimc mc`.
///
/// Simplification (stated) of partial_sums = "layer", the default: the read-out sees each output
/// channel's whole dot product, as if the layer's K inputs fit in one tile; the analog mapping
/// (nets/analog.hpp) splits K > tile_rows into tiles whose partial sums are converted separately
/// (device weights are drawn tile by tile). partial_sums = "tile" (step 4') trains on that split.
/// Either way the DAC is one phase (the quantized input): bit-serial or two-phase DACs
/// (dac.bit_serial, dac.signed_mode = "two_phase" with signed inputs) convert each phase separately
/// on the chip, which HWA training does not model.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "nets/analog.hpp"
#include "nets/network.hpp"
#include "nets/optimizer.hpp"

namespace aimc::nets {

struct HwaParams {
  std::string weight_noise = "none";  ///< none | additive | multiplicative | lognormal | device
  double sigma_w = 0.0;               ///< spread of the weight noise (relative; see the file comment)
  std::string io = "ideal";           ///< ideal | quantized: DAC and read-out of the hardware sections
  std::string partial_sums = "layer";  ///< layer | tile: where the read-out converts (file comment, 4')
  std::string input_range = "calibrated";  ///< DAC full scale: calibrated | learned
  double sigma_out = 0.0;             ///< additive output noise relative to the channel's full scale
  std::string clip = "none";          ///< weight clipping after each step: none | fixed | sigma
  double clip_value = 0.0;            ///< fixed: bound on |w|; sigma: bound in standard deviations of W
  static std::span<const Param<HwaParams>> params();
  /// clip != none needs clip_value > 0; weight_noise additive|multiplicative|lognormal needs
  /// sigma_w > 0; input_range = learned needs io = quantized.
  void check() const;
};

/// HWA training of a network: installs an HWA product on the given layers (network node indices of
/// Dense/Conv2d layers) and removes them again when destroyed. Not thread-safe; one per network.
class HwaTraining final : public StepHook {
 public:
  /// `hw`: the hardware sections (mapping, dac, adc, sense_amp, the substrate's), validated here.
  HwaTraining(Network& net, const HwaParams& p, const AnalogConfig& hw, std::vector<std::size_t> layers,
              std::uint64_t seed);
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
  /// The learned input ranges (input_range = "learned"), one 1 x 1 parameter per selected layer.
  std::vector<Parameter*> parameters() override;
  /// Full scale of the DAC of selected layer l (ordinal), after calibrate(): calibrated or learned.
  double x_max(std::size_t l) const;
  /// ADC range per output channel of selected layer l, after calibrate() with io = "quantized" and
  /// partial_sums = "layer" (or one row block).
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
