#pragma once
/// On-chip learning of a fully connected sigmoid network whose weights live in pulse-programmed
/// synapse arrays (devices/pulse_synapse.hpp), after Dey et al., "On-chip learning in a conventional
/// silicon MOSFET based analog hardware neural network", arXiv 1907.00625 (BioCAS 2019).
///
/// Per training sample, as the crossbar and its peripheral circuits do it:
///   1. forward: a_0 = [x, 1] (features as read pulse widths, plus a bias row driven at full scale);
///      for each layer z_l = a_{l-1} W_l read through the array (device I-V and read noise), and
///      a_l = [sigma(z_l), 1], sigma(z) = 1 / (1 + e^{-z}). The neuron is a subthreshold differential
///      pair: the fraction of its tail current in one branch is exactly 1 / (1 + exp(-kappa dV / U_T))
///      (Mead, Analog VLSI and Neural Systems, 1989, ch. 5), so its gain is folded into the weights.
///   2. error (loss 1/2 |y - t|^2, t one-hot): delta_L = (t - y) y (1 - y) from a subtractor and a
///      multiplier; hidden layers delta_l = (delta_{l+1} W_{l+1}^T)[without the bias row] h (1 - h),
///      the product read from the array transposed (rows as outputs), with its own read noise.
///   3. update: dW_l = eta a_{l-1}^T delta_l (the outer product of the update circuit), turned into
///      pulses per synapse (pulses_for: dw / dw_pulse, rounded, clipped to +-max_pulses) and applied;
///      all layers update after all deltas are known (plain SGD, batch 1).
///   4. the sample's cycle time passes (gate leakage).
/// With a float array (make_float_array) the same loop is exactly float SGD.
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "devices/pulse_synapse.hpp"

namespace aimc::nets {

/// Training schedule and update circuit of the on-chip loop.
struct OnchipParams {
  int epochs = 50;                      ///< passes over the training set
  double learning_rate = 0.5;           ///< eta
  double w_max = 8.0;                   ///< weight full scale (each array maps [-w_max, w_max])
  double init_scale = 1.0;              ///< initial weights ~ U(-init_scale, init_scale) / sqrt(fan_in + 1)
  int levels = 64;                      ///< weight levels per synapse (pulse resolution); 0 = infinite
  int max_pulses = 8;                   ///< most pulses one update applies (either sign)
  std::string rounding = "stochastic";  ///< nearest | stochastic
  double t_periph_s = 20e-9;            ///< neuron, error and update-circuit settling per sample

  static std::span<const Param<OnchipParams>> params();
  void check() const;
  devices::PulseRounding rounding_mode() const;
};

/// A network of pulse arrays: arrays[l] has (sizes[l] + 1) rows (the last is the bias) and
/// sizes[l + 1] columns.
struct OnchipNet {
  std::vector<int> sizes;
  std::vector<std::unique_ptr<devices::PulseArray>> arrays;
};

/// Initial weights of every layer for `sizes`, from `init` (U(-s, s) / sqrt(fan_in + 1), row-major).
std::vector<MatrixD> onchip_init(const std::vector<int>& sizes, double init_scale, Stream& init);

/// What training recorded.
struct OnchipCurve {
  std::vector<double> train_loss;  ///< mean loss of each epoch's training samples (as read during training)
  std::vector<double> train_acc;   ///< accuracy on the training set after each epoch (noisy reads)
  std::vector<double> test_acc;    ///< accuracy on the test set after each epoch (noisy reads)
  double read_J = 0, write_J = 0;  ///< energy of all training reads and updates (evaluations excluded)
  double pulses = 0;               ///< pulses applied during training
  double t_sample_s = 0;           ///< cycle time of one training sample
  long long samples = 0;           ///< training samples presented
};

/// Forward pass of every row of x (n x sizes[0]); returns the outputs (n x sizes.back()).
MatrixD onchip_forward(OnchipNet& net, const Eigen::Ref<const MatrixD>& x, Stream& read);
/// Accuracy of the argmax output against labels y.
double onchip_accuracy(OnchipNet& net, const Eigen::Ref<const MatrixD>& x, std::span<const int> y, Stream& read);

/// Trains in place with the schedule of `p`: each epoch visits the training rows in the order of
/// order.child("epoch", {e}), reads draw from `read`, pulse rounding and pulse noise from `update`.
/// `epoch_done(e)` is called after each epoch (progress). Deterministic in the streams.
OnchipCurve train_onchip(OnchipNet& net, const Eigen::Ref<const MatrixD>& x_train, std::span<const int> y_train,
                         const Eigen::Ref<const MatrixD>& x_test, std::span<const int> y_test, const OnchipParams& p,
                         const Stream& order, Stream& update, Stream& read,
                         const std::function<void(int)>& epoch_done = {});

}  // namespace aimc::nets
