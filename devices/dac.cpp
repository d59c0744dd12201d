#include "devices/dac.hpp"

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

MatrixI Dac::codes(const Eigen::Ref<const Matrix>& x) const {
  const double qmax = double((std::int64_t(1) << p_.bits) - 1);
  MatrixI c(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      double v = double(x(i, j));
      if (!signed_ && v < 0.0) v = 0.0;
      const double m = std::min(std::round(std::abs(v) / x_max_ * qmax), qmax);
      c(i, j) = static_cast<std::int32_t>(v < 0.0 ? -m : m);
    }
  return c;
}

std::uint64_t Dac::quantize(const Eigen::Ref<const Matrix>& x, Matrix& xq) const {
  const MatrixI c = codes(x);
  xq = (c.cast<double>() * step_).cast<float>();
  std::uint64_t sat = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      const double v = x(i, j);
      if (std::abs(v) > x_max_ || (!signed_ && v < 0.0)) ++sat;
    }
  return sat;
}

std::vector<DacPhase> Dac::phases(const Eigen::Ref<const Matrix>& x) const {
  const MatrixI c = codes(x);
  const bool two = signed_ && p_.signed_mode == "two_phase";
  std::vector<DacPhase> out;
  if (!p_.bit_serial) {
    const Matrix xq = (c.cast<double>() * step_).cast<float>();
    if (!two) {
      out.push_back({xq, 1.0});
    } else {
      out.push_back({xq.cwiseMax(0.f), 1.0});
      out.push_back({(-xq).cwiseMax(0.f), -1.0});
    }
    return out;
  }
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
