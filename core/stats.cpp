#include "core/stats.hpp"

#include <algorithm>
#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace aimc::stats {

double mean(std::span<const double> x) {
  if (x.empty()) return 0.0;
  double s = 0;
  for (double v : x) s += v;
  return s / double(x.size());
}

double variance(std::span<const double> x) {
  if (x.size() < 2) return 0.0;
  double m = mean(x), s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return s / double(x.size() - 1);
}

double stddev(std::span<const double> x) { return std::sqrt(variance(x)); }

double percentile(std::vector<double> x, double q) {
  require(!x.empty(), "percentile of an empty sample");
  require(q >= 0 && q <= 100, "percentile q must be in [0, 100], got " + to_str(q));
  std::sort(x.begin(), x.end());
  double h = (double(x.size()) - 1) * q / 100.0;
  auto lo = static_cast<std::size_t>(std::floor(h));
  std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (h - double(lo)) * (x[hi] - x[lo]);
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double normal_quantile(double p) {
  require(p > 0 && p < 1, "normal quantile needs p in (0, 1), got " + to_str(p));
  return boost::math::quantile(boost::math::normal_distribution<double>(), p);
}

double z_for(double confidence) { return normal_quantile(0.5 + confidence / 2); }

Interval mean_ci(std::span<const double> x, double confidence) {
  double m = mean(x);
  if (x.size() < 2) return {m, m};
  boost::math::students_t_distribution<double> t(double(x.size() - 1));
  double h = boost::math::quantile(t, 0.5 + confidence / 2) * stddev(x) / std::sqrt(double(x.size()));
  return {m - h, m + h};
}

Interval binomial_ci(std::uint64_t k, std::uint64_t n, double confidence) {
  require(n > 0 && k <= n, "binomial_ci needs 0 <= k <= n and n > 0");
  double a = 1 - confidence;
  double lo = k == 0 ? 0.0 : boost::math::quantile(boost::math::beta_distribution<double>(double(k), double(n - k + 1)), a / 2);
  double hi = k == n ? 1.0 : boost::math::quantile(boost::math::beta_distribution<double>(double(k + 1), double(n - k)), 1 - a / 2);
  return {lo, hi};
}

std::uint64_t sample_size(double margin, double confidence, double p) {
  require(margin > 0 && margin < 1, "error margin must be in (0, 1), got " + to_str(margin));
  double z = z_for(confidence);
  return static_cast<std::uint64_t>(std::ceil(z * z * p * (1 - p) / (margin * margin) - 1e-9));
}

std::vector<double> ranks(std::span<const double> x) {
  std::vector<std::size_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && x[idx[j + 1]] == x[idx[i]]) ++j;
    double avg = (double(i) + double(j)) / 2 + 1;
    for (std::size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

double spearman(std::span<const double> a, std::span<const double> b) {
  require(a.size() == b.size() && a.size() > 1, "spearman needs two samples of equal size > 1");
  auto ra = ranks(a), rb = ranks(b);
  double ma = mean(ra), mb = mean(rb), sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return (saa == 0 || sbb == 0) ? 0.0 : sab / std::sqrt(saa * sbb);
}

double db(double power_ratio) { return 10.0 * std::log10(power_ratio); }

}  // namespace aimc::stats
