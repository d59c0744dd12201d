// Process variations: Pelgrom scaling, global (die-to-die) vs local (within-die) statistics, streams.
#include <doctest/doctest.h>

#include <boost/math/distributions/chi_squared.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "devices/technology.hpp"
#include "devices/variation.hpp"
#include "tests/common/approx.hpp"

using namespace aimc;
using namespace aimc::devices;
using aimc::test::rel;

namespace {
// Two-sided confidence interval for a standard deviation from n samples: (n-1) s^2 / sigma^2 ~ chi^2(n-1).
// At confidence 1 - 1e-4 a correct implementation fails a check with probability 1e-4.
constexpr double kConf = 1 - 1e-4;
bool sigma_in_ci(double s, double sigma, std::size_t n) {
  boost::math::chi_squared chi(double(n - 1));
  double lo = std::sqrt(boost::math::quantile(chi, (1 - kConf) / 2) / double(n - 1));
  double hi = std::sqrt(boost::math::quantile(chi, 1 - (1 - kConf) / 2) / double(n - 1));
  return s >= sigma * lo && s <= sigma * hi;
}
// Mean of n normals with known sigma: |mean - mu| <= z sigma / sqrt(n).
bool mean_in_ci(double m, double mu, double sigma, std::size_t n) {
  return std::abs(m - mu) <= stats::z_for(kConf) * sigma / std::sqrt(double(n));
}
}  // namespace

TEST_CASE("variation: Pelgrom area law") {
  // mV-scale results of a product, a square root and a division: relative, to a few ulps.
  CHECK(pelgrom_sigma_vt_V(3e-9, 1e-6, 1e-6) == rel(3e-3, 1e-12));
  // four times the area halves sigma
  CHECK(pelgrom_sigma_vt_V(3e-9, 2e-6, 2e-6) == rel(1.5e-3, 1e-12));
  CHECK(pelgrom_sigma_c_rel(0.01, 4e-15) == rel(0.005, 1e-12));
  CHECK(sigma_vt_cell_V(technology("65nm")) == rel(3e-9 / std::sqrt(120e-9 * 65e-9), 1e-12));
  // the cell's sigma(V_t) grows as the presets scale down (A_VT falls slower than sqrt(W L))
  CHECK(sigma_vt_cell_V(technology("45nm")) > sigma_vt_cell_V(technology("65nm")));
  CHECK(sigma_vt_cell_V(technology("22nm")) > sigma_vt_cell_V(technology("45nm")));

  // Drawn devices follow it: sample sigma at area A and 4A within the chi-square CI of n = 20000.
  Stream s(1, "pelgrom");
  const std::size_t n = 20000;
  for (double side : {0.1e-6, 0.2e-6}) {
    const double sigma = pelgrom_sigma_vt_V(3e-9, side, side);
    MatrixD d(1, n);
    draw_vt_shifts(d, DieVariation{}, sigma, s);
    std::vector<double> v(d.data(), d.data() + n);
    CHECK(sigma_in_ci(stats::stddev(v), sigma, n));
    CHECK(mean_in_ci(stats::mean(v), 0.0, sigma, n));
  }
}

TEST_CASE("variation: global and local components have the configured mean and sigma") {
  ProcessVariation pv;
  pv.sigma_vt_global_V = 0.015;
  pv.sigma_c_global_rel = 0.02;
  const double sl_vt = 0.03, sl_c = 0.01;
  const std::size_t dies = 3000, per_die = 50;
  Stream s(2, "dies");
  std::vector<double> g_vt, g_c, pooled_vt, pooled_c, all_vt;
  double ss_vt = 0, ss_c = 0;  // within-die sums of squares about each die's true global offset
  for (std::size_t d = 0; d < dies; ++d) {
    DieVariation die = realize_die(pv, s);
    g_vt.push_back(die.dvt_V);
    g_c.push_back(die.dc_rel);
    MatrixD vt(1, per_die), cf(1, per_die);
    draw_vt_shifts(vt, die, sl_vt, s);
    draw_cap_factors(cf, die, sl_c, s);
    for (std::size_t k = 0; k < per_die; ++k) {
      ss_vt += std::pow(vt(0, k) - die.dvt_V, 2);
      ss_c += std::pow(cf(0, k) / (1 + die.dc_rel) - 1, 2);
      all_vt.push_back(vt(0, k));
    }
  }
  const std::size_t nl = dies * per_die;
  // global: mean 0 and sigma within CI over `dies` draws
  CHECK(mean_in_ci(stats::mean(g_vt), 0.0, pv.sigma_vt_global_V, dies));
  CHECK(sigma_in_ci(stats::stddev(g_vt), pv.sigma_vt_global_V, dies));
  CHECK(mean_in_ci(stats::mean(g_c), 0.0, pv.sigma_c_global_rel, dies));
  CHECK(sigma_in_ci(stats::stddev(g_c), pv.sigma_c_global_rel, dies));
  // local: sigma about the die's offset (known mean, so n degrees of freedom; n-1 is conservative)
  CHECK(sigma_in_ci(std::sqrt(ss_vt / double(nl)), sl_vt, nl + 1));
  CHECK(sigma_in_ci(std::sqrt(ss_c / double(nl)), sl_c, nl + 1));
  // total spread sqrt(sigma_g^2 + sigma_l^2): its sample variance has variance dominated by the die
  // component (one global draw per 50 devices), so compare with the dies' effective sample size.
  const double total = std::sqrt(pv.sigma_vt_global_V * pv.sigma_vt_global_V + sl_vt * sl_vt);
  CHECK(sigma_in_ci(stats::stddev(all_vt), total, dies));
  // devices on one die are correlated through the global part: corr = sigma_g^2 / (sigma_g^2 + sigma_l^2)
}

TEST_CASE("variation: same stream gives identical draws, different streams differ") {
  ProcessVariation pv;
  pv.sigma_vt_global_V = 0.01;
  Stream a(4, "v"), b(4, "v"), c(5, "v");
  MatrixD x(3, 7), y(3, 7), z(3, 7);
  draw_vt_shifts(x, realize_die(pv, a), 0.02, a);
  draw_vt_shifts(y, realize_die(pv, b), 0.02, b);
  draw_vt_shifts(z, realize_die(pv, c), 0.02, c);
  CHECK(x == y);
  CHECK(x != z);
}

TEST_CASE("variation: temperature enters as kT and U_T") {
  // SI 2019 defines k = 1.380649e-23 J/K and q = 1.602176634e-19 C exactly: k 300 = 4.141947e-21 J and
  // k 300 / q = 0.0258519998 V. The quoted values are rounded to 5 digits (at most 2e-5 relative);
  // the exact ones to a few ulps. (kT ~ 4e-21 J: a bare Approx would accept any value below ~1e-5.)
  CHECK(thermal_voltage_V(300) == rel(0.025852, 2e-5));
  CHECK(thermal_voltage_V(300) == rel(300 * 1.380649e-23 / 1.602176634e-19, 1e-12));
  CHECK(kT_J(300) == rel(4.1419e-21, 2e-5));
  CHECK(kT_J(300) == rel(4.141947e-21, 1e-12));
  CHECK(kT_J(0) == 0.0);
}

TEST_CASE("variation: bad parameters are rejected naming the parameter") {
  auto msg = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  ProcessVariation pv;
  pv.sigma_vt_global_V = -0.01;
  CHECK(msg([&] { aimc::validate(pv, "var"); }).find("var.sigma_vt_global_V") != std::string::npos);
  pv = ProcessVariation{};
  pv.temperature_K = -1;
  CHECK(msg([&] { aimc::validate(pv, "var"); }).find("temperature_K") != std::string::npos);
  CHECK(msg([] { pelgrom_sigma_vt_V(3e-9, 0.0, 1e-6); }).find("w_m") != std::string::npos);
  CHECK(msg([] { pelgrom_sigma_c_rel(0.01, -1e-15); }).find("c_F") != std::string::npos);
  Technology t;
  t.c_bl_cell_F = -1e-15;
  CHECK(msg([&] { aimc::validate(t, "tech"); }).find("tech.c_bl_cell_F") != std::string::npos);
  t = Technology{};
  t.alpha = 0.5;
  CHECK(msg([&] { aimc::validate(t, "tech"); }).find("tech.alpha") != std::string::npos);
  for (const auto& n : technology_names()) CHECK_NOTHROW(aimc::validate(technology(n), "tech"));
}
