#include <doctest/doctest.h>
#include <omp.h>

#include <vector>

#include "core/random.hpp"
#include "core/stats.hpp"

using namespace aimc;

TEST_CASE("stream: same key gives identical draws, different keys differ") {
  Stream a(42, "program", {1, 2}), b(42, "program", {1, 2});
  Stream c(42, "program", {1, 3}), d(43, "program", {1, 2}), e(42, "read", {1, 2});
  for (int i = 0; i < 100; ++i) {
    double x = a.normal();
    CHECK(x == b.normal());
    (void)c;
  }
  Stream a2(42, "program", {1, 2});
  double x = a2.normal();
  CHECK(x != c.normal());
  CHECK(x != d.normal());
  CHECK(x != e.normal());
  CHECK(stream_key(42, "program", {1, 2}) != stream_key(42, "program", {2, 1}));
}

TEST_CASE("stream: child streams do not depend on how much the parent drew") {
  Stream p1(7, "trial", {0}), p2(7, "trial", {0});
  for (int i = 0; i < 17; ++i) p2.normal();
  Stream c1 = p1.child("tile", {3}), c2 = p2.child("tile", {3});
  CHECK(c1.normal() == c2.normal());
}

TEST_CASE("stream: normal draws have the right moments") {
  // n = 200000: standard error of the mean 1/sqrt(n) = 0.00224; of the variance sqrt(2/n) = 0.00316. 5 sigma bands.
  Stream s(1, "moments");
  const int n = 200000;
  std::vector<double> v(n);
  for (auto& x : v) x = s.normal();
  CHECK(std::abs(stats::mean(v)) < 5 * 0.00224);
  CHECK(std::abs(stats::variance(v) - 1.0) < 5 * 0.00316);
}

TEST_CASE("stream: results do not depend on the OpenMP thread count") {
  auto run = [](int threads) {
    std::vector<double> out(64);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int t = 0; t < 64; ++t) {
      Stream s(99, "trial", {std::uint64_t(t)});
      Matrix m(8, 8);
      s.fill_normal(m);
      out[t] = double(m.sum()) + s.uniform();
    }
    return out;
  };
  auto one = run(1), two = run(2);
  CHECK(one == two);
}
