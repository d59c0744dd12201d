#pragma once
/// Accumulation precision oracle after Sakr, Wang, Chen, Gopalakrishnan, Narayanan, Shanbhag,
/// "Accumulation bit-width scaling for ultra-low precision training of deep networks", ICLR 2019.
///
/// n products p_i ~ N(0, 1), i.i.d., are summed by a floating-point accumulator whose mantissa has m
/// fraction bits (m + 1 significant bits; fp32 has m = 23), the exponent unbounded: after every
/// addition the running sum is rounded to nearest (ties to even) on that grid. Once the running sum is
/// large, small addends are partly or wholly lost ("swamping"), and the computed sum keeps less of the
/// variance of the exact one. The variance retention ratio (the paper's VRR) is measured as
///   VRR = E[c^2] / E[s^2]
/// over independent trials (c the computed sum, s the exact sum; both have zero mean), with a
/// delta-method confidence interval from the paired per-trial values. Users sweep n and m to find the
/// smallest accumulator mantissa whose VRR stays within a tolerance of 1.
#include <cstdint>

#include "core/random.hpp"

namespace aimc::devices {

/// x rounded to nearest-even with `m` fraction bits (0 <= m <= 52), exponent unbounded (normal doubles;
/// the sums here never reach the subnormal or overflow range).
double round_mantissa(double x, int m);

struct VrrEstimate {
  double vrr = 1, lo = 1, hi = 1, se = 0;
  int trials = 0;
};

/// Trial t draws its products from s.child("acc", {t}) only (parallel with OpenMP, identical for any
/// thread count). The exact sum is accumulated in long double.
VrrEstimate variance_retention(std::int64_t n, int mantissa_bits, int trials, const Stream& s,
                               double confidence = 0.95);

}  // namespace aimc::devices
