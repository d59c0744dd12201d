#pragma once
/// SRAM in-memory compute arrays (QS, IS, QR; sram_compute.hpp) as ArrayModels, so a network layer can
/// run on them like on any other analog array.
///
/// Mapping (in weight units, see analog_array.hpp):
///   weights  |w| <= w_max are quantized to the 2^B_w symmetric levels w_max (2a - M_w) / M_w, a in
///            0..M_w, stored bit-parallel in B_w binary cells per weight (bit planes recombined digitally);
///            larger |w| saturate at the end levels;
///   inputs   |x| <= x_max are applied as magnitudes in units of x_max / M_x (PWM pulses for QS and IS,
///            bit-serial cycles for QR), the positive and negative parts in two phases (a phase runs only
///            for the batch rows that have inputs of its sign). Inputs are expected on that B_x-bit grid
///            (a DAC upstream); an off-grid input is applied by the linear extension of the cell physics
///            (exact for PWM; for QR the same linear superposition the bit-serial sum computes on the
///            grid). |x| > x_max saturates at M_x.
///   outputs  y = x_max w_max / (M_x M_w) (2 sum_k 2^k S^_k - M_w sum_j x_j / (x_max / M_x)).
/// With the model's noise off (noiseless()) an array returns exactly x * effective_weights(), i.e. the
/// quantized weights; its noise is that of the sample-level model (the Monte Carlo of
/// sample_dot_products() runs this same code).
/// Randomness: program() draws the die and every cell of every bit plane; mvm() draws per conversion
/// the thermal noise (and nothing else).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devices/analog_array.hpp"
#include "devices/sram_compute.hpp"

namespace aimc::devices {

template <class P>
class SramArrayModel final : public ArrayModel {
 public:
  using Params = SramModel<P>;
  /// Validates the model; x_max > 0 is the input full scale (in input units).
  explicit SramArrayModel(SramModel<P> model = {}, double x_max = 1.0);
  std::string name() const override;
  /// w: (rows <= n_rows, cols); w_max > 0.
  std::unique_ptr<ProgrammedArray> program(const Eigen::Ref<const Matrix>& w, float w_max,
                                           Stream& prog) const override;
  const SramModel<P>& model() const { return model_; }
  double x_max() const { return x_max_; }

  /// Hooks of the array contract suite (tests/devices/test_array_contract.cpp).
  static Params contract_ideal();   ///< noiseless(default model)
  static Params contract_noisy();   ///< default model: mismatch at program time, thermal noise per read
  static std::vector<std::pair<Params, std::string>> contract_invalid();
  /// Weights on the B_w-bit grid of the default model, uniform over its levels.
  static Matrix contract_weights(int rows, int cols, float w_max, Stream& s);

 private:
  SramModel<P> model_;
  double x_max_;
  SramOperatingPoint op_;
};

using SramQsArrayModel = SramArrayModel<QsParams>;
using SramIsArrayModel = SramArrayModel<IsParams>;
using SramQrArrayModel = SramArrayModel<QrParams>;

extern template class SramArrayModel<QsParams>;
extern template class SramArrayModel<IsParams>;
extern template class SramArrayModel<QrParams>;

}  // namespace aimc::devices
