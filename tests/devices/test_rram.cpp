// RRAM tile tests. Statistical tolerances are derived from the sample size, never tuned:
//   sample mean of n i.i.d. draws with standard deviation sigma: |mean - mu| <= k sigma / sqrt(n);
//   sample standard deviation of n Gaussian draws:              |sd - sigma| <= k sigma / sqrt(2 (n - 1));
//   sample variance of n Gaussian draws:                         |s^2 - v|   <= k v sqrt(2 / (n - 1));
//   sample correlation of independent Gaussians:                 |r|         <= k / sqrt(n);
// with k = 5 standard errors (two-sided false-alarm probability 5.7e-7 per check), n stated per test.
// Proportions (stuck-at rates) use the exact Clopper-Pearson interval at confidence 1 - 1e-5.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "devices/rram.hpp"

using namespace aimc;
using namespace aimc::devices;

namespace {

constexpr double K = 5.0;
constexpr std::uint64_t kSeed = 7;

struct Moments {
  double mean = 0, sd = 0;
  std::size_t n = 0;
};
Moments moments(const std::vector<double>& v) {
  return {stats::mean(v), stats::stddev(v), v.size()};
}
std::vector<double> values(const Matrix& m) {
  std::vector<double> v(static_cast<std::size_t>(m.size()));
  for (Eigen::Index i = 0; i < m.size(); ++i) v[i] = m.data()[i];
  return v;
}

// Checks that the sample moments match a Gaussian N(mu, sigma^2) within K standard errors.
void check_gaussian(const Moments& m, double mu, double sigma) {
  const double se_mean = sigma / std::sqrt(double(m.n));
  const double se_sd = sigma / std::sqrt(2.0 * double(m.n - 1));
  INFO("n = " << m.n << ", mean " << m.mean << " vs " << mu << " (SE " << se_mean << "), sd " << m.sd << " vs "
              << sigma << " (SE " << se_sd << ")");
  CHECK(std::abs(m.mean - mu) <= K * se_mean);
  CHECK(std::abs(m.sd - sigma) <= K * se_sd);
}

}  // namespace

TEST_CASE("rram: zero-noise tile stores W exactly and maps it onto [g_min, g_max]") {
  RramParams p;
  const RramArrayModel model(p);
  Stream s(kSeed, "w");
  Matrix w(128, 128);
  s.fill_uniform(w, -1.f, 1.f);
  Stream prog(kSeed, "program");
  auto a = model.program_rram(w, 1.f, prog);
  // Conductances and the difference are computed in double; each element of W_eff is the float
  // nearest to w (1 + O(1e-16)), i.e. w itself.
  CHECK(a->effective_weights() == w);
  CHECK(a->g_plus().minCoeff() >= float(p.g_min_S) * (1 - 1e-6f));
  CHECK(a->g_plus().maxCoeff() <= float(p.g_max_S) * (1 + 1e-6f));
  CHECK(a->g_minus().minCoeff() >= float(p.g_min_S) * (1 - 1e-6f));
  // One device of each pair sits at g_min.
  CHECK((a->g_plus().cwiseMin(a->g_minus()).array() == float(p.g_min_S)).all());
  CHECK(a->weight_per_siemens() == doctest::Approx(1.0 / (p.g_max_S - p.g_min_S)));
  CHECK_FALSE(a->has_read_noise());

  // |w| > w_max saturates at w_max.
  Matrix big = Matrix::Constant(4, 4, 3.f);
  big(0, 0) = -5.f;
  auto b = model.program_rram(big, 1.f, prog);
  CHECK(b->effective_weights()(1, 1) == 1.f);
  CHECK(b->effective_weights()(0, 0) == -1.f);

  // Blocks larger than the tile, and bad w_max, are rejected.
  CHECK_THROWS_AS(model.program(Matrix::Zero(129, 4), 1.f, prog), Error);
  CHECK_THROWS_WITH_AS(model.program(Matrix::Zero(4, 4), 0.f, prog), doctest::Contains("w_max"), Error);
}

TEST_CASE("rram: a 1024 x 1024 tile programs and computes x * W") {
  // The issue asks for any tile size up to at least 1024; the contract tolerance of a float dot product
  // of length n = 1024 applies (2 gamma_n |x| |W|, gamma_n = n u / (1 - n u), u = 2^-24; Higham Eq. 3.5).
  RramParams p;
  p.rows = p.cols = 1024;
  Stream s(kSeed, "w1024");
  Matrix w(1024, 1024), x(8, 1024);
  s.fill_uniform(w, -1.f, 1.f);
  s.fill_uniform(x, -1.f, 1.f);
  Stream prog(kSeed, "program");
  auto a = RramArrayModel(p).program(w, 1.f, prog);
  REQUIRE(a->rows() == 1024);
  REQUIRE(a->cols() == 1024);
  Matrix y;
  Stream read(kSeed, "read");
  a->mvm(x, y, read);
  const double u = std::ldexp(1.0, -24), gamma = 1024 * u / (1 - 1024 * u);
  const MatrixD exact = x.cast<double>() * w.cast<double>();
  const MatrixD bound = 2 * gamma * (x.cast<double>().cwiseAbs() * w.cast<double>().cwiseAbs());
  CHECK(((y.cast<double>() - exact).cwiseAbs().array() <= bound.array()).all());
}

TEST_CASE("rram: programmed conductance mean and std match the configured distribution") {
  // n = 256 x 256 = 65536 devices per array; targets G+ = g_min + 0.6 (g_max - g_min) (w = 0.6 w_max),
  // G- = g_min. Clipping at G = 0 is > 10 sigma away for the G+ checks, so it does not bias them.
  const Matrix w = Matrix::Constant(256, 256, 0.6f);
  RramParams p;
  p.rows = p.cols = 256;
  const double span = p.g_max_S - p.g_min_S, gt = p.g_min_S + 0.6 * span;

  SUBCASE("additive: G = G_t + sigma (g_max - g_min) z") {
    p.prog_model = "additive";
    p.sigma_prog = 0.05;
    Stream prog(kSeed, "program", {1});
    auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
    check_gaussian(moments(values(a->g_plus())), gt, 0.05 * span);
  }
  SUBCASE("relative: G = G_t (1 + sigma z)") {
    p.prog_model = "relative";
    p.sigma_prog = 0.08;
    Stream prog(kSeed, "program", {2});
    auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
    check_gaussian(moments(values(a->g_plus())), gt, 0.08 * gt);
    check_gaussian(moments(values(a->g_minus())), p.g_min_S, 0.08 * p.g_min_S);
  }
  SUBCASE("lognormal: G = G_t exp(sigma z)") {
    p.prog_model = "lognormal";
    p.sigma_prog = 0.2;
    Stream prog(kSeed, "program", {3});
    auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
    std::vector<double> lg = values(a->g_plus());
    // log(G / G_t) ~ N(0, sigma^2) exactly.
    std::vector<double> theta(lg.size());
    for (std::size_t i = 0; i < lg.size(); ++i) theta[i] = std::log(lg[i] / gt);
    check_gaussian(moments(theta), 0.0, 0.2);
    // Mean of G: G_t exp(sigma^2 / 2), SE = sd(G) / sqrt(n) with sd(G) = mean sqrt(exp(sigma^2) - 1).
    const double mu = gt * std::exp(0.02), sd = mu * std::sqrt(std::exp(0.04) - 1.0);
    const Moments m = moments(lg);
    CHECK(std::abs(m.mean - mu) <= K * sd / std::sqrt(double(m.n)));
  }
}

TEST_CASE("rram: programming variation clips conductances at zero") {
  RramParams p;
  p.sigma_prog = 1.0;  // additive, far wider than the range: many negative draws
  Stream prog(kSeed, "program");
  auto a = RramArrayModel(p).program_rram(Matrix::Zero(64, 64), 1.f, prog);
  CHECK(a->g_plus().minCoeff() == 0.f);
  CHECK(a->g_minus().minCoeff() == 0.f);
}

TEST_CASE("rram: stuck-at fault rates lie in the Clopper-Pearson interval") {
  // n = 2 x 256 x 256 = 131072 devices; rates of Chen et al., IEEE TC 2015 (SA0 1.75 %, SA1 9.04 %).
  RramParams p;
  p.rows = p.cols = 256;
  p.p_stuck_min = 0.0175;
  p.p_stuck_max = 0.0904;
  Stream s(kSeed, "w");
  Matrix w(256, 256);
  s.fill_uniform(w, -1.f, 1.f);
  Stream prog(kSeed, "program", {11});
  auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
  std::uint64_t n = 0, kmin = 0, kmax = 0;
  bool values_ok = true;
  for (const auto* pair : {&a->faults_plus(), &a->faults_minus()}) {
    const Matrix& g = pair == &a->faults_plus() ? a->g_plus() : a->g_minus();
    for (Eigen::Index i = 0; i < pair->size(); ++i) {
      ++n;
      const auto f = Fault((*pair).data()[i]);
      if (f == Fault::stuck_min) {
        ++kmin;
        values_ok &= g.data()[i] == float(p.g_min_S);
      } else if (f == Fault::stuck_max) {
        ++kmax;
        values_ok &= g.data()[i] == float(p.g_max_S);
      }
    }
  }
  CHECK(values_ok);
  const auto ci_min = stats::binomial_ci(kmin, n, 1 - 1e-5), ci_max = stats::binomial_ci(kmax, n, 1 - 1e-5);
  INFO("stuck at g_min " << kmin << " / " << n << " CI [" << ci_min.lo << ", " << ci_min.hi << "]");
  INFO("stuck at g_max " << kmax << " / " << n << " CI [" << ci_max.lo << ", " << ci_max.hi << "]");
  CHECK((ci_min.lo <= p.p_stuck_min && p.p_stuck_min <= ci_min.hi));
  CHECK((ci_max.lo <= p.p_stuck_max && p.p_stuck_max <= ci_max.hi));

  // The same programming stream with a larger p_stuck_min keeps every device stuck before (nested
  // fault sets across a sweep), and leaves programming variation draws unchanged.
  RramParams q = p;
  q.p_stuck_min = 0.05;
  Stream prog2(kSeed, "program", {11});
  auto b = RramArrayModel(q).program_rram(w, 1.f, prog2);
  bool nested = true;
  for (Eigen::Index i = 0; i < a->faults_plus().size(); ++i)
    if (a->faults_plus().data()[i] == std::uint8_t(Fault::stuck_min))
      nested &= b->faults_plus().data()[i] == std::uint8_t(Fault::stuck_min);
  CHECK(nested);
}

TEST_CASE("rram: finite levels quantize the targets to the nearest level") {
  RramParams p;
  p.levels = 5;
  Stream s(kSeed, "w");
  Matrix w(64, 48);
  s.fill_uniform(w, -1.f, 1.f);
  Stream prog(kSeed, "program");
  auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
  const double span = p.g_max_S - p.g_min_S, step = span / 4;
  bool on_grid = true, nearest = true;
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) {
      const double target = p.g_min_S + span * std::max(0.f, w(i, j));
      const double g = a->g_plus()(i, j);
      const double k = (g - p.g_min_S) / step;
      on_grid &= std::abs(k - std::round(k)) < 1e-5;
      nearest &= std::abs(g - target) <= step / 2 * (1 + 1e-5);
    }
  CHECK(on_grid);
  CHECK(nearest);
  // Effective weights take the 9 values k / 4, k = -4..4.
  const Matrix we = a->effective_weights();
  CHECK(((we * 4.f).array() - (we * 4.f).array().round()).abs().maxCoeff() < 1e-5f);
}

TEST_CASE("rram: drift follows G(t) = G(t0) (t / t0)^-nu") {
  RramParams p;
  p.drift_nu = 0.05;
  p.t0_s = 1.0;
  p.t_read_s = 1000.0;
  const Matrix w = Matrix::Constant(128, 128, 0.5f);
  const double gt = p.g_min_S + 0.5 * (p.g_max_S - p.g_min_S);
  SUBCASE("fixed nu: exact power law") {
    Stream prog(kSeed, "program");
    auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
    const double expected = gt * std::pow(1000.0, -0.05);
    CHECK((a->g_plus().array().cast<double>() / expected - 1.0).abs().maxCoeff() < 1e-6);
    CHECK((a->g_minus().array().cast<double>() / (p.g_min_S * std::pow(1000.0, -0.05)) - 1.0).abs().maxCoeff() <
          1e-6);
  }
  SUBCASE("nu spread: per-device exponents are N(nu, sigma_nu^2)") {
    // n = 2 x 128 x 128 = 32768 exponents, nu_ij = -log(G / G_t) / log(t / t0).
    p.sigma_drift_nu = 0.02;
    Stream prog(kSeed, "program", {5});
    auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
    std::vector<double> nu;
    const double lt = std::log(1000.0);
    for (Eigen::Index i = 0; i < a->g_plus().size(); ++i) {
      nu.push_back(-std::log(a->g_plus().data()[i] / gt) / lt);
      nu.push_back(-std::log(a->g_minus().data()[i] / p.g_min_S) / lt);
    }
    check_gaussian(moments(nu), 0.05, 0.02);
  }
}

TEST_CASE("rram: output-referred read noise agrees with the sampled reference") {
  // Non-uniform per-device variances: relative read noise on lognormal-varied conductances with
  // stuck devices. For each of 4 input vectors (mixed signs), n = 20000 reads by each method; the
  // expected mean and variance of each output come from the conductances (oracle below), and the
  // measured ones must lie within K = 5 standard errors (header) of them.
  RramParams p;
  p.rows = 16;
  p.cols = 8;
  p.prog_model = "lognormal";
  p.sigma_prog = 0.3;
  p.read_model = "relative";
  p.sigma_read = 0.1;
  p.p_stuck_min = 0.1;
  p.p_stuck_max = 0.1;
  Stream s(kSeed, "data");
  Matrix w(16, 8), xs(4, 16);
  s.fill_uniform(w, -1.f, 1.f);
  s.fill_normal(xs);
  Stream prog(kSeed, "program");
  auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
  REQUIRE(a->has_read_noise());
  // Oracle, independent of read_variance() and effective_weights(): from the realized conductances of
  // each pair and the documented models (rram.hpp: y = x (G+ - G-) w_max / (g_max - g_min); relative
  // read noise sigma_read * G per device, independent per device), the pair's weight and its read-noise
  // variance in weight units^2 are
  //   W_ij = (G+_ij - G-_ij) s,   V_ij = sigma_read^2 (G+_ij^2 + G-_ij^2) s^2,   s = w_max / (g_max - g_min).
  const double sc = 1.0 / (p.g_max_S - p.g_min_S);
  const MatrixD gp = a->g_plus().cast<double>(), gm = a->g_minus().cast<double>();
  const MatrixD we = (gp - gm) * sc;
  const MatrixD var = (gp.cwiseAbs2() + gm.cwiseAbs2()) * (p.sigma_read * p.sigma_read * sc * sc);
  CHECK(var.maxCoeff() > 2.0 * var.minCoeff());  // the variances really are non-uniform
  // The code's precomputed tables agree with the oracle to float round-off (they are stored as float).
  CHECK((a->read_variance().cast<double>() - var).cwiseAbs().maxCoeff() <= 1e-6 * var.maxCoeff());
  CHECK((a->effective_weights().cast<double>() - we).cwiseAbs().maxCoeff() <= 1e-6 * we.cwiseAbs().maxCoeff());

  constexpr int n = 20000;
  for (int k = 0; k < 4; ++k) {
    const Matrix x = xs.row(k).replicate(n, 1);
    Matrix yf, ys;
    Stream rf(kSeed, "read.fast", {std::uint64_t(k)}), rs(kSeed, "read.sampled", {std::uint64_t(k)});
    a->mvm(x, yf, rf);
    a->mvm_sampled(x, ys, rs);
    const VectorD xd = xs.row(k).transpose().cast<double>();
    for (int j = 0; j < 8; ++j) {
      const double mu = xd.dot(we.col(j));
      const double v = xd.cwiseAbs2().dot(var.col(j));
      std::vector<double> cf(n), cs(n);
      for (int b = 0; b < n; ++b) {
        cf[b] = yf(b, j);
        cs[b] = ys(b, j);
      }
      const double m_f = stats::mean(cf), m_s = stats::mean(cs);
      const double v_f = stats::variance(cf), v_s = stats::variance(cs);
      INFO("input " << k << " column " << j << ": mean fast " << m_f << " sampled " << m_s << " exact " << mu
                    << "; var fast " << v_f << " sampled " << v_s << " exact " << v);
      CHECK(std::abs(m_f - mu) <= K * std::sqrt(v / n));
      CHECK(std::abs(m_s - mu) <= K * std::sqrt(v / n));
      CHECK(std::abs(m_f - m_s) <= K * std::sqrt(2 * v / n));
      CHECK(std::abs(v_f - v) <= K * v * std::sqrt(2.0 / (n - 1)));
      CHECK(std::abs(v_s - v) <= K * v * std::sqrt(2.0 / (n - 1)));
      CHECK(std::abs(v_f - v_s) <= K * v * std::sqrt(4.0 / (n - 1)));
    }
    // Outputs are independent: sample correlation of two columns within K / sqrt(n) of 0.
    for (const Matrix* y : {&yf, &ys}) {
      const Eigen::VectorXd c0 = y->col(0).cast<double>().array() - y->col(0).cast<double>().mean();
      const Eigen::VectorXd c1 = y->col(1).cast<double>().array() - y->col(1).cast<double>().mean();
      const double r = c0.dot(c1) / std::sqrt(c0.squaredNorm() * c1.squaredNorm());
      CHECK(std::abs(r) <= K / std::sqrt(double(n)));
    }
  }
}

TEST_CASE("rram: additive read noise has variance 2 (sigma g_max)^2 per device pair") {
  // Uniform-variance fast path (no second GEMM): n = 20000 reads of one input vector.
  RramParams p;
  p.sigma_read = 0.02;
  Stream s(kSeed, "data");
  Matrix w(32, 4), x1(1, 32);
  s.fill_uniform(w, -1.f, 1.f);
  s.fill_uniform(x1, 0.f, 1.f);
  Stream prog(kSeed, "program");
  auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
  const double sc = a->weight_per_siemens();
  const double v = x1.cast<double>().squaredNorm() * 2.0 * std::pow(0.02 * p.g_max_S * sc, 2);
  constexpr int n = 20000;
  Matrix y;
  Stream read(kSeed, "read");
  a->mvm(x1.replicate(n, 1), y, read);
  for (int j = 0; j < 4; ++j) {
    std::vector<double> c(n);
    for (int b = 0; b < n; ++b) c[b] = y(b, j);
    const double mu = (x1.cast<double>() * w.cast<double>())(0, j);
    CHECK(std::abs(stats::mean(c) - mu) <= K * std::sqrt(v / n));
    CHECK(std::abs(stats::variance(c) - v) <= K * v * std::sqrt(2.0 / (n - 1)));
  }
}

TEST_CASE("rram: first-order IR drop matches the exact nodal solution to second order") {
  Stream s(kSeed, "ir");
  const double gmin = 1.0 / 900e3, gmax = 1.0 / 6e3;
  auto random_g = [&](int R, int C) {
    MatrixD g(R, C);
    for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = gmin + (gmax - gmin) * s.uniform();
    return g;
  };
  auto random_v = [&](int R) {
    VectorD v(R);
    for (int i = 0; i < R; ++i) v(i) = 0.2 * s.uniform();
    return v;
  };
  SUBCASE("error of the first-order model scales as r^2") {
    const MatrixD g = random_g(8, 8);
    const VectorD v = random_v(8);
    auto err = [&](double r) {
      const VectorD first = ir_drop_first_order(g, r).transpose() * v;
      return (first - ir_drop_exact_currents(g, v, r)).norm();
    };
    const double e1 = err(1.0), e2 = err(0.5), e4 = err(0.25);
    INFO("errors at r = 1, 0.5, 0.25 Ohm: " << e1 << " " << e2 << " " << e4);
    // Second order: halving r divides the error by 4 (the O(r^3) term shifts the ratio by ~r g N^2 ~ 1 %).
    CHECK(e1 / e2 == doctest::Approx(4.0).epsilon(0.1));
    CHECK(e2 / e4 == doctest::Approx(4.0).epsilon(0.1));
    // The first-order correction captures the IR drop: residual much smaller than the drop itself.
    const VectorD ideal = g.transpose() * v;
    const VectorD exact = ir_drop_exact_currents(g, v, 1.0);
    CHECK(e1 < 0.05 * (ideal - exact).norm());
  }
  SUBCASE("a 32 x 32 tile at 2 Ohm per segment: first order beats ignoring the drop") {
    const MatrixD g = random_g(32, 32);
    const VectorD v = random_v(32);
    const VectorD exact = ir_drop_exact_currents(g, v, 2.0);
    const VectorD first = ir_drop_first_order(g, 2.0).transpose() * v;
    const VectorD ideal = g.transpose() * v;
    const double e_first = (first - exact).norm() / exact.norm(), e_ideal = (ideal - exact).norm() / exact.norm();
    MESSAGE("32 x 32, r = 2 Ohm: relative error of the first-order model " << e_first << ", of no IR drop "
                                                                            << e_ideal);
    CHECK(e_first < e_ideal);
  }
  SUBCASE("the tile folds the IR drop of both arrays into its effective weights") {
    RramParams p;
    p.rows = 16;
    p.cols = 8;
    p.r_wire_Ohm = 1.0;
    Matrix w(16, 8);
    s.fill_uniform(w, -1.f, 1.f);
    Stream prog(kSeed, "program");
    auto a = RramArrayModel(p).program_rram(w, 1.f, prog);
    const MatrixD gp = a->g_plus().cast<double>(), gn = a->g_minus().cast<double>();
    const VectorD v = random_v(16);
    const VectorD exact = (ir_drop_exact_currents(gp, v, 1.0) - ir_drop_exact_currents(gn, v, 1.0)) *
                          a->weight_per_siemens();
    const VectorD model = a->effective_weights().cast<double>().transpose() * v;
    const VectorD ideal = w.cast<double>().transpose() * v;
    CHECK((model - exact).norm() < 0.05 * (ideal - exact).norm());
  }
}

TEST_CASE("rram: bad parameters are rejected naming the parameter" * doctest::description("see also the contract")) {
  auto msg = [](RramParams p) {
    try {
      RramArrayModel m(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  RramParams p;
  p.g_min_S = 1e-3;
  CHECK(msg(p).find("g_min_S") != std::string::npos);
  p = {};
  p.sigma_read = -1;
  CHECK(msg(p) == "parameter 'rram.sigma_read' = -1: must be in [0, 10]");
  p = {};
  p.read_model = "pink";
  CHECK(msg(p) == "parameter 'rram.read_model' = \"pink\": must be one of additive|relative");
  p = {};
  p.levels = 1;
  CHECK(msg(p).find("levels") != std::string::npos);
}
