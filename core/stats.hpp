#pragma once
/// Statistics used by tests and campaigns: moments, percentiles, confidence intervals and sample sizes.
/// Distribution quantiles come from Boost.Math.
#include <cstdint>
#include <span>
#include <vector>

namespace aimc::stats {

double mean(std::span<const double> x);
/// Unbiased sample variance (n-1); 0 for n < 2.
double variance(std::span<const double> x);
double stddev(std::span<const double> x);
/// Percentile q in [0, 100] by linear interpolation between order statistics (Hyndman-Fan type 7).
double percentile(std::vector<double> x, double q);

/// Standard normal CDF and quantile.
double normal_cdf(double z);
double normal_quantile(double p);
/// Two-sided z for a confidence level, e.g. 0.95 -> 1.959964.
double z_for(double confidence);

struct Interval {
  double lo, hi;
  double half_width() const { return 0.5 * (hi - lo); }
};
/// Student-t confidence interval of the mean.
Interval mean_ci(std::span<const double> x, double confidence = 0.95);
/// Clopper-Pearson (exact) confidence interval of a binomial proportion k/n.
Interval binomial_ci(std::uint64_t k, std::uint64_t n, double confidence = 0.95);
/// Statistical fault-injection sample size n = z^2 p (1-p) / e^2 (Leveugle et al., DATE 2009, Eq. 1 for an
/// infinite population), rounded up.
std::uint64_t sample_size(double margin, double confidence = 0.95, double p = 0.5);

/// Spearman rank correlation (average ranks for ties).
double spearman(std::span<const double> a, std::span<const double> b);
/// Ranks (1-based, ties averaged).
std::vector<double> ranks(std::span<const double> x);

/// Decibels of a power ratio.
double db(double power_ratio);

}  // namespace aimc::stats
