#include <doctest/doctest.h>
#include <omp.h>

#include <boost/random/mersenne_twister.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_01.hpp>
#include <boost/random/uniform_int_distribution.hpp>
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

// The lazily seeded engine against Boost.Random's own mt19937_64 (the oracle): every output, in the lazy
// first 156, across the switch to the full state and through later twists, for keys of every kind.
TEST_CASE("stream: Mt19937_64 gives boost::random::mt19937_64's outputs") {
  std::vector<std::uint64_t> seeds = {0, 1, 5489, ~std::uint64_t(0), std::uint64_t(1) << 63};
  for (std::uint64_t i = 0; i < 40; ++i) seeds.push_back(stream_key(7, "t.mt", {i}));
  for (std::uint64_t seed : seeds) {
    Mt19937_64 lazy(seed);
    boost::random::mt19937_64 ref(seed);
    int differ = 0;
    for (int k = 0; k < 1000; ++k) differ += lazy() != ref();
    CAPTURE(seed);
    CHECK(differ == 0);
  }
  // Stream's scalar draws are Boost's distributions on that engine: the same as on Boost's engine.
  for (std::uint64_t i = 0; i < 20; ++i) {
    Stream s(3, "t.mt.stream", {i});
    boost::random::mt19937_64 ref(stream_key(3, "t.mt.stream", {i}));
    int differ = 0;
    for (int k = 0; k < 200; ++k) {
      differ += s.below(12) != boost::random::uniform_int_distribution<std::uint64_t>(0, 11)(ref);
      differ += s.normal() != boost::random::normal_distribution<double>(0.0, 1.0)(ref);
      differ += s.uniform() != boost::random::uniform_01<double>()(ref);
    }
    CHECK(differ == 0);
  }
}
