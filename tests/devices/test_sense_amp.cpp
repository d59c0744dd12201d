// Sense amplifier (1-bit ADC-less) tests. Flip counts are binomial: the check is that the exact
// Clopper-Pearson interval at confidence 1 - 1e-5 contains the model probability Phi(-|y| / sigma).
// Means use k = 5 standard errors with the sd estimated from the same n samples.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "devices/sense_amp.hpp"

using namespace aimc;
using namespace aimc::devices;

namespace {
constexpr double K = 5.0;
constexpr std::uint64_t kSeed = 17;
constexpr double kConf = 1 - 1e-5;

// Fraction of decisions that differ from the ideal 1{y > 0}, over a (rows, cols) block of decisions.
std::uint64_t flips(const BitMatrix& b, const Matrix& y) {
  std::uint64_t k = 0;
  for (Eigen::Index i = 0; i < b.size(); ++i) k += (b.data()[i] != 0) != (y.data()[i] > 0.f);
  return k;
}
}  // namespace

TEST_CASE("sense_amp: bit-flip probability equals Phi(-|y| / sigma_SA) (static offsets)") {
  // n = 40000 realized sense amplifiers (columns), each read once with the same partial sum y.
  constexpr int n = 40000;
  SenseAmpParams p;
  p.sigma_sa = 0.8;
  Stream prog(kSeed, "program");
  const SenseAmp sa(p, n, prog);
  for (float y : {0.1f, 0.4f, 0.8f, 1.6f, -0.6f}) {
    const Matrix ym = Matrix::Constant(1, n, y);
    BitMatrix b;
    Stream read(kSeed, "read");
    sa.decide(ym, b, read);
    const std::uint64_t k = flips(b, ym);
    const double expected = stats::normal_cdf(-std::abs(y) / 0.8);
    const auto ci = stats::binomial_ci(k, n, kConf);
    INFO("y = " << y << ": " << k << " flips of " << n << ", CI [" << ci.lo << ", " << ci.hi << "], Phi = " << expected);
    CHECK((ci.lo <= expected && expected <= ci.hi));
  }
}

TEST_CASE("sense_amp: per-read noise flips with Phi(-|y| / sigma_read) / combined with offsets in quadrature") {
  constexpr int n = 40000;
  SUBCASE("read noise only: one comparator read n times") {
    SenseAmpParams p;
    p.sigma_read_sa = 0.5;
    Stream prog(kSeed, "program");
    const SenseAmp sa(p, 1, prog);
    const Matrix ym = Matrix::Constant(n, 1, 0.3f);
    BitMatrix b;
    Stream read(kSeed, "read");
    sa.decide(ym, b, read);
    const auto ci = stats::binomial_ci(flips(b, ym), n, kConf);
    const double expected = stats::normal_cdf(-0.3 / 0.5);
    CHECK((ci.lo <= expected && expected <= ci.hi));
  }
  SUBCASE("offsets and read noise: sigma = sqrt(sigma_SA^2 + sigma_read^2)") {
    SenseAmpParams p;
    p.sigma_sa = 0.6;
    p.sigma_read_sa = 0.8;
    Stream prog(kSeed, "program");
    const SenseAmp sa(p, n, prog);
    const Matrix ym = Matrix::Constant(1, n, -0.7f);
    BitMatrix b;
    Stream read(kSeed, "read");
    sa.decide(ym, b, read);
    const auto ci = stats::binomial_ci(flips(b, ym), n, kConf);
    const double expected = stats::normal_cdf(-0.7 / 1.0);
    CHECK((ci.lo <= expected && expected <= ci.hi));
  }
}

TEST_CASE("sense_amp: offsets are realized once / threshold / calibrated per-column scales") {
  SenseAmpParams p;
  p.sigma_sa = 0.3;
  Stream p1(kSeed, "program", {1}), p2(kSeed, "program", {1}), p3(kSeed, "program", {2});
  const SenseAmp a(p, 64, p1), b(p, 64, p2), c(p, 64, p3);
  CHECK(a.offsets() == b.offsets());
  CHECK(a.offsets() != c.offsets());
  // Without read noise the decisions are a deterministic function of y and the realized offsets.
  Stream s(kSeed, "y");
  Matrix y(10, 64);
  s.fill_normal(y);
  BitMatrix b1, b2;
  Stream r1(kSeed, "read", {1}), r2(kSeed, "read", {2});
  a.decide(y, b1, r1);
  a.decide(y, b2, r2);
  CHECK(b1 == b2);

  // Threshold: no offsets, decisions are exactly 1{y > theta}.
  SenseAmpParams q;
  q.threshold = 0.25;
  Stream prog(kSeed, "program");
  const SenseAmp t(q, 64, prog);
  BitMatrix bt;
  t.decide(y, bt, r1);
  CHECK((bt.cast<int>().array() == (y.array() > 0.25f).cast<int>()).all());

  // Scales: bipolar s = E|y| at theta = 0, unipolar s = E[y | y > 0]; for N(0, sigma^2) both are
  // sigma sqrt(2 / pi). n = 100000 calibration samples per column, sigma = 2.
  constexpr int n = 100000;
  Matrix cal(n, 2);
  s.fill_normal(cal, 0.f, 2.f);
  const double expected = 2.0 * std::sqrt(2.0 / M_PI);
  for (const char* mode : {"bipolar", "unipolar"}) {
    SenseAmpParams m;
    m.output = mode;
    Stream pr(kSeed, "program");
    SenseAmp sa(m, 2, pr);
    sa.calibrate(cal);
    // SE: bipolar sd(|y|) / sqrt(n); unipolar sd(y | y > 0) / sqrt(n / 2); both sd = sigma sqrt(1 - 2/pi).
    const double se = 2.0 * std::sqrt(1 - 2 / M_PI) / std::sqrt(std::string(mode) == "bipolar" ? n : n / 2.0);
    INFO(std::string(mode) << ": scales " << sa.scale()[0] << ", " << sa.scale()[1] << " expected " << expected);
    CHECK(std::abs(sa.scale()[0] - expected) <= K * se);
    CHECK(std::abs(sa.scale()[1] - expected) <= K * se);
    Matrix out = cal.topRows(4);
    Stream rd(kSeed, "read");
    sa.convert(out, rd);
    for (int i = 0; i < 4; ++i) {
      const double want = cal(i, 0) > 0 ? sa.scale()[0] : (std::string(mode) == "bipolar" ? -sa.scale()[0] : 0.0);
      CHECK(out(i, 0) == doctest::Approx(want));
    }
  }
}

TEST_CASE("sense_amp: 1-bit partial sums accumulated over tiles approximate the full sum") {
  // A column of N = 1024 rows split into 8 tiles of 128; each tile's partial sum is reduced to one
  // bipolar bit scaled by its calibrated E|y|, the bits summed digitally. Without offsets the result
  // must correlate strongly with the exact sum (a sanity check of the read-out chain, not of accuracy).
  constexpr int n = 2000, tiles = 8, rows = 128;
  Stream s(kSeed, "acc");
  Matrix x(n, tiles * rows), w(tiles * rows, 1);
  s.fill_uniform(x, 0.f, 1.f);
  s.fill_uniform(w, -1.f, 1.f);
  Matrix total = Matrix::Zero(n, 1);
  for (int t = 0; t < tiles; ++t) {
    Matrix ps = x.middleCols(t * rows, rows) * w.middleRows(t * rows, rows);
    Stream prog(kSeed, "program", {std::uint64_t(t)});
    SenseAmp sa(SenseAmpParams{}, 1, prog);
    sa.calibrate(ps);
    Stream read(kSeed, "read", {std::uint64_t(t)});
    sa.convert(ps, read);
    total += ps;
  }
  const Matrix exact = x * w;
  const Eigen::VectorXd a = total.col(0).cast<double>().array() - total.mean();
  const Eigen::VectorXd b = exact.col(0).cast<double>().array() - exact.mean();
  const double r = a.dot(b) / std::sqrt(a.squaredNorm() * b.squaredNorm());
  MESSAGE("correlation of the 8-tile 1-bit accumulation with the exact sum: " << r);
  CHECK(r > 0.5);
}

TEST_CASE("sense_amp: per-read noise: same read stream identical, different read streams differ") {
  SenseAmpParams p;
  p.sigma_read_sa = 0.5;
  Stream prog(kSeed, "program");
  const SenseAmp sa(p, 32, prog);
  Stream s(kSeed, "y");
  Matrix y(40, 32);
  s.fill_normal(y, 0.f, 0.5f);  // partial sums near the threshold: many decisions are noise-sensitive
  BitMatrix b1, b2, b3;
  Stream r1(kSeed, "read", {1}), r2(kSeed, "read", {1}), r3(kSeed, "read", {2});
  sa.decide(y, b1, r1);
  sa.decide(y, b2, r2);
  sa.decide(y, b3, r3);
  CHECK(b1 == b2);
  CHECK(b1 != b3);
}

TEST_CASE("sense_amp: bad parameters are rejected naming the parameter") {
  Stream prog(kSeed, "program");
  SenseAmpParams p;
  p.sigma_sa = -0.1;
  CHECK_THROWS_WITH_AS(SenseAmp(p, 4, prog), doctest::Contains("sense_amp.sigma_sa"), Error);
  p = {};
  p.sigma_read_sa = -1;
  CHECK_THROWS_WITH_AS(SenseAmp(p, 4, prog), doctest::Contains("sense_amp.sigma_read_sa"), Error);
  p = {};
  p.output = "ternary";
  CHECK_THROWS_WITH_AS(SenseAmp(p, 4, prog), doctest::Contains("sense_amp.output"), Error);
  CHECK_THROWS_WITH_AS(SenseAmp(SenseAmpParams{}, 0, prog), doctest::Contains("cols"), Error);
}
