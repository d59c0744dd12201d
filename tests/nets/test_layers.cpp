// Layer forward passes against references, pooling and loss against hand-computed values, thread-count
// invariance, initialization statistics and the layer factory.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "core/random.hpp"
#include "nets/activation.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"
#include "nets/layer.hpp"
#include "nets/pool.hpp"
#include "tests/common/layer_helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using namespace aimc::test;

namespace {

/// Straightforward convolution in double over (b, oh, ow, co, kh, kw, ci); also returns, per output,
/// the sum of |products| + |bias| for the rounding bound.
void naive_conv(const Matrix& x, Shape in, const Matrix& w, const Matrix& bias, int k, int stride, int pad, Shape out,
                MatrixD& y, MatrixD& mag) {
  y.setZero(x.rows(), out.size());
  mag.setZero(x.rows(), out.size());
  for (long b = 0; b < x.rows(); ++b)
    for (int oh = 0; oh < out.h; ++oh)
      for (int ow = 0; ow < out.w; ++ow)
        for (int co = 0; co < out.c; ++co) {
          double acc = bias(0, co), a = std::abs(bias(0, co));
          for (int kh = 0; kh < k; ++kh)
            for (int kw = 0; kw < k; ++kw)
              for (int ci = 0; ci < in.c; ++ci) {
                const int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
                const double p = double(x(b, (ih * in.w + iw) * in.c + ci)) * w((kh * k + kw) * in.c + ci, co);
                acc += p;
                a += std::abs(p);
              }
          y(b, (oh * out.w + ow) * out.c + co) = acc;
          mag(b, (oh * out.w + ow) * out.c + co) = a;
        }
}


}  // namespace

TEST_CASE("conv2d: forward matches a naive convolution within the float rounding bound") {
  Stream s(11, "conv-forward");
  struct Case {
    Shape in;
    int out_c, kernel, stride, pad, batch;
  };
  const Case cases[] = {{{3, 8, 7}, 5, 3, 1, 1, 19}, {{2, 9, 9}, 4, 3, 2, 0, 3},  {{4, 6, 5}, 3, 2, 2, 1, 2},
                        {{1, 28, 28}, 8, 3, 1, 1, 2}, {{5, 5, 5}, 2, 5, 1, 2, 2}, {{6, 4, 4}, 7, 1, 1, 0, 17}};
  for (const auto& c : cases) {
    CAPTURE(c.in.str());
    CAPTURE(c.kernel);
    CAPTURE(c.stride);
    CAPTURE(c.pad);
    Conv2d conv(c.in, c.out_c, c.kernel, c.stride, c.pad);
    Stream init = s.child("init");
    conv.init(init);
    s.fill_normal(conv.parameters()[1]->value, 0.f, 0.5f);  // non-zero bias
    Matrix x = normal(c.batch, c.in.size(), s), y;
    conv.forward(x, y, Mode::eval);
    const Shape out = conv.output_shape();
    CHECK(out.h == (c.in.h + 2 * c.pad - c.kernel) / c.stride + 1);
    CHECK(out.w == (c.in.w + 2 * c.pad - c.kernel) / c.stride + 1);
    REQUIRE(y.rows() == c.batch);
    REQUIRE(y.cols() == out.size());
    MatrixD ref, mag;
    naive_conv(x, c.in, conv.weight(), conv.bias(), c.kernel, c.stride, c.pad, out, ref, mag);
    // A float dot product of K terms plus the bias: |error| <= gamma_{K+1} * sum|terms|.
    const double g = gamma_n(conv.patch_size() + 1);
    long bad = 0;
    for (Eigen::Index i = 0; i < y.size(); ++i)
      if (std::abs(double(y.data()[i]) - ref.data()[i]) > g * mag.data()[i]) ++bad;
    CHECK(bad == 0);
    // The reference is not trivially satisfied: outputs are of order 1, the bound ~1e-6.
    CHECK(ref.cwiseAbs().maxCoeff() > 0.5);

    // The MatmulLayer contract: raise(lower(x) * weight()) is the same layer output.
    Matrix scratch, y2;
    const Matrix& rows = conv.lower(x, scratch);
    CHECK(rows.rows() == c.batch * conv.positions());
    CHECK(rows.cols() == conv.patch_size());
    Matrix products = rows * conv.weight();
    conv.raise(products, y2);
    bad = 0;
    for (Eigen::Index i = 0; i < y.size(); ++i)
      if (std::abs(double(y2.data()[i]) - ref.data()[i]) > g * mag.data()[i]) ++bad;
    CHECK(bad == 0);
  }
}

TEST_CASE("conv2d: im2col patch rows hold the (kh, kw, c) taps, zeros in the padding") {
  Stream s(12, "im2col");
  const Shape in{2, 3, 4};
  Conv2d conv(in, 1, 3, 2, 1);  // output 2 x 2
  Matrix x = normal(2, in.size(), s), scratch;
  const Matrix& p = conv.lower(x, scratch);
  REQUIRE(p.rows() == 2 * 4);
  REQUIRE(p.cols() == 18);
  long bad = 0;
  for (int b = 0; b < 2; ++b)
    for (int oh = 0; oh < 2; ++oh)
      for (int ow = 0; ow < 2; ++ow)
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw)
            for (int c = 0; c < 2; ++c) {
              const int ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
              const bool inside = ih >= 0 && ih < in.h && iw >= 0 && iw < in.w;
              const float want = inside ? x(b, (ih * in.w + iw) * in.c + c) : 0.f;
              if (p(b * 4 + oh * 2 + ow, (kh * 3 + kw) * 2 + c) != want) ++bad;
            }
  CHECK(bad == 0);
}

TEST_CASE("dense: forward is x * W + b and lower() is the identity") {
  Stream s(13, "dense");
  Dense d(6, 4);
  d.init(s);
  s.fill_normal(d.parameters()[1]->value);
  Matrix x = normal(21, 6, s), y;
  d.forward(x, y, Mode::eval);
  long bad = 0;
  for (int b = 0; b < 21; ++b)
    for (int j = 0; j < 4; ++j) {
      double ref = d.bias()(0, j), mag = std::abs(ref);
      for (int i = 0; i < 6; ++i) {
        ref += double(x(b, i)) * d.weight()(i, j);
        mag += std::abs(double(x(b, i)) * d.weight()(i, j));
      }
      if (std::abs(y(b, j) - ref) > gamma_n(7) * mag) ++bad;
    }
  CHECK(bad == 0);
  Matrix scratch;
  CHECK(&d.lower(x, scratch) == &x);
  CHECK(d.positions() == 1);
  CHECK(d.macs() == 24);
}

TEST_CASE("maxpool2d: hand-computed forward and backward") {
  SUBCASE("2x2 stride 2, two interleaved channels") {
    // Channel 0 (4x4):       channel 1 = -channel 0:
    //   1  2  5  3            max of -x is -min
    //   4  0  1  8
    //   9  7 -1 -2
    //   6  3 -3  0
    const float c0[16] = {1, 2, 5, 3, 4, 0, 1, 8, 9, 7, -1, -2, 6, 3, -3, 0};
    Matrix x(1, 32);
    for (int i = 0; i < 16; ++i) x(0, 2 * i) = c0[i], x(0, 2 * i + 1) = -c0[i];
    MaxPool2d pool({2, 4, 4}, 2, 2);
    CHECK(pool.output_shape() == Shape{2, 2, 2});
    Matrix y, dx;
    pool.forward(x, y, Mode::train);
    const float want[8] = {4, 0, 8, -1, 9, -3, 0, 3};  // (h, w, c) order
    for (int i = 0; i < 8; ++i) CHECK(y(0, i) == want[i]);
    Matrix dy(1, 8);
    dy << 1, 2, 3, 4, 5, 6, 7, 8;
    pool.backward(dy, dx);
    // Windows of channel 0: max 4 at cell 4, 8 at cell 7, 9 at cell 8, 0 at cell 15; channel 1 picks
    // the minima of channel 0: 0 at cell 5, 1 at cell 6, 3 at cell 13, -3 at cell 14.
    // Feature index = 2 * cell + channel.
    Matrix expect = Matrix::Zero(1, 32);
    expect(0, 2 * 4) = 1;
    expect(0, 2 * 5 + 1) = 2;
    expect(0, 2 * 7) = 3;
    expect(0, 2 * 6 + 1) = 4;
    expect(0, 2 * 8) = 5;
    expect(0, 2 * 13 + 1) = 6;
    expect(0, 2 * 15) = 7;
    expect(0, 2 * 14 + 1) = 8;
    CHECK(dx == expect);
  }
  SUBCASE("3x3 stride 1: overlapping windows accumulate the gradient of a shared maximum") {
    // 1 channel 4x4 with its maximum 10 in the middle block: all four windows pick it.
    Matrix x(1, 16);
    x << 1, 2, 3, 4, 5, 10, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5;
    MaxPool2d pool({1, 4, 4}, 3, 1);
    Matrix y, dx, dy(1, 4);
    pool.forward(x, y, Mode::train);
    CHECK(y == Matrix::Constant(1, 4, 10.f));
    dy << 1, 2, 3, 4;
    pool.backward(dy, dx);
    Matrix expect = Matrix::Zero(1, 16);
    expect(0, 5) = 10;
    CHECK(dx == expect);
  }
  SUBCASE("ties go to the first maximum in window order") {
    Matrix x(1, 4), y, dx, dy(1, 1);
    x << 2, 3, 3, 1;
    MaxPool2d pool({1, 2, 2}, 2, 2);
    pool.forward(x, y, Mode::train);
    dy << 1;
    pool.backward(dy, dx);
    Matrix expect(1, 4);
    expect << 0, 1, 0, 0;
    CHECK(dx == expect);
  }
}

TEST_CASE("avgpool2d: hand-computed forward and backward") {
  SUBCASE("2x2 stride 2 on 1..16") {
    Matrix x(1, 16), y, dx, dy(1, 4);
    for (int i = 0; i < 16; ++i) x(0, i) = float(i + 1);
    AvgPool2d pool({1, 4, 4}, 2, 2);
    pool.forward(x, y, Mode::train);
    Matrix want(1, 4);
    want << 3.5f, 5.5f, 11.5f, 13.5f;
    CHECK(y == want);
    dy << 4, 8, 12, 16;
    pool.backward(dy, dx);
    Matrix expect(1, 16);
    expect << 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4;
    CHECK(dx == expect);
  }
  SUBCASE("2x2 stride 1 on 3x3: each input gets 1/4 per covering window") {
    Matrix x(1, 9), y, dx;
    for (int i = 0; i < 9; ++i) x(0, i) = float(i + 1);
    AvgPool2d pool({1, 3, 3}, 2, 1);
    pool.forward(x, y, Mode::train);
    Matrix want(1, 4);
    want << 3, 4, 6, 7;
    CHECK(y == want);
    pool.backward(Matrix::Constant(1, 4, 4.f), dx);
    Matrix expect(1, 9);
    expect << 1, 2, 1, 2, 4, 2, 1, 2, 1;
    CHECK(dx == expect);
  }
}

TEST_CASE("relu and flatten: forward and backward") {
  ReLU relu({3, 1, 1});
  Matrix x(1, 3), y, dx, dy(1, 3);
  x << -1, 0, 2;
  relu.forward(x, y, Mode::train);
  Matrix want(1, 3);
  want << 0, 0, 2;
  CHECK(y == want);
  dy << 5, 6, 7;
  relu.backward(dy, dx);
  want << 0, 0, 7;  // derivative 0 at x = 0
  CHECK(dx == want);

  Flatten flat({2, 3, 4});
  CHECK(flat.output_shape() == Shape{24, 1, 1});
  Stream s(14, "flatten");
  Matrix xf = normal(3, 24, s), yf, dxf;
  flat.forward(xf, yf, Mode::train);
  CHECK(yf == xf);
  flat.backward(xf, dxf);
  CHECK(dxf == xf);
}

TEST_CASE("softmax_cross_entropy: hand-computed value and gradient") {
  Matrix z(2, 3);
  z << 1, 2, 3, 0, 0, 0;
  VectorI labels(2);
  labels << 2, 0;
  Matrix d;
  // Row 0: log(e + e^2 + e^3) - 3 = 0.40760596444438; row 1: log 3 = 1.09861228866811.
  const double loss = softmax_cross_entropy(z, labels, &d);
  CHECK(loss == doctest::Approx(0.753109126556245).epsilon(1e-14));
  Matrix want(2, 3);
  want << 0.09003057317038046 / 2, 0.24472847105479767 / 2, (0.6652409557748219 - 1) / 2,  //
      (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6;
  for (int i = 0; i < 6; ++i) CHECK(d.data()[i] == doctest::Approx(want.data()[i]).epsilon(1e-6));
  CHECK(softmax_cross_entropy(z, labels) == loss);
}

TEST_CASE("softmax_cross_entropy: large logits do not overflow") {
  Matrix z(2, 3);
  z << 1000, 0, -1000, 3e38f, -3e38f, 0;
  VectorI labels(2);
  labels << 1, 1;
  Matrix d;
  const double loss = softmax_cross_entropy(z, labels, &d);
  // Row 0: 1000 - 0; row 1: 3e38 - (-3e38) (the float logits, exactly, in double).
  CHECK(std::isfinite(loss));
  CHECK(loss == doctest::Approx((1000.0 + 2.0 * double(3e38f)) / 2).epsilon(1e-12));
  CHECK(d.allFinite());
  Matrix want(2, 3);
  want << 0.5f, -0.5f, 0, 0.5f, -0.5f, 0;
  CHECK(d == want);
  labels << 0, 0;
  CHECK(softmax_cross_entropy(z, labels) == 0.0);
}

TEST_CASE("count_correct: arg-max per row, first maximum on ties") {
  Matrix z(4, 3);
  z << 0, 1, 2,  //
      5, 5, 0,   //
      -1, -3, -2,  //
      0, 0, 0;
  VectorI labels(4);
  labels << 2, 1, 0, 0;
  CHECK(count_correct(z, labels) == 3);  // row 1 ties 5 = 5 and picks class 0
}

TEST_CASE("loss: bad labels are errors") {
  Matrix z = Matrix::Zero(2, 3);
  VectorI labels(2);
  labels << 0, 3;
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(z, labels), "softmax_cross_entropy: label 3 of sample 1 is outside [0, 3)",
                       Error);
  CHECK_THROWS_AS(count_correct(z, labels), Error);
  labels << -1, 0;
  CHECK_THROWS_AS(softmax_cross_entropy(z, labels), Error);
  VectorI short_labels(1);
  short_labels << 0;
  CHECK_THROWS_WITH_AS(count_correct(z, short_labels), "count_correct: 1 labels for 2 rows of logits", Error);
}

TEST_CASE("layers: results are bit-identical with 1 and 2 OpenMP threads") {
  {
    Threads two(2);
    int team = 0;
#pragma omp parallel
#pragma omp single
    team = omp_get_num_threads();
    CHECK(team == 2);  // the comparison below really runs a second thread
  }
  Stream s(15, "threads");
  // 7 chunks, the last one partial, so the two threads' chunks overlap in time. Every layer does enough
  // work per batch (> 2^18 multiply-adds or window elements, detail::kParallelWork) to take its
  // parallel path.
  const long batch = 100;
  std::vector<std::unique_ptr<Layer>> layers;
  layers.push_back(std::make_unique<Conv2d>(Shape{3, 12, 12}, 8, 3, 1, 1));
  layers.push_back(std::make_unique<Conv2d>(Shape{8, 15, 15}, 6, 3, 2, 0));
  layers.push_back(std::make_unique<Dense>(300, 20));  // 3 blocks of weight-gradient rows
  layers.push_back(std::make_unique<MaxPool2d>(Shape{16, 24, 24}, 2, 2));
  layers.push_back(std::make_unique<AvgPool2d>(Shape{16, 24, 24}, 3, 2));
  layers.push_back(std::make_unique<ReLU>(Shape{64, 16, 16}));
  for (auto& layer : layers) {
    CAPTURE(layer->spec().kind);
    Stream init = s.child("init");
    layer->init(init);
    Matrix x = normal(batch, layer->input_shape().size(), s);
    Matrix dy = normal(batch, layer->output_shape().size(), s);
    auto run = [&](int threads, Matrix& y, Matrix& dx, std::vector<Matrix>& grads) {
      Threads t(threads);
      for (auto* p : layer->parameters()) p->grad.setZero();
      layer->forward(x, y, Mode::train);
      layer->backward(dy, dx);
      grads.clear();
      for (auto* p : layer->parameters()) grads.push_back(p->grad);
    };
    Matrix y1, dx1;
    std::vector<Matrix> g1;
    run(1, y1, dx1, g1);
    for (auto& g : g1) CHECK(g.norm() > 0);
    for (int repeat = 0; repeat < 3; ++repeat) {  // scheduling differs from run to run
      Matrix y2, dx2;
      std::vector<Matrix> g2;
      run(2, y2, dx2, g2);
      CHECK(y1 == y2);
      CHECK(dx1 == dx2);
      REQUIRE(g1.size() == g2.size());
      for (std::size_t i = 0; i < g1.size(); ++i) CHECK(g1[i] == g2[i]);
    }
  }
}

TEST_CASE("init: He uniform weights, zero biases, determined by the stream") {
  // U(-a, a) with a = sqrt(6 / fan_in): mean 0 with standard error a / sqrt(3 n); mean square a^2/3 with
  // standard error sqrt((a^4/5 - a^4/9) / n). Both are checked within 5 standard errors (a false
  // failure has probability < 1e-6).
  auto check_init = [](MatmulLayer& layer, int fan_in) {
    Stream s(16, "init");
    layer.init(s);
    const Matrix& w = layer.weight();
    const double a = std::sqrt(6.0 / fan_in), n = double(w.size());
    CHECK(w.cwiseAbs().maxCoeff() <= a);
    const double mean = w.cast<double>().mean(), ms = w.cast<double>().array().square().mean();
    CHECK(std::abs(mean) <= 5 * a / std::sqrt(3 * n));
    CHECK(std::abs(ms - a * a / 3) <= 5 * std::sqrt((std::pow(a, 4) / 5 - std::pow(a, 4) / 9) / n));
    CHECK(layer.bias().isZero(0));
    const Matrix first = w;
    Stream same(16, "init"), other(17, "init");
    layer.init(same);
    CHECK(layer.weight() == first);
    layer.init(other);
    CHECK(layer.weight() != first);
  };
  Conv2d conv({16, 5, 5}, 32, 3, 1, 1);
  check_init(conv, 144);
  Dense dense(200, 30);
  check_init(dense, 200);
}

TEST_CASE("layers: the small CNN chains shapes, counts MACs and runs a batch") {
  std::vector<std::unique_ptr<Layer>> net;
  net.push_back(std::make_unique<Conv2d>(Shape{1, 28, 28}, 32, 3, 1, 1));
  net.push_back(std::make_unique<ReLU>(Shape{32, 28, 28}));
  net.push_back(std::make_unique<MaxPool2d>(Shape{32, 28, 28}, 2, 2));
  net.push_back(std::make_unique<Conv2d>(Shape{32, 14, 14}, 64, 3, 1, 1));
  net.push_back(std::make_unique<ReLU>(Shape{64, 14, 14}));
  net.push_back(std::make_unique<MaxPool2d>(Shape{64, 14, 14}, 2, 2));
  net.push_back(std::make_unique<Flatten>(Shape{64, 7, 7}));
  net.push_back(std::make_unique<Dense>(3136, 128));
  net.push_back(std::make_unique<ReLU>(Shape{128, 1, 1}));
  net.push_back(std::make_unique<Dense>(128, 10));
  for (std::size_t i = 1; i < net.size(); ++i) CHECK(net[i]->input_shape() == net[i - 1]->output_shape());
  CHECK(net[0]->macs() == 28LL * 28 * 9 * 32);
  CHECK(net[3]->macs() == 14LL * 14 * 288 * 64);
  CHECK(net[7]->macs() == 3136LL * 128);
  CHECK(net[2]->macs() == 0);
  Stream s(18, "cnn");
  for (std::size_t i = 0; i < net.size(); ++i) {
    Stream init = s.child("init", {i});
    net[i]->init(init);
  }
  Matrix a(5, 784), b;
  s.fill_uniform(a);
  for (auto& l : net) {
    l->forward(a, b, Mode::train);
    std::swap(a, b);
  }
  CHECK(a.rows() == 5);
  CHECK(a.cols() == 10);
  CHECK(a.allFinite());
  VectorI labels = VectorI::Zero(5);
  Matrix g, dx;
  softmax_cross_entropy(a, labels, &g);
  for (auto it = net.rbegin(); it != net.rend(); ++it) {
    (*it)->backward(g, dx);
    std::swap(g, dx);
  }
  CHECK(g.rows() == 5);
  CHECK(g.cols() == 784);
  CHECK(g.allFinite());
}

TEST_CASE("make_layer: spec round trip for every kind") {
  std::vector<std::unique_ptr<Layer>> layers;
  layers.push_back(std::make_unique<Dense>(7, 3));
  layers.push_back(std::make_unique<Conv2d>(Shape{3, 9, 8}, 4, 3, 2, 1));
  layers.push_back(std::make_unique<MaxPool2d>(Shape{3, 9, 8}, 3, 2));
  layers.push_back(std::make_unique<AvgPool2d>(Shape{2, 6, 6}, 2, 2));
  layers.push_back(std::make_unique<ReLU>(Shape{4, 2, 3}));
  layers.push_back(std::make_unique<Flatten>(Shape{4, 2, 3}));
  for (auto& layer : layers) {
    const LayerSpec spec = layer->spec();
    CAPTURE(spec.kind);
    auto copy = make_layer(spec);
    const LayerSpec again = copy->spec();
    CHECK(again.kind == spec.kind);
    CHECK(again.args == spec.args);
    CHECK(copy->input_shape() == layer->input_shape());
    CHECK(copy->output_shape() == layer->output_shape());
    CHECK(copy->parameters().size() == layer->parameters().size());
    for (const auto& [key, value] : spec.args) CHECK(AttrValue(spec.get(key)) == value);
  }
  auto conv = make_layer({"conv2d", {{"in_c", 1}, {"in_h", 28}, {"in_w", 28}, {"out_c", 32}, {"kernel", 3},
                                     {"stride", 1}, {"pad", 1}}});
  auto* c = dynamic_cast<Conv2d*>(conv.get());
  REQUIRE(c != nullptr);
  CHECK(c->output_shape() == Shape{32, 28, 28});
  CHECK(c->weight().rows() == 9);
  CHECK(c->weight().cols() == 32);
  CHECK(c->bias().cols() == 32);
  CHECK(c->parameters()[1]->decay == false);
  CHECK(c->parameters()[0]->decay == true);
}

TEST_CASE("make_layer: unknown kinds and bad arguments are one-line errors") {
  CHECK(error_of({"conv3d", {}}) ==
        "unknown layer kind 'conv3d' (expected one of dense, conv2d, maxpool2d, avgpool2d, relu, flatten, add, concat, "
        "batchnorm, globalavgpool, clip, normalize, compensation, denoise, basis_product, basis_combine, snn_encode, lif, "
              "snn_readout)");
  CHECK(error_of({"dense", {{"in", 3}}}) == "layer 'dense': missing argument 'out'");
  CHECK(error_of({"relu", {{"c", 1}, {"h", 2}, {"w", 2}, {"x", 2}}}) ==
        "layer 'relu': unexpected argument 'x' (expected c, h, w)");
  CHECK(error_of({"dense", {{"in", 3}, {"out", 2}, {"in", 4}}}) == "layer 'dense': argument 'in' given twice");
  CHECK(error_of({"dense", {{"in", 3}, {"out", 1LL << 40}}}) ==
        "layer 'dense': argument 'out' = 1099511627776 does not fit an int");
  CHECK(error_of({"conv2d", {{"in_c", 1}, {"in_h", 8}, {"in_w", 8}, {"out_c", 2}, {"kernel", 3}, {"stride", 0},
                             {"pad", 0}}}) == "conv2d: argument 'stride' = 0: expected an integer in [1, 32768]");
  CHECK(error_of({"conv2d", {{"in_c", 1}, {"in_h", 2}, {"in_w", 8}, {"out_c", 2}, {"kernel", 5}, {"stride", 1},
                             {"pad", 1}}}) == "conv2d: kernel 5 does not fit input (1,2,8) with pad 1");
  CHECK(error_of({"maxpool2d", {{"in_c", 0}, {"in_h", 4}, {"in_w", 4}, {"kernel", 2}, {"stride", 2}}}) ==
        "maxpool2d: argument 'in_c' = 0: expected an integer in [1, 1073741824]");
  CHECK(error_of({"avgpool2d", {{"in_c", 1}, {"in_h", 4}, {"in_w", 4}, {"kernel", 5}, {"stride", 1}}}) ==
        "avgpool2d: kernel 5 does not fit input (1,4,4)");
  CHECK(error_of({"flatten", {{"c", 1}, {"h", -1}, {"w", 4}}}) ==
        "flatten: argument 'h' = -1: expected an integer in [1, 1073741824]");
  LayerSpec spec{"pool", {{"kernel", 2}}};
  CHECK_THROWS_WITH_AS(spec.get("stride"), "layer 'pool': missing argument 'stride'", Error);
}

TEST_CASE("layers: wrong batch widths and backward without a train forward are errors") {
  Conv2d conv({2, 4, 4}, 3, 3);
  Matrix x = Matrix::Zero(2, 31), y, dx;
  CHECK_THROWS_WITH_AS(conv.forward(x, y, Mode::eval), "conv2d: x has 31 features per sample, expected 32", Error);
  x = Matrix::Zero(2, 32);
  conv.forward(x, y, Mode::eval);
  CHECK_THROWS_WITH_AS(conv.backward(y, dx), "conv2d: backward() called without a preceding forward() in Mode::train",
                       Error);
  conv.forward(x, y, Mode::train);
  CHECK_THROWS_AS(conv.backward(Matrix::Zero(3, y.cols()), dx), Error);
  CHECK_THROWS_AS(conv.backward(Matrix::Zero(2, y.cols() + 1), dx), Error);
  Matrix products = Matrix::Zero(5, 3);
  CHECK_THROWS_WITH_AS(conv.raise(products, y), "conv2d: products have 5 rows, not a multiple of 4 output positions",
                       Error);
  Dense dense(4, 2);
  CHECK_THROWS_AS(dense.forward(Matrix::Zero(1, 5), y, Mode::train), Error);
  MaxPool2d pool({1, 4, 4}, 2, 2);
  CHECK_THROWS_AS(pool.backward(Matrix::Zero(1, 4), dx), Error);
  ReLU relu({2, 1, 1});
  CHECK_THROWS_AS(relu.forward(Matrix::Zero(1, 3), y, Mode::train), Error);
}
