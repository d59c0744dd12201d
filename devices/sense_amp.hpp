#pragma once
/// 1-bit ADC-less read-out (after Apolinario, Kosta, Saxena, Roy, "Hardware/software co-design with
/// ADC-less in-memory computing hardware for spiking neural networks", arXiv:2211.02167, IEEE TETC 2023):
/// each column's partial sum y is reduced to one bit by a sense amplifier (comparator) instead of a
/// multi-bit ADC; the bits are scaled by a per-column factor and accumulated digitally across tiles by
/// the caller.
///
/// Comparator of column j for a read with partial sum y (array output units, i.e. weight units):
///   b = 1{ y + o_j + n > theta },   o_j ~ N(0, sigma_sa^2) drawn once per realized sense amplifier
///   (device-to-device input-referred offset), n ~ N(0, sigma_read_sa^2) drawn per read.
/// Output value: bipolar  out = s_j * (2b - 1)      (signs, the default)
///               unipolar out = s_j * b              (spike-like 0/1 partial sums).
/// For a fixed y the probability that the decision differs from the ideal one 1{y > theta} is
///   P_flip(y) = Phi(-|y - theta| / sqrt(sigma_sa^2 + sigma_read_sa^2))  (over offsets and reads).
/// Per-column factor s_j (calibrate): the least-squares scale of the ideal decisions on a calibration
/// batch, s_j = E[y d] / E[d^2] with the ideal decisions d: bipolar d = 2b - 1 gives
/// s_j = E[y sign(y - theta)], which is E|y| at theta = 0 (the binarization scale of XNOR-Net,
/// Rastegari et al., ECCV 2016); unipolar d = b gives s_j = E[y | y > theta].
/// Offsets in volts map to these units through the column gain: sigma_sa = sigma_V * y_FS / V_FS.
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"

namespace aimc::devices {

struct SenseAmpParams {
  double sigma_sa = 0.0;        ///< static input-referred offset spread, array output units
  double sigma_read_sa = 0.0;   ///< per-read comparator noise, array output units
  double threshold = 0.0;       ///< decision threshold theta, array output units
  std::string output = "bipolar";  ///< bipolar (+-s) | unipolar (0 / s)

  static std::span<const Param<SenseAmpParams>> params();
};

using BitMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

class SenseAmp {
 public:
  /// Realizes `cols` sense amplifiers: draws the static offsets o_j from `prog`. Scales start at 1.
  SenseAmp(const SenseAmpParams& p, int cols, Stream& prog);

  /// Sets s_j from a calibration batch y_cal (batch, cols) of partial sums (see the file comment);
  /// a column whose least-squares scale is not positive keeps s_j = 1.
  void calibrate(const Eigen::Ref<const Matrix>& y_cal);
  void set_scale(std::vector<double> s);

  /// Raw decisions b (batch, cols) for partial sums y; per-read noise from `read`.
  void decide(const Eigen::Ref<const Matrix>& y, BitMatrix& bits, Stream& read) const;
  /// Replaces y in place by the scaled 1-bit outputs.
  void convert(Eigen::Ref<Matrix> y, Stream& read) const;

  int cols() const { return static_cast<int>(offset_.size()); }
  const std::vector<double>& offsets() const { return offset_; }
  const std::vector<double>& scale() const { return scale_; }
  const SenseAmpParams& params() const { return p_; }

 private:
  SenseAmpParams p_;
  std::vector<double> offset_, scale_;
};

}  // namespace aimc::devices
