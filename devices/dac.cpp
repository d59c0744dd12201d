#include "devices/dac.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace aimc::devices {

std::span<const Param<DacParams>> DacParams::params() {
  using P = DacParams;
  static const Param<P> t[] = {
      {"bits", &P::bits, "1", "input magnitude precision B_x (2^B_x - 1 steps over [0, x_max])",
       "8-bit activations, the usual inference precision (ISAAC, Shafiee et al., ISCA 2016, applies 16-bit inputs 1 bit per cycle)",
       between(1, 24)},
      {"signed_mode", &P::signed_mode, "",
       "signed inputs: differential (signed value on a differential input pair, one read) or two_phase "
       "(positive then negative part, subtracted after the ADC)",
       "design choice of issue #4 (component 2); two_phase costs a second read and ADC conversion", {},
       {"differential", "two_phase"}},
      {"bit_serial", &P::bit_serial, "", "apply one input bit plane per cycle, shift-and-add after the ADC",
       "ISAAC (Shafiee et al., ISCA 2016) bit-serial inputs with shift-and-add"},
  };
  return t;
}

Dac::Dac(const DacParams& p, double x_max, bool signed_inputs) : p_(p), x_max_(x_max), signed_(signed_inputs) {
  validate(p_, "dac");
  if (!(x_max > 0.0) || !std::isfinite(x_max)) fail_param("dac.x_max", x_max, "must be positive and finite");
  step_ = x_max_ / double((std::int64_t(1) << p_.bits) - 1);
}

int Dac::phase_count() const {
  const int parts = (signed_ && p_.signed_mode == "two_phase") ? 2 : 1;
  return parts * (p_.bit_serial ? p_.bits : 1);
}

namespace {

/// std::round for a >= 0 (half away from zero), bit for bit: a - trunc(a) is exact, so the
/// comparison decides exactly as std::round does; inlines (vroundpd) where std::round is a libm call.
inline double round_nonneg(double a) {
  const double t = std::trunc(a);
  return a - t >= 0.5 ? t + 1.0 : t;
}

/// sign(x) * code of one input as a double, the rule of the file comment; exactly double(int code)
/// (|code| < 2^24; a zero code is +0, never -0).
inline double signed_code(float x, double x_max, double qmax, bool signed_in) {
  double v = double(x);
  if (!signed_in && v < 0.0) v = 0.0;
  const double m = std::min(round_nonneg(std::abs(v) / x_max * qmax), qmax);
  return v < 0.0 && m > 0.0 ? -m : m;
}

}  // namespace

MatrixI Dac::codes(const Eigen::Ref<const Matrix>& x) const {
  const double qmax = double((std::int64_t(1) << p_.bits) - 1);
  MatrixI c(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float* xi = x.data() + i * x.outerStride();
    std::int32_t* ci = c.data() + i * c.cols();
    for (Eigen::Index j = 0; j < x.cols(); ++j) ci[j] = static_cast<std::int32_t>(signed_code(xi[j], x_max_, qmax, signed_));
  }
  return c;
}

namespace {

/// One row of Dac::quantize: q[j] = float(signed_code(x[j]) * step); returns the saturated count. The
/// AVX2 path performs the same IEEE operations as signed_code (the scalar reference, which also handles
/// the tail), with two exact rewrites: the clamp to qmax is applied before rounding (equal because qmax
/// is an integer) and round-half-away is floor(a) + (a - floor(a) >= 0.5), a - floor(a) being exact.
std::uint64_t quantize_row(const float* x, float* q, Eigen::Index n, double x_max, double qmax, double step,
                           bool signed_in) {
  std::uint64_t sat = 0;
  Eigen::Index j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0), half = _mm256_set1_pd(0.5);
  const __m256d vmax = _mm256_set1_pd(x_max), vq = _mm256_set1_pd(qmax), vstep = _mm256_set1_pd(step);
  const __m256d sign = _mm256_set1_pd(-0.0);
  for (; j + 4 <= n; j += 4) {
    const __m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
    const __m256d neg = _mm256_cmp_pd(x0, zero, _CMP_LT_OQ);
    const __m256d v = signed_in ? x0 : _mm256_blendv_pd(x0, zero, neg);
    const __m256d av = _mm256_andnot_pd(sign, v);
    __m256d over = _mm256_cmp_pd(_mm256_andnot_pd(sign, x0), vmax, _CMP_GT_OQ);
    if (!signed_in) over = _mm256_or_pd(over, neg);
    sat += std::uint64_t(__builtin_popcount(unsigned(_mm256_movemask_pd(over))));
    __m256d a = _mm256_mul_pd(_mm256_div_pd(av, vmax), vq);
    a = _mm256_blendv_pd(a, vq, _mm256_cmp_pd(vq, a, _CMP_LT_OQ));  // std::min(a, qmax)
    const __m256d f = _mm256_floor_pd(a);
    const __m256d m = _mm256_add_pd(f, _mm256_and_pd(_mm256_cmp_pd(_mm256_sub_pd(a, f), half, _CMP_GE_OQ), one));
    // sign(v) * m, +0 for a zero code.
    const __m256d flip = _mm256_and_pd(_mm256_cmp_pd(v, zero, _CMP_LT_OQ), _mm256_cmp_pd(m, zero, _CMP_GT_OQ));
    const __m256d c = _mm256_xor_pd(m, _mm256_and_pd(flip, sign));
    _mm_storeu_ps(q + j, _mm256_cvtpd_ps(_mm256_mul_pd(c, vstep)));
  }
#endif
  for (; j < n; ++j) {
    const double v = x[j];
    q[j] = float(signed_code(x[j], x_max, qmax, signed_in) * step);
    sat += (std::abs(v) > x_max) | (!signed_in && v < 0.0);
  }
  return sat;
}

}  // namespace

// Fused codes and scaling: code * step in double, as (codes().cast<double>() * step).cast<float>().
std::uint64_t Dac::quantize(const Eigen::Ref<const Matrix>& x, Matrix& xq) const {
  const double qmax = double((std::int64_t(1) << p_.bits) - 1);
  xq.resize(x.rows(), x.cols());
  std::uint64_t sat = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    sat += quantize_row(x.data() + i * x.outerStride(), xq.data() + i * xq.cols(), x.cols(), x_max_, qmax, step_,
                        signed_);
  return sat;
}

std::vector<DacPhase> Dac::phases(const Eigen::Ref<const Matrix>& x) const {
  const bool two = signed_ && p_.signed_mode == "two_phase";
  std::vector<DacPhase> out;
  if (!p_.bit_serial) {
    Matrix xq;
    quantize(x, xq);
    if (!two) {
      out.push_back({std::move(xq), 1.0});
    } else {
      out.push_back({xq.cwiseMax(0.f), 1.0});
      out.push_back({(-xq).cwiseMax(0.f), -1.0});
    }
    return out;
  }
  const MatrixI c = codes(x);
  const double denom = double((std::int64_t(1) << p_.bits) - 1);
  const float fs = float(x_max_);
  auto plane = [&](int k, int sign_filter) {
    // sign_filter: 0 = both signs (differential), +1 = positive part only, -1 = negative part only.
    Matrix m(c.rows(), c.cols());
    for (Eigen::Index i = 0; i < c.rows(); ++i)
      for (Eigen::Index j = 0; j < c.cols(); ++j) {
        const std::int32_t v = c(i, j);
        const int bit = ((v < 0 ? -v : v) >> k) & 1;
        float a = 0.f;
        if (bit) {
          if (sign_filter == 0) a = v < 0 ? -fs : fs;
          else if (sign_filter > 0 && v > 0) a = fs;
          else if (sign_filter < 0 && v < 0) a = fs;
        }
        m(i, j) = a;
      }
    return m;
  };
  if (!two) {
    for (int k = 0; k < p_.bits; ++k) out.push_back({plane(k, 0), std::ldexp(1.0, k) / denom});
  } else {
    for (int k = 0; k < p_.bits; ++k) out.push_back({plane(k, +1), std::ldexp(1.0, k) / denom});
    for (int k = 0; k < p_.bits; ++k) out.push_back({plane(k, -1), -std::ldexp(1.0, k) / denom});
  }
  return out;
}

}  // namespace aimc::devices
