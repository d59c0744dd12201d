#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/stats.hpp"

using namespace aimc;

TEST_CASE("stats: known values") {
  std::vector<double> x{1, 2, 3, 4};
  CHECK(stats::mean(x) == doctest::Approx(2.5));
  CHECK(stats::variance(x) == doctest::Approx(5.0 / 3.0));
  CHECK(stats::percentile(x, 50) == doctest::Approx(2.5));
  CHECK(stats::percentile(x, 0) == 1);
  CHECK(stats::percentile(x, 100) == 4);
  CHECK(stats::z_for(0.95) == doctest::Approx(1.959964).epsilon(1e-6));
  // Leveugle et al. 2009: e = 1%, 95% confidence, p = 0.5 -> 9604 injections.
  CHECK(stats::sample_size(0.01, 0.95) == 9604);
  CHECK(stats::sample_size(0.05, 0.95) == 385);
  // Clopper-Pearson for 0 of 10 at 95%: upper bound 1 - 0.025^(1/10) = 0.30850.
  auto ci = stats::binomial_ci(0, 10);
  CHECK(ci.lo == 0);
  CHECK(ci.hi == doctest::Approx(0.308499).epsilon(1e-5));
  // t-interval for {1,2,3,4}: t_{0.975,3} = 3.182446, s = 1.290994, half width 2.054262.
  auto m = stats::mean_ci(x);
  CHECK(m.half_width() == doctest::Approx(2.0542623).epsilon(1e-6));
  std::vector<double> a{1, 2, 3, 4, 5}, b{5, 6, 7, 8, 7};
  CHECK(stats::spearman(a, b) == doctest::Approx(0.820783).epsilon(1e-5));
}

TEST_CASE("hdf5: datasets and attributes round trip exactly") {
  auto path = (std::filesystem::temp_directory_path() / "aimc_test_h5.h5").string();
  Matrix m(3, 4);
  for (int i = 0; i < 12; ++i) m.data()[i] = float(i) * 0.1f - 0.37f;
  {
    auto f = h5::create(path);
    auto g = h5::group(f, "a/b");
    h5::write(g, "m", m, "S", "a matrix");
    h5::write(g, "v", std::vector<double>{1.5, -2.25}, "1");
    h5::write_strings(g, "names", {"x", "yy"});
    h5::set_attr(g, "text", "hello");
    h5::set_attr(g, "pi", 3.25);
    h5::set_attr(g, "n", std::int64_t(7));
  }
  auto f = h5::open_read(path);
  auto g = h5::open_group(f, "a/b", path);
  CHECK(h5::read_matrix(g, "m", path) == m);
  CHECK(h5::read_doubles(g, "v", path) == std::vector<double>{1.5, -2.25});
  CHECK(h5::read_strings(g, "names", path) == std::vector<std::string>{"x", "yy"});
  CHECK(h5::attr_string(g, "text", path) == "hello");
  CHECK(h5::attr_double(g, "pi", path) == 3.25);
  CHECK(h5::attr_int(g, "n", path) == 7);
  CHECK_THROWS_WITH_AS(h5::read_matrix(g, "nope", path), doctest::Contains("missing dataset"), Error);
  CHECK_THROWS_WITH_AS(h5::open_read(path + ".missing"), doctest::Contains("cannot open"), Error);
  std::filesystem::remove(path);
}
