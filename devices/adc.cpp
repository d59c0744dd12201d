#include "devices/adc.hpp"

#include <immintrin.h>

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
  for (std::size_t j = 0; j < range_.size(); ++j) {
    if (!(range_[j] > 0.0) || !std::isfinite(range_[j]))
      throw Error("adc: range of column " + std::to_string(j) + " = " + to_str(range_[j]) +
                  ": must be positive and finite");
    // Ranges are float values, the precision of the array outputs; then every level
    // -s + (k + 1/2) 2 s / 2^B = (2k + 1 - 2^B) s 2^-B has at most 24 + B + 1 significant bits, so it
    // is exact in double and one float multiplication rounds it as the double path does.
    const double given = range_[j];
    range_[j] = double(std::min(float(range_[j]), std::numeric_limits<float>::max()));
    if (!(range_[j] > 0.0))
      throw Error("adc: range of column " + std::to_string(j) + " = " + to_str(given) +
                  ": below the smallest positive float");
  }
  const double levels = std::ldexp(1.0, p_.bits);
  float_path_ = p_.bits <= 12;
  for (double s : range_) {
    lo_.push_back(-s);
    step_.push_back((s - lo_.back()) / levels);  // as quantize_midrise: (hi - lo) / levels
    inv_step_.push_back(1.0 / step_.back());
    lo_f_.push_back(float(lo_.back()));
    inv_step_f_.push_back(float(inv_step_.back()));
    half_step_f_.push_back(float(s / levels));  // exact: a power-of-two multiple of a float
    float_path_ &= half_step_f_.back() >= std::numeric_limits<float>::min();  // normal, so products are exact
    float_path_ &= s <= 0x1p125;  // v - lo stays finite for v in range, and 1 / step is a normal float
  }
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
    r[j] = std::max(s, double(std::numeric_limits<float>::min()));  // ADC ranges are positive floats
  }
  return r;
}

Adc Adc::calibrated(const AdcParams& p, const Eigen::Ref<const Matrix>& y_cal) {
  return Adc(p, calibrate_ranges(p, y_cal));
}

double Adc::lsb(int col) const { return 2.0 * range_.at(col) / std::ldexp(1.0, p_.bits); }

namespace {

/// One row of noise-free conversions, y[j] = quantize_midrise(y[j], bits, lo[j], -lo[j]) with lo = -s and
/// step = 2 s / 2^bits precomputed, and sat[j] += (y[j] outside [-s, s]). The code is
/// floor((v - lo) / step) clamped to [0, top]. The AVX2 path multiplies by 1 / step instead of dividing:
/// that quotient differs from the divided one by a few units in the 53rd bit (|q| <= 2^24, so by less
/// than 1e-8 absolute), so the floors can only differ when q is within kNearInteger of an integer, and
/// there (rarely) the division is redone. The clamp commutes with the floor (top is an integer); the
/// level is one fused multiply-add lo + (k + 0.5) * step, as the compiler contracts the scalar
/// expression under -march=x86-64-v3. The scalar loop is the reference and handles the tail.
constexpr double kNearInteger = 0x1p-24;

void convert_row(float* y, Eigen::Index C, const double* lo, const double* step, const double* inv, double top,
                 std::uint64_t* sat) {
  Eigen::Index j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256d zero = _mm256_setzero_pd(), vtop = _mm256_set1_pd(top), half = _mm256_set1_pd(0.5);
  const __m256d tol = _mm256_set1_pd(kNearInteger), one_m_tol = _mm256_set1_pd(1.0 - kNearInteger);
  const __m256d sign = _mm256_set1_pd(-0.0);
  const __m256i one = _mm256_set1_epi64x(1);
  for (; j + 4 <= C; j += 4) {
    const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(y + j));
    const __m256d l = _mm256_loadu_pd(lo + j), st = _mm256_loadu_pd(step + j);
    const __m256d hi = _mm256_xor_pd(l, sign);
    const __m256d out = _mm256_or_pd(_mm256_cmp_pd(v, hi, _CMP_GT_OQ), _mm256_cmp_pd(v, l, _CMP_LT_OQ));
    __m256i* sp = reinterpret_cast<__m256i*>(sat + j);
    _mm256_storeu_si256(sp, _mm256_add_epi64(_mm256_loadu_si256(sp), _mm256_and_si256(_mm256_castpd_si256(out), one)));
    const __m256d a = _mm256_sub_pd(v, l);
    const __m256d q = _mm256_mul_pd(a, _mm256_loadu_pd(inv + j));
    __m256d k = _mm256_floor_pd(q);
    const __m256d f = _mm256_sub_pd(q, k);
    const __m256d near = _mm256_or_pd(_mm256_cmp_pd(f, tol, _CMP_LT_OQ), _mm256_cmp_pd(f, one_m_tol, _CMP_GT_OQ));
    if (_mm256_movemask_pd(near)) k = _mm256_floor_pd(_mm256_div_pd(a, st));
    k = _mm256_blendv_pd(k, zero, _mm256_cmp_pd(k, zero, _CMP_LT_OQ));
    k = _mm256_blendv_pd(k, vtop, _mm256_cmp_pd(k, vtop, _CMP_GT_OQ));
    _mm_storeu_ps(y + j, _mm256_cvtpd_ps(_mm256_fmadd_pd(_mm256_add_pd(k, half), st, l)));
  }
#else
  (void)inv;
#endif
  for (; j < C; ++j) {
    const double v = y[j];
    sat[j] += std::uint64_t((v > -lo[j]) | (v < lo[j]));
    double k = std::floor((v - lo[j]) / step[j]);
    k = k < 0 ? 0 : k;
    k = k > top ? top : k;
    y[j] = float(lo[j] + (k + 0.5) * step[j]);
  }
}

#if defined(__AVX2__) && defined(__FMA__)
/// The same conversions as convert_row, 8 at a time in float, when B <= 12, every s 2^-B is a normal
/// float and every s <= 2^125 (the ranges are floats, so lo = -s is too; v - lo cannot overflow for v in
/// range, and 1 / step is normal). The float quotient q = (v - lo) (1/step)_f
/// differs from the double one by at most 3 * 2^(B-24) (the roundings of the difference, of 1/step and
/// of the product, each 2^-24 relative, with |v - lo| <= 2 s and s / step = 2^(B-1)), so within
/// tol = 4 * 2^(B-24) of an integer the eight codes are recomputed in double with the division.
/// Saturation: v > s and v < -s compare floats exactly. The level -s + (k + 1/2) step is
/// (2k + 1 - 2^B) (s 2^-B): an exact integer times an exact float, rounded once, as in double.
/// sat32: per column.
void convert_row_f(float* y, Eigen::Index C, const float* lof, const float* invf, const float* hstep,
                   const double* lo, const double* step, const double* inv, double top, float tol, std::uint32_t* sat32,
                   std::uint64_t* sat) {
  Eigen::Index j = 0;
  const __m256 zero = _mm256_setzero_ps(), vtop = _mm256_set1_ps(float(top)), sign = _mm256_set1_ps(-0.f);
  const __m256 vtol = _mm256_set1_ps(tol), one_m_tol = _mm256_set1_ps(1.f - tol);
  const __m256 two = _mm256_set1_ps(2.f), offset = _mm256_set1_ps(float(-top));  // 1 - 2^B
  for (; j + 8 <= C; j += 8) {
    const __m256 v = _mm256_loadu_ps(y + j);
    const __m256 l = _mm256_loadu_ps(lof + j);
    const __m256 out = _mm256_or_ps(_mm256_cmp_ps(v, _mm256_xor_ps(l, sign), _CMP_GT_OQ), _mm256_cmp_ps(v, l, _CMP_LT_OQ));
    __m256i* sp = reinterpret_cast<__m256i*>(sat32 + j);
    _mm256_storeu_si256(sp, _mm256_sub_epi32(_mm256_loadu_si256(sp), _mm256_castps_si256(out)));
    const __m256 q = _mm256_mul_ps(_mm256_sub_ps(v, l), _mm256_loadu_ps(invf + j));
    __m256 k = _mm256_floor_ps(q);
    const __m256 f = _mm256_sub_ps(q, k);
    if (_mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(f, vtol, _CMP_LT_OQ), _mm256_cmp_ps(f, one_m_tol, _CMP_GT_OQ)))) {
      const __m256d l0 = _mm256_loadu_pd(lo + j), l1 = _mm256_loadu_pd(lo + j + 4);
      const __m256d s0 = _mm256_loadu_pd(step + j), s1 = _mm256_loadu_pd(step + j + 4);
      const __m256d k0 = _mm256_floor_pd(_mm256_div_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), l0), s0));
      const __m256d k1 = _mm256_floor_pd(_mm256_div_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), l1), s1));
      // Clamp in double first: a code far outside [0, top] need not be representable in float.
      const __m256d dz = _mm256_setzero_pd(), dt = _mm256_set1_pd(top);
      const __m256d c0 = _mm256_blendv_pd(_mm256_blendv_pd(k0, dz, _mm256_cmp_pd(k0, dz, _CMP_LT_OQ)), dt, _mm256_cmp_pd(k0, dt, _CMP_GT_OQ));
      const __m256d c1 = _mm256_blendv_pd(_mm256_blendv_pd(k1, dz, _mm256_cmp_pd(k1, dz, _CMP_LT_OQ)), dt, _mm256_cmp_pd(k1, dt, _CMP_GT_OQ));
      k = _mm256_set_m128(_mm256_cvtpd_ps(c1), _mm256_cvtpd_ps(c0));
    }
    // Clamp to [0, top]; the operand order keeps a NaN code NaN, as the double path does.
    k = _mm256_max_ps(zero, k);
    k = _mm256_min_ps(vtop, k);
    _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_fmadd_ps(k, two, offset), _mm256_loadu_ps(hstep + j)));
  }
  if (j < C) convert_row(y + j, C - j, lo + j, step + j, inv + j, top, sat + j);
}
#endif

}  // namespace

void Adc::convert(Eigen::Ref<Matrix> y, Stream& read, AdcCounts* counts) const {
  require(y.cols() == cols(), "adc convert: " + std::to_string(y.cols()) + " columns, ADC calibrated for " +
                                  std::to_string(cols()));
  if (counts && counts->saturated.size() < range_.size()) counts->saturated.resize(range_.size(), 0);
  if (p_.sigma_adc_lsb > 0.0) {
    Matrix z(y.rows(), y.cols());
    read.fill_normal(z);
    for (Eigen::Index b = 0; b < y.rows(); ++b) {
      for (Eigen::Index j = 0; j < y.cols(); ++j) {
        const double s = range_[j];
        double v = y(b, j);
        v += p_.sigma_adc_lsb * (2.0 * s / std::ldexp(1.0, p_.bits)) * z(b, j);
        // Saturated: strictly outside the range (a value at +-s is converted to the outermost level
        // without error beyond the LSB/2 of any conversion, so it is not counted).
        if (counts && (v > s || v < -s)) ++counts->saturated[j];
        y(b, j) = float(quantize_midrise(v, p_.bits, -s, s));
      }
    }
  } else {
    // Noise-free conversions: quantize_midrise(v, bits, -s, s) with its per-column constants
    // precomputed (the same bits; see convert_row).
    const Eigen::Index C = y.cols();
    const double top = std::ldexp(1.0, p_.bits) - 1;
    thread_local std::vector<std::uint64_t> scratch;
    std::uint64_t* sat = nullptr;
    if (counts) {
      sat = counts->saturated.data();
    } else {
      scratch.assign(static_cast<std::size_t>(C), 0);
      sat = scratch.data();
    }
#if defined(__AVX2__) && defined(__FMA__)
    if (float_path_ && y.rows() < (Eigen::Index(1) << 31)) {
      thread_local std::vector<std::uint32_t> sat32;
      sat32.assign(static_cast<std::size_t>(C), 0u);
      const float tol = std::ldexp(4.f, p_.bits - 24);
      for (Eigen::Index b = 0; b < y.rows(); ++b)
        convert_row_f(y.data() + b * y.outerStride(), C, lo_f_.data(), inv_step_f_.data(), half_step_f_.data(), lo_.data(),
                      step_.data(), inv_step_.data(), top, tol, sat32.data(), sat);
      for (Eigen::Index j = 0; j < C; ++j) sat[j] += sat32[std::size_t(j)];
    } else
#endif
    {
      for (Eigen::Index b = 0; b < y.rows(); ++b)
        convert_row(y.data() + b * y.outerStride(), C, lo_.data(), step_.data(), inv_step_.data(), top, sat);
    }
  }
  if (counts) counts->conversions += std::uint64_t(y.rows()) * std::uint64_t(y.cols());
}

}  // namespace aimc::devices
