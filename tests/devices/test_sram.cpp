// SRAM compute models QS, IS, QR: analytical SNR vs the sample-level Monte Carlo, exactness without
// noise, stream discipline, the TCAD paper's qualitative claims, parameter validation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "devices/sram_array.hpp"
#include "devices/sram_compute.hpp"
#include "tests/common/approx.hpp"

using namespace aimc;
using namespace aimc::devices;
using aimc::test::rel;

namespace {

template <class P>
SramModel<P> sized(int n, int bx, int bw) {
  SramModel<P> m;
  m.circuit.n_rows = n;
  m.circuit.b_x = bx;
  m.circuit.b_w = bw;
  return m;
}

template <class P>
std::string label(const SramModel<P>& m) {
  return "N=" + std::to_string(m.circuit.n_rows) + " B_x=" + std::to_string(m.circuit.b_x) +
         " B_w=" + std::to_string(m.circuit.b_w);
}

struct Gap {
  double gap_db = 0, se_db = 0, analytic_db = 0, mc_db = 0;
};

/// Analytical minus Monte Carlo SNR_a, both against the exact Var(y) (the signal variance is a
/// property of the uniform data, not of the model), so the gap is 10 log10(MSE_mc / MSE_analytic).
template <class P>
Gap snr_gap(const SramModel<P>& m, int n, std::uint64_t seed) {
  const auto a = analytic_snr(m);
  const auto e = measure_snr(sample_dot_products(m, n, Stream(seed, "sram.snr", {std::uint64_t(m.circuit.n_rows),
                                                                                 std::uint64_t(m.circuit.b_x),
                                                                                 std::uint64_t(m.circuit.b_w)})),
                             a.signal_var);
  return {a.snr_db() - e.snr_db_known, e.se_db, a.snr_db(), e.snr_db_known};
}

// Tolerance. The issue asks |SNR_analytic - SNR_mc| <= 0.5 dB. The Monte Carlo's own error is the
// standard error of 10 log10(MSE): by the delta method SE = 4.343 sd(e^2) / (sqrt(n) MSE), which for
// near-Gaussian errors is 4.343 sqrt(2 / n) = 0.061 dB at n = 10^4 (rare clipping events make the
// errors heavier-tailed at B_x = B_w = 1: up to ~0.14 dB). We require SE <= 0.15 dB, so the comparison
// resolves the criterion (a true gap of 0.5 dB lies >= 3.3 SE from a measured 0), and |gap| <= 0.5 dB.
// A model error of 0.05 dB (what the slow sweep measures) fails only if the sampling error exceeds 3 SE.
// Beside the 0.5 dB spec, every gap is also checked against kSe = 5 of its own standard errors: the
// analytical model must agree with the Monte Carlo as closely as the Monte Carlo can resolve (two-sided
// false-alarm probability 5.7e-7 per comparison, < 1e-4 over the 48-point sweep x 3 models).
constexpr double kSe = 5.0;
template <class P>
double sweep(const std::string& name, const std::vector<int>& ns, const std::vector<std::pair<int, int>>& bits, int n) {
  double worst = 0;
  std::string worst_at;
  for (int N : ns)
    for (auto [bx, bw] : bits) {
      auto m = sized<P>(N, bx, bw);
      Gap g = snr_gap(m, n, 11);
      INFO(name << " " << label(m) << ": analytic " << g.analytic_db << " dB, Monte Carlo " << g.mc_db << " dB (SE "
                << g.se_db << " dB)");
      CHECK(g.se_db <= 0.15);
      CHECK(std::abs(g.gap_db) <= 0.5);
      CHECK(std::abs(g.gap_db) <= kSe * g.se_db);
      if (std::abs(g.gap_db) > std::abs(worst)) {
        worst = g.gap_db;
        worst_at = label(m);
      }
    }
  MESSAGE(name << ": worst analytic - Monte Carlo SNR_a gap " << worst << " dB at " << worst_at);
  return worst;
}

template <class M>
double best_snr_over_t0(M m, double* t0_best = nullptr) {
  m.circuit.swing_rule = "fixed_t0";
  double best = -1e9;
  for (double lt = -13.0; lt <= -8.0; lt += 0.02) {
    m.circuit.t0_s = std::pow(10.0, lt);
    double s = analytic_snr(m).snr_db();
    if (s > best) {
      best = s;
      if (t0_best) *t0_best = m.circuit.t0_s;
    }
  }
  return best;
}

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sram: noiseless models reproduce the ideal dot products exactly") {
  auto check = [](auto m) {
    auto s = sample_dot_products(noiseless(m), 50, Stream(3, "sram.ideal"));
    CHECK(s.analog == s.ideal);
    auto a = analytic_snr(noiseless(m));
    CHECK(a.noise_var() == 0.0);
  };
  check(sized<QsParams>(64, 4, 3));
  check(sized<IsParams>(64, 4, 3));
  check(sized<QrParams>(64, 4, 3));
  check(sized<QsParams>(16, 1, 1));
  check(sized<QrParams>(16, 8, 8));
}

TEST_CASE("sram: the Monte Carlo is keyed per sample (same stream identical, different streams differ)") {
  QsModel m = sized<QsParams>(32, 2, 2);
  Stream s(5, "sram.keys");
  auto a = sample_dot_products(m, 20, s), b = sample_dot_products(m, 20, s), c = sample_dot_products(m, 10, s);
  CHECK(a.analog == b.analog);
  CHECK(c.analog == a.analog.head(10));  // sample i does not depend on how many are drawn
  auto d = sample_dot_products(m, 20, Stream(6, "sram.keys"));
  CHECK(d.analog != a.analog);
  QrModel q = sized<QrParams>(32, 2, 2);
  CHECK(sample_dot_products(q, 10, s).analog != sample_dot_products(q, 10, Stream(6, "sram.keys")).analog);
}

TEST_CASE("sram: analytical SNR_a matches the Monte Carlo within 0.5 dB (reduced sweep)") {
  const std::vector<int> ns = {16, 64, 256};
  const std::vector<std::pair<int, int>> bits = {{1, 1}, {4, 4}, {8, 2}};
  sweep<QsParams>("QS", ns, bits, 10000);
  sweep<IsParams>("IS", ns, bits, 10000);
  sweep<QrParams>("QR", ns, bits, 10000);
}

TEST_CASE("sram: analytical SNR_a matches the Monte Carlo within 0.5 dB (N 16..1024 and B_x B_w 1..8)" *
          doctest::test_suite("slow")) {
  const std::vector<int> ns = {16, 64, 256, 1024};
  std::vector<std::pair<int, int>> bits;
  for (int bx : {1, 2, 4, 8})
    for (int bw : {1, 2, 4, 8}) bits.emplace_back(bx, bw);
  // 2x10^4 samples: at N=16, B_w=8 the errors are heavy-tailed enough that 10^4 gives SE ~0.15 dB.
  sweep<QsParams>("QS", ns, bits, 20000);
  sweep<IsParams>("IS", ns, bits, 20000);
  sweep<QrParams>("QR", ns, bits, 20000);
}

TEST_CASE("sram: clipping-dominated and thermal-dominated points also agree") {
  // Mismatch off, so headroom clipping and kT/C set the SNR; small N, where the column sum is skewed.
  QsModel q = sized<QsParams>(16, 1, 1);
  q.tech.a_vt_Vm = 0;
  q.circuit.k_clip = 2.0;
  Gap g = snr_gap(q, 20000, 21);
  INFO("QS clipping-dominated: analytic " << g.analytic_db << " dB, MC " << g.mc_db << " (SE " << g.se_db << ")");
  CHECK(std::abs(g.gap_db) <= 0.5);
  CHECK(std::abs(g.gap_db) <= kSe * g.se_db);
  IsModel i = sized<IsParams>(64, 4, 2);
  i.tech.a_vt_Vm = 0;
  i.circuit.swing_rule = "full_range";
  g = snr_gap(i, 10000, 22);
  INFO("IS thermal-dominated: analytic " << g.analytic_db << " dB, MC " << g.mc_db << " (SE " << g.se_db << ")");
  CHECK(std::abs(g.gap_db) <= 0.5);
  CHECK(std::abs(g.gap_db) <= kSe * g.se_db);
  QrModel r = sized<QrParams>(64, 4, 2);
  r.tech.sigma_c_rel_1fF = 0;
  r.circuit.c_unit_F = 0.1e-15;
  g = snr_gap(r, 10000, 23);
  INFO("QR thermal-dominated: analytic " << g.analytic_db << " dB, MC " << g.mc_db << " (SE " << g.se_db << ")");
  CHECK(std::abs(g.gap_db) <= 0.5);
  CHECK(std::abs(g.gap_db) <= kSe * g.se_db);
}

TEST_CASE("sram: mismatch-limited QS SNR_a follows the paper's first-order sigma_D") {
  // With only local V_t mismatch, e/2 = sum_k 2^k sum_j eps_jk u_jk x_j, so to first order
  // SNR_a = N E[w^2] E[x^2] / (4 sigma_D^2 N A_w E[x^2] / 2) = 1 / (2 sigma_D^2) (E[w^2] = A_w),
  // sigma_D = alpha sigma_Vt / (V_WL - V_t). The exact alpha-power moments differ at O(sigma_D^4).
  QsModel m;
  m.var.temperature_K = 0;
  m.circuit.headroom_clipping = false;
  const auto op = operating_point(m);
  const double first_order_db = 10 * std::log10(1.0 / (2 * op.sigma_d * op.sigma_d));
  CHECK(analytic_snr(m).snr_db() == doctest::Approx(first_order_db).epsilon(0.01));
  // Doubling A_VT quarters the SNR: -6 dB. Checked at a quarter of the 65 nm A_VT, where the
  // alpha-power law's higher-order terms (its mean shift E[f] - 1 ~ alpha (alpha - 1) sigma_D^2 / (2 alpha^2)
  // acts as a gain error on the uncentered bit-plane sums) are negligible.
  m.tech.a_vt_Vm /= 4;
  QsModel m2 = m;
  m2.tech.a_vt_Vm *= 2;
  CHECK(analytic_snr(m).snr_db() - analytic_snr(m2).snr_db() == doctest::Approx(6.02).epsilon(0.03));
}

TEST_CASE("sram: the TCAD paper's qualitative claims hold") {
  // 1. QS and IS: SNR_a over the unit pulse width t0 has a maximum (headroom): longer pulses clip.
  double t0 = 0;
  QsModel qs;
  const double qs_max = best_snr_over_t0(qs, &t0);
  QsModel over = qs;
  over.circuit.swing_rule = "fixed_t0";
  over.circuit.t0_s = 4 * t0;
  QsModel under = over;
  under.circuit.t0_s = t0 / 100;
  CHECK(analytic_snr(over).snr_db() < qs_max - 10);
  CHECK(analytic_snr(under).snr_db() < qs_max - 10);
  IsModel is;
  const double is_max = best_snr_over_t0(is);
  // 2. QS's bound falls as technology scales down.
  std::vector<double> qs_bounds;
  std::string text;
  for (const auto& t : technology_names()) {
    QsModel m;
    m.tech = technology(t);
    qs_bounds.push_back(best_snr_over_t0(m));
    text += t + ": " + to_str(qs_bounds.back()) + " dB  ";
  }
  MESSAGE("QS SNR_a upper bound (max over t0, N=512, 4b/4b): " << text);
  MESSAGE("IS SNR_a upper bound at 65nm: " << is_max << " dB");
  CHECK(qs_bounds[0] > qs_bounds[1] + 1.0);
  CHECK(qs_bounds[1] > qs_bounds[2] + 1.0);
  // 3. QR: SNR_a rises with the unit capacitor, at an energy cost: its bound is the energy budget.
  QrModel qr;
  double last_snr = -1e9, last_e = 0;
  for (double c : {0.1e-15, 0.3e-15, 1e-15, 3e-15, 10e-15}) {
    qr.circuit.c_unit_F = c;
    double s = analytic_snr(qr).snr_db(), e = energy_J(qr);
    CHECK(s > last_snr);
    CHECK(e > last_e);
    last_snr = s;
    last_e = e;
  }
  // 4. QS is cheaper at low SNR_a, QR reaches the high SNR_a QS cannot: at QS's best operating point
  // QR needs more energy for the same SNR_a (smallest C_c reaching it), and QR's SNR_a exceeds QS's bound.
  QsModel qs_best = over;
  qs_best.circuit.t0_s = t0;
  const double e_qs = energy_J(qs_best), s_qs = analytic_snr(qs_best).snr_db();
  double e_qr = 0;
  for (double lc = -17; lc <= -13; lc += 0.01) {
    qr.circuit.c_unit_F = std::pow(10.0, lc);
    if (analytic_snr(qr).snr_db() >= s_qs) {
      e_qr = energy_J(qr);
      break;
    }
  }
  MESSAGE("at SNR_a = " << s_qs << " dB (QS bound, 65nm): E_QS = " << e_qs * 1e12 << " pJ, E_QR = " << e_qr * 1e12
                        << " pJ; QR at C_c = 1 fF: " << [&] {
                             QrModel r;
                             return analytic_snr(r).snr_db();
                           }() << " dB");
  CHECK(e_qs < e_qr);
  CHECK(last_snr > qs_max + 10);
}

TEST_CASE("sram: array models compute x * W_eff without noise, with signed inputs in two phases") {
  auto check = [](auto m) {
    using P = decltype(m.circuit);
    SramArrayModel<P> model(noiseless(m), 2.0);
    Stream s(9, "sram.array");
    Matrix w(40, 6), x(5, 40);
    s.fill_uniform(w, -0.5f, 0.5f);
    s.fill_uniform(x, -2.5f, 2.5f);  // beyond x_max: saturates at the full-scale pulse
    auto a = model.program(w, 0.5f, s);
    Matrix y;
    a->mvm(x, y, s);
    const Matrix we = a->effective_weights();
    // effective weights are the 2^B_w-level quantization of w
    const int mw = (1 << m.circuit.b_w) - 1;
    const double dw = 0.5 / mw;
    for (Eigen::Index i = 0; i < w.rows(); ++i)
      for (Eigen::Index j = 0; j < w.cols(); ++j) {
        double level = std::clamp(std::round((w(i, j) / dw + mw) / 2), 0.0, double(mw)) * 2 - mw;
        CHECK(we(i, j) == doctest::Approx(level * dw).epsilon(1e-6));
      }
    MatrixD exact = x.cast<double>().cwiseMax(-2.0).cwiseMin(2.0) * we.cast<double>();
    CHECK((y.cast<double>() - exact).cwiseAbs().maxCoeff() <= 1e-5 * exact.cwiseAbs().maxCoeff());
  };
  check(sized<QsParams>(64, 4, 3));
  check(sized<IsParams>(64, 4, 3));
  check(sized<QrParams>(64, 4, 3));
}

TEST_CASE("sram: array noise is drawn at program time and per read") {
  SramQrArrayModel model(sized<QrParams>(64, 4, 4));
  Matrix w(64, 8), x(4, 64);
  Stream s(10, "sram.array.noise");
  s.fill_uniform(w, -1.f, 1.f);
  s.fill_uniform(x, 0.f, 1.f);
  Stream p1(1, "prog"), p2(1, "prog"), p3(2, "prog");
  auto a1 = model.program(w, 1.f, p1), a2 = model.program(w, 1.f, p2), a3 = model.program(w, 1.f, p3);
  CHECK(a1->effective_weights() == a2->effective_weights());
  CHECK(a1->effective_weights() != a3->effective_weights());
  Stream r1(1, "read"), r2(1, "read");
  Matrix y1, y2, y3;
  a1->mvm(x, y1, r1);
  a1->mvm(x, y2, r2);
  a1->mvm(x, y3, r1);  // the stream advanced: new thermal noise
  CHECK(y1 == y2);
  CHECK(y1 != y3);
}

TEST_CASE("sram: parameters are set by name across the tables and bad ones are rejected") {
  QsModel m;
  CHECK(set_param(m, "n_rows", 128));
  CHECK(set_param(m, "v_dd_V", 0.9));
  CHECK(set_param(m, "temperature_K", 350));
  CHECK(set_param(m, "c_bl_extra_F", 5e-15));
  CHECK_FALSE(set_param(m, "no_such_parameter", 1));
  CHECK(m.circuit.n_rows == 128);
  CHECK(m.tech.v_dd_V == 0.9);
  CHECK(m.var.temperature_K == 350);

  auto qs_error = [](auto edit) {
    QsModel q;
    edit(q);
    return error_of([&] { analytic_snr(q); });
  };
  CHECK(qs_error([](QsModel& q) { q.tech.c_bl_cell_F = -1e-15; }).find("tech.c_bl_cell_F") != std::string::npos);
  CHECK(qs_error([](QsModel& q) { q.circuit.b_x = 0; }).find("qs.b_x") != std::string::npos);
  CHECK(qs_error([](QsModel& q) { q.circuit.b_w = 17; }).find("qs.b_w") != std::string::npos);
  CHECK(qs_error([](QsModel& q) { q.circuit.swing_rule = "max"; }).find("qs.swing_rule") != std::string::npos);
  CHECK(qs_error([](QsModel& q) { q.circuit.v_wl_rel = 0.3; }).find("qs.v_wl_rel") != std::string::npos);
  CHECK(qs_error([](QsModel& q) { q.var.temperature_K = -5; }).find("var.temperature_K") != std::string::npos);
  CHECK(qs_error([](QsModel& q) { q.tech.v_t_V = 1.2; }).find("v_t_V") != std::string::npos);
  QrModel r;
  r.circuit.c_unit_F = -1e-15;
  CHECK(error_of([&] { analytic_snr(r); }).find("qr.c_unit_F") != std::string::npos);
  IsModel i;
  i.circuit.c_int_F = 0;
  CHECK(error_of([&] { energy_J(i); }).find("is.c_int_F") != std::string::npos);
  CHECK(error_of([] { technology("5nm"); }).find("65nm|45nm|22nm") != std::string::npos);
  CHECK(error_of([] { SramQsArrayModel(QsModel{}, -1.0); }).find("x_max") != std::string::npos);
  CHECK(error_of([] {
          SramQsArrayModel a;
          Stream s(1, "x");
          a.program(Matrix::Zero(600, 2), 1.f, s);
        }).find("n_rows") != std::string::npos);
}

TEST_CASE("sram: energy and delay follow the circuit") {
  QsModel q;
  q.circuit.swing_rule = "fixed_t0";
  q.circuit.t0_s = 100e-12;
  // Delays ~1e-9 s and energies ~1e-12 J: relative comparisons. Each side is a few double operations
  // (grouped differently), so they agree to a few ulps; 1e-12 leaves ample room.
  CHECK(delay_s(q) == rel(1e-9 + 15 * 100e-12, 1e-12));
  CHECK(operating_point(q).t0_s == rel(100e-12, 1e-12));
  QrModel r;
  CHECK(delay_s(r) == rel(4 * 3 * 0.5e-9, 1e-12));
  // QR energy: B_x [B_w N C_c V^2 / 4 + N B_w c_wl V^2 / 2]
  CHECK(energy_J(r) == rel(4 * (4 * 512 * 1e-15 / 4 + 512 * 4 * 0.2e-15 / 2), 1e-12));
  // doubling the unit capacitor doubles the capacitor part only
  QrModel r2 = r;
  r2.circuit.c_unit_F = 2e-15;
  // (the difference, 2.0e-12 J of 2.9e-12 J, loses no more than a factor 1.5 to cancellation)
  CHECK(energy_J(r2) - energy_J(r) == rel(4 * 4 * 512 * 1e-15 / 4, 1e-12));
  // QS: a longer pulse swings the bit line further and costs more (below the clipping onset; with the
  // 40 uA cells of the 65 nm preset and N = 512 that is t0 ~ 0.5 ps: see the README on realizability)
  q.circuit.t0_s = 0.2e-12;
  QsModel q2 = q;
  q2.circuit.t0_s = 0.4e-12;
  CHECK(energy_J(q2) > energy_J(q));
  CHECK(operating_point(q2).unit_swing_V == rel(2 * operating_point(q).unit_swing_V, 1e-12));
}

TEST_CASE("sram: global (die-to-die) variation: analytical SNR_a matches the Monte Carlo within 0.5 dB") {
  // Every Monte Carlo dot product realizes a fresh die, so the measured MSE averages over dies as the
  // analytical E_G[.] does (sram_compute.cpp: mg2 = E_G[(E_L[f | G])^2] for QS/IS, sigma_c_global for QR).
  // The die offsets are chosen so that the global term is comparable to or larger than the local one,
  // otherwise the test would not see it. n = 10^4 samples: SE of the dB estimate as in the sweep above
  // (checked <= 0.15 dB); |gap| <= 0.5 dB as the issue requires.
  QsModel qs = sized<QsParams>(64, 4, 4);
  IsModel is = sized<IsParams>(64, 4, 4);
  QrModel qr = sized<QrParams>(64, 4, 4);
  const double qs_local = analytic_snr(qs).snr_db(), is_local = analytic_snr(is).snr_db(),
               qr_local = analytic_snr(qr).snr_db();
  qs.var.sigma_vt_global_V = 0.01;
  is.var.sigma_vt_global_V = 0.01;
  qr.var.sigma_c_global_rel = 0.005;
  // The global term must actually lower the SNR (by more than the 0.5 dB tolerance), or the
  // comparison below would not test it.
  CHECK(analytic_snr(qs).snr_db() < qs_local - 1.0);
  CHECK(analytic_snr(is).snr_db() < is_local - 1.0);
  CHECK(analytic_snr(qr).snr_db() < qr_local - 1.0);
  const std::string qs_text = "QS (local only: " + to_str(qs_local) + " dB)",
                    is_text = "IS (local only: " + to_str(is_local) + " dB)",
                    qr_text = "QR (local only: " + to_str(qr_local) + " dB)";
  for (auto [g, text] : {std::pair{snr_gap(qs, 10000, 31), qs_text}, std::pair{snr_gap(is, 10000, 32), is_text},
                         std::pair{snr_gap(qr, 10000, 33), qr_text}}) {
    INFO(text << ": with global variation analytic " << g.analytic_db << " dB, Monte Carlo " << g.mc_db << " dB (SE "
              << g.se_db << " dB)");
    CHECK(g.se_db <= 0.15);
    CHECK(std::abs(g.gap_db) <= 0.5);
    CHECK(std::abs(g.gap_db) <= kSe * g.se_db);
  }
}

TEST_CASE("sram: temperature enters the thermal noise as k T") {
  // kT/C (QS, QR) and channel noise 4 k T gamma g_m (IS) are linear in T at fixed circuit: doubling T
  // doubles the thermal variance and leaves the other terms unchanged.
  auto check = [](auto m) {
    m.var.temperature_K = 300;
    const auto a = analytic_snr(m);
    m.var.temperature_K = 600;
    const auto b = analytic_snr(m);
    CHECK(a.thermal_var > 0);
    CHECK(b.thermal_var == rel(2 * a.thermal_var, 1e-12));  // k 600 = 2 (k 300) exactly; the rest scales
    CHECK(b.mismatch_var == a.mismatch_var);
    CHECK(b.injection_var == a.injection_var);
  };
  QsModel qs;
  qs.circuit.headroom_clipping = false;  // the clipping term depends on the total noise, so on T
  check(qs);
  IsModel is;
  is.circuit.headroom_clipping = false;
  check(is);
  check(QrModel{});
}
