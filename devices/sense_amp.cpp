#include "devices/sense_amp.hpp"

#include <cmath>

#include "core/error.hpp"

namespace aimc::devices {

std::span<const Param<SenseAmpParams>> SenseAmpParams::params() {
  using P = SenseAmpParams;
  static const Param<P> t[] = {
      {"sigma_sa", &P::sigma_sa, "weight",
       "static input-referred comparator offset spread, in array output (weight) units; drawn once per column",
       "off by default; offset-limited 1-bit read-out of Apolinario et al., arXiv:2211.02167", between(0.0, 1e30)},
      {"sigma_read_sa", &P::sigma_read_sa, "weight", "per-read comparator noise, array output (weight) units",
       "off by default", between(0.0, 1e30)},
      {"threshold", &P::threshold, "weight", "comparator decision threshold theta, array output (weight) units",
       "0: sign of the partial sum (Apolinario et al., arXiv:2211.02167)", any_real},
      {"output", &P::output, "", "bipolar: +-s_j per column; unipolar: 0 or s_j (spike-like)",
       "Apolinario et al., arXiv:2211.02167 (1-bit partial sums accumulated digitally)", {},
       {"bipolar", "unipolar"}},
  };
  return t;
}

SenseAmp::SenseAmp(const SenseAmpParams& p, int cols, Stream& prog) : p_(p) {
  validate(p_, "sense_amp");
  if (cols < 1) fail_param("sense_amp.cols", cols, "must be at least 1");
  offset_.assign(static_cast<std::size_t>(cols), 0.0);
  scale_.assign(static_cast<std::size_t>(cols), 1.0);
  if (p_.sigma_sa > 0.0) {
    Stream s = prog.child("sense_amp.offset");
    for (auto& o : offset_) o = p_.sigma_sa * s.normal();
  }
}

void SenseAmp::calibrate(const Eigen::Ref<const Matrix>& y) {
  require(y.cols() == cols(), "sense_amp calibrate: column count mismatch");
  require(y.rows() > 0, "sense_amp calibrate: the calibration batch is empty");
  const bool bip = p_.output == "bipolar";
  for (Eigen::Index j = 0; j < y.cols(); ++j) {
    double yd = 0.0, dd = 0.0;
    for (Eigen::Index b = 0; b < y.rows(); ++b) {
      const double v = y(b, j);
      const double d = v > p_.threshold ? 1.0 : (bip ? -1.0 : 0.0);
      yd += v * d;
      dd += d * d;
    }
    const double s = dd > 0.0 ? yd / dd : 0.0;
    scale_[j] = s > 0.0 ? s : 1.0;
  }
}

void SenseAmp::set_scale(std::vector<double> s) {
  require(s.size() == offset_.size(), "sense_amp set_scale: one scale per column expected");
  scale_ = std::move(s);
}

void SenseAmp::decide(const Eigen::Ref<const Matrix>& y, BitMatrix& bits, Stream& read) const {
  require(y.cols() == cols(), "sense_amp decide: column count mismatch");
  bits.resize(y.rows(), y.cols());
  Matrix n;
  if (p_.sigma_read_sa > 0.0) {
    n.resize(y.rows(), y.cols());
    read.fill_normal(n, 0.f, float(p_.sigma_read_sa));
  }
  for (Eigen::Index b = 0; b < y.rows(); ++b)
    for (Eigen::Index j = 0; j < y.cols(); ++j) {
      double v = double(y(b, j)) + offset_[j];
      if (p_.sigma_read_sa > 0.0) v += n(b, j);
      bits(b, j) = v > p_.threshold ? 1 : 0;
    }
}

void SenseAmp::convert(Eigen::Ref<Matrix> y, Stream& read) const {
  BitMatrix bits;
  decide(y, bits, read);
  const bool bip = p_.output == "bipolar";
  for (Eigen::Index b = 0; b < y.rows(); ++b)
    for (Eigen::Index j = 0; j < y.cols(); ++j) {
      const double d = bits(b, j) ? 1.0 : (bip ? -1.0 : 0.0);
      y(b, j) = float(scale_[j] * d);
    }
}

}  // namespace aimc::devices
