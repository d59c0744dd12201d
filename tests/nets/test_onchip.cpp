// On-chip learning loop (nets/onchip.hpp) against float SGD written out here as plain loops.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "tests/common/approx.hpp"
#include "tests/common/device_fixtures.hpp"
#include "core/error.hpp"
#include "nets/onchip.hpp"

using namespace aimc;
using namespace aimc::devices;
using namespace aimc::nets;
using aimc::test::linear_mosfet;
using aimc::test::rel;

namespace {

/// Three separated Gaussian blobs in [0, 1]^4 (n per class).
void blobs(int n, std::uint64_t seed, MatrixD& x, std::vector<int>& y) {
  Stream s(seed, "t.blobs");
  x.resize(3 * n, 4);
  y.clear();
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < 4; ++j) x(k * n + i, j) = std::clamp(0.2 + 0.3 * ((k + j) % 3) + 0.08 * s.normal(), 0.0, 1.0);
      y.push_back(k);
    }
}

/// Float SGD of a sigmoid network with a bias row per layer and loss 1/2 |y - t|^2, batch 1, in the
/// sample order the loop uses (order.child("epoch", {e}) shuffles 0..n-1): the oracle.
std::vector<MatrixD> sgd(std::vector<MatrixD> w, const MatrixD& x, const std::vector<int>& y, double eta, int epochs,
                         const Stream& order) {
  const std::size_t L = w.size();
  std::vector<Eigen::Index> idx(std::size_t(x.rows()));
  for (int e = 0; e < epochs; ++e) {
    std::iota(idx.begin(), idx.end(), Eigen::Index(0));
    Stream ord = order.child("epoch", {std::uint64_t(e)});
    ord.shuffle(idx.begin(), idx.end());
    for (Eigen::Index b : idx) {
      std::vector<std::vector<double>> a(L + 1);
      for (int j = 0; j < x.cols(); ++j) a[0].push_back(x(b, j));
      for (std::size_t l = 0; l < L; ++l) {
        a[l].push_back(1.0);  // bias input
        for (int j = 0; j < w[l].cols(); ++j) {
          double z = 0;
          for (int i = 0; i < w[l].rows(); ++i) z += a[l][std::size_t(i)] * w[l](i, j);
          a[l + 1].push_back(1 / (1 + std::exp(-z)));
        }
      }
      std::vector<std::vector<double>> d(L);
      for (std::size_t j = 0; j < a[L].size(); ++j) {
        const double o = a[L][j], t = int(j) == y[std::size_t(b)] ? 1.0 : 0.0;
        d[L - 1].push_back((t - o) * o * (1 - o));
      }
      for (std::size_t l = L - 1; l-- > 0;) {
        for (int i = 0; i + 1 < w[l + 1].rows(); ++i) {
          double s = 0;
          for (int j = 0; j < w[l + 1].cols(); ++j) s += d[l + 1][std::size_t(j)] * w[l + 1](i, j);
          const double h = a[l + 1][std::size_t(i)];
          d[l].push_back(s * h * (1 - h));
        }
      }
      for (std::size_t l = 0; l < L; ++l)
        for (int i = 0; i < w[l].rows(); ++i)
          for (int j = 0; j < w[l].cols(); ++j) w[l](i, j) += eta * a[l][std::size_t(i)] * d[l][std::size_t(j)];
    }
  }
  return w;
}

OnchipParams schedule(int epochs, int levels) {
  OnchipParams p;
  p.epochs = epochs;
  p.learning_rate = 0.5;
  p.w_max = 16.0;
  p.levels = levels;
  return p;
}

}  // namespace

TEST_CASE("onchip: with float arrays the loop is float SGD") {
  MatrixD x;
  std::vector<int> y;
  blobs(20, 1, x, y);
  const std::vector<int> sizes = {4, 5, 3};
  Stream init(1, "t.init");
  const auto w0 = onchip_init(sizes, 1.0, init);
  OnchipNet net{sizes, {}};
  for (const auto& w : w0) net.arrays.push_back(make_float_array(w));
  const OnchipParams p = schedule(4, 0);
  const Stream order(1, "t.order");
  Stream upd(1, "t.upd"), read(1, "t.read");
  const auto curve = train_onchip(net, x, y, x, y, p, order, upd, read);
  const auto ref = sgd(w0, x, y, p.learning_rate, p.epochs, order);
  for (std::size_t l = 0; l < w0.size(); ++l) {
    // the same double operations in another order: agreement to rounding (~1e-15 per update, 240 updates)
    CHECK((net.arrays[l]->weights() - ref[l]).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((net.arrays[l]->weights() - w0[l]).cwiseAbs().maxCoeff() > 0.01);  // it did train
  }
  CHECK(curve.test_acc.size() == 4);
  CHECK(curve.samples == 4 * 60);
}

TEST_CASE("onchip: MOSFET synapses at infinite resolution without noise or variation equal float SGD") {
  MatrixD x;
  std::vector<int> y;
  blobs(20, 2, x, y);
  const std::vector<int> sizes = {4, 4, 3};
  Stream init(2, "t.init");
  const auto w0 = onchip_init(sizes, 1.0, init);
  const OnchipParams p = schedule(3, 0);
  OnchipNet net{sizes, {}};
  Stream chip(2, "t.chip");
  for (const auto& w : w0)
    net.arrays.push_back(make_mosfet_pulse_array(linear_mosfet(), {}, {int(w.rows()), int(w.cols()), p.w_max, 0, 8}, w, chip));
  const Stream order(2, "t.order");
  Stream upd(2, "t.upd"), read(2, "t.read");
  train_onchip(net, x, y, x, y, p, order, upd, read);
  const auto ref = sgd(w0, x, y, p.learning_rate, p.epochs, order);
  // Tolerance: the synapse's weight is linear in V_G to ~1e-10 of w_max at this bias (EKV vs square law,
  // (v + 1) e^{-v/2} with v >= 55), and the bisection that programs the initial V_G resolves 2^-80 of the
  // range; 180 updates of SGD on this smooth loss keep the accumulated difference near 180 * 1e-10 * w_max
  // ~ 3e-7. 1e-6 leaves a factor 3 for the growth of differences through the updates.
  for (std::size_t l = 0; l < w0.size(); ++l) {
    const MatrixD w = net.arrays[l]->weights();
    CHECK(w.cwiseAbs().maxCoeff() < 0.9 * p.w_max);  // the bounds never acted: float SGD has none
    CHECK((w - ref[l]).cwiseAbs().maxCoeff() < 1e-6);
    CHECK((w - w0[l]).cwiseAbs().maxCoeff() > 0.01);
  }
}

TEST_CASE("onchip: quantized pulses change the result and the energy books balance") {
  MatrixD x;
  std::vector<int> y;
  blobs(15, 3, x, y);
  const std::vector<int> sizes = {4, 3};
  Stream init(3, "t.init");
  const auto w0 = onchip_init(sizes, 1.0, init);
  OnchipParams p = schedule(5, 32);
  p.max_pulses = 4;
  MosfetParams mp;
  MosfetUpdateParams u;
  auto train = [&](std::uint64_t upd_seed, OnchipCurve& c) {
    OnchipNet net{sizes, {}};
    Stream chip(3, "t.chip");
    net.arrays.push_back(make_mosfet_pulse_array(mp, u, {5, 3, p.w_max, p.levels, p.max_pulses}, w0[0], chip));
    Stream upd(upd_seed, "t.upd"), read(3, "t.read");
    c = train_onchip(net, x, y, x, y, p, Stream(3, "t.order"), upd, read);
    return net.arrays[0]->weights();
  };
  OnchipCurve a, b, c;
  const MatrixD wa = train(1, a), wb = train(1, b), wc = train(2, c);
  CHECK(wa == wb);  // deterministic in the streams
  CHECK(a.test_acc == b.test_acc);
  CHECK(wa != wc);  // stochastic rounding draws from the update stream
  CHECK(a.pulses > 0);
  // every pulse draws c_gate dV_G from V_DD: write energy = pulses c_gate (range / (levels - 1)) V_DD
  const double dv = (mp.v_g_max_V - mp.v_g_min_V) / (p.levels - 1);
  CHECK(a.write_J == rel(a.pulses * u.c_gate_F * dv * u.v_dd_V, 1e-12));
  // cycle: 1 forward read, no transposed read (no hidden layer), settling, max_pulses pulse slots
  CHECK(a.t_sample_s == rel(mp.t_read_s + p.t_periph_s + p.max_pulses * u.t_pulse_s, 1e-12));
  CHECK(a.read_J > 0);
}

TEST_CASE("onchip: bad schedules and data are errors") {
  OnchipParams p;
  p.levels = 1;
  CHECK_THROWS_WITH_AS(validate(p, "onchip"), doctest::Contains("levels"), Error);
  p = OnchipParams{};
  p.rounding = "floor";
  CHECK_THROWS_WITH_AS(validate(p, "onchip"), doctest::Contains("rounding"), Error);
  MatrixD x = MatrixD::Zero(3, 5);
  std::vector<int> y = {0, 1, 2};
  OnchipNet net{{4, 3}, {}};
  net.arrays.push_back(make_float_array(MatrixD::Zero(5, 3)));
  Stream s(1, "t");
  CHECK_THROWS_WITH_AS(onchip_accuracy(net, x, y, s), doctest::Contains("features"), Error);
}
