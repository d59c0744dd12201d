// MOSFET synapse: EKV I-V across regions, gate-voltage weights, bounded quantized updates, V_t
// variation, output-referred read noise.
#include <doctest/doctest.h>

#include <boost/math/distributions/chi_squared.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "devices/mosfet.hpp"
#include "tests/common/approx.hpp"
#include "devices/variation.hpp"

using namespace aimc;
using namespace aimc::devices;
using aimc::test::rel;

TEST_CASE("mosfet: I-V is continuous and monotone in V_G and V_DS across region boundaries (dense grid)") {
  MosfetParams p;
  p.lambda_per_V = 0.05;  // with output conductance too
  const double h = 1e-3;
  const int ng = 2001, nd = 1201;  // V_G in [-0.5, 1.5], V_DS in [0, 1.2]: subthreshold, triode, saturation
  std::vector<double> prev_row(nd);
  int non_monotone_g = 0, non_monotone_d = 0;
  double worst_jump = 0;  // largest |dI| between neighbours relative to the local scale I_spec-free bound
  for (int a = 0; a < ng; ++a) {
    const double vg = -0.5 + a * h;
    double prev = 0;
    for (int b = 0; b < nd; ++b) {
      const double vd = b * h;
      const double i = drain_current_A(p, vg, vd);
      if (b > 0 && !(i > prev)) ++non_monotone_d;
      if (a > 0 && b > 0 && !(i > prev_row[b])) ++non_monotone_g;
      // continuity: the step to the next grid point never exceeds the first-order change predicted by
      // the derivative (central difference at half-step resolution), i.e. no jumps
      if (a > 0 && b > 0) {
        const double di = std::abs(i - prev_row[b]);
        const double slope = std::abs(drain_current_A(p, vg - h / 4, vd) - drain_current_A(p, vg - 3 * h / 4, vd)) * 2;
        worst_jump = std::max(worst_jump, slope > 0 ? di / slope : 0.0);
      }
      prev = i;
      prev_row[b] = i;
    }
  }
  CHECK(non_monotone_g == 0);
  CHECK(non_monotone_d == 0);
  CHECK(worst_jump < 1.05);  // a discontinuity would make a step many times the local derivative

  // Explicit boundaries: weak/strong inversion at V_G = V_T and the triode/saturation edge V_D = V_P.
  const double vp = (1.0 - p.v_t0_V) / p.n_slope;
  for (double eps : {1e-6, 1e-9}) {
    CHECK(drain_current_A(p, p.v_t0_V + eps, 0.5) / drain_current_A(p, p.v_t0_V - eps, 0.5) - 1 < 1e3 * eps);
    CHECK(drain_current_A(p, 1.0, vp + eps) / drain_current_A(p, 1.0, vp - eps) - 1 < 1e3 * eps);
  }
}

TEST_CASE("mosfet: the regions behave as EKV predicts") {
  MosfetParams p;
  const double ut = thermal_voltage_V(p.temperature_K);
  // subthreshold: ln I rises 1 / (n U_T) per volt of V_G (saturated, V_DS >> U_T)
  const double v1 = p.v_t0_V - 0.25, v2 = p.v_t0_V - 0.20;
  const double slope = std::log(drain_current_A(p, v2, 0.5) / drain_current_A(p, v1, 0.5)) / (v2 - v1);
  CHECK(slope == doctest::Approx(1 / (p.n_slope * ut)).epsilon(0.02));
  // saturation (lambda = 0): current independent of V_DS beyond pinch-off. Currents are ~3e-5 A, so the
  // comparison is relative: the EKV reverse term at V_D = 1 V is F(-(V_D - V_P)/U_T) ~ e^-22 against
  // F_forward ~ 67, a relative change ~3e-12.
  CHECK(drain_current_A(p, 1.0, 1.2) == rel(drain_current_A(p, 1.0, 1.0), 1e-9));
  // strong-inversion saturation: I ~ beta / (2 n) (V_G - V_T)^2
  const double beta = p.k_prime_AV2 * p.w_m / p.l_m;
  // EKV reduces to this law for x = (V_G - V_T) / (n U_T) ~ 22: ln(1 + e^(x/2)) = x/2 + e^(-x/2) gives a
  // relative excess 4 e^(-x/2) / x ~ 2.6e-6 (the reverse term at V_D = 1.5 V is ~e^-36).
  CHECK(drain_current_A(p, 1.2, 1.5) == rel(beta / (2 * p.n_slope) * std::pow(1.2 - p.v_t0_V, 2), 1e-5));
  // deep triode: I ~ beta (V_G - V_T - n V_DS / 2) V_DS, nearly linear in small V_DS
  // (the n V_DS / 2 term is 0.9 % here: kept, the rest is the same e^(-x/2) excess, ~1.4e-5 of the
  // difference of two such squares)
  CHECK(drain_current_A(p, 1.2, 0.01) == rel(beta * (1.2 - p.v_t0_V - p.n_slope * 0.01 / 2) * 0.01, 1e-4));
  // symmetric device: swapping drain and source reverses the current (F(a) - F(b) = -(F(b) - F(a)) in
  // floating point: equal up to a few ulps at most)
  CHECK(drain_current_A(p, 1.0, 0.0, 0.2) == rel(-drain_current_A(p, 1.0, 0.2, 0.0), 1e-15));
}

TEST_CASE("mosfet: conductance rises with V_G, near-linearly above threshold, and weights span +-w_max") {
  MosfetParams p;
  const auto w = weight_levels(p, 0.8);
  REQUIRE(int(w.size()) == gate_levels(p));
  CHECK(gate_levels(p) == 65);
  CHECK(w.front() == doctest::Approx(-0.8));
  CHECK(w.back() == doctest::Approx(0.8));
  for (std::size_t i = 1; i < w.size(); ++i) CHECK(w[i] > w[i - 1]);
  // above threshold the triode conductance is ~ beta (V_G - V_T - V_read/2): equal gate steps give
  // nearly equal conductance steps (the paper's linear, symmetric response). Check the upper half.
  double dmin = 1e9, dmax = 0;
  for (int i = 33; i < gate_levels(p); ++i) {
    double d = conductance_S(p, gate_level_V(p, i)) - conductance_S(p, gate_level_V(p, i - 1));
    dmin = std::min(dmin, d);
    dmax = std::max(dmax, d);
  }
  CHECK(dmax / dmin < 1.1);
}

TEST_CASE("mosfet: gate updates are quantized pulses, bounded per update and in range") {
  MosfetParams p;
  MosfetArrayModel model(p);
  Matrix w = Matrix::Zero(2, 3);
  Stream s(1, "mosfet.pulse");
  auto a = model.program_mosfet(w, 1.f, s);
  const MatrixI start = a->gate_level();
  MatrixI pulses(2, 3);
  pulses << 3, -3, 100, -100, 0, 1;
  a->update(pulses);
  MatrixI expect(2, 3);
  expect << start(0, 0) + 3, start(0, 1) - 3, start(0, 2) + p.max_pulses, start(1, 0) - p.max_pulses, start(1, 1),
      start(1, 2) + 1;
  CHECK(a->gate_level() == expect);
  // the gate voltage sits on the grid
  const MatrixD vg = a->gate_voltage_V();
  for (Eigen::Index i = 0; i < vg.size(); ++i) {
    double k = (vg(i) - p.v_g_min_V) / p.dv_g_step_V;
    CHECK(std::abs(k - std::round(k)) < 1e-9);
  }
  // and never leaves [v_g_min, v_g_max], however many updates
  MatrixI up = MatrixI::Constant(2, 3, 1000);
  for (int k = 0; k < 20; ++k) a->update(up);
  CHECK(a->gate_voltage_V().maxCoeff() <= p.v_g_max_V + 1e-12);
  CHECK(a->gate_level().maxCoeff() == gate_levels(p) - 1);
  for (int k = 0; k < 20; ++k) a->update(-up);
  CHECK(a->gate_voltage_V().minCoeff() == doctest::Approx(p.v_g_min_V));
  // the conductance follows the gate
  CHECK(a->effective_weights().maxCoeff() == doctest::Approx(-1.0).epsilon(0.05));
}

TEST_CASE("mosfet: V_t device-to-device variation has the Pelgrom sigma / weights shift with it") {
  MosfetParams p;
  p.sigma_vt_global_V = 0.0;
  MosfetArrayModel model(p);
  const int n = 100;
  Matrix w = Matrix::Zero(n, n);
  Stream s(2, "mosfet.var");
  auto a = model.program_mosfet(w, 1.f, s);
  std::vector<double> v(a->vt_shift_V().data(), a->vt_shift_V().data() + n * n);
  const double sigma = pelgrom_sigma_vt_V(p.a_vt_Vm, p.w_m, p.l_m);
  boost::math::chi_squared chi(double(v.size() - 1));
  const double c = 1e-4;  // a correct implementation fails with probability 1e-4
  const double lo = std::sqrt(boost::math::quantile(chi, c / 2) / double(v.size() - 1));
  const double hi = std::sqrt(boost::math::quantile(chi, 1 - c / 2) / double(v.size() - 1));
  CHECK(stats::stddev(v) >= sigma * lo);
  CHECK(stats::stddev(v) <= sigma * hi);
  // a higher threshold means lower conductance: weight error anti-correlated with dV_t
  const Matrix we = a->effective_weights();
  std::vector<double> err(we.data(), we.data() + n * n);
  CHECK(stats::spearman(v, err) < -0.99);
}

TEST_CASE("mosfet: output-referred read noise has the per-device thermal variance") {
  // Var(y_c) = (x_max scale / (V_read t_read))^2 sum_j 2 k T G_j |x_j| / x_max t_read; compare the sample
  // variance of R reads with it (chi-square CI, fails with probability 1e-4 if correct).
  MosfetParams p;
  p.a_vt_Vm = 0;
  MosfetArrayModel model(p);
  const int rows = 20, R = 4000;
  Matrix w(rows, 1), x(1, rows);
  Stream s(3, "mosfet.noise");
  s.fill_uniform(w, -1.f, 1.f);
  s.fill_uniform(x, -1.f, 1.f);
  auto a = model.program_mosfet(w, 1.f, s);
  std::vector<double> ys;
  Matrix y;
  for (int r = 0; r < R; ++r) {
    a->mvm(x, y, s);
    ys.push_back(y(0, 0));
  }
  const double g_min = conductance_S(p, p.v_g_min_V), g_max = conductance_S(p, p.v_g_max_V);
  const double scale = 1.0 / (0.5 * (g_max - g_min));
  const double k = p.x_max * scale / (p.v_read_V * p.t_read_s);
  double var = 0;
  for (int j = 0; j < rows; ++j)
    var += k * k * 2 * kT_J(p.temperature_K) * a->conductance_S()(j, 0) * std::abs(x(0, j)) / p.x_max * p.t_read_s;
  boost::math::chi_squared chi(double(R - 1));
  const double c = 1e-4;
  const double s2 = stats::variance(ys);
  CHECK(s2 >= var * boost::math::quantile(chi, c / 2) / (R - 1));
  CHECK(s2 <= var * boost::math::quantile(chi, 1 - c / 2) / (R - 1));
  // and the mean is the noiseless product (float output: allow float rounding of the mean)
  const double exact = (x.cast<double>() * a->effective_weights().cast<double>())(0, 0);
  CHECK(std::abs(stats::mean(ys) - exact) <= stats::z_for(1 - c) * std::sqrt(var / R) + 1e-6 * std::abs(exact));
}

TEST_CASE("mosfet: output-referred read noise agrees with per-device sampled charges") {
  // mvm (one product of |x| with G) against mvm_sampled (a Gaussian charge per device per read), for
  // 3 input vectors with mixed signs and V_t variation on (non-uniform G), n = 20000 reads each.
  // Tolerances, k = 5 standard errors (two-sided false-alarm probability 5.7e-7 per check):
  //   mean:     |m - mu| <= k sqrt(v / n);            difference of the two means: k sqrt(2 v / n)
  //   variance: |s^2 - v| <= k v sqrt(2 / (n - 1));   difference of the two:      k v sqrt(4 / (n - 1))
  //   independence of two columns: |r| <= k / sqrt(n).
  constexpr double K = 5.0;
  constexpr int rows = 16, cols = 4, n = 20000;
  MosfetParams p;
  MosfetArrayModel model(p);
  Stream s(4, "mosfet.sampled");
  Matrix w(rows, cols), xs(3, rows);
  s.fill_uniform(w, -1.f, 1.f);
  s.fill_uniform(xs, -1.f, 1.f);
  auto a = model.program_mosfet(w, 1.f, s);
  const MatrixD g = a->conductance_S();
  CHECK(g.maxCoeff() > 2 * g.minCoeff());  // the per-device variances really differ
  const double g_min = conductance_S(p, p.v_g_min_V), g_max = conductance_S(p, p.v_g_max_V);
  const double scale = 1.0 / (0.5 * (g_max - g_min)), k = p.x_max * scale / (p.v_read_V * p.t_read_s);
  const MatrixD we = a->effective_weights().cast<double>();
  for (int r = 0; r < 3; ++r) {
    const Matrix x = xs.row(r).replicate(n, 1);
    Matrix yf, ys;
    Stream rf(4, "read.fast", {std::uint64_t(r)}), rs(4, "read.sampled", {std::uint64_t(r)});
    a->mvm(x, yf, rf);
    a->mvm_sampled(x, ys, rs);
    for (int c = 0; c < cols; ++c) {
      double mu = 0, v = 0;
      for (int j = 0; j < rows; ++j) {
        mu += double(xs(r, j)) * we(j, c);
        v += k * k * 2 * kT_J(p.temperature_K) * g(j, c) * std::abs(xs(r, j)) / p.x_max * p.t_read_s;
      }
      std::vector<double> cf(n), cs(n);
      for (int b = 0; b < n; ++b) {
        cf[b] = yf(b, c);
        cs[b] = ys(b, c);
      }
      const double m_f = stats::mean(cf), m_s = stats::mean(cs), v_f = stats::variance(cf), v_s = stats::variance(cs);
      INFO("input " << r << " column " << c << ": mean fast " << m_f << " sampled " << m_s << " exact " << mu
                    << "; var fast " << v_f << " sampled " << v_s << " exact " << v);
      // float outputs: the mean may also carry float rounding of y (|y| ~ 1, u = 6e-8)
      const double fl = 1e-6 * std::abs(mu);
      CHECK(std::abs(m_f - mu) <= K * std::sqrt(v / n) + fl);
      CHECK(std::abs(m_s - mu) <= K * std::sqrt(v / n) + fl);
      CHECK(std::abs(m_f - m_s) <= K * std::sqrt(2 * v / n) + 2 * fl);
      CHECK(std::abs(v_f - v) <= K * v * std::sqrt(2.0 / (n - 1)));
      CHECK(std::abs(v_s - v) <= K * v * std::sqrt(2.0 / (n - 1)));
      CHECK(std::abs(v_f - v_s) <= K * v * std::sqrt(4.0 / (n - 1)));
    }
    for (const Matrix* y : {&yf, &ys}) {
      const Eigen::VectorXd c0 = y->col(0).cast<double>().array() - y->col(0).cast<double>().mean();
      const Eigen::VectorXd c1 = y->col(1).cast<double>().array() - y->col(1).cast<double>().mean();
      CHECK(std::abs(c0.dot(c1) / std::sqrt(c0.squaredNorm() * c1.squaredNorm())) <= K / std::sqrt(double(n)));
    }
  }
}

TEST_CASE("mosfet: global (die-to-die) V_t variation shifts every device of a die together") {
  // With local variation off, every device of one programmed array carries the same shift, drawn once
  // per array: across 4000 arrays (dies) its sample sigma lies in the chi-square interval of
  // sigma_vt_global (confidence 1 - 1e-4).
  MosfetParams p;
  p.a_vt_Vm = 0;
  p.sigma_vt_global_V = 0.02;
  MosfetArrayModel model(p);
  constexpr int dies = 4000;
  std::vector<double> shift(dies);
  bool shared = true;
  for (int d = 0; d < dies; ++d) {
    Stream prog(5, "mosfet.die", {std::uint64_t(d)});
    auto a = model.program_mosfet(Matrix::Zero(3, 2), 1.f, prog);
    shift[d] = a->vt_shift_V()(0, 0);
    shared &= (a->vt_shift_V().array() == shift[d]).all();
  }
  CHECK(shared);
  boost::math::chi_squared chi(double(dies - 1));
  const double c = 1e-4;
  CHECK(stats::stddev(shift) >= 0.02 * std::sqrt(boost::math::quantile(chi, c / 2) / (dies - 1)));
  CHECK(stats::stddev(shift) <= 0.02 * std::sqrt(boost::math::quantile(chi, 1 - c / 2) / (dies - 1)));
  CHECK(std::abs(stats::mean(shift)) <= stats::z_for(1 - c) * 0.02 / std::sqrt(double(dies)));
}

TEST_CASE("mosfet: bad parameters are rejected naming the parameter") {
  auto msg = [](const MosfetParams& p) {
    try {
      MosfetArrayModel m(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  MosfetParams p;
  p.w_m = -1;
  CHECK(msg(p).find("mosfet.w_m") != std::string::npos);
  p = MosfetParams{};
  p.v_g_max_V = 0.5;
  CHECK(msg(p).find("v_g_max_V") != std::string::npos);
  p = MosfetParams{};
  p.dv_g_step_V = 5;
  CHECK(msg(p).find("dv_g_step_V") != std::string::npos);
  p = MosfetParams{};
  p.temperature_K = 0;
  CHECK(msg(p).find("temperature_K") != std::string::npos);
  p = MosfetParams{};
  p.max_pulses = 0;
  CHECK(msg(p).find("max_pulses") != std::string::npos);
}
