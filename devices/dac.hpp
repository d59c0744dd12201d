#pragma once
/// Input DAC: quantizes the inputs of a tile to B_x bits over a per-layer input range [0, x_max]
/// (magnitude) given by the caller, and decomposes them into the analog applications ("phases") that
/// the array actually sees, with the shift-and-add weights that recombine the digitized results.
///
/// Quantization: B_x is the magnitude precision. code = round(|x| / x_max * (2^B_x - 1)), saturated at
/// 2^B_x - 1; the quantized input is sign(x) * code * step with step = x_max / (2^B_x - 1). Unsigned
/// inputs (signed_inputs = false, e.g. after ReLU) clip negative values to 0.
///
/// Phases p = 1..P, each an input matrix X_p applied to the array and a weight a_p, such that for a
/// linear array X_q * W = sum_p a_p X_p * W; with ADCs the caller digitizes every phase and forms
///   y = sum_p a_p ADC(array(X_p))                                   (shift-and-add after the ADC):
///   differential, parallel:   P = 1: X_1 = X_q, a_1 = 1 (signed values on differential input lines);
///   two_phase, parallel:      X_1 = max(X_q, 0), a_1 = +1;  X_2 = max(-X_q, 0), a_2 = -1;
///   differential, bit-serial: for bit k = 0..B_x-1: X_k = sign(x) * bit_k(code) * x_max, a_k = 2^k / (2^B_x - 1);
///   two_phase, bit-serial:    the bit planes of the positive part (a_k > 0), then of the negative part
///                             (a_k < 0).
/// Bit planes are applied at full scale x_max so the array sees the same input range in every mode.
/// Unsigned inputs need only the positive part, so two_phase equals differential for them.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "core/tensor.hpp"

namespace aimc::devices {

struct DacParams {
  int bits = 8;                              ///< magnitude precision B_x
  std::string signed_mode = "differential";  ///< signed inputs: differential | two_phase
  bool bit_serial = false;                   ///< one bit plane per cycle, shift-and-add after the ADC

  static std::span<const Param<DacParams>> params();
};

/// One analog application of the array: inputs x (batch, rows) and the recombination weight.
struct DacPhase {
  Matrix x;
  double weight = 1.0;
};

class Dac {
 public:
  /// x_max > 0: full-scale input magnitude of this layer; signed_inputs: whether inputs can be negative.
  Dac(const DacParams& p, double x_max, bool signed_inputs = true);

  double step() const { return step_; }
  double x_max() const { return x_max_; }
  bool signed_inputs() const { return signed_; }
  const DacParams& params() const { return p_; }
  /// Number of array applications per input batch.
  int phase_count() const;

  /// Quantized input values (batch, rows). Returns the number of inputs that saturated (|x| > x_max,
  /// or x < 0 for unsigned inputs).
  std::uint64_t quantize(const Eigen::Ref<const Matrix>& x, Matrix& xq) const;
  /// Integer codes sign(x) * code, same shape as x.
  MatrixI codes(const Eigen::Ref<const Matrix>& x) const;
  /// The phases of x (see the file comment).
  std::vector<DacPhase> phases(const Eigen::Ref<const Matrix>& x) const;

 private:
  DacParams p_;
  double x_max_, step_;
  bool signed_;
};

/// Applies x through `op` phase by phase and recombines by shift-and-add:
///   y = sum_p a_p * op(X_p, p),
/// where op(const Matrix& applied, int phase, Matrix& out) is the caller's array read plus ADC (use
/// `phase` to key a per-phase read stream, e.g. read.child("phase", {phase})).
template <class Op>
void dac_apply(const Dac& dac, const Eigen::Ref<const Matrix>& x, Matrix& y, Op&& op) {
  const std::vector<DacPhase> ph = dac.phases(x);
  Matrix out;
  for (std::size_t k = 0; k < ph.size(); ++k) {
    op(ph[k].x, static_cast<int>(k), out);
    if (k == 0) y = out * float(ph[k].weight);
    else y += out * float(ph[k].weight);
  }
}

}  // namespace aimc::devices
