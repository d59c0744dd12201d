/// Parameter tables, validation and the math shared by the three SRAM compute models.
#include "devices/sram_compute.hpp"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <complex>
#include <unsupported/Eigen/FFT>
#include <cmath>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "devices/sram_physics.hpp"

namespace aimc::devices {

namespace {
constexpr std::string_view kTcad = "Gonugondla et al., IEEE TCAD 2021 (512-row SRAM array)";
Range bits_range() { return between(1, 16); }
Range rows_range() { return between(1, 65536); }
}  // namespace

std::span<const Param<QsParams>> QsParams::params() {
  using P = QsParams;
  static const Param<P> p[] = {
      {"n_rows", &P::n_rows, "1", "rows N summed on one bit line", kTcad, rows_range()},
      {"b_x", &P::b_x, "1", "input precision B_x (PWM levels 0..2^B_x-1)", "assumption (4-bit activations)",
       bits_range()},
      {"b_w", &P::b_w, "1", "weight precision B_w (bit-parallel columns)", "assumption (4-bit weights)", bits_range()},
      {"v_wl_rel", &P::v_wl_rel, "1", "word-line voltage / V_DD", "full-swing word line (no underdrive)",
       {0.0, 1.5, true, false}},
      {"c_bl_extra_F", &P::c_bl_extra_F, "F", "bit-line capacitance beyond the cells",
       "0: bit line of the N cells only (our default)", between(0.0, 1e-9)},
      {"swing_rule", &P::swing_rule, "", "how the unit swing is set (see sram_compute.hpp)",
       "our design rule: clip at k sigma of the column sum", {}, {"k_sigma", "full_range", "fixed_t0"}},
      {"k_clip", &P::k_clip, "1", "clipping level in column-sum sigmas (k_sigma)", "assumption (3 sigma)",
       {0.0, 100.0, true, false}},
      {"t0_s", &P::t0_s, "s", "unit word-line pulse width (fixed_t0)", "assumption (100 ps)", {0.0, 1e-3, true, false}},
      {"headroom_clipping", &P::headroom_clipping, "", "clip the bit-line swing at the headroom",
       "physical; false only for idealized studies"},
      {"t_precharge_s", &P::t_precharge_s, "s", "bit-line precharge time", "assumption (1 ns)", between(0.0, 1e-3)},
  };
  return p;
}
void QsParams::check() const {}

std::span<const Param<IsParams>> IsParams::params() {
  using P = IsParams;
  static const Param<P> p[] = {
      {"n_rows", &P::n_rows, "1", "rows N summed on one bit line", kTcad, rows_range()},
      {"b_x", &P::b_x, "1", "input precision B_x (PWM levels 0..2^B_x-1)", "assumption (4-bit activations)",
       bits_range()},
      {"b_w", &P::b_w, "1", "weight precision B_w (bit-parallel columns)", "assumption (4-bit weights)", bits_range()},
      {"v_wl_rel", &P::v_wl_rel, "1", "word-line voltage / V_DD", "full-swing word line (no underdrive)",
       {0.0, 1.5, true, false}},
      {"c_int_F", &P::c_int_F, "F", "integration capacitor C_int", "assumption (100 fF)", {0.0, 1e-9, true, false}},
      {"swing_rel", &P::swing_rel, "1", "integrator output swing / V_DD", "assumption (half the supply)",
       {0.0, 1.0, true, false}},
      {"i_amp_A", &P::i_amp_A, "A", "integrator amplifier bias current", "assumption (low-power OTA, 5 uA)",
       between(0.0, 1e-2)},
      {"swing_rule", &P::swing_rule, "", "how the unit swing is set (see sram_compute.hpp)",
       "our design rule: clip at k sigma of the column sum", {}, {"k_sigma", "full_range", "fixed_t0"}},
      {"k_clip", &P::k_clip, "1", "clipping level in column-sum sigmas (k_sigma)", "assumption (3 sigma)",
       {0.0, 100.0, true, false}},
      {"t0_s", &P::t0_s, "s", "unit word-line pulse width (fixed_t0)", "assumption (100 ps)", {0.0, 1e-3, true, false}},
      {"headroom_clipping", &P::headroom_clipping, "", "clip at the integrator output swing",
       "physical; false only for idealized studies"},
      {"t_reset_s", &P::t_reset_s, "s", "integrator reset time", "assumption (1 ns)", between(0.0, 1e-3)},
  };
  return p;
}
void IsParams::check() const {}

std::span<const Param<QrParams>> QrParams::params() {
  using P = QrParams;
  static const Param<P> p[] = {
      {"n_rows", &P::n_rows, "1", "rows N sharing charge on one compute line", kTcad, rows_range()},
      {"b_x", &P::b_x, "1", "input precision B_x (bit-serial cycles)", "assumption (4-bit activations)", bits_range()},
      {"b_w", &P::b_w, "1", "weight precision B_w (bit-parallel columns)", "assumption (4-bit weights)", bits_range()},
      {"c_unit_F", &P::c_unit_F, "F", "unit cell capacitor C_c",
       "order of the metal unit capacitors of charge-domain SRAM IMCs (~1 fF, e.g. Valavi et al. JSSC 2019)",
       {0.0, 1e-12, true, false}},
      {"c_par_extra_F", &P::c_par_extra_F, "F", "compute-line parasitic beyond n_rows c_bl_cell_F",
       "0: line parasitic of the cells only", between(0.0, 1e-9)},
      {"t_phase_s", &P::t_phase_s, "s", "settling time of one phase (3 phases per bit cycle)",
       "assumption (0.5 ns)", {0.0, 1e-3, true, false}},
  };
  return p;
}
void QrParams::check() const {}

namespace {
void validate_common(const Technology& t, const ProcessVariation& v) {
  aimc::validate(t, "tech");
  aimc::validate(v, "var");
}
void validate_wordline(const Technology& t, double v_wl_rel, std::string_view ctx) {
  double v_wl = v_wl_rel * t.v_dd_V;
  if (!(v_wl > t.v_t_V)) {
    std::ostringstream os;
    os << "parameter '" << ctx << ".v_wl_rel' = " << v_wl_rel << ": word line " << v_wl
       << " V must exceed tech.v_t_V = " << t.v_t_V << " V";
    throw Error(os.str());
  }
}
}  // namespace

void validate(const QsModel& m) {
  validate_common(m.tech, m.var);
  aimc::validate(m.circuit, "qs");
  validate_wordline(m.tech, m.circuit.v_wl_rel, "qs");
  if (m.circuit.v_wl_rel > 1.0)
    throw Error("parameter 'qs.v_wl_rel' = " + to_str(m.circuit.v_wl_rel) +
                ": must be <= 1 (the bit line precharges to V_DD; a boosted word line leaves no headroom model)");
}
void validate(const IsModel& m) {
  validate_common(m.tech, m.var);
  aimc::validate(m.circuit, "is");
  validate_wordline(m.tech, m.circuit.v_wl_rel, "is");
}
void validate(const QrModel& m) {
  validate_common(m.tech, m.var);
  aimc::validate(m.circuit, "qr");
}

namespace {
template <class M>
M noiseless_common(M m) {
  m.tech.a_vt_Vm = 0;
  m.tech.sigma_c_rel_1fF = 0;
  m.var.sigma_vt_global_V = 0;
  m.var.sigma_c_global_rel = 0;
  m.var.temperature_K = 0;
  return m;
}
}  // namespace
QsModel noiseless(QsModel m) {
  m = noiseless_common(m);
  m.circuit.headroom_clipping = false;
  return m;
}
IsModel noiseless(IsModel m) {
  m = noiseless_common(m);
  m.circuit.headroom_clipping = false;
  return m;
}
QrModel noiseless(QrModel m) { return noiseless_common(m); }

double SnrBreakdown::snr_db() const { return 10.0 * std::log10(snr()); }

SnrEstimate measure_snr(const DpSamples& s, double signal_var) {
  const Eigen::Index n = s.ideal.size();
  require(n >= 2 && s.analog.size() == n, "measure_snr: need >= 2 (ideal, analog) pairs of equal length");
  VectorD e2 = (s.analog - s.ideal).array().square().matrix();
  SnrEstimate r;
  r.mse = e2.mean();
  double var_e2 = (e2.array() - r.mse).square().sum() / double(n - 1);
  r.mse_se = std::sqrt(var_e2 / double(n));
  double mi = s.ideal.mean();
  r.signal_var = (s.ideal.array() - mi).square().sum() / double(n - 1);
  r.snr_db = 10.0 * std::log10(r.signal_var / r.mse);
  if (!std::isnan(signal_var)) r.snr_db_known = 10.0 * std::log10(signal_var / r.mse);
  r.se_db = 10.0 / std::log(10.0) * r.mse_se / r.mse;
  return r;
}

namespace sram_detail {

DataMoments data_moments(int n, int b_x, int b_w) {
  DataMoments d;
  d.n = n;
  d.mx = std::ldexp(1.0, b_x) - 1;
  d.mw = std::ldexp(1.0, b_w) - 1;
  d.ex = d.mx / 2;
  d.ex2 = d.mx * (2 * d.mx + 1) / 6;
  d.ea = d.mw / 2;
  d.ea2 = d.mw * (2 * d.mw + 1) / 6;
  d.a_w = (std::ldexp(1.0, 2 * b_w) - 1) / 3;
  d.ew2 = d.a_w;  // Var(2a - M_w) = 4 Var(a) = ((M_w + 1)^2 - 1) / 3
  d.b_w = d.mw * d.mw;
  d.a_x = (std::ldexp(1.0, 2 * b_x) - 1) / 3;
  return d;
}

double current_factor(double dvt, double v_ov, double alpha) {
  double r = 1.0 - dvt / v_ov;
  return r > 0 ? std::pow(r, alpha) : 0.0;
}
double gm_factor(double dvt, double v_ov, double alpha) {
  double r = 1.0 - dvt / v_ov;
  return r > 0 ? std::pow(r, alpha - 1.0) : 0.0;
}

namespace {
/// Gauss-Hermite rule for the standard normal measure (Golub-Welsch): E[g(Z)] ~ sum_i w_i g(x_i).
struct GaussHermite {
  VectorD x, w;
  explicit GaussHermite(int n) {
    MatrixD J = MatrixD::Zero(n, n);
    for (int k = 1; k < n; ++k) J(k, k - 1) = J(k - 1, k) = std::sqrt(double(k));
    Eigen::SelfAdjointEigenSolver<MatrixD> es(J);
    x = es.eigenvalues();
    w = es.eigenvectors().row(0).transpose().array().square().matrix();
  }
};
const GaussHermite& gh() {
  static const GaussHermite rule(64);
  return rule;
}
}  // namespace

CurrentMoments current_moments(double v_ov, double alpha, double sl, double sg) {
  CurrentMoments cm;
  if (sl == 0 && sg == 0) return cm;
  const auto& q = gh();
  const double st = std::sqrt(sl * sl + sg * sg);
  double m1 = 0, m2 = 0, h1 = 0;
  for (Eigen::Index i = 0; i < q.x.size(); ++i) {
    double f = current_factor(st * q.x(i), v_ov, alpha);
    m1 += q.w(i) * f;
    m2 += q.w(i) * f * f;
    h1 += q.w(i) * gm_factor(st * q.x(i), v_ov, alpha);
  }
  double mg2 = 0;
  if (sg == 0) {
    mg2 = m1 * m1;
  } else {
    for (Eigen::Index i = 0; i < q.x.size(); ++i) {
      double mi = 0;
      for (Eigen::Index j = 0; j < q.x.size(); ++j) mi += q.w(j) * current_factor(sg * q.x(i) + sl * q.x(j), v_ov, alpha);
      mg2 += q.w(i) * mi * mi;
    }
  }
  cm.m1 = m1;
  cm.m2 = m2;
  cm.mg2 = mg2;
  cm.h1 = h1;
  return cm;
}

double phi(double t) { return std::exp(-0.5 * t * t) / std::sqrt(2.0 * M_PI); }
double qfunc(double t) { return 0.5 * std::erfc(t / std::sqrt(2.0)); }
double clip_g1(double t) { return phi(t) - t * qfunc(t); }
double clip_g2(double t) { return (1.0 + t * t) * qfunc(t) - t * phi(t); }

double clip_h2(double t, double rho) {
  rho = std::clamp(rho, -1.0, 1.0);
  if (t > 40) return 0.0;
  const double s = std::sqrt(1.0 - rho * rho);
  // E[(Z2 - t)+ | Z1 = x] with Z2 | x ~ N(rho x, s^2)
  auto cond = [&](double x) {
    double mu = rho * x - t;
    if (s < 1e-12) return std::max(mu, 0.0);
    return s * phi(mu / s) + mu * (1.0 - qfunc(mu / s));
  };
  auto f = [&](double x) { return (x - t) * phi(x) * cond(x); };
  return boost::math::quadrature::gauss_kronrod<double, 31>::integrate(
      f, t, std::numeric_limits<double>::infinity(), 15, 1e-12);
}

std::vector<double> column_sum_pmf(int n, double mx, std::size_t max_len) {
  const auto m = std::size_t(mx);
  const std::size_t len = std::size_t(n) * m + 1;
  if (len > max_len) return {};
  std::size_t p = 1;
  while (p < len) p <<= 1;
  std::vector<std::complex<double>> q(p, 0.0), fq;
  q[0] = 0.5 + 0.5 / (mx + 1);
  for (std::size_t v = 1; v <= m; ++v) q[v] = 0.5 / (mx + 1);
  Eigen::FFT<double> fft;
  fft.fwd(fq, q);
  for (auto& c : fq) c = std::pow(c, n);
  fft.inv(q, fq);
  std::vector<double> pmf(len);
  for (std::size_t k = 0; k < len; ++k) pmf[k] = std::max(q[k].real(), 0.0);
  return pmf;
}

SnrBreakdown integrating_snr(const DataMoments& d, const CurrentMoments& cm, double a0, double a1, double z_max) {
  const double N = d.n;
  const double v = cm.m2 - 2 * cm.m1 + 1;   // E[(f - 1)^2], one cell
  const double c = cm.mg2 - 2 * cm.m1 + 1;  // E[(f - 1)(f' - 1)], two cells of one die
  const double mu_s = N * d.ex / 2, var_s = N * (d.ex2 / 2 - d.ex * d.ex / 4);
  const double sigma_n2 = a0 + a1 * mu_s;   // mean over the data
  SnrBreakdown r;
  r.signal_var = d.signal_var();
  // e / 2 = sum_k 2^k (D_k + n_k - c_k), D_k = sum_j (f_jk - 1) u_jk x_j. E[(sum_k 2^k D_k)^2] sums the
  // cell pairs: same cell v E[x^2]/2; same row, other plane c E[x^2]/4; other rows c E[x]^2/4.
  double mis = N * d.a_w * d.ex2 * (v / 2 - c / 4) + N * d.b_w * c * d.ex2 / 4 + N * (N - 1) * d.b_w * c * d.ex * d.ex / 4;
  double th = d.a_w * sigma_n2;
  double clip = 0;
  if (std::isfinite(z_max)) {
    // Pre-clipping column value Z_k = S_k + D_k + n_k, clipping error c_k = (Z_k - z_max)+.
    // Cross-plane terms: Gaussian approximation of (Z_k, Z_k') with exact first two moments, and the
    // linear regression of the noise on Z for the correlation of clipping with the noise it removes.
    const double mu_z = cm.m1 * mu_s;
    const double ez2 = N * cm.m2 * d.ex2 / 2 + N * (N - 1) * cm.mg2 * d.ex * d.ex / 4;
    const double var_z = ez2 - mu_z * mu_z + sigma_n2;
    const double sd_z = std::sqrt(var_z);
    const double t = (z_max - mu_z) / sd_z;
    const double cov_zz = N * cm.mg2 * d.ex2 / 4 + N * (N - 1) * cm.mg2 * d.ex * d.ex / 4 - mu_z * mu_z;
    const double rho = var_z > 0 ? cov_zz / var_z : 0.0;
    const double e_eta = (cm.m1 - 1) * mu_s;
    const double ed2 = N * v * d.ex2 / 2 + N * (N - 1) * c * d.ex * d.ex / 4;
    const double cov_same = (cm.m1 - 1) * var_s + (ed2 - e_eta * e_eta) + sigma_n2;
    const double cov_cross = (cm.m1 - 1) * N * (d.ex2 - d.ex * d.ex) / 4 +
                             (c * (N * d.ex2 / 4 + N * (N - 1) * d.ex * d.ex / 4) - e_eta * e_eta);
    double ec = sd_z * clip_g1(t);
    double ec2 = var_z * clip_g2(t);
    double eta_c_same = e_eta * ec + cov_same * qfunc(t);
    // Same-plane terms: exact distribution of the noiseless sum S (N-fold convolution of the pmf of
    // u x, by FFT) with Z | S Gaussian: mean m1 S, variance from the cell and thermal noise given S,
    // using sum_j (u_j x_j)^2 ~ S E[(ux)^2] / E[ux]. The Gaussian form above underestimates the tail of
    // the skewed sum at small N.
    const auto pmf = column_sum_pmf(d.n, d.mx, std::size_t(1) << 21);
    if (!pmf.empty()) {
      const double ratio = d.ex2 / d.ex;  // E[(ux)^2] / E[ux]
      ec = ec2 = eta_c_same = 0;
      for (std::size_t k = 0; k < pmf.size(); ++k) {
        if (pmf[k] == 0) continue;
        const double S = double(k), mu = cm.m1 * S;
        const double var = std::max((cm.m2 - cm.m1 * cm.m1) * S * ratio +
                                        (cm.mg2 - cm.m1 * cm.m1) * std::max(S * S - S * ratio, 0.0) + a0 + a1 * S,
                                    0.0);
        double g1, g2;
        if (var > 0) {
          const double sd = std::sqrt(var), tk = (z_max - mu) / sd;
          if (tk > 40) continue;
          g1 = sd * clip_g1(tk);
          g2 = var * clip_g2(tk);
        } else {
          g1 = std::max(mu - z_max, 0.0);
          g2 = g1 * g1;
        }
        ec += pmf[k] * g1;
        ec2 += pmf[k] * g2;
        eta_c_same += pmf[k] * (g2 + (z_max - S) * g1);
      }
    }
    const double cc = d.a_w * ec2 + (d.b_w - d.a_w) * var_z * clip_h2(t, rho);
    const double eta_c_cross = e_eta * ec + cov_cross * qfunc(t);
    clip = cc - 2 * (d.a_w * eta_c_same + (d.b_w - d.a_w) * eta_c_cross);
  }
  r.mismatch_var = 4 * mis;
  r.thermal_var = 4 * th;
  r.clipping_var = 4 * clip;
  return r;
}

double mean_clipped_column(const DataMoments& d, const CurrentMoments& cm, double sigma_n2, double z_max) {
  const double N = d.n;
  const double mu_z = cm.m1 * N * d.ex / 2;
  if (!std::isfinite(z_max)) return mu_z;
  const double ez2 = N * cm.m2 * d.ex2 / 2 + N * (N - 1) * cm.mg2 * d.ex * d.ex / 4;
  const double sd_z = std::sqrt(std::max(ez2 - mu_z * mu_z + sigma_n2, 0.0));
  if (sd_z == 0) return std::min(mu_z, z_max);
  return mu_z - sd_z * clip_g1((z_max - mu_z) / sd_z);
}

MatrixD code_levels(const MatrixI& codes, int b_w) {
  const double mw = std::ldexp(1.0, b_w) - 1;
  return (2.0 * codes.cast<double>().array() - mw).matrix();
}

}  // namespace sram_detail
}  // namespace aimc::devices
