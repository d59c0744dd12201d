// The counter-based normal generator of Stream::fill_normal (core/philox.hpp).
// Statistical checks on n = 2^21 numbers, k = 5 standard errors:
//   mean: SE 1/sqrt(n) = 6.9e-4; variance: SE sqrt(2/n) = 9.8e-4; 4th moment: SE sqrt(96/n) = 6.8e-3;
//   tail fractions P(|z| > t): binomial SE sqrt(p(1-p)/n); Kolmogorov-Smirnov D at alpha = 1e-4:
//   1.95 / sqrt(n) is alpha = 1e-3, 2.15 / sqrt(n) is 1e-4 (asymptotic Kolmogorov quantiles).
#include <Random123/philox.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/philox.hpp"
#include "core/random.hpp"

using namespace aimc;

namespace {
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
}  // namespace

TEST_CASE("philox: Philox4x32-10 equals the Random123 reference on random counters and keys") {
  Stream s(3, "philox.kat");
  int mismatches = 0;
  for (int t = 0; t < 20000; ++t) {
    const std::uint64_t a = s.below(~0ULL), b = s.below(~0ULL), k = s.below(~0ULL);
    r123::Philox4x32 ref;
    const r123::Philox4x32::ctr_type c = {{std::uint32_t(a), std::uint32_t(a >> 32), std::uint32_t(b), std::uint32_t(b >> 32)}};
    const r123::Philox4x32::key_type key = {{std::uint32_t(k), std::uint32_t(k >> 32)}};
    const auto r = ref(c, key);
    const auto m = philox::philox4x32_10({c[0], c[1], c[2], c[3]}, key[0], key[1]);
    for (int i = 0; i < 4; ++i) mismatches += r[i] != m[i];
  }
  CHECK(mismatches == 0);
}

TEST_CASE("philox: the vector path gives the scalar path's bits at every offset and length") {
  for (std::uint64_t first : {0ULL, 1ULL, 2ULL, 3ULL, 61ULL, (1ULL << 32) * 4 - 70}) {  // the last crosses a 2^32 block
    for (std::size_t n : {0u, 1u, 3u, 31u, 64u, 65u, 130u, 1000u}) {
      std::vector<float> v(n), s(n);
      philox::normals(0x0123456789abcdefULL, first, v);
      philox::normals_scalar(0x0123456789abcdefULL, first, s);
      INFO("first " << first << ", n " << n);
      CHECK(same_bits(v, s));
    }
  }
  std::vector<float> v(1 << 16), s(1 << 16);
  philox::normals(77, 5, v);
  philox::normals_scalar(77, 5, s);
  CHECK(same_bits(v, s));
}

TEST_CASE("philox: a draw depends only on (key, index): pieces of the sequence match the whole") {
  std::vector<float> whole(500);
  philox::normals(9, 0, whole);
  std::vector<float> piece(123);
  philox::normals(9, 77, piece);
  CHECK(same_bits(piece, std::vector<float>(whole.begin() + 77, whole.begin() + 200)));
  // The stream keeps its position: 70 + 130 numbers equal one fill of 200, whatever scalar draws happen between.
  Stream a(5, "seq"), b(5, "seq");
  std::vector<float> one(200), p1(70), p2(130);
  a.fill_normal(one);
  b.fill_normal(p1);
  (void)b.uniform();
  b.fill_normal(p2);
  p1.insert(p1.end(), p2.begin(), p2.end());
  CHECK(same_bits(one, p1));
  CHECK(b.normals_drawn() == 200);
  // A strided matrix block is filled row by row from the same sequence.
  Stream c(5, "seq");
  Matrix m = Matrix::Zero(10, 30);
  c.fill_normal(m.block(0, 0, 10, 20));
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 20; ++j) CHECK(m(i, j) == one[std::size_t(i * 20 + j)]);
  CHECK(m.rightCols(10).isZero());
}

TEST_CASE("philox: Box-Muller in float agrees with the double-precision transform") {
  // |error| <= 4e-7 * (1 + r): float rounding of r (< 6.7) and of cos/sin (< 1), a few ulp each.
  Stream s(4, "bm");
  double worst = 0;
  for (int t = 0; t < 200000; ++t) {
    const auto wa = std::uint32_t(s.below(1ULL << 32)), wb = std::uint32_t(s.below(1ULL << 32));
    const auto z = philox::box_muller(wa, wb);
    const double u = double(float(std::int32_t(wa >> 1)) + 0.5f) * std::ldexp(1.0, -31);
    const double r = std::sqrt(-2.0 * std::log(u)), phi = 2.0 * M_PI * double(wb) * std::ldexp(1.0, -32);
    worst = std::max({worst, std::abs(z[0] - r * std::cos(phi)) / (1 + r), std::abs(z[1] - r * std::sin(phi)) / (1 + r)});
  }
  INFO("worst error / (1 + r) = " << worst);
  CHECK(worst < 4e-7);
  // The extremes: u = 2^-32 (largest radius) and u = 1 (zero).
  const auto top = philox::box_muller(0u, 0u);
  CHECK(top[0] == doctest::Approx(std::sqrt(64.0 * std::log(2.0))).epsilon(1e-6));
  CHECK(std::abs(top[1]) < 1e-6);
  CHECK(philox::box_muller(0xFFFFFFFFu, 12345u)[0] == 0.f);
}

TEST_CASE("philox: the numbers are standard normal (moments, tails, Kolmogorov-Smirnov)") {
  const std::size_t n = 1u << 21;
  std::vector<float> z(n);
  Stream(11, "philox.dist").fill_normal(z);
  double m1 = 0, m2 = 0, m4 = 0;
  for (float x : z) {
    const double v = x;
    m1 += v;
    m2 += v * v;
    m4 += v * v * v * v;
  }
  m1 /= double(n);
  m2 /= double(n);
  m4 /= double(n);
  const double rn = std::sqrt(double(n));
  CHECK(std::abs(m1) < 5 / rn);
  CHECK(std::abs(m2 - 1) < 5 * std::sqrt(2.0) / rn);
  CHECK(std::abs(m4 - 3) < 5 * std::sqrt(96.0) / rn);
  for (double t : {1.0, 2.0, 3.0, 4.0}) {
    const double p = std::erfc(t / std::sqrt(2.0));
    const double frac = double(std::count_if(z.begin(), z.end(), [&](float x) { return std::abs(x) > t; })) / double(n);
    INFO("P(|z| > " << t << "): " << frac << " vs " << p);
    CHECK(std::abs(frac - p) < 5 * std::sqrt(p * (1 - p) / double(n)));
  }
  std::sort(z.begin(), z.end());
  double d = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double f = 0.5 * std::erfc(-double(z[i]) / std::sqrt(2.0));
    d = std::max({d, std::abs(f - double(i) / double(n)), std::abs(f - double(i + 1) / double(n))});
  }
  INFO("KS D = " << d << ", D sqrt(n) = " << d * rn);
  CHECK(d * rn < 2.15);
  CHECK(z.back() <= 6.67f);
}

TEST_CASE("philox: streams with different keys give different numbers") {
  std::vector<float> a(64), b(64);
  Stream(1, "x", {0}).fill_normal(a);
  Stream(1, "x", {1}).fill_normal(b);
  int equal = 0;
  for (std::size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  CHECK(equal == 0);
}
