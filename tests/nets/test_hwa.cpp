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
