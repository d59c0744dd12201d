#pragma once
/// Comparators for floating-point checks. doctest::Approx(x) alone accepts |a - x| < eps (1 + max(|a|, |x|))
/// with eps ~ 1.2e-5, so for quantities far below 1 (joules, seconds, siemens, amperes) it passes for any
/// two small values: 3.087e-11 == Approx(2.7e-11). These helpers drop the absolute part.
#include <doctest/doctest.h>

namespace aimc::test {

/// Relative comparison only: |a - expected| < eps * max(|a|, |expected|). Pick eps from the computation
/// being checked (a few double operations: ~1e-12; float paths: n * 2^-24 for n roundings). Never use
/// with an expected value of exactly 0: it then demands a == 0 exactly; state an absolute bound instead.
inline doctest::Approx rel(double expected, double eps = 1e-9) {
  return doctest::Approx(expected).scale(0).epsilon(eps);
}

}  // namespace aimc::test
