// Pulse-programmed synapses (devices/pulse_synapse.hpp): pulse steps, bounds, symmetry of +n / -n,
// retention, rounding and determinism, each against a closed form written out here.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "tests/common/approx.hpp"
#include "tests/common/device_fixtures.hpp"
#include "core/error.hpp"
#include "devices/pulse_synapse.hpp"

using namespace aimc;
using namespace aimc::devices;
using aimc::test::linear_mosfet;
using aimc::test::rel;

namespace {

RramPulseParams quiet_rram() {
  RramPulseParams p;
  p.read_noise = false;
  return p;
}

MatrixD one(double w) { return MatrixD::Constant(1, 1, w); }

}  // namespace

TEST_CASE("pulse synapse: the MOSFET in strong inversion moves by the nominal weight step per pulse") {
  const double ut = 1.380649e-23 * 300 / 1.602176634e-19;
  const MosfetParams p = linear_mosfet();
  const double v_min = ((p.v_g_min_V - p.v_t0_V) / p.n_slope - p.v_read_V) / ut;
  REQUIRE(v_min > 50);  // the bias the linearity bound below relies on
  const double bound = (v_min + 1) * std::exp(-v_min / 2);
  CHECK(bound < 1e-9);
  const PulseArraySpec spec{1, 1, 4.0, 33, 8};
  Stream chip(1, "t.chip");
  auto a = make_mosfet_pulse_array(p, {}, spec, one(0.0), chip);
  const double step = 2 * 4.0 / 32;
  CHECK(a->weight_step() == rel(step, 1e-15));
  Stream s(1, "t.update");
  for (int k = 0; k < 5; ++k) {
    const double w0 = a->weights()(0, 0);
    a->apply(one(1.0), s);
    // a step of the nominal size, to the linearity bound (times the G range the weight scale divides by)
    CHECK(std::abs(a->weights()(0, 0) - w0 - step) < 1e-7 * step);
  }
  for (int k = 0; k < 3; ++k) {
    const double w0 = a->weights()(0, 0);
    a->apply(one(-2.0), s);
    CHECK(std::abs(a->weights()(0, 0) - w0 + 2 * step) < 1e-7 * step);
  }
}

TEST_CASE("pulse synapse: updates stop at the bounds of both devices") {
  const PulseArraySpec spec{2, 2, 3.0, 16, 1000};
  Stream chip(2, "t.chip");
  auto mos = make_mosfet_pulse_array(linear_mosfet(), {}, spec, MatrixD::Zero(2, 2), chip);
  auto rr = make_rram_pulse_array(quiet_rram(), spec, MatrixD::Zero(2, 2), chip);
  Stream s(2, "t.update");
  for (auto* a : {mos.get(), rr.get()}) {
    a->apply(MatrixD::Constant(2, 2, 100.0), s);  // far beyond the 15 pulses of the range
    // G = G_max exactly: w = (G_max - G_mid) * w_max / ((G_max - G_min) / 2) = w_max
    CHECK(a->weights().maxCoeff() == rel(3.0, 1e-12));
    CHECK(a->weights().minCoeff() == rel(3.0, 1e-12));
    a->apply(MatrixD::Constant(2, 2, -100.0), s);
    CHECK(a->weights().maxCoeff() == rel(-3.0, 1e-12));
    a->apply(MatrixD::Constant(2, 2, 1.0), s);  // one pulse up from the bottom: inside the range
    CHECK(a->weights().maxCoeff() > -3.0);
    CHECK(a->weights().maxCoeff() < 3.0);
  }
}

TEST_CASE("pulse synapse: an RRAM pulse follows the exponential LTP and LTD branches") {
  RramPulseParams p = quiet_rram();
  p.nu_ltp = 3.0;
  p.nu_ltd = 5.0;
  const int levels = 11;
  const PulseArraySpec spec{1, 1, 1.0, levels, 100};
  Stream chip(3, "t.chip");
  auto a = make_rram_pulse_array(p, spec, one(-1.0), chip);  // g = 0
  Stream s(3, "t.update");
  // Closed forms (Chen, Peng, Yu 2018): g_P(P) = (1 - e^{-nu P / P_max}) / (1 - e^{-nu}).
  auto g_ltp = [&](double pulses) { return (1 - std::exp(-p.nu_ltp * pulses / 10)) / (1 - std::exp(-p.nu_ltp)); };
  auto w_of = [](double g) { return 2 * g - 1; };  // w = (2 g - 1) w_max
  for (int k = 1; k <= 4; ++k) {
    a->apply(one(1.0), s);
    CHECK(a->weights()(0, 0) == rel(w_of(g_ltp(k)), 1e-12));
  }
  // Depression from g: the LTD branch g_D(P) = 1 - (1 - e^{-nu_D (P_max - P) / P_max}) / (1 - e^{-nu_D}),
  // entered at the P where g_D(P) = g, moves down by one pulse.
  const double g = g_ltp(4);
  const double p_on_ltd = 10 - 10 * (-std::log(1 - (1 - g) * (1 - std::exp(-p.nu_ltd))) / p.nu_ltd);
  const double g_after = 1 - (1 - std::exp(-p.nu_ltd * (10 - (p_on_ltd - 1)) / 10)) / (1 - std::exp(-p.nu_ltd));
  a->apply(one(-1.0), s);
  CHECK(a->weights()(0, 0) == rel(w_of(g_after), 1e-9));
  // nu = 0 is linear: one pulse is 1 / P_max of the range
  RramPulseParams lin = quiet_rram();
  lin.nu_ltp = lin.nu_ltd = 0;
  auto b = make_rram_pulse_array(lin, spec, one(-1.0), chip);
  b->apply(one(3.0), s);
  CHECK(b->weights()(0, 0) == rel(w_of(0.3), 1e-12));
}

TEST_CASE("pulse synapse: +n then -n pulses return the MOSFET weight and not the nonlinear RRAM weight") {
  const PulseArraySpec spec{1, 1, 2.0, 64, 64};
  Stream chip(4, "t.chip");
  Stream s(4, "t.update");
  MosfetParams mp;  // the default bias (moderate inversion at the bottom of the range): still symmetric
  mp.read_noise = false;
  auto mos = make_mosfet_pulse_array(mp, {}, spec, one(0.3), chip);
  auto rr = make_rram_pulse_array(quiet_rram(), spec, one(0.3), chip);
  const double wm = mos->weights()(0, 0), wr = rr->weights()(0, 0);
  for (double n : {5.0, 12.0}) {
    mos->apply(one(n), s);
    mos->apply(one(-n), s);
    CHECK(std::abs(mos->weights()(0, 0) - wm) < 1e-12);  // same gate grid point, to rounding
    rr->apply(one(n), s);
    rr->apply(one(-n), s);
  }
  // the RRAM drifts by more than a pulse step (nu_LTD > nu_LTP: depression outruns potentiation here)
  CHECK(std::abs(rr->weights()(0, 0) - wr) > rr->weight_step());
  // and with nu = 0 it returns as the MOSFET does
  RramPulseParams lin = quiet_rram();
  lin.nu_ltp = lin.nu_ltd = 0;
  auto rl = make_rram_pulse_array(lin, spec, one(0.3), chip);
  const double wl = rl->weights()(0, 0);
  rl->apply(one(7.0), s);
  rl->apply(one(-7.0), s);
  CHECK(std::abs(rl->weights()(0, 0) - wl) < 1e-12);
}

TEST_CASE("pulse synapse: gate charge leaks exponentially towards v_leak") {
  const MosfetParams p = linear_mosfet();
  MosfetUpdateParams u;
  u.tau_leak_s = 1e-3;
  u.v_leak_V = 0.0;
  const PulseArraySpec spec{1, 1, 1.0, 0, 8};  // continuous: V_G exactly mid-range
  Stream chip(5, "t.chip");
  auto a = make_mosfet_pulse_array(p, u, spec, one(0.0), chip);
  CHECK(std::abs(a->weights()(0, 0)) < 1e-9);
  a->idle(0.5e-3);
  // V_G = 2.8 e^{-1/2}; the weight is linear in V_G: w = (V_G - 2.8) / 0.4 w_max
  const double vg = 2.8 * std::exp(-0.5);
  const double w = (vg - 2.8) / 0.4;
  // below the gate range the device is still in strong inversion (V_G = 1.70 V), so the linear map holds
  CHECK(a->weights()(0, 0) == rel(w, 1e-6));
  auto b = make_mosfet_pulse_array(p, {}, spec, one(0.0), chip);
  b->idle(1.0);  // tau_leak_s = 0: no leakage
  CHECK(std::abs(b->weights()(0, 0)) < 1e-9);
}

TEST_CASE("pulse synapse: pulse counts from weight changes (nearest, stochastic, clipped, continuous)") {
  Stream s(6, "t.round");
  CHECK(pulses_for(0.26, 0.1, 8, PulseRounding::nearest, s) == 3.0);
  CHECK(pulses_for(-0.26, 0.1, 8, PulseRounding::nearest, s) == -3.0);
  CHECK(pulses_for(5.0, 0.1, 8, PulseRounding::nearest, s) == 8.0);
  CHECK(pulses_for(-5.0, 0.1, 8, PulseRounding::stochastic, s) == -8.0);
  CHECK(pulses_for(0.123, 0.0, 8, PulseRounding::nearest, s) == 0.123);
  // stochastic rounding is unbiased: x = 2.3 steps gives 3 with probability 0.3, else 2
  const int n = 40000;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const double k = pulses_for(0.23, 0.1, 8, PulseRounding::stochastic, s);
    CHECK((k == 2.0 || k == 3.0));
    sum += k;
  }
  const double se = std::sqrt(0.3 * 0.7 / n);
  CHECK(std::abs(sum / n - 2.3) < 5 * se);
}

TEST_CASE("pulse synapse: pulse noise and chip variation are deterministic in their streams") {
  MosfetParams p;
  MosfetUpdateParams u;
  u.sigma_pulse = 0.3;
  const PulseArraySpec spec{3, 2, 2.0, 32, 8};
  const MatrixD w0 = MatrixD::Constant(3, 2, 0.5);
  auto run = [&](std::uint64_t chip_seed, std::uint64_t upd_seed) {
    Stream chip(chip_seed, "t.chip");
    auto a = make_mosfet_pulse_array(p, u, spec, w0, chip);
    Stream s(upd_seed, "t.update");
    a->apply(MatrixD::Constant(3, 2, 3.0), s);
    MatrixD y;
    Stream r(upd_seed, "t.read");
    a->read(MatrixD::Constant(1, 3, 0.5), y, r);
    return std::make_pair(a->weights(), y);
  };
  const auto a = run(1, 1), b = run(1, 1), c = run(2, 1), d = run(1, 2);
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
  CHECK(a.first != c.first);  // another chip: other V_T
  CHECK(a.first != d.first);  // other pulse noise
}

TEST_CASE("pulse synapse: bad parameters are rejected by name") {
  const PulseArraySpec good{1, 1, 1.0, 16, 8};
  Stream chip(7, "t.chip");
  RramPulseParams r;
  r.g_max_S = r.g_min_S;
  CHECK_THROWS_WITH_AS(make_rram_pulse_array(r, good, one(0), chip), doctest::Contains("g_max_S"), Error);
  PulseArraySpec bad = good;
  bad.levels = 1;
  CHECK_THROWS_WITH_AS(make_mosfet_pulse_array(MosfetParams{}, {}, bad, one(0), chip), doctest::Contains("levels"), Error);
  MosfetUpdateParams u;
  u.sigma_pulse = -0.1;
  CHECK_THROWS_WITH_AS(make_mosfet_pulse_array(MosfetParams{}, u, good, one(0), chip), doctest::Contains("sigma_pulse"),
                       Error);
}

TEST_CASE("pulse synapse: reads are x W and d W^T, with the thermal noise of every device and the reference") {
  MosfetParams p;  // default bias, read noise on, no variation (the weights below are exact)
  p.a_vt_Vm = 0;
  const PulseArraySpec spec{3, 2, 2.0, 0, 8};
  MatrixD w0(3, 2);
  w0 << 0.5, -1.0, 1.5, 0.25, -0.75, 2.0;
  Stream chip(8, "t.chip");
  auto a = make_mosfet_pulse_array(p, {}, spec, w0, chip);
  const MatrixD w = a->weights();
  CHECK((w - w0).cwiseAbs().maxCoeff() < 1e-9);  // continuous programming hits the weight
  MatrixD x(1, 3);
  x << 0.2, 1.0, 0.6;
  // The oracle variance, from the physics: each device (and the row's reference at G_mid) passes a
  // charge with variance 2 k T G |x| t_read; the column output is charge / (V_read t_read) in conductance
  // units times scale = w_max / ((G_max - G_min) / 2).
  const double kt = 1.380649e-23 * p.temperature_K;
  const double g_lo = conductance_S(p, p.v_g_min_V), g_hi = conductance_S(p, p.v_g_max_V);
  const double g_mid = 0.5 * (g_lo + g_hi), scale = spec.w_max / (0.5 * (g_hi - g_lo));
  const int n = 20000;
  Stream r(8, "t.read");
  for (int c = 0; c < 2; ++c) {
    double var = 0;
    for (int j = 0; j < 3; ++j) {
      const double g = g_mid + w(j, c) / scale;
      var += 2 * kt * (g + g_mid) * x(0, j) * p.t_read_s;
    }
    var *= std::pow(scale / (p.v_read_V * p.t_read_s), 2);
    double s1 = 0, s2 = 0;
    MatrixD y;
    for (int k = 0; k < n; ++k) {
      a->read(x, y, r);
      const double e = y(0, c) - (x * w)(0, c);
      s1 += e;
      s2 += e * e;
    }
    const double mean = s1 / n, v = s2 / n - mean * mean;
    CHECK(std::abs(mean) < 5 * std::sqrt(var / n));
    CHECK(std::abs(v - var) < 5 * var * std::sqrt(2.0 / (n - 1)));  // 5 standard errors of a variance
  }
  // without noise the transposed read is d W^T (the error scaled to full scale and back)
  p.read_noise = false;
  auto q = make_mosfet_pulse_array(p, {}, spec, w0, chip);
  MatrixD d(1, 2), e;
  d << 0.03, -0.12;
  q->read_transposed(d, e, r);
  const MatrixD want = d * q->weights().transpose();
  for (int j = 0; j < 3; ++j) CHECK(e(0, j) == rel(want(0, j), 1e-12));
}
