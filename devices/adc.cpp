#include "devices/adc.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/quantize.hpp"

namespace aimc::devices {

std::span<const Param<AdcParams>> AdcParams::params() {
  using P = AdcParams;
  static const Param<P> t[] = {
      {"bits", &P::bits, "1", "ADC resolution B (2^B levels)",
       "ISAAC (Shafiee et al., ISCA 2016): 8-bit ADC per 128 x 128 crossbar", between(1, 24)},
      {"calibration", &P::calibration, "",
       "per-column range: max (largest magnitude), clip (zeta * RMS), optimal (OCTAV MSE-optimal clipping)",
       "OCTAV: Sakr et al., ICML 2022, Eq. 6; clip at zeta sigma: Gonugondla et al., ICCAD 2020", {},
       {"max", "clip", "optimal"}},
      {"zeta", &P::zeta, "1", "clipping factor of calibration 'clip': range = zeta * RMS of the column",
       "zeta_y = 4 as in the MPC of Gonugondla et al., ICCAD 2020", {0.0, 1e6, true, false}},
      {"sigma_adc_lsb", &P::sigma_adc_lsb, "LSB", "input-referred Gaussian ADC noise per conversion, in LSB",
       "off by default", between(0.0, 1e3)},
  };
  return t;
}

double octav_mse(std::span<const double> x, int bits, double s) {
  if (x.empty()) return 0.0;
  const double c = std::ldexp(1.0, -2 * bits) / 3.0;
  double in = 0.0, clip = 0.0;
  for (double v : x) {
    const double a = std::abs(v);
    if (a <= s) in += 1.0;
    else clip += (a - s) * (a - s);
  }
  const double n = double(x.size());
  return c * s * s * in / n + clip / n;
}

double octav_clip(std::span<const double> x, int bits) {
  if (x.empty()) return 0.0;
  double ms = 0.0;
  for (double v : x) ms += v * v;
  double s = std::sqrt(ms / double(x.size()));
  if (s == 0.0) return 0.0;
  const double c = std::ldexp(1.0, -2 * bits) / 3.0;
  for (int it = 0; it < 200; ++it) {
    double sum_out = 0.0, n_out = 0.0, n_in = 0.0;
    for (double v : x) {
      const double a = std::abs(v);
      if (a > s) {
        sum_out += a;
        n_out += 1.0;
      } else {
        n_in += 1.0;
      }
    }
    const double next = sum_out / (c * n_in + n_out);
    if (!(next > 0.0)) break;  // every sample inside: keep s (J is increasing from here on)
    const bool done = std::abs(next - s) <= 1e-9 * s;
    s = next;
    if (done) break;
  }
  return s;
}

std::uint64_t AdcCounts::total_saturated() const {
  std::uint64_t t = 0;
  for (auto v : saturated) t += v;
  return t;
}

double AdcCounts::saturation_rate() const {
  return conversions ? double(total_saturated()) / double(conversions) : 0.0;
}

void AdcCounts::merge(const AdcCounts& o) {
  if (saturated.size() < o.saturated.size()) saturated.resize(o.saturated.size(), 0);
  for (std::size_t j = 0; j < o.saturated.size(); ++j) saturated[j] += o.saturated[j];
  conversions += o.conversions;
}

Adc::Adc(const AdcParams& p, std::vector<double> range) : p_(p), range_(std::move(range)) {
  validate(p_, "adc");
  for (std::size_t j = 0; j < range_.size(); ++j)
    if (!(range_[j] > 0.0) || !std::isfinite(range_[j]))
      throw Error("adc: range of column " + std::to_string(j) + " = " + to_str(range_[j]) +
                  ": must be positive and finite");
}

std::vector<double> Adc::calibrate_ranges(const AdcParams& p, const Eigen::Ref<const Matrix>& y) {
  validate(p, "adc");
  require(y.rows() > 0, "adc calibration: the calibration batch is empty");
  std::vector<double> r(static_cast<std::size_t>(y.cols()));
  std::vector<double> col(static_cast<std::size_t>(y.rows()));
  for (Eigen::Index j = 0; j < y.cols(); ++j) {
    for (Eigen::Index b = 0; b < y.rows(); ++b) col[b] = double(y(b, j));
    double s = 0.0;
    if (p.calibration == "max") {
      for (double v : col) s = std::max(s, std::abs(v));
    } else if (p.calibration == "clip") {
      double ms = 0.0;
      for (double v : col) ms += v * v;
      s = p.zeta * std::sqrt(ms / double(col.size()));
    } else {
      s = octav_clip(col, p.bits);
    }
    r[j] = s > 0.0 ? s : double(std::numeric_limits<float>::min());
  }
  return r;
}

Adc Adc::calibrated(const AdcParams& p, const Eigen::Ref<const Matrix>& y_cal) {
  return Adc(p, calibrate_ranges(p, y_cal));
}

double Adc::lsb(int col) const { return 2.0 * range_.at(col) / std::ldexp(1.0, p_.bits); }

void Adc::convert(Eigen::Ref<Matrix> y, Stream& read, AdcCounts* counts) const {
  require(y.cols() == cols(), "adc convert: " + std::to_string(y.cols()) + " columns, ADC calibrated for " +
                                  std::to_string(cols()));
  if (counts && counts->saturated.size() < range_.size()) counts->saturated.resize(range_.size(), 0);
  Matrix z;
  if (p_.sigma_adc_lsb > 0.0) {
    z.resize(y.rows(), y.cols());
    read.fill_normal(z);
  }
  for (Eigen::Index b = 0; b < y.rows(); ++b) {
    for (Eigen::Index j = 0; j < y.cols(); ++j) {
      const double s = range_[j];
      double v = y(b, j);
      if (p_.sigma_adc_lsb > 0.0) v += p_.sigma_adc_lsb * (2.0 * s / std::ldexp(1.0, p_.bits)) * z(b, j);
      // Saturated: strictly outside the range (a value at +-s is converted to the outermost level
      // without error beyond the LSB/2 of any conversion, so it is not counted).
      if (counts && (v > s || v < -s)) ++counts->saturated[j];
      y(b, j) = float(quantize_midrise(v, p_.bits, -s, s));
    }
  }
  if (counts) counts->conversions += std::uint64_t(y.rows()) * std::uint64_t(y.cols());
}

}  // namespace aimc::devices
