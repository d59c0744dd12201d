// Minimum precision criterion tests.
// Monte Carlo SNR losses: with n samples, the loss D = 10 log10(mse_T / mse_A) is a smooth function
// of two sample means of the same samples; by the delta method its standard error is
//   SE_D = (10 / ln 10) sd(d_i) / sqrt(n),   d_i = e_T,i^2 / mse_T - e_A,i^2 / mse_A,
// estimated from the samples themselves. Checks allow k = 5 SE_D.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "devices/adc.hpp"
#include "devices/mpc.hpp"

using namespace aimc;
using namespace aimc::devices;

namespace {

constexpr double K = 5.0;
constexpr std::uint64_t kSeed = 13;

struct Loss {
  double snr_A_db, snr_T_db, loss_db, se_db, mse_A, rms_a;
};

/// Independent oracle for a B-bit mid-rise ADC over +-zeta sigma on y ~ N(0, sigma^2), in units of
/// sigma^2 (derived here from the Gaussian density, not from the code): D = 2 zeta / 2^B, outermost levels
/// at +-c, c = zeta - D/2.
///   mse = D^2/12 (1 - 2 Q(zeta)) + 2 [(1 + c^2) Q(zeta) + (zeta - 2 c) phi(zeta)]   (inside + clipped tails)
///   cov = E[y e] = -2 [(D/2) phi(zeta) + Q(zeta)]   (the clipped tails; the uniform error inside the range
///         is uncorrelated with y to O(D^4))
struct AdcOracle {
  double mse, cov;
};
AdcOracle gaussian_adc(int bits, double zeta) {
  const double d = 2 * zeta / std::ldexp(1.0, bits), c = zeta - d / 2;
  const double q = 0.5 * std::erfc(zeta / std::sqrt(2.0));
  const double ph = std::exp(-zeta * zeta / 2) / std::sqrt(2 * std::numbers::pi);
  return {d * d / 12 * (1 - 2 * q) + 2 * ((1 + c * c) * q + (zeta - 2 * c) * ph), -2 * (d / 2 * ph + q)};
}

// y_o: ideal outputs; y_a: analog (pre-ADC) outputs. Quantizes y_a with a B-bit ADC clipping at
// zeta_y * RMS(y_a) and measures SNR_A and SNR_T against y_o.
Loss measure(const Matrix& y_o, const Matrix& y_a, int bits, double zeta_y) {
  AdcParams p;
  p.bits = bits;
  p.calibration = "clip";
  p.zeta = zeta_y;
  const Adc adc = Adc::calibrated(p, y_a);
  Matrix y_t = y_a;
  Stream read(kSeed, "read");
  adc.convert(y_t, read);
  const auto n = static_cast<std::size_t>(y_o.rows());
  std::vector<double> yo(n), ea(n), et(n);
  for (std::size_t i = 0; i < n; ++i) {
    yo[i] = y_o(i, 0);
    ea[i] = std::pow(double(y_a(i, 0)) - y_o(i, 0), 2);
    et[i] = std::pow(double(y_t(i, 0)) - y_o(i, 0), 2);
  }
  const double sig = stats::variance(yo), ma = stats::mean(ea), mt = stats::mean(et);
  std::vector<double> d(n);
  for (std::size_t i = 0; i < n; ++i) d[i] = et[i] / mt - ea[i] / ma;
  const double se = 10.0 / std::log(10.0) * stats::stddev(d) / std::sqrt(double(n));
  double ms = 0;
  for (std::size_t i = 0; i < n; ++i) ms += double(y_a(i, 0)) * y_a(i, 0);
  return {to_db(sig / ma), to_db(sig / mt), to_db(mt / ma), se, ma, std::sqrt(ms / double(n))};
}

}  // namespace

TEST_CASE("mpc: SNR composition and ADC SQNR formulas") {
  CHECK(sqnr_adc_db(8, 4.0) == doctest::Approx(6.02 * 8 + 4.78 - 20 * std::log10(4.0)).epsilon(1e-3));
  CHECK(snr_total(100.0, 100.0) == doctest::Approx(50.0));
  CHECK(snr_pre_adc(1e9, 10.0) == doctest::Approx(10.0).epsilon(1e-6));
  CHECK(to_db(from_db(17.3)) == doctest::Approx(17.3));
  CHECK(lossless_adc_bits(4, 4, 256) == 16);
  CHECK(lossless_adc_bits(4, 4, 100) == 15);
  // Closed form: B >= (SNR_A + gamma - 4.77 + 20 log10 zeta) / 6.02, gamma = -10 log10(10^(delta/10) - 1).
  const double gamma = -to_db(from_db(0.5) - 1.0);
  for (double snr : {5.0, 12.5, 20.0, 33.3, 47.0}) {
    const int closed = int(std::ceil((snr + gamma - to_db(3.0) + 20 * std::log10(4.0)) / (20 * std::log10(2.0))));
    CHECK(mpc_adc_bits(snr, 8, 8, 512).bits == closed);
  }
}

TEST_CASE("mpc: the returned B_ADC makes the Monte Carlo SNR_T land within delta of SNR_A") {
  // n = 200000 Gaussian ideal outputs y_o ~ N(0, 1), analog noise N(0, 1 / SNR_A).
  constexpr int n = 200000;
  Matrix yo(n, 1), eta(n, 1);
  Stream s(kSeed, "mpc.data");
  s.fill_normal(yo);
  s.fill_normal(eta);
  const MpcParams mp;
  for (double snr_A_db : {10.0, 15.0, 19.7, 25.0, 30.0, 35.0}) {
    const Matrix ya = yo + eta * float(std::sqrt(1.0 / from_db(snr_A_db)));
    const MpcResult r = mpc_adc_bits(snr_A_db, 8, 8, 512, mp);
    REQUIRE_FALSE(r.lossless);
    const Loss l = measure(yo, ya, r.bits, mp.zeta_y);
    MESSAGE("SNR_A " << snr_A_db << " dB (measured " << l.snr_A_db << "): MPC B_ADC = " << r.bits
                     << ", predicted SNR_T " << r.snr_T_db << " dB, Monte Carlo SNR_T " << l.snr_T_db
                     << " dB, loss " << l.loss_db << " +- " << l.se_db << " dB");
    CHECK(l.loss_db <= mp.delta_db + K * l.se_db);
    CHECK(l.loss_db >= -K * l.se_db);
    // Beside the delta bound: the measured loss equals its first-principles expectation within K SE.
    // y_a is exactly Gaussian, so with the ADC error e(y_a) and the analog error eta (jointly Gaussian with
    // y_a, E[eta | y_a] = beta y_a, beta = var(eta) / var(y_a)):
    //   mse_T = mse_A + E[e^2] + 2 beta E[y_a e],  loss = 10 log10(mse_T / mse_A),
    // with E[e^2] and E[y_a e] from gaussian_adc at sigma = RMS(y_a) (the ADC's own range reference).
    const AdcOracle o = gaussian_adc(r.bits, mp.zeta_y);
    const double beta = (1 / from_db(snr_A_db)) / (1 + 1 / from_db(snr_A_db)), s2 = l.rms_a * l.rms_a;
    const double expected = to_db((l.mse_A + s2 * o.mse + 2 * beta * s2 * o.cov) / l.mse_A);
    INFO("expected loss " << expected << " dB (clipping included), measured " << l.loss_db << " +- " << l.se_db);
    CHECK(std::abs(l.loss_db - expected) <= K * l.se_db);
    // Minimality of the criterion: one bit less violates it (analytically).
    if (r.bits > 1)
      CHECK(to_db(snr_total(from_db(snr_A_db), sqnr_adc(r.bits - 1, mp.zeta_y))) < snr_A_db - mp.delta_db);
  }
}

TEST_CASE("mpc: the result does not change with N at fixed SNR_A") {
  // Real dot products: x in [0, 1) quantized to 6 bits, w in [-1, 1) quantized to 6 bits, N from 16 to
  // 1024; analog noise scaled to the sample variance so that SNR_A is the same for every N.
  // n = 20000 dot products per N. The MPC assumes zero-mean outputs (ADC range +-zeta_y sigma_y); with
  // unsigned inputs E[y_o] = E[x] sum(w), so the weights come in antithetic pairs (w, -w), sum(w) = 0.
  constexpr int n = 20000;
  const MpcParams mp;
  for (double snr_A_db : {15.0, 25.0}) {
    const int bits = mpc_adc_bits(snr_A_db, 6, 6, 16, mp).bits;
    for (int N : {16, 64, 256, 1024}) {
      const MpcResult r = mpc_adc_bits(snr_A_db, 6, 6, N, mp);
      CHECK(r.bits == bits);
      Stream s(kSeed, "mpc.dot", {std::uint64_t(N)});
      Matrix x(n, N), w(N, 1);
      s.fill_uniform(x, 0.f, 1.f);
      s.fill_uniform(w, -1.f, 1.f);
      x = ((x.array() * 64.f).floor() + 0.5f) / 64.f;  // 6-bit mid-rise codes
      w = ((w.array() * 32.f).floor() + 0.5f) / 32.f;
      w.bottomRows(N / 2) = -w.topRows(N / 2);
      const Matrix yo = x * w;
      const double var = (yo.array() - yo.mean()).square().sum() / (n - 1);
      Matrix eta(n, 1);
      s.fill_normal(eta);
      const Matrix ya = yo + eta * float(std::sqrt(var / from_db(snr_A_db)));
      // The ADC clips at zeta_y times the RMS about zero; the outputs here have (near) zero mean.
      const Loss l = measure(yo, ya, r.bits, mp.zeta_y);
      INFO("N = " << N << ", SNR_A " << snr_A_db << ": B_ADC " << r.bits << ", loss " << l.loss_db << " +- "
                  << l.se_db);
      CHECK(l.loss_db <= mp.delta_db + K * l.se_db);
    }
  }
}

TEST_CASE("mpc: never above the lossless bound B_x + B_w + log2 N") {
  for (int bx : {1, 2, 4, 8})
    for (int bw : {2, 4, 8})
      for (int N : {1, 16, 128, 1024})
        for (double snr = 0.0; snr <= 120.0; snr += 7.5) {
          const MpcResult r = mpc_adc_bits(snr, bx, bw, N);
          CHECK(r.bits <= lossless_adc_bits(bx, bw, N));
          CHECK(r.bits >= 1);
        }
  const MpcResult r = mpc_adc_bits(80.0, 2, 2, 16);
  CHECK(r.lossless);
  CHECK(r.bits == 8);
  CHECK(r.snr_T_db == 80.0);
}

TEST_CASE("mpc: SQNR_qiy agrees with Monte Carlo input and weight quantization") {
  // x ~ U[0, 1), w ~ U[-1, 1) (fresh x and w for each of n = 20000 dot products of N = 64), so
  // E[x^2] = E[w^2] = 1/3; mid-rise quantizers with Delta_x = 2^-B_x, Delta_w = 2^-(B_w - 1).
  // The additive model neglects the correlation of the errors with the data (E[x e_x] = -Delta_x^2/12)
  // and the e_x e_w term; both are O(Delta_x^2 Delta_w^2), below 0.1 dB at these precisions.
  // Tolerance: K SE of the dB ratio (delta method) + 0.1 dB for the neglected terms.
  constexpr int n = 20000, N = 64;
  for (auto [bx, bw] : {std::pair{4, 4}, std::pair{3, 6}, std::pair{6, 3}}) {
    Stream s(kSeed, "qiy", {std::uint64_t(bx), std::uint64_t(bw)});
    Matrix x(n, N), w(n, N);
    s.fill_uniform(x, 0.f, 1.f);
    s.fill_uniform(w, -1.f, 1.f);
    const float qx = std::ldexp(1.f, bx), qw = std::ldexp(1.f, bw - 1);
    const Matrix xq = ((x.array() * qx).floor() + 0.5f) / qx;
    const Matrix wq = ((w.array() * qw).floor() + 0.5f) / qw;
    const VectorD yo = (x.cast<double>().array() * w.cast<double>().array()).rowwise().sum();
    const VectorD yq = (xq.cast<double>().array() * wq.cast<double>().array()).rowwise().sum();
    std::vector<double> e2(n), y2(n);
    for (int i = 0; i < n; ++i) {
      e2[i] = std::pow(yq(i) - yo(i), 2);
      y2[i] = yo(i) * yo(i);
    }
    const double my = stats::mean(y2), me = stats::mean(e2);
    const double measured = to_db(my / me);
    const double formula = to_db(sqnr_qiy(bx, bw, 1.0, 1.0, 1.0 / 3, 1.0 / 3));
    std::vector<double> d(n);
    for (int i = 0; i < n; ++i) d[i] = y2[i] / my - e2[i] / me;
    const double se = 10.0 / std::log(10.0) * stats::stddev(d) / std::sqrt(double(n));
    INFO("B_x = " << bx << ", B_w = " << bw << ": measured " << measured << " dB, formula " << formula
                  << " dB, SE " << se);
    CHECK(std::abs(measured - formula) <= 0.1 + K * se);
  }
}

TEST_CASE("mpc: bad parameters are rejected naming the parameter") {
  MpcParams p;
  p.delta_db = 0.0;
  CHECK_THROWS_WITH_AS(mpc_adc_bits(20.0, 8, 8, 128, p), doctest::Contains("mpc.delta_db"), Error);
  p = {};
  p.zeta_y = -4.0;
  CHECK_THROWS_WITH_AS(mpc_adc_bits(20.0, 8, 8, 128, p), doctest::Contains("mpc.zeta_y"), Error);
  CHECK_THROWS_WITH_AS(lossless_adc_bits(4, 4, 0), doctest::Contains("'n'"), Error);
  CHECK_THROWS_WITH_AS(sqnr_qiy(0, 4, 1, 1, 1, 1), doctest::Contains("'bx'"), Error);
}
