// PCM tile tests (devices/pcm.hpp). The oracle is the model's equations written out here from the
// documented coefficients (aihwkit PCMLikeNoiseModel, Nandakumar et al. 2019, Joshi et al. 2020), not
// PcmParams' own helper functions. Clamps and folds (g >= 0, nu = |.|) make the sampled quantities
// non-Gaussian, so the expected moments are computed by quadrature of the exact transformed normal
// (composite Simpson on mu +- 12 sigma, 24 000 intervals: quadrature error far below the tolerances).
// Statistical tolerances, with n stated per test and K = 5 standard errors (two-sided false-alarm
// probability 5.7e-7 per check):
//   sample mean of n i.i.d. draws:      |mean - m| <= K sqrt(v / n);
//   sample variance of n i.i.d. draws:  |s^2 - v|  <= K sqrt(mu4 / n - v^2 (n - 3) / (n (n - 1)))
// (the exact variance of the sample variance; v and mu4 the second and fourth central moments).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "devices/pcm.hpp"
#include "tests/common/approx.hpp"

using namespace aimc;
using namespace aimc::devices;
using aimc::test::rel;

namespace {

constexpr double K = 5.0;
constexpr std::uint64_t kSeed = 15;
constexpr double kPi = 3.14159265358979323846;

// The documented model (aihwkit PCMLikeNoiseModel defaults), written out independently of pcm.cpp.
constexpr double kGmax = 25e-6;                                    // S
constexpr double kC0 = 0.26348e-6, kC1 = 1.9650e-6, kC2 = -1.1731e-6;  // S, at g_max = 25 uS
constexpr double kT0 = 20.0, kTread = 250e-9;                      // s

double sigma_prog_oracle(double r, double g_max) {
  return std::max(kC0 + kC1 * r + kC2 * r * r, 0.0) * g_max / 25e-6;
}
double mu_nu_oracle(double r) { return std::clamp(-0.0155 * std::log(std::max(r, 1e-7)) + 0.0244, 0.049, 0.1); }
double sigma_nu_oracle(double r) {
  return std::clamp(-0.0125 * std::log(std::max(r, 1e-7)) - 0.0059, 0.008, 0.045);
}
double q_s_oracle(double r) { return std::min(0.0088 / std::max(std::pow(r, 0.65), 1e-3), 0.2); }
double noise_sd_oracle(double r, double t_inference) {
  const double t = t_inference + kT0;
  return q_s_oracle(r) * std::sqrt(std::log((t + kTread) / (2 * kTread)));
}

/// Mean, variance and fourth central moment of f(Y), Y ~ N(mu, sigma^2), by Simpson quadrature.
struct Expected {
  double mean = 0, var = 0, mu4 = 0;
};
Expected expected_of(const std::function<double(double)>& f, double mu, double sigma) {
  constexpr int n = 24000;
  const double a = mu - 12 * sigma, h = 24 * sigma / n;
  double m[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i <= n; ++i) {
    const double y = a + i * h, z = (y - mu) / sigma;
    const double wgt = (i == 0 || i == n ? 1.0 : (i % 2 ? 4.0 : 2.0)) * h / 3.0 *
                       std::exp(-0.5 * z * z) / (sigma * std::sqrt(2 * kPi));
    const double v = f(y);
    double p = 1.0;
    for (int k = 0; k <= 4; ++k, p *= v) m[k] += wgt * p;
  }
  for (int k = 1; k <= 4; ++k) m[k] /= m[0];
  Expected e;
  e.mean = m[1];
  e.var = m[2] - m[1] * m[1];
  e.mu4 = m[4] - 4 * m[1] * m[3] + 6 * m[1] * m[1] * m[2] - 3 * m[1] * m[1] * m[1] * m[1];
  return e;
}

/// Checks sample mean and variance of x against e within K standard errors.
void check_moments(const std::vector<double>& x, const Expected& e) {
  const double n = double(x.size());
  const double mean = stats::mean(x), var = stats::variance(x);
  const double se_mean = std::sqrt(e.var / n);
  const double se_var = std::sqrt(e.mu4 / n - e.var * e.var * (n - 3) / (n * (n - 1)));
  INFO("n = " << x.size() << ", mean " << mean << " vs " << e.mean << " (SE " << se_mean << "), variance " << var
              << " vs " << e.var << " (SE " << se_var << ")");
  CHECK(std::abs(mean - e.mean) <= K * se_mean);
  CHECK(std::abs(var - e.var) <= K * se_var);
}

std::vector<double> values(const Matrix& m, double scale = 1.0) {
  std::vector<double> v(std::size_t(m.size()));
  for (Eigen::Index i = 0; i < m.size(); ++i) v[std::size_t(i)] = double(m.data()[i]) * scale;
  return v;
}

/// Parameters with every mechanism off, 256 x 256 tiles.
PcmParams quiet() {
  PcmParams p;
  p.rows = p.cols = 256;
  p.prog_noise_scale = 0.0;
  p.drift_scale = 0.0;
  p.read_noise_scale = 0.0;
  return p;
}

}  // namespace

TEST_CASE("pcm: zero-noise tile stores W exactly on [0, g_max] with one device of each pair at 0") {
  const PcmArrayModel model(quiet());
  Stream s(kSeed, "w");
  Matrix w(256, 256);
  s.fill_uniform(w, -0.7f, 0.7f);
  Stream prog(kSeed, "program");
  auto a = model.program_pcm(w, 0.7f, prog);
  // The conductances are formed in double; each weight is the float nearest to w (1 + O(1e-16)).
  CHECK(a->effective_weights() == w);
  CHECK(a->reference_weights() == w);
  CHECK(a->g_plus().minCoeff() >= 0.f);
  CHECK(a->g_plus().maxCoeff() <= float(kGmax) * (1 + 1e-6f));
  CHECK((a->g_plus().cwiseMin(a->g_minus()).array() == 0.f).all());
  CHECK(a->weight_per_siemens() == doctest::Approx(0.7 / kGmax));
  Matrix big = Matrix::Constant(4, 4, 3.f);
  big(0, 0) = -5.f;
  auto b = model.program_pcm(big, 1.f, prog);
  CHECK(b->effective_weights()(1, 1) == 1.f);
  CHECK(b->effective_weights()(0, 0) == -1.f);
  CHECK_THROWS_AS(model.program(Matrix::Zero(257, 4), 1.f, prog), Error);
  CHECK_THROWS_WITH_AS(model.program(Matrix::Zero(4, 4), 0.f, prog), doctest::Contains("pcm.w_max"), Error);
}

TEST_CASE("pcm: programmed conductances follow g_T + sigma_prog(g_T) z, clamped at 0, at several states") {
  // n = 256 x 256 = 65536 devices per state and side. Expected: g_prog = max(g_T + s z, 0) with
  // s = max(c0 + c1 r + c2 r^2, 0) g_max / 25 uS, r = g_T / g_max (moments by quadrature: the clamp
  // matters only for the G- side, whose target is 0: a rectified normal).
  struct State {
    double r, g_max;
  };
  for (const State st :
       {State{0.1, kGmax}, State{0.3, kGmax}, State{0.6, kGmax}, State{1.0, kGmax}, State{0.6, 50e-6}}) {
    PcmParams p = quiet();
    p.g_max_S = st.g_max;
    p.prog_noise_scale = 1.0;
    const Matrix w = Matrix::Constant(256, 256, float(st.r));
    Stream prog(kSeed, "program", {std::uint64_t(st.r * 1000), std::uint64_t(st.g_max * 1e6)});
    auto a = PcmArrayModel(p).program_pcm(w, 1.f, prog);
    // Conductances in uS for readable messages.
    const double gt = st.r * st.g_max * 1e6, s = sigma_prog_oracle(st.r, st.g_max) * 1e6;
    const double s0 = sigma_prog_oracle(0.0, st.g_max) * 1e6;
    INFO("g_T / g_max = " << st.r << ", g_max = " << st.g_max * 1e6 << " uS: sigma_prog " << s << " uS");
    auto clamp0 = [](double y) { return std::max(y, 0.0); };
    check_moments(values(a->g_prog_plus(), 1e6), expected_of(clamp0, gt, s));
    check_moments(values(a->g_prog_minus(), 1e6), expected_of(clamp0, 0.0, s0));
    // Nothing else is on: the conductances at t equal the programmed ones.
    CHECK(a->g_plus() == a->g_prog_plus());
  }
}

TEST_CASE("pcm: drift exponents follow |N(mu_nu(g_T), sigma_nu(g_T))| at several states") {
  // nu of each device recovered from its conductances, nu = -ln(g(t) / g_prog) / ln((t + t0) / t0),
  // with the 1/f noise off. Expected: the folded normal |Y|, Y ~ N(mu_nu, sigma_nu^2) of the documented
  // fit (moments by quadrature; the fold moves the mean by up to ~0.5 SE at r = 0.01 and 0.1, where
  // mu / sigma is about 2.1 and 2.6). Float conductances limit each recovered nu to ~1e-8, far below
  // the standard errors (~1e-4). n = 65536 devices per state (G+ side, programming noise off so
  // g_prog = g_T), and for the target-0 state the G- devices whose programmed conductance is positive
  // (programming noise on; about half of 65536).
  const double t = 1e6, L = std::log((t + kT0) / kT0);
  auto nus = [&](const Matrix& g, const Matrix& g0) {
    std::vector<double> v;
    for (Eigen::Index i = 0; i < g.size(); ++i)
      if (g0.data()[i] > 0.f) v.push_back(-std::log(double(g.data()[i]) / double(g0.data()[i])) / L);
    return v;
  };
  auto fold = [](double y) { return std::abs(y); };
  SUBCASE("conductance model at g_T / g_max = 1, 0.5, 0.1, 0.01") {
    for (double r : {1.0, 0.5, 0.1, 0.01}) {
      PcmParams p = quiet();
      p.drift_scale = 1.0;
      p.t_inference_s = t;
      Stream prog(kSeed, "program", {std::uint64_t(r * 1000)});
      auto a = PcmArrayModel(p).program_pcm(Matrix::Constant(256, 256, float(r)), 1.f, prog);
      const std::vector<double> nu = nus(a->g_plus(), a->g_prog_plus());
      REQUIRE(nu.size() == 65536);
      INFO("g_T / g_max = " << r << ": mu_nu " << mu_nu_oracle(r) << ", sigma_nu " << sigma_nu_oracle(r));
      check_moments(nu, expected_of(fold, mu_nu_oracle(r), sigma_nu_oracle(r)));
    }
  }
  SUBCASE("target 0 (the idle device of each pair): r floored at 1e-7, mu_nu = 0.1, sigma_nu = 0.045") {
    PcmParams p = quiet();
    p.drift_scale = 1.0;
    p.prog_noise_scale = 1.0;
    p.t_inference_s = t;
    Stream prog(kSeed, "program", {77});
    auto a = PcmArrayModel(p).program_pcm(Matrix::Constant(256, 256, 0.5f), 1.f, prog);
    const std::vector<double> nu = nus(a->g_minus(), a->g_prog_minus());
    CHECK(nu.size() > 30000);
    check_moments(nu, expected_of(fold, 0.1, 0.045));
  }
  SUBCASE("constant model: |N(drift_nu, sigma_drift_nu)| for every state, scaled by drift_scale") {
    PcmParams p = quiet();
    p.drift_scale = 2.0;
    p.drift_nu_model = "constant";
    p.drift_nu = 0.03;
    p.sigma_drift_nu = 0.01;
    p.t_inference_s = t;
    Stream prog(kSeed, "program", {78});
    auto a = PcmArrayModel(p).program_pcm(Matrix::Constant(256, 256, 0.05f), 1.f, prog);
    const auto twice_fold = [](double y) { return 2 * std::abs(y); };
    check_moments(nus(a->g_plus(), a->g_prog_plus()), expected_of(twice_fold, 0.03, 0.01));
  }
  SUBCASE("constant model without spread: every device follows the power law exactly") {
    PcmParams p = quiet();
    p.drift_scale = 1.0;
    p.drift_nu_model = "constant";
    p.drift_nu = 0.06;
    p.t_inference_s = 3.1536e7;
    Stream s(kSeed, "w");
    Matrix w(64, 64);
    s.fill_uniform(w, -1.f, 1.f);
    Stream prog(kSeed, "program", {79});
    auto a = PcmArrayModel(p).program_pcm(w, 1.f, prog);
    const double f = std::pow((3.1536e7 + kT0) / kT0, -0.06);
    // Each weight is rounded to float twice (programmed and drifted): relative error <= 2^-23.
    const Matrix expected = (w.cast<double>() * f).cast<float>();
    CHECK(((a->effective_weights() - expected).cwiseAbs().array() <=
           std::ldexp(1.0f, -23) * expected.cwiseAbs().array() + 1e-30f).all());
  }
}

TEST_CASE("pcm: accumulated 1/f noise has sd Q_s sqrt(ln((t + t_read) / (2 t_read))) at several states and times") {
  // Programming noise and drift off: g(t) = max(g_T (1 + s z), 0), s = Q_s(g_T) sqrt(ln((t_inf + t0 +
  // t_read) / (2 t_read))), Q_s = min(0.0088 / max(r^0.65, 1e-3), 0.2). r = 0.005 is on the Q_s = 0.2
  // clamp with s ~ 0.8-1.1, where the clamp at 0 shapes the distribution (moments by quadrature).
  // n = 65536 devices (G+ side) per state and time, g(t) / g_T compared.
  for (double r : {1.0, 0.3, 0.1, 0.005})
    for (double t : {0.0, 3600.0, 3.1536e7}) {
      PcmParams p = quiet();
      p.read_noise_scale = 1.0;
      p.t_inference_s = t;
      Stream prog(kSeed, "program", {std::uint64_t(r * 1000), std::uint64_t(t)});
      auto a = PcmArrayModel(p).program_pcm(Matrix::Constant(256, 256, float(r)), 1.f, prog);
      const double s = noise_sd_oracle(r, t);
      INFO("g_T / g_max = " << r << ", t_inference " << t << " s: relative sd " << s);
      const auto clamp0 = [](double y) { return std::max(y, 0.0); };
      check_moments(values(a->g_plus(), 1.0 / (r * kGmax)), expected_of(clamp0, 1.0, s));
    }
  // The noise grows with time: the oracle's sd at one year over one second is sqrt(31.8 / 17.6).
  CHECK(noise_sd_oracle(1.0, 3.1536e7) / noise_sd_oracle(1.0, 1.0) == doctest::Approx(1.345).epsilon(0.01));
}

TEST_CASE("pcm: the mean conductance decays as the power law averaged over the exponents, on one chip") {
  // Drift only (g_prog = g_T = 0.5 g_max): E[g(t)] / g_T = E[((t + t0) / t0)^-|Y|], Y ~ N(mu_nu, sigma_nu^2).
  // The same programming stream at every t is one chip observed at several times: each device keeps
  // its exponent. n = 65536 devices per time.
  const double r = 0.5;
  const Matrix w = Matrix::Constant(256, 256, float(r));
  std::vector<double> nu_first;
  for (double t : {1.0, 3600.0, 86400.0, 2.592e6, 3.1536e7}) {
    PcmParams p = quiet();
    p.drift_scale = 1.0;
    p.t_inference_s = t;
    Stream prog(kSeed, "program", {5});
    auto a = PcmArrayModel(p).program_pcm(w, 1.f, prog);
    const double L = std::log((t + kT0) / kT0);
    const auto decay = [&](double y) { return std::exp(-std::abs(y) * L); };
    const Expected e = expected_of(decay, mu_nu_oracle(r), sigma_nu_oracle(r));
    const std::vector<double> g = values(a->g_plus(), 1.0 / (r * kGmax));
    INFO("t_inference " << t << " s: E[g] / g_T = " << e.mean << " (power law at mean nu: "
                        << std::pow((t + kT0) / kT0, -mu_nu_oracle(r)) << ")");
    const double mean = stats::mean(g);
    CHECK(std::abs(mean - e.mean) <= K * std::sqrt(e.var / double(g.size())));
    std::vector<double> nu(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) nu[i] = -std::log(g[i]) / L;
    if (nu_first.empty()) nu_first = nu;
    double worst = 0;
    for (std::size_t i = 0; i < nu.size(); ++i) worst = std::max(worst, std::abs(nu[i] - nu_first[i]));
    // Float conductances: |d nu| <= 2^-23 / L per device (L >= ln(21 / 20) = 0.049 at t = 1 s).
    CHECK(worst <= 3e-6);
  }
}

TEST_CASE("pcm: reference weights are the programmed state, each mechanism draws from its own stream") {
  Stream s(kSeed, "w");
  Matrix w(96, 64);
  s.fill_uniform(w, -1.f, 1.f);
  auto program = [&](const PcmParams& p) {
    Stream prog(kSeed, "program", {9});
    return PcmArrayModel(p).program_pcm(w, 1.f, prog);
  };
  PcmParams p;
  p.t_inference_s = 3600;
  auto full = program(p);
  // Reference: (G+_prog - G-_prog) w_max / g_max, independent of the time of inference.
  const MatrixD ref = (full->g_prog_plus().cast<double>() - full->g_prog_minus().cast<double>()) / kGmax;
  CHECK((full->reference_weights().cast<double>() - ref).cwiseAbs().maxCoeff() <= 1e-6);
  PcmParams later = p;
  later.t_inference_s = 3.1536e7;
  CHECK(program(later)->reference_weights() == full->reference_weights());
  CHECK(program(later)->effective_weights() != full->effective_weights());
  // Switching drift or 1/f noise off leaves the programming draws unchanged ...
  PcmParams no_drift = p, no_noise = p, no_prog = p;
  no_drift.drift_scale = 0;
  no_noise.read_noise_scale = 0;
  no_prog.prog_noise_scale = 0;
  CHECK(program(no_drift)->g_prog_plus() == full->g_prog_plus());
  CHECK(program(no_noise)->g_prog_minus() == full->g_prog_minus());
  // ... switching programming noise off leaves the drift exponents unchanged (1/f noise off in both,
  // nu = -ln(g / g_prog) / L per device with g_prog > 0) ...
  PcmParams no_prog_noise = no_noise;
  no_prog_noise.prog_noise_scale = 0;
  auto a = program(no_noise), b = program(no_prog_noise);
  double worst = 0;
  for (Eigen::Index i = 0; i < a->g_plus().size(); ++i)
    if (a->g_prog_plus().data()[i] > 0.f && b->g_prog_plus().data()[i] > 0.f)
      worst = std::max(worst, std::abs(std::log(double(a->g_plus().data()[i]) / double(a->g_prog_plus().data()[i])) -
                                       std::log(double(b->g_plus().data()[i]) / double(b->g_prog_plus().data()[i]))));
  CHECK(worst <= 1e-6);
  // ... and with drift and 1/f noise off the weights at t are the reference.
  PcmParams none = no_noise;
  none.drift_scale = 0;
  auto c = program(none);
  CHECK(c->effective_weights() == c->reference_weights());
  CHECK(c->reference_weights() == full->reference_weights());
}

TEST_CASE("pcm: per-read noise has variance 2 (sigma_read w_max)^2 ||x||^2 per output") {
  // n = 20000 reads of one input vector; the device draws are off, so the mean is x W exactly.
  PcmParams p = quiet();
  p.rows = 32;
  p.cols = 4;
  p.sigma_read = 0.03;
  Stream s(kSeed, "data");
  Matrix w(32, 4), x1(1, 32);
  s.fill_uniform(w, -0.5f, 0.5f);
  s.fill_uniform(x1, 0.f, 1.f);
  Stream prog(kSeed, "program");
  auto a = PcmArrayModel(p).program_pcm(w, 0.5f, prog);
  const double v = x1.cast<double>().squaredNorm() * 2.0 * std::pow(0.03 * 0.5, 2);
  // 4.5e-4 (weight units^2), stored as float: one rounding, relative error <= 2^-24 ~ 6e-8.
  CHECK(a->read_variance() == rel(2.0 * std::pow(0.03 * 0.5, 2), 1e-7));
  constexpr int n = 20000;
  Matrix y;
  Stream read(kSeed, "read");
  a->mvm(x1.replicate(n, 1), y, read);
  for (int j = 0; j < 4; ++j) {
    std::vector<double> c(n);
    for (int b = 0; b < n; ++b) c[std::size_t(b)] = y(b, j);
    const double mu = (x1.cast<double>() * w.cast<double>())(0, j);
    CHECK(std::abs(stats::mean(c) - mu) <= K * std::sqrt(v / n));
    CHECK(std::abs(stats::variance(c) - v) <= K * v * std::sqrt(2.0 / (n - 1)));
  }
}

TEST_CASE("pcm: bad parameters are rejected naming pcm.<parameter>" * doctest::description("see also the contract")) {
  auto msg = [](PcmParams p) {
    try {
      PcmArrayModel m(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  PcmParams p;
  p.t_inference_s = -5;
  CHECK(msg(p) == "parameter 'pcm.t_inference_s' = -5: must be in [0, 1e+12] s");
  p = {};
  p.drift_nu_model = "linear";
  CHECK(msg(p) == "parameter 'pcm.drift_nu_model' = \"linear\": must be one of conductance|constant");
  p = {};
  p.t_read_s = 30;
  CHECK(msg(p).find("parameter 'pcm.t_read_s' = 30: must be at most pcm.t0_s = 20") == 0);
  p = {};
  p.nu_mu_min = 0.5;
  CHECK(msg(p).find("parameter 'pcm.nu_mu_min' = 0.5") == 0);
}
