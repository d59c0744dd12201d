#include "devices/accumulator.hpp"

#include <bit>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/stats.hpp"

namespace aimc::devices {

double round_mantissa(double x, int m) {
  if (m < 0 || m > 52) throw Error("round_mantissa: mantissa bits must be in 0..52, got " + to_str(m));
  if (m == 52 || x == 0 || !std::isfinite(x)) return x;
  // On the IEEE-754 bit pattern: drop the low 52 - m fraction bits, rounding to nearest with ties to
  // even; a carry out of the fraction correctly increments the exponent.
  const int shift = 52 - m;
  auto bits = std::bit_cast<std::uint64_t>(x);
  const std::uint64_t mask = (std::uint64_t(1) << shift) - 1, half = std::uint64_t(1) << (shift - 1);
  bits += half - 1 + ((bits >> shift) & 1);
  bits &= ~mask;
  return std::bit_cast<double>(bits);
}

VrrEstimate variance_retention(std::int64_t n, int m, int trials, const Stream& s, double confidence) {
  require(n >= 1, "variance_retention: n must be >= 1, got " + to_str(n));
  require(trials >= 2, "variance_retention: trials must be >= 2, got " + to_str(trials));
  require(m >= 0 && m <= 52, "variance_retention: mantissa bits must be in 0..52, got " + to_str(m));
  const auto nt = static_cast<std::size_t>(trials);
  std::vector<double> c2(nt), s2(nt);
#pragma omp parallel for schedule(dynamic, 4)
  for (int t = 0; t < trials; ++t) {
    Stream st = s.child("acc", {std::uint64_t(t)});
    long double exact = 0;
    double acc = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double p = st.normal();
      exact += p;
      acc = round_mantissa(acc + p, m);
    }
    c2[std::size_t(t)] = acc * acc;
    s2[std::size_t(t)] = double(exact * exact);
  }
  // Ratio of means R = mean(c2) / mean(s2); Var(R) ~ (Var(a) - 2 R Cov(a, b) + R^2 Var(b)) / (T mean(b)^2).
  const double ma = stats::mean(c2), mb = stats::mean(s2);
  VrrEstimate r;
  r.trials = trials;
  r.vrr = ma / mb;
  double vab = 0;
  for (int t = 0; t < trials; ++t) {
    const double d = (c2[std::size_t(t)] - ma) - r.vrr * (s2[std::size_t(t)] - mb);
    vab += d * d;
  }
  vab /= double(trials - 1);
  r.se = std::sqrt(vab / double(trials)) / mb;
  const double z = stats::z_for(confidence);
  r.lo = r.vrr - z * r.se;
  r.hi = r.vrr + z * r.se;
  return r;
}

}  // namespace aimc::devices
