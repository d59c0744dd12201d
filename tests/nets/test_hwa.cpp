// Hardware-aware training (nets/hwa.hpp): exact reduction to digital training with everything off,
// keyed weight noise with the documented statistics, straight-through gradients against finite
// differences of the clipped (smoothed) forward, weight clipping, frozen weights, thread independence.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tests/common/layer_helpers.hpp"
#include "core/random.hpp"
#include "data/synthetic.hpp"
#include "nets/hwa.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

using namespace aimc;
using namespace aimc::nets;
using aimc::test::gamma_n;

namespace {

/// conv3x3(4) - relu - maxpool2 - flatten - dense(5) on 6x6x2 images: both matmul layer kinds.
Network small_cnn() {
  Network net(Shape{2, 6, 6});
  net.add(make_layer({"conv2d", {{"in_c", 2}, {"in_h", 6}, {"in_w", 6}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  net.add(make_layer({"relu", {{"c", 4}, {"h", 6}, {"w", 6}}}));
  net.add(make_layer({"maxpool2d", {{"in_c", 4}, {"in_h", 6}, {"in_w", 6}, {"kernel", 2}, {"stride", 2}}}));
  net.add(make_layer({"flatten", {{"c", 4}, {"h", 3}, {"w", 3}}}));
  net.add(make_layer({"dense", {{"in", 36}, {"out", 5}}}));
  Stream s(11, "test.hwa.init");
  net.init(s);
  return net;
}

Network one_dense(int in, int out) {
  Network net(Shape{in, 1, 1});
  net.add(make_layer({"dense", {{"in", in}, {"out", out}}}));
  Stream s(12, "test.hwa.init");
  net.init(s);
  return net;
}

VectorI labels(long n, int classes) {
  VectorI y(n);
  for (long i = 0; i < n; ++i) y[i] = int(i % classes);
  return y;
}

}  // namespace

TEST_CASE("hwa: with every noise off and ideal converters the gradients equal the digital ones exactly") {
  Network dig = small_cnn();
  Network hw = dig.clone();
  HwaTraining hwa(hw, HwaParams{}, AnalogConfig{}, matmul_layers(hw), 5);
  REQUIRE(hwa.layers().size() == 2);
  Stream s(13, "test.hwa.x");
  const Matrix x = test::normal(7, 72, s);
  const VectorI y = labels(7, 5);
  for (std::uint64_t step = 0; step < 2; ++step) {
    hwa.begin_step(step);
    dig.zero_grad();
    hw.zero_grad();
    Matrix dl1, dl2;
    const Matrix l1 = dig.forward(x, Mode::train), l2 = hw.forward(x, Mode::train);
    CHECK(l1 == l2);
    softmax_cross_entropy(l1, y, &dl1);
    softmax_cross_entropy(l2, y, &dl2);
    dig.backward(dl1);
    hw.backward(dl2);
    auto p1 = dig.parameters(), p2 = hw.parameters();
    REQUIRE(p1.size() == p2.size());
    for (std::size_t i = 0; i < p1.size(); ++i) {
      CHECK(p1[i]->grad == p2[i]->grad);
      CHECK(p1[i]->value == p2[i]->value);
    }
  }
}

TEST_CASE("hwa: weight noise is drawn once per step, keyed by (seed, step, layer), with its distribution") {
  // The perturbed weights are the layer's weight values between forward and backward.
  for (const char* kind : {"additive", "multiplicative", "lognormal"}) {
    CAPTURE(kind);
    Network net = one_dense(64, 32);  // 2,048 weights
    const Matrix w = net.parameters()[0]->value;
    HwaParams p;
    p.weight_noise = kind;
    p.sigma_w = 0.1;
    HwaTraining hwa(net, p, AnalogConfig{}, matmul_layers(net), 21);
    Stream s(14, "test.hwa.x");
    const Matrix x = test::normal(3, 64, s);
    auto perturbed = [&](std::uint64_t step) {
      hwa.begin_step(step);
      net.zero_grad();
      Matrix logits = net.forward(x, Mode::train);
      Matrix wt = net.parameters()[0]->value;
      net.backward(Matrix::Ones(logits.rows(), logits.cols()));
      CHECK(net.parameters()[0]->value == w);  // reference weights restored exactly
      return wt;
    };
    const Matrix a = perturbed(3), b = perturbed(3), c = perturbed(4);
    {  // a forward without backward, then the training ends: the reference weights come back
      Network n2 = one_dense(8, 4);
      const Matrix w2 = n2.parameters()[0]->value;
      {
        HwaTraining h2(n2, p, AnalogConfig{}, matmul_layers(n2), 21);
        h2.begin_step(0);
        n2.forward(x.leftCols(8), Mode::train);
        CHECK(n2.parameters()[0]->value != w2);
      }
      CHECK(n2.parameters()[0]->value == w2);
      CHECK(dynamic_cast<MatmulLayer&>(n2.layer(0)).product() == nullptr);
    }
    CHECK(a == b);
    CHECK(a != c);
    // z recovered from the perturbed weights: mean 0, sd 1 within 5 standard errors (n = 2,048:
    // SE of the mean 1/sqrt(n), of the sd about 1/sqrt(2n)).
    const double wmax = w.cwiseAbs().maxCoeff();
    std::vector<double> z;
    for (Eigen::Index i = 0; i < w.size(); ++i) {
      const double w0 = w.data()[i], wt = a.data()[i];
      if (std::string(kind) == "additive") z.push_back((wt - w0) / (0.1 * wmax));
      else if (std::abs(w0) > 1e-3 && std::string(kind) == "multiplicative") z.push_back((wt / w0 - 1) / 0.1);
      else if (std::abs(w0) > 1e-3) z.push_back(std::log(wt / w0) / 0.1);
    }
    const double n = double(z.size());
    REQUIRE(n > 1900);
    double m = 0, v = 0;
    for (double q : z) m += q;
    m /= n;
    for (double q : z) v += (q - m) * (q - m);
    const double sd = std::sqrt(v / (n - 1));
    CHECK(std::abs(m) < 5 / std::sqrt(n));
    CHECK(std::abs(sd - 1) < 5 / std::sqrt(2 * n) + 1e-4);  // + float rounding of the recovery
  }
}

TEST_CASE("hwa: straight-through gradients equal finite differences of the clipped forward") {
  // One Dense layer, 8-bit DAC and ADC (ranges "max" on a calibration batch). The training inputs lie
  // on the DAC grid (so the DAC changes nothing where it does not clip) and some exceed the full
  // scale; the outputs then exceed the ADC ranges in places. The smoothed forward replaces each
  // quantizer by the identity with the same clipping: f(x, W) = clamp(clamp_x(x) W, -s, s) + b; it is
  // piecewise linear, so central differences in double are exact away from the kinks.
  const int K = 12, N = 6, B = 16;
  Network net = one_dense(K, N);
  HwaParams p;
  p.io = "quantized";
  AnalogConfig hwc;
  hwc.dac.bits = 8;
  hwc.adc.bits = 8;
  hwc.adc.calibration = "max";
  HwaTraining hwa(net, p, hwc, matmul_layers(net), 3);
  Stream s(15, "test.hwa.cal");
  hwa.calibrate(test::normal(64, K, s));
  const double xmax = hwa.x_max(0), step = xmax / 255;
  const std::vector<double> range = hwa.adc_range(0);
  Matrix x(B, K);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double u = s.uniform();
    x.data()[i] = u < 0.15 ? float((s.uniform() < 0.5 ? -1.5 : 1.5) * xmax)
                           : float(double(long(s.below(509)) - 254) * step);  // |code| <= 254 < 255
  }
  Matrix c(B, N);
  s.fill_normal(c);
  Parameter& W = *net.parameters()[0];
  Parameter& bias = *net.parameters()[1];
  const MatrixD Wd = W.value.cast<double>(), xd = x.cast<double>(), cd = c.cast<double>();
  hwa.begin_step(0);
  net.zero_grad();
  net.forward(x, Mode::train);
  net.backward(c);
  // Smoothed loss in double.
  auto loss = [&](const MatrixD& xx, const MatrixD& ww) {
    MatrixD xc = xx.cwiseMax(-xmax).cwiseMin(xmax);
    MatrixD Y = xc * ww;
    double L = 0;
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < N; ++j) L += cd(b, j) * std::clamp(Y(b, j), -range[j], range[j]);
    return L;
  };
  const MatrixD Y = xd.cwiseMax(-xmax).cwiseMin(xmax) * Wd;
  int clipped_y = 0;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) clipped_y += std::abs(Y(b, j)) > range[j];
  CHECK(clipped_y > 0);  // the test exercises the ADC's zero-gradient region
  const double h = 1e-4;
  int compared = 0;
  for (int i = 0; i < K; ++i)
    for (int j = 0; j < N; ++j) {
      // skip a weight whose +-h step moves some output of column j across its clipping kink
      bool near = false;
      double tol = 1e-9;
      for (int b = 0; b < B; ++b) {
        const double xi = std::clamp(xd(b, i), -xmax, xmax);
        near = near || std::abs(std::abs(Y(b, j)) - range[j]) <= 2 * h * std::abs(xi) + 1e-6;
        tol += 2 * gamma_n(B) * std::abs(xi * cd(b, j));
      }
      if (near) continue;
      MatrixD wp = Wd, wm = Wd;
      wp(i, j) += h;
      wm(i, j) -= h;
      const double fd = (loss(xd, wp) - loss(xd, wm)) / (2 * h);
      CHECK(std::abs(double(W.grad(i, j)) - fd) <= tol + 1e-7 * std::abs(fd));
      ++compared;
    }
  CHECK(compared > K * N / 2);
  // The bias is added after the ADC: its gradient is the column sum of dL/dy, unmasked.
  for (int j = 0; j < N; ++j) CHECK(double(bias.grad(0, j)) == doctest::Approx(cd.col(j).sum()).epsilon(1e-5));

  // dL/dx: Network::backward drops the network input's gradient, so call the product's backward
  // after a train-mode forward directly.
  Matrix dxh;
  {
    hwa.begin_step(1);
    net.zero_grad();
    net.forward(x, Mode::train);
    auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
    layer.product()->backward(layer, c, dxh);
  }
  int compared_x = 0, clipped_x = 0;
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < K; ++i) {
      clipped_x += std::abs(xd(b, i)) > xmax;
      bool near = false;
      double tol = 1e-9;
      for (int j = 0; j < N; ++j) {
        near = near || std::abs(std::abs(Y(b, j)) - range[j]) <= 2 * h * std::abs(Wd(i, j)) + 1e-6;
        tol += 2 * gamma_n(N) * std::abs(Wd(i, j) * cd(b, j));
      }
      if (near) continue;
      MatrixD xp = xd, xm = xd;
      xp(b, i) += h;
      xm(b, i) -= h;
      const double fd = (loss(xp, Wd) - loss(xm, Wd)) / (2 * h);
      CHECK(std::abs(double(dxh(b, i)) - fd) <= tol + 1e-7 * std::abs(fd));
      ++compared_x;
    }
  CHECK(clipped_x > 0);  // and the DAC's
  CHECK(compared_x > B * K / 2);
}

TEST_CASE("hwa: weight clipping after each step") {
  Network net = one_dense(40, 20);
  HwaParams p;
  p.clip = "fixed";
  p.clip_value = 0.05;
  {
    HwaTraining hwa(net, p, AnalogConfig{}, matmul_layers(net), 1);
    hwa.end_step(0);
    CHECK(net.parameters()[0]->value.cwiseAbs().maxCoeff() <= 0.05f);
  }
  Network net2 = one_dense(40, 20);
  p.clip = "sigma";
  p.clip_value = 1.0;
  const Matrix w = net2.parameters()[0]->value;
  const double mean = w.cast<double>().mean();
  const double sd = std::sqrt((w.cast<double>().array() - mean).square().mean());
  HwaTraining hwa2(net2, p, AnalogConfig{}, matmul_layers(net2), 1);
  hwa2.end_step(0);
  const Matrix& wc = net2.parameters()[0]->value;
  CHECK(wc.cwiseAbs().maxCoeff() <= float(sd) * (1 + 1e-6f));
  // entries inside the bound are unchanged
  for (Eigen::Index i = 0; i < w.size(); ++i)
    if (std::abs(w.data()[i]) < float(sd) * 0.999f) CHECK(wc.data()[i] == w.data()[i]);
}

TEST_CASE("hwa: training is bit-identical for 1 and 2 threads and never changes a frozen weight") {
  data::BlobsParams bp;
  bp.samples = 300;
  bp.features = 6;
  bp.classes = 3;
  Stream s(9, "test.hwa.blobs");
  const auto d = data::make_blobs(bp, s);
  auto run = [&](int threads) {
    test::Threads t(threads);
    Network net(Shape{6, 1, 1});
    net.add(make_layer({"dense", {{"in", 6}, {"out", 16}}}));
    net.add(make_layer({"relu", {{"c", 16}, {"h", 1}, {"w", 1}}}));
    net.add(make_layer({"dense", {{"in", 16}, {"out", 3}}}));
    Stream init(2, "init");
    net.init(init);
    net.parameters()[0]->trainable = false;  // first layer's weight frozen
    const Matrix frozen = net.parameters()[0]->value;
    HwaParams p;
    p.weight_noise = "additive";
    p.sigma_w = 0.05;
    p.io = "quantized";
    p.sigma_out = 0.02;
    p.clip = "sigma";
    p.clip_value = 2.5;
    HwaTraining hwa(net, p, AnalogConfig{}, matmul_layers(net), 7);
    hwa.calibrate(d.x.topRows(64));
    TrainParams tp;
    tp.epochs = 2;
    tp.batch_size = 30;
    train(net, d, nullptr, tp, {}, false, {}, {&hwa});
    CHECK(net.parameters()[0]->value == frozen);
    std::vector<Matrix> out;
    for (auto* q : net.parameters()) out.push_back(q->value);
    return out;
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.size() == two.size());
  for (std::size_t i = 0; i < one.size(); ++i) CHECK(one[i] == two[i]);
}

TEST_CASE("hwa: device weight noise is a freshly programmed instance of the configured substrate, tile by tile") {
  // RRAM with additive programming variation (devices/rram.hpp): each of G+ and G- is programmed to
  // its target + sigma (g_max - g_min) z, and a weight reads back as (G+ - G-) w_max / (g_max - g_min),
  // so W~ - W = sigma w_max (z+ - z-) ~ N(0, 2 sigma^2 w_max^2) iid. g_min is 10 sd above 0, so the
  // clamp at G >= 0 never acts. K = 300 inputs make 3 row tiles of 128.
  const int K = 300, N = 40, B = 8;
  Network net = one_dense(K, N);
  HwaParams p;
  p.weight_noise = "device";
  AnalogConfig hw;
  hw.mapping.substrate = "rram";
  hw.rram.g_min_S = 50e-6;
  hw.rram.g_max_S = 150e-6;
  hw.rram.prog_model = "additive";
  hw.rram.sigma_prog = 0.05;
  HwaTraining hwa(net, p, hw, matmul_layers(net), 9);
  Stream s(31, "test.hwa.dev");
  const Matrix x = test::normal(B, K, s);
  auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
  CHECK_THROWS_WITH_AS(net.forward(x, Mode::train), doctest::Contains("calibrate"), Error);
  hwa.calibrate(x);
  const Matrix W = layer.weight();
  const double wmax = W.cwiseAbs().maxCoeff();
  hwa.begin_step(4);
  net.forward(x, Mode::train);
  const Matrix W1 = layer.weight();
  const MatrixD d = (W1.cast<double>() - W.cast<double>()) / (std::sqrt(2.0) * 0.05 * wmax);
  const double n = double(d.size()), mean = d.mean(), var = (d.array() - mean).square().sum() / (n - 1);
  CHECK(std::abs(mean) <= 5 / std::sqrt(n));              // 5 standard errors of the mean
  CHECK(std::abs(var - 1) <= 5 * std::sqrt(2 / (n - 1)));  // and of the variance of a normal sample
  // The tiles draw independently: the first two row tiles' deviations are uncorrelated.
  const MatrixD a = d.topRows(128), b = d.middleRows(128, 128);
  const double corr = ((a.array() - a.mean()) * (b.array() - b.mean())).sum() /
                      std::sqrt((a.array() - a.mean()).square().sum() * (b.array() - b.mean()).square().sum());
  CHECK(std::abs(corr) <= 5 / std::sqrt(double(a.size())));
  // backward restores the reference weights; the same step draws the same instance, the next another.
  Matrix dx;
  layer.product()->backward(layer, Matrix::Ones(B, N), dx);
  CHECK(layer.weight() == W);
  hwa.begin_step(4);
  net.forward(x, Mode::train);
  CHECK(layer.weight() == W1);
  layer.product()->backward(layer, Matrix::Ones(B, N), dx);
  hwa.begin_step(5);
  net.forward(x, Mode::train);
  CHECK((layer.weight() - W1).cwiseAbs().maxCoeff() > 0);
  layer.product()->backward(layer, Matrix::Ones(B, N), dx);
  // bit slicing has no one-device-per-weight instance to train on
  AnalogConfig sliced = hw;
  sliced.mapping.weight_slices = 2;
  Network n2 = one_dense(K, N);
  CHECK_THROWS_WITH_AS(HwaTraining(n2, p, sliced, matmul_layers(n2), 9), doctest::Contains("mapping.weight_slices"),
                       Error);
}

TEST_CASE("hwa: the 1-bit sense amplifier in the forward, hardtanh straight-through gradient") {
  // Bipolar sense amplifier at threshold 0, no offsets or noise (devices/sense_amp.hpp): the output
  // of column j is s_j sign(Y) with s_j = mean |Y_j| of the clean calibration outputs, and the
  // gradient passes where |Y| <= s_j. Inputs on the DAC grid so that x_q = x.
  const int K = 20, N = 6, B = 32;
  Network net = one_dense(K, N);
  HwaParams p;
  p.io = "quantized";
  AnalogConfig hw;
  hw.mapping.readout = "sense_amp";
  hw.dac.bits = 8;
  HwaTraining hwa(net, p, hw, matmul_layers(net), 2);
  Stream s(41, "test.hwa.sa");
  const Matrix xcal = test::normal(64, K, s);
  hwa.calibrate(xcal);
  const double xmax = hwa.x_max(0), step = xmax / 255;
  Matrix x(B, K);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = float(double(long(s.below(509)) - 254) * step);
  auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
  const MatrixD Wd = layer.weight().cast<double>(), bd = layer.bias().cast<double>();
  const MatrixD Ycal = xcal.cast<double>() * Wd, Y = x.cast<double>() * Wd;
  std::vector<double> sj(N);
  for (int j = 0; j < N; ++j) sj[std::size_t(j)] = Ycal.col(j).cwiseAbs().mean();
  Matrix c(B, N);
  s.fill_normal(c);
  hwa.begin_step(0);
  const Matrix y = net.forward(x, Mode::train);
  Matrix dx;
  layer.product()->backward(layer, c, dx);
  int inside = 0, outside = 0;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) {
      if (std::abs(Y(b, j)) < 1e-4) continue;  // sign of a sum within float rounding of 0
      const double want = sj[std::size_t(j)] * (Y(b, j) > 0 ? 1.0 : -1.0) + bd(0, j);
      CHECK(double(y(b, j)) == doctest::Approx(want).epsilon(1e-5));
      (std::abs(Y(b, j)) <= sj[std::size_t(j)] ? inside : outside)++;
    }
  CHECK(inside > 0);
  CHECK(outside > 0);
  // dL/dx = (c masked where |Y| > s_j) W^T, in double
  MatrixD g = c.cast<double>();
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j)
      if (std::abs(Y(b, j)) > sj[std::size_t(j)]) g(b, j) = 0;
  const MatrixD dx_want = g * Wd.transpose();
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < K; ++i) {
      double tol = 1e-9;
      for (int j = 0; j < N; ++j) tol += 2 * gamma_n(N) * std::abs(Wd(i, j) * double(c(b, j)));
      CHECK(std::abs(double(dx(b, i)) - dx_want(b, i)) <= tol);
    }
}

TEST_CASE("hwa: a learned input range gets the clipping gradient and is trained by the optimizer") {
  const int K = 12, N = 6, B = 16;
  Network net = one_dense(K, N);
  HwaParams p;
  p.io = "quantized";
  p.input_range = "learned";
  AnalogConfig hw;
  hw.mapping.readout = "ideal";
  hw.dac.bits = 8;
  {
    HwaParams bad = p;
    bad.io = "ideal";
    Network n2 = one_dense(K, N);
    CHECK_THROWS_WITH_AS(HwaTraining(n2, bad, hw, matmul_layers(n2), 1), doctest::Contains("hwa.input_range"), Error);
  }
  HwaTraining hwa(net, p, hw, matmul_layers(net), 3);
  Stream s(51, "test.hwa.range");
  hwa.calibrate(test::normal(64, K, s));
  const double a0 = hwa.x_max(0);
  REQUIRE(hwa.parameters().size() == 1);
  CHECK(double(hwa.parameters()[0]->value(0, 0)) == a0);
  // Inputs: 20% beyond +-1.5 a0, the rest inside and at least 0.1 a0 away from the clipping kink.
  Matrix x(B, K);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double sign = s.uniform() < 0.5 ? -1.0 : 1.0;
    x.data()[i] = float(sign * (s.uniform() < 0.2 ? 1.5 : 0.9 * s.uniform()) * a0);
  }
  Matrix c(B, N);
  s.fill_normal(c);
  auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
  hwa.begin_step(0);
  net.forward(x, Mode::train);
  Matrix dx;
  layer.product()->backward(layer, c, dx);
  const double grad = hwa.parameters()[0]->grad(0, 0);
  // Oracle: central difference of the smoothed loss L(a) = sum c (clamp(x, -a, a) W), in double; it
  // is linear in a near a0 (no input within 0.1 a0 of the kink), so the difference is exact up to
  // rounding.
  const MatrixD Wd = layer.weight().cast<double>(), xd = x.cast<double>(), cd = c.cast<double>();
  auto loss = [&](double a) { return (cd.array() * (xd.cwiseMax(-a).cwiseMin(a) * Wd).array()).sum(); };
  const double h = 1e-3 * a0, fd = (loss(a0 + h) - loss(a0 - h)) / (2 * h);
  double tol = 0;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) tol += 4 * gamma_n(K) * std::abs(cd(b, j)) * (xd.row(b).cwiseAbs() * Wd.col(j).cwiseAbs()).value();
  CHECK(std::abs(fd) > 0);
  CHECK(std::abs(grad - fd) <= tol / a0 + 1e-6 * std::abs(fd));
  // nets::train steps the range with the network's parameters.
  data::Dataset d;
  d.shape = Shape{K, 1, 1};
  d.classes = N;
  d.x = x;
  d.y = labels(B, N);
  TrainParams tp;
  tp.epochs = 2;
  tp.batch_size = 8;
  nets::train(net, d, nullptr, tp, {}, false, {}, {&hwa});
  CHECK(hwa.x_max(0) != a0);
  CHECK(double(hwa.parameters()[0]->value(0, 0)) == hwa.x_max(0));
}

TEST_CASE("hwa: device weight noise applies the configured drift compensation") {
  // PCM without programming or 1/f noise and one drift exponent for every device, read 1 day after
  // programming: every conductance is scaled by the same factor, so the instance is W times that
  // factor, and global or per-column compensation restores W exactly up to float rounding.
  const int K = 150, N = 10, B = 4;
  HwaParams p;
  p.weight_noise = "device";
  AnalogConfig hw;
  hw.mapping.substrate = "pcm";
  hw.pcm.prog_noise_scale = 0;
  hw.pcm.read_noise_scale = 0;
  hw.pcm.drift_nu_model = "constant";
  hw.pcm.sigma_drift_nu = 0;
  hw.pcm.t_inference_s = 86400;
  for (const char* comp : {"none", "global", "column"}) {
    CAPTURE(comp);
    hw.mapping.drift_compensation = comp;
    Network net = one_dense(K, N);
    HwaTraining hwa(net, p, hw, matmul_layers(net), 4);
    Stream s(61, "test.hwa.drift");
    const Matrix x = test::normal(B, K, s);
    hwa.calibrate(x);
    auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
    const MatrixD W = layer.weight().cast<double>();
    hwa.begin_step(0);
    net.forward(x, Mode::train);
    const MatrixD Wt = layer.weight().cast<double>();
    const double err = (Wt - W).cwiseAbs().maxCoeff() / W.cwiseAbs().maxCoeff();
    if (std::string(comp) == "none") {
      CHECK(err > 0.1);  // (86400 / 20)^-0.05 = 0.66: drift shrinks every weight by a third
    } else {
      CHECK(err <= 1e-5);
    }
    Matrix dx;
    layer.product()->backward(layer, Matrix::Ones(B, N), dx);
  }
}

// ---- partial_sums = "tile": per-tile read-out of row-block partial sums (nets/hwa.hpp, step 4') ----

namespace {

/// Least-squares scales of a bipolar sense amplifier at threshold 0 (devices/sense_amp.hpp):
/// s_j = E[y sign(y)] = E|y| over the rows of P (1 where that is not positive), in double.
std::vector<double> sa_scales(const MatrixD& P) {
  std::vector<double> s(std::size_t(P.cols()));
  for (Eigen::Index j = 0; j < P.cols(); ++j) {
    double yd = 0;
    for (Eigen::Index b = 0; b < P.rows(); ++b) yd += P(b, j) > 0 ? P(b, j) : -P(b, j);
    const double v = yd / double(P.rows());
    s[std::size_t(j)] = v > 0 ? v : 1.0;
  }
  return s;
}

/// Inputs on the grid of a B-bit signed DAC of full scale xmax (|code| <= 2^B - 2, no clipping), so
/// that the DAC leaves them unchanged.
Matrix on_dac_grid(long rows, long cols, double xmax, int bits, Stream& s) {
  const long top = (1L << bits) - 2;
  const double step = xmax / double(top + 1);
  Matrix x(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = float(double(long(s.below(std::uint64_t(2 * top + 1))) - top) * step);
  return x;
}

}  // namespace

TEST_CASE("hwa tile: with tile_rows >= K the tile partial sums give the layer numbers exactly") {
  // One row block is the whole dot product: forward outputs and every gradient are bit-identical for
  // Conv2d (K = 18) and Dense (K = 36), tile_rows = K and > K, ADC and sense amplifier, with weight
  // and output noise and read noise on.
  Stream s(71, "test.hwa.tile.same");
  const Matrix x = test::normal(9, 72, s), xcal = test::normal(32, 72, s);
  const VectorI y = labels(9, 5);
  for (const char* readout : {"adc", "sense_amp"})
    for (int tr : {36, 128}) {
      CAPTURE(readout);
      CAPTURE(tr);
      AnalogConfig hw;
      hw.mapping.readout = readout;
      hw.mapping.tile_rows = tr;
      hw.adc.bits = 4;
      hw.adc.sigma_adc_lsb = 0.3;
      hw.sense_amp.sigma_sa = 0.05;
      hw.sense_amp.sigma_read_sa = 0.05;
      HwaParams p;
      p.io = "quantized";
      p.weight_noise = "additive";
      p.sigma_w = 0.05;
      p.sigma_out = 0.02;
      Network a = small_cnn(), b = small_cnn();
      HwaTraining ha(a, p, hw, matmul_layers(a), 8);
      p.partial_sums = "tile";
      HwaTraining hb(b, p, hw, matmul_layers(b), 8);
      ha.calibrate(xcal);
      hb.calibrate(xcal);
      ha.begin_step(3);
      hb.begin_step(3);
      a.zero_grad();
      b.zero_grad();
      const Matrix la = a.forward(x, Mode::train), lb = b.forward(x, Mode::train);
      CHECK(la == lb);
      Matrix da, db;
      softmax_cross_entropy(la, y, &da);
      softmax_cross_entropy(lb, y, &db);
      a.backward(da);
      b.backward(db);
      const auto pa = a.parameters(), pb = b.parameters();
      REQUIRE(pa.size() == pb.size());
      for (std::size_t i = 0; i < pa.size(); ++i) {
        CHECK(pa[i]->grad == pb[i]->grad);
        CHECK(pa[i]->value == pb[i]->value);
      }
      // and the input gradient of the first (Conv2d) layer
      a.forward(x, Mode::train);
      b.forward(x, Mode::train);
      Matrix dxa, dxb;
      auto& ca = dynamic_cast<MatmulLayer&>(a.layer(0));
      auto& cb = dynamic_cast<MatmulLayer&>(b.layer(0));
      const Matrix g = test::normal(9, 144, s);
      ca.product()->backward(ca, g, dxa);
      cb.product()->backward(cb, g, dxb);
      CHECK(dxa == dxb);
      a.backward(Matrix::Zero(9, 5));  // restores the second layer's reference weights
      b.backward(Matrix::Zero(9, 5));
    }
}

TEST_CASE("hwa tile: 1-bit partial sums of three row blocks equal the hand computation") {
  // Dense 24 -> 5, tile_rows 8: blocks r = 0, 1, 2 of 8 inputs. Bipolar sense amplifier at threshold
  // 0 without offsets or noise: y_j = sum_r s_rj sign(P_rj) + b_j, s_rj = mean |P_rj| over the
  // calibration batch (the least-squares scale, devices/sense_amp.hpp). Inputs on the DAC grid.
  const int K = 24, N = 5, B = 40, tr = 8;
  Network net = one_dense(K, N);
  Parameter& bias = *net.parameters()[1];
  for (int j = 0; j < N; ++j) bias.value(0, j) = 0.1f * float(j - 2);
  HwaParams p;
  p.io = "quantized";
  p.partial_sums = "tile";
  AnalogConfig hw;
  hw.mapping.readout = "sense_amp";
  hw.mapping.tile_rows = tr;
  hw.dac.bits = 8;
  HwaTraining hwa(net, p, hw, matmul_layers(net), 2);
  Stream s(72, "test.hwa.tile.hand");
  const Matrix xcal = test::normal(64, K, s);
  hwa.calibrate(xcal);
  const Matrix x = on_dac_grid(B, K, hwa.x_max(0), 8, s);
  auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
  const MatrixD Wd = layer.weight().cast<double>(), xd = x.cast<double>(), xc = xcal.cast<double>();
  std::vector<std::vector<double>> sr;
  std::vector<MatrixD> P;
  for (int r = 0; r < 3; ++r) {
    sr.push_back(sa_scales(xc.middleCols(r * tr, tr) * Wd.middleRows(r * tr, tr)));
    P.push_back(xd.middleCols(r * tr, tr) * Wd.middleRows(r * tr, tr));
  }
  hwa.begin_step(0);
  const Matrix y = net.forward(x, Mode::train);
  int compared = 0, differs = 0;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) {
      bool near0 = false;
      double want = double(bias.value(0, j)), mag = std::abs(want), whole = 0;
      for (int r = 0; r < 3; ++r) {
        near0 = near0 || std::abs(P[std::size_t(r)](b, j)) < 1e-4;  // a sign within float rounding of 0
        want += sr[std::size_t(r)][std::size_t(j)] * (P[std::size_t(r)](b, j) > 0 ? 1.0 : -1.0);
        mag += sr[std::size_t(r)][std::size_t(j)];
        whole += P[std::size_t(r)](b, j);
      }
      if (near0) continue;
      // s_rj from float partial sums accumulated in double: relative error well below 1e-5
      CHECK(std::abs(double(y(b, j)) - want) <= 1e-5 * mag);
      ++compared;
      // the per-layer read-out would give s_j sign(sum_r P_rj): the blocks' signs disagree somewhere
      differs += (P[0](b, j) > 0) != (whole > 0) || (P[1](b, j) > 0) != (whole > 0) || (P[2](b, j) > 0) != (whole > 0);
    }
  CHECK(compared > B * N * 9 / 10);
  CHECK(differs > 0);
  Matrix dx;
  layer.product()->backward(layer, Matrix::Zero(B, N), dx);
}

TEST_CASE("hwa tile: the 1-bit partial-sum forward equals the analog mapping with ideal devices") {
  // AnalogNetwork (nets/analog.hpp) with the sense amplifier read-out on RRAM without programming or
  // read variation (w_eff = (G+ - G-) w_max / (g_max - g_min) = W up to double rounding before the
  // float cast), no IR drop and no drift, and a 1-bit unsigned DAC on inputs in {0, 1}: x_max = 1,
  // code = x, so the DAC is exact and one phase. Both compute each tile's partial sum as a float
  // product of the same block of inputs and weights, convert it with scales calibrated on the same
  // partial sums of the calibration batch, and add the +-s_rj in block order, then the bias.
  // Tolerance: 8 float ulps of the largest possible |y_j| = sum_r s_rj + |b_j| (the scales pass
  // through double accumulations of float partial sums in both); no partial sum within 1e-4 of 0,
  // where a last-bit difference of the products could flip a sign (asserted).
  const int K = 40, N = 6, B = 48, tr = 16;  // blocks of 16, 16, 8 rows
  Network net = one_dense(K, N);
  Parameter& bias = *net.parameters()[1];
  for (int j = 0; j < N; ++j) bias.value(0, j) = 0.05f * float(j) - 0.1f;
  Stream s(73, "test.hwa.tile.analog");
  auto bits = [&](long rows) {
    Matrix x(rows, K);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = s.uniform() < 0.5 ? 1.f : 0.f;
    x(0, 0) = 1.f;  // x_max = 1
    return x;
  };
  const Matrix xcal = bits(64), x = bits(B);
  AnalogConfig hw;
  hw.mapping.substrate = "rram";
  hw.mapping.readout = "sense_amp";
  hw.mapping.tile_rows = tr;
  hw.dac.bits = 1;
  const AnalogNetwork an(net, hw, xcal);
  REQUIRE(an.tile_grid(0) == std::pair<int, int>(3, 1));
  CHECK(an.x_max(0) == 1.0);
  const Matrix ya = an.program(Stream(5, "test.prog"))->forward(x, Stream(5, "test.read"), 0);

  Network hnet = net.clone();
  HwaParams p;
  p.io = "quantized";
  p.partial_sums = "tile";
  HwaTraining hwa(hnet, p, hw, matmul_layers(hnet), 6);
  hwa.calibrate(xcal);
  CHECK(hwa.x_max(0) == 1.0);
  hwa.begin_step(0);
  const Matrix yh = hnet.forward(x, Mode::train);
  REQUIRE(ya.rows() == yh.rows());
  REQUIRE(ya.cols() == yh.cols());

  const MatrixD Wd = net.parameters()[0]->value.cast<double>(), xd = x.cast<double>(), xc = xcal.cast<double>();
  double closest = 1e30;
  for (int r = 0; r * tr < K; ++r) {
    const int rk = std::min(tr, K - r * tr);
    closest = std::min(closest, (xd.middleCols(r * tr, rk) * Wd.middleRows(r * tr, rk)).cwiseAbs().minCoeff());
  }
  REQUIRE(closest > 1e-4);
  for (int j = 0; j < N; ++j) {
    double full = std::abs(double(bias.value(0, j)));
    for (int r = 0; r * tr < K; ++r) {
      const int rk = std::min(tr, K - r * tr);
      full += sa_scales(xc.middleCols(r * tr, rk) * Wd.middleRows(r * tr, rk))[std::size_t(j)];
    }
    for (int b = 0; b < B; ++b) CHECK(std::abs(double(ya(b, j)) - double(yh(b, j))) <= 8 * test::kU * 2 * full);
  }
  Matrix dx;
  auto& layer = dynamic_cast<MatmulLayer&>(hnet.layer(0));
  layer.product()->backward(layer, Matrix::Zero(B, N), dx);
}

TEST_CASE("hwa tile: the straight-through gradient masks each block where it clips") {
  // Dense 20 -> 6 with tile_rows 10 (two blocks), bipolar sense amplifier: m_r = 1{|P_r| <= s_rj};
  // dP_r = c m_r; dW[rows r] = X_r^T dP_r, dX[:, rows r] = dP_r W_r^T, db = colsum(c). Oracle in
  // double with s_rj from the calibration batch; tolerances Higham's gamma_n on the float sums.
  const int K = 20, N = 6, B = 32, tr = 10;
  Network net = one_dense(K, N);
  HwaParams p;
  p.io = "quantized";
  p.partial_sums = "tile";
  AnalogConfig hw;
  hw.mapping.readout = "sense_amp";
  hw.mapping.tile_rows = tr;
  hw.dac.bits = 8;
  HwaTraining hwa(net, p, hw, matmul_layers(net), 4);
  Stream s(74, "test.hwa.tile.grad");
  const Matrix xcal = test::normal(64, K, s);
  hwa.calibrate(xcal);
  const Matrix x = on_dac_grid(B, K, hwa.x_max(0), 8, s);
  Matrix c(B, N);
  s.fill_normal(c);
  auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
  Parameter& W = *net.parameters()[0];
  Parameter& bias = *net.parameters()[1];
  const MatrixD Wd = W.value.cast<double>(), xd = x.cast<double>(), cd = c.cast<double>(), xc = xcal.cast<double>();
  MatrixD g[2];
  int inside = 0, outside = 0, near = 0;
  for (int r = 0; r < 2; ++r) {
    const auto sr = sa_scales(xc.middleCols(r * tr, tr) * Wd.middleRows(r * tr, tr));
    const MatrixD P = xd.middleCols(r * tr, tr) * Wd.middleRows(r * tr, tr);
    g[r] = cd;
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < N; ++j) {
        const double sj = sr[std::size_t(j)];
        near += std::abs(std::abs(P(b, j)) - sj) < 1e-5 * sj;  // mask within rounding of its edge
        if (std::abs(P(b, j)) <= sj) {
          ++inside;
        } else {
          ++outside;
          g[r](b, j) = 0;
        }
      }
  }
  REQUIRE(near == 0);
  CHECK(inside > 0);
  CHECK(outside > 0);
  hwa.begin_step(0);
  net.zero_grad();
  net.forward(x, Mode::train);
  Matrix dx;
  layer.product()->backward(layer, c, dx);
  CHECK(W.value.cast<double>() == Wd);  // reference weights in place
  for (int r = 0; r < 2; ++r) {
    const MatrixD dW = xd.middleCols(r * tr, tr).transpose() * g[r];
    const MatrixD dX = g[r] * Wd.middleRows(r * tr, tr).transpose();
    for (int i = 0; i < tr; ++i)
      for (int j = 0; j < N; ++j) {
        double tol = 1e-12;
        for (int b = 0; b < B; ++b) tol += 2 * gamma_n(B) * std::abs(xd(b, r * tr + i) * cd(b, j));
        CHECK(std::abs(double(W.grad(r * tr + i, j)) - dW(i, j)) <= tol);
      }
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < tr; ++i) {
        double tol = 1e-12;
        for (int j = 0; j < N; ++j) tol += 2 * gamma_n(N) * std::abs(Wd(r * tr + i, j) * cd(b, j));
        CHECK(std::abs(double(dx(b, r * tr + i)) - dX(b, i)) <= tol);
      }
  }
  for (int j = 0; j < N; ++j) {
    double tol = 1e-12;
    for (int b = 0; b < B; ++b) tol += 2 * gamma_n(B) * std::abs(cd(b, j));
    CHECK(std::abs(double(bias.grad(0, j)) - cd.col(j).sum()) <= tol);
  }
}

TEST_CASE("hwa tile: a Conv2d layer scatters the per-block input gradient back through im2col") {
  // conv3x3 (2 -> 3 channels, pad 1) on 6x6 images: K = 18 patch rows in blocks of 8, 8, 2, ADC
  // read-out with ranges "max": s_rj = max |P_rj| over the calibration batch's partial sums. The
  // training inputs span the whole DAC range, wider than the calibration batch, so blocks clip.
  // Oracle in double: dX = sum over blocks of (c m_r) W_r^T in the columns of block r,
  // dW[rows r] = X_r^T (c m_r), and dL/dx through the adjoint of the (linear) im2col map built from
  // lower() of each unit input e_i: dx(b, i) = <lower(e_i), dX of sample b> (not col2im).
  const int B = 3, P = 36, Nc = 3, K = 18, tr = 8;
  Network net(Shape{2, 6, 6});
  net.add(make_layer({"conv2d", {{"in_c", 2}, {"in_h", 6}, {"in_w", 6}, {"out_c", Nc}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  Stream init(13, "test.hwa.init");
  net.init(init);
  HwaParams p;
  p.io = "quantized";
  p.partial_sums = "tile";
  AnalogConfig hw;
  hw.mapping.readout = "adc";
  hw.mapping.tile_rows = tr;
  hw.adc.calibration = "max";
  HwaTraining hwa(net, p, hw, matmul_layers(net), 4);
  Stream s(75, "test.hwa.tile.conv");
  const Matrix xcal = test::normal(16, 72, s, 0.5f);
  hwa.calibrate(xcal);
  CHECK_THROWS_WITH_AS(hwa.adc_range(0), doctest::Contains("partial_sums"), Error);
  const Matrix x = on_dac_grid(B, 72, hwa.x_max(0), 8, s);
  const Matrix c = test::normal(B, P * Nc, s);
  auto& layer = dynamic_cast<MatmulLayer&>(net.layer(0));
  Parameter& W = *net.parameters()[0];
  Matrix scratch;
  const MatrixD X = layer.lower(x, scratch).cast<double>(), Xc = layer.lower(xcal, scratch).cast<double>();
  const Matrix eye = Matrix::Identity(72, 72);
  const MatrixD L = layer.lower(eye, scratch).cast<double>();  // row block i: lower(e_i), (P, K)
  REQUIRE(L.rows() == 72 * P);
  const MatrixD Wd = W.value.cast<double>();
  const MatrixD G = Eigen::Map<const Matrix>(c.data(), B * P, Nc).cast<double>();
  MatrixD dX = MatrixD::Zero(B * P, K), dXabs = MatrixD::Zero(B * P, K), dW(K, Nc), dWabs(K, Nc);
  int clipped = 0, near = 0;
  for (int k0 = 0; k0 < K; k0 += tr) {
    const int rk = std::min(tr, K - k0);
    const MatrixD Pc = Xc.middleCols(k0, rk) * Wd.middleRows(k0, rk), Pr = X.middleCols(k0, rk) * Wd.middleRows(k0, rk);
    MatrixD g = G;
    for (int j = 0; j < Nc; ++j) {
      const double sj = double(float(Pc.col(j).cwiseAbs().maxCoeff()));  // the ADC keeps float ranges
      for (Eigen::Index q = 0; q < Pr.rows(); ++q) {
        near += std::abs(std::abs(Pr(q, j)) - sj) < 1e-5 * sj;
        if (std::abs(Pr(q, j)) > sj) g(q, j) = 0, ++clipped;
      }
    }
    dX.middleCols(k0, rk) = g * Wd.middleRows(k0, rk).transpose();
    dXabs.middleCols(k0, rk) = G.cwiseAbs() * Wd.middleRows(k0, rk).cwiseAbs().transpose();
    dW.middleRows(k0, rk) = X.middleCols(k0, rk).transpose() * g;
    dWabs.middleRows(k0, rk) = X.middleCols(k0, rk).cwiseAbs().transpose() * G.cwiseAbs();
  }
  REQUIRE(near == 0);
  CHECK(clipped > 0);
  hwa.begin_step(0);
  net.zero_grad();
  net.forward(x, Mode::train);
  Matrix dx;
  layer.product()->backward(layer, c, dx);
  REQUIRE(dx.rows() == B);
  REQUIRE(dx.cols() == 72);
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < Nc; ++j) CHECK(std::abs(double(W.grad(k, j)) - dW(k, j)) <= 2 * gamma_n(B * P) * dWabs(k, j) + 1e-12);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < 72; ++i) {
      const double want = (L.middleRows(i * P, P).array() * dX.middleRows(b * P, P).array()).sum();
      const double mag = (L.middleRows(i * P, P).array() * dXabs.middleRows(b * P, P).array()).sum();
      CHECK(std::abs(double(dx(b, i)) - want) <= 2 * gamma_n(Nc + 9) * mag + 1e-12);
    }
}

TEST_CASE("hwa tile: an unknown partial_sums value is rejected naming hwa.partial_sums") {
  Network net = one_dense(8, 4);
  HwaParams p;
  p.partial_sums = "tiles";
  CHECK_THROWS_WITH_AS(HwaTraining(net, p, AnalogConfig{}, matmul_layers(net), 1), doctest::Contains("hwa.partial_sums"),
                       Error);
  CHECK_THROWS_WITH_AS(validate(p, "hwa"), doctest::Contains("hwa.partial_sums"), Error);
}

TEST_CASE("hwa tile: the same numbers on 1 and 2 threads") {
  // The row blocks run in parallel with their own streams and are summed in block order: outputs
  // and gradients are bit-identical for any thread count (conv K = 18 and dense K = 36 in blocks of
  // 8), with sense-amp offsets and read noise, ADC noise and output noise on.
  Stream s(76, "test.hwa.tile.threads");
  const Matrix x = test::normal(6, 72, s), xcal = test::normal(16, 72, s);
  const VectorI y = labels(6, 5);
  for (const char* readout : {"adc", "sense_amp"}) {
    CAPTURE(readout);
    auto run = [&](int threads) {
      test::Threads t(threads);
      Network net = small_cnn();
      AnalogConfig hw;
      hw.mapping.readout = readout;
      hw.mapping.tile_rows = 8;
      hw.adc.bits = 4;
      hw.adc.sigma_adc_lsb = 0.3;
      hw.sense_amp.sigma_sa = 0.05;
      hw.sense_amp.sigma_read_sa = 0.05;
      HwaParams p;
      p.io = "quantized";
      p.partial_sums = "tile";
      p.sigma_out = 0.02;
      HwaTraining hwa(net, p, hw, matmul_layers(net), 8);
      hwa.calibrate(xcal);
      hwa.begin_step(2);
      net.zero_grad();
      std::vector<Matrix> out{net.forward(x, Mode::train)};
      Matrix dl;
      softmax_cross_entropy(out[0], y, &dl);
      net.backward(dl);
      for (auto* q : net.parameters()) out.push_back(q->grad);
      return out;
    };
    const auto one = run(1), two = run(2);
    REQUIRE(one.size() == two.size());
    for (std::size_t i = 0; i < one.size(); ++i) CHECK(one[i] == two[i]);
  }
}
