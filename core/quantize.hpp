#pragma once
/// Uniform quantizers shared by DACs, ADCs, weight levels and fixed-point error injection.
#include <cmath>
#include <cstdint>

namespace aimc {

/// Signed symmetric uniform quantizer with B bits (B >= 2) over [-x_max, x_max]:
/// step = x_max / (2^(B-1) - 1), codes in [-(2^(B-1)-1), 2^(B-1)-1], round half away from zero,
/// values outside the range saturate. Returns the code.
inline std::int64_t quantize_code_signed(double x, int bits, double x_max) {
  const double qmax = double((std::int64_t(1) << (bits - 1)) - 1);
  double c = std::round(x / x_max * qmax);
  if (c > qmax) c = qmax;
  if (c < -qmax) c = -qmax;
  return static_cast<std::int64_t>(c);
}
inline double dequantize_signed(std::int64_t code, int bits, double x_max) {
  return double(code) * x_max / double((std::int64_t(1) << (bits - 1)) - 1);
}

/// Unsigned uniform quantizer with B bits over [0, x_max]: 2^B - 1 steps, saturating. Returns the code.
inline std::int64_t quantize_code_unsigned(double x, int bits, double x_max) {
  const double qmax = double((std::int64_t(1) << bits) - 1);
  double c = std::round(x / x_max * qmax);
  if (c > qmax) c = qmax;
  if (c < 0) c = 0;
  return static_cast<std::int64_t>(c);
}

/// Mid-rise uniform quantizer used by ADC models: 2^B levels over [lo, hi], level k at
/// lo + (k + 0.5) * step with step = (hi - lo) / 2^B. Saturates outside; sets *clipped if it did.
inline double quantize_midrise(double x, int bits, double lo, double hi, bool* clipped = nullptr) {
  const double levels = std::ldexp(1.0, bits);
  const double step = (hi - lo) / levels;
  double k = std::floor((x - lo) / step);
  bool c = false;
  if (k < 0) { k = 0; c = true; }
  if (k > levels - 1) { k = levels - 1; c = true; }
  if (clipped) *clipped = c;
  return lo + (k + 0.5) * step;
}

}  // namespace aimc
