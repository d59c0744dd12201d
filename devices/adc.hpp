#pragma once
/// Column ADC: B-bit uniform mid-rise quantizer over a symmetric per-column range [-s_j, s_j], with the
/// range set by calibration on a batch of column outputs, optional Gaussian ADC noise, and counting of
/// saturated conversions.
///
/// Quantizer (core/quantize.hpp quantize_midrise): 2^B levels, step (LSB) = 2 s / 2^B, level k at
/// -s + (k + 1/2) LSB; inputs outside [-s, s] saturate to the outermost level and are counted.
/// For an input with RMS sigma and s = zeta * sigma, the quantization noise is LSB^2 / 12 =
/// zeta^2 sigma^2 4^-B / 3, so SQNR = 3 * 4^B / zeta^2, i.e. 6.02 B + 4.77 - 20 log10(zeta) dB when
/// clipping is negligible (Gonugondla et al., ICCAD 2020, the ADC term SQNR_qy of the MPC).
///
/// Calibration of s_j from the column's calibration samples y:
///   "max":     s = max |y|                         (no clipping on the calibration batch)
///   "clip":    s = zeta * sqrt(mean(y^2))          (RMS about zero: the range is centred at zero, so a
///                                                   column mean is part of the signal it must cover)
///   "optimal": MSE-optimal clipping by OCTAV (octav_clip).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"

namespace aimc::devices {

struct AdcParams {
  int bits = 8;                          ///< ADC resolution B
  std::string calibration = "optimal";   ///< range calibration: max | clip | optimal
  double zeta = 4.0;                     ///< clipping factor for calibration "clip": s = zeta * RMS
  double sigma_adc_lsb = 0.0;            ///< input-referred Gaussian ADC noise, in LSB of the column

  static std::span<const Param<AdcParams>> params();
};

/// MSE-optimal symmetric clipping scalar of a B-bit uniform quantizer for the samples x, by the OCTAV
/// recursion (Sakr et al., ICML 2022, Eq. 6; a Newton-Raphson step on the MSE
/// J(s) = (4^-B / 3) s^2 E[1{|X| <= s}] + E[(|X| - s)^2 1{|X| > s}]):
///   s_{n+1} = E[|X| 1{|X| > s_n}] / ( (4^-B / 3) E[1{|X| <= s_n}] + E[1{|X| > s_n}] ).
/// Starts from s_0 = RMS(x) and iterates until the relative change is below 1e-9 (at most 200 steps).
/// Returns 0 for an all-zero sample.
double octav_clip(std::span<const double> x, int bits);

/// The OCTAV objective J(s) above, evaluated on the samples (the additive-noise MSE model).
double octav_mse(std::span<const double> x, int bits, double s);

/// Saturation counts of an ADC, reportable per column and in total.
struct AdcCounts {
  std::vector<std::uint64_t> saturated;  ///< per column: conversions outside [-s_j, s_j]
  std::uint64_t conversions = 0;         ///< values converted (all columns)
  std::uint64_t total_saturated() const;
  double saturation_rate() const;        ///< total_saturated / conversions (0 if none)
  void merge(const AdcCounts& other);
};

class Adc {
 public:
  /// ADC with given per-column ranges s_j > 0, rounded to float (range() returns the rounded values).
  /// Validates the parameters.
  Adc(const AdcParams& p, std::vector<double> range);
  /// ADC with ranges calibrated per column on y_cal (batch, cols) by p.calibration. A column whose
  /// calibrated range is zero (all samples zero) or below the smallest positive normal float gets that
  /// float as its range.
  static Adc calibrated(const AdcParams& p, const Eigen::Ref<const Matrix>& y_cal);

  /// Per-column calibrated ranges s_j for y_cal by p.calibration (see the file comment).
  static std::vector<double> calibrate_ranges(const AdcParams& p, const Eigen::Ref<const Matrix>& y_cal);

  /// Quantizes y (batch, cols) in place. ADC noise (if sigma_adc_lsb > 0) is drawn from `read` and added
  /// before quantization. Adds saturation counts to *counts if given (resized to cols on first use).
  void convert(Eigen::Ref<Matrix> y, Stream& read, AdcCounts* counts = nullptr) const;

  int cols() const { return static_cast<int>(range_.size()); }
  const std::vector<double>& range() const { return range_; }
  double lsb(int col) const;
  const AdcParams& params() const { return p_; }

 private:
  AdcParams p_;
  std::vector<double> range_;
  std::vector<double> lo_, step_, inv_step_;  // per column: -s_j, 2 s_j / 2^B, 1 / step
  std::vector<float> lo_f_, inv_step_f_, half_step_f_;  // float: lo, 1 / step (rounded), s 2^-B
  bool float_path_ = false;  // B <= 12, every s 2^-B a normal float, every s <= 2^125 (see convert_row_f)
};

}  // namespace aimc::devices
