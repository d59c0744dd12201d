#pragma once
/// The one abstraction the layers above see of an analog compute array (RRAM tile, SRAM QS/IS/QR
/// array, MOSFET-synapse array).
///
/// Two phases of randomness:
///   ArrayModel::program(W, stream)     draws device-to-device state once (programming variation,
///                                      stuck-at faults, V_t mismatch, ...) -> ProgrammedArray
///   ProgrammedArray::mvm(X, Y, stream) draws cycle-to-cycle noise per read and returns the analog
///                                      column outputs for a batch.
/// Units: weights and outputs are in weight units, i.e. with every noise source off the array returns
/// exactly Y = X * W (the physical scaling to conductance, charge or current and back is internal and
/// documented by each model). DAC, ADC and sense amplifier are separate mechanisms (dac.hpp, adc.hpp,
/// sense_amp.hpp), composed around the arrays by the layer mapping above this layer (nets/analog.hpp).
/// Polymorphism is per array per batch: inner loops are Eigen blocks.
#include <memory>
#include <string>

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace aimc::devices {

class ProgrammedArray {
 public:
  virtual ~ProgrammedArray() = default;
  virtual int rows() const = 0;
  virtual int cols() const = 0;
  /// x: (batch, rows) inputs; y: resized to (batch, cols) analog column outputs in weight units.
  virtual void mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const = 0;
  /// The effective (programmed, noiseless-read) weight matrix, (rows, cols), in weight units.
  virtual Matrix effective_weights() const = 0;
  /// The weights at the drift-compensation reference (right after programming), (rows, cols), in
  /// weight units: what effective_weights() would be had no time passed since programming. The
  /// default, effective_weights(), is for arrays that keep no such reference (all but PCM; RRAM folds
  /// its drift into the programmed state), for which drift compensation is the identity.
  virtual Matrix reference_weights() const { return effective_weights(); }
};

class ArrayModel {
 public:
  virtual ~ArrayModel() = default;
  virtual std::string name() const = 0;
  /// w: (rows, cols) signed weights in weight units; |w| <= w_max is mapped to the device range.
  virtual std::unique_ptr<ProgrammedArray> program(const Eigen::Ref<const Matrix>& w, float w_max,
                                                   Stream& prog) const = 0;
  /// program(w, w_max, prog), drawn into `old` (an array of this model) where the model can, so that
  /// a Monte Carlo loop reuses the memory of its previous instance instead of allocating and freeing
  /// it every trial (which costs page faults when the allocator returns it to the system). The result
  /// equals program(w, w_max, prog) exactly. The default programs a new array.
  virtual std::unique_ptr<ProgrammedArray> reprogram(std::unique_ptr<ProgrammedArray> old,
                                                     const Eigen::Ref<const Matrix>& w, float w_max,
                                                     Stream& prog) const {
    old.reset();
    return program(w, w_max, prog);
  }
};

}  // namespace aimc::devices
