// CorrectNet's Lipschitz-constant regularizer (nets/lipschitz.hpp): the penalty against a naive
// double computation of both Gram forms, the gradient against central finite differences, the target
// against the lognormal moments by numerical integration, beta = 0 leaves training bit for bit
// unchanged, beta > 0 lowers the penalty a training run ends with, grouped convolutions, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "tests/common/layer_helpers.hpp"
#include "core/random.hpp"
#include "data/synthetic.hpp"
#include "nets/conv2d.hpp"
#include "nets/hwa.hpp"
#include "nets/lipschitz.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {

/// ||A - l^2 I||_F^2 of the Gram A = W^T W (cols_side) or W W^T, by explicit loops in double.
double naive_gram_penalty(const Matrix& W, double lambda, bool cols_side) {
  const long K = W.rows(), N = W.cols(), n = cols_side ? N : K, inner = cols_side ? K : N;
  double s = 0;
  for (long a = 0; a < n; ++a)
    for (long b = 0; b < n; ++b) {
      double g = 0;
      for (long r = 0; r < inner; ++r)
        g += cols_side ? double(W(r, a)) * double(W(r, b)) : double(W(a, r)) * double(W(b, r));
      if (a == b) g -= lambda * lambda;
      s += g * g;
    }
  return s;
}

/// A rows x cols matrix of multiples of 2^-10 in [-1, 1]: exact in float, and w +- 2^-10 too.
Matrix dyadic(long rows, long cols, Stream& s) {
  Matrix m(rows, cols);
  for (long i = 0; i < m.size(); ++i) m.data()[i] = float((long(s.below(2049)) - 1024) / 1024.0);
  return m;
}

Network blob_mlp() {
  Network net(Shape{6, 1, 1});
  net.add(make_layer({"dense", {{"in", 6}, {"out", 16}}}));
  net.add(make_layer({"relu", {{"c", 16}, {"h", 1}, {"w", 1}}}));
  net.add(make_layer({"dense", {{"in", 16}, {"out", 3}}}));
  Stream init(2, "test.lipschitz.init");
  net.init(init);
  return net;
}

data::Dataset blobs() {
  data::BlobsParams bp;
  bp.samples = 300;
  bp.features = 6;
  bp.classes = 3;
  Stream s(9, "test.lipschitz.blobs");
  return data::make_blobs(bp, s);
}

/// Sum over the network's Dense/Conv2d weights of ||G - lambda^2 I||_F^2 (beta = 1).
double total_penalty(Network& net, double lambda) {
  double s = 0;
  for (std::size_t i : matmul_layers(net))
    s += lipschitz_penalty(dynamic_cast<MatmulLayer&>(net.layer(i)).weight(), lambda, 1.0, nullptr);
  return s;
}

}  // namespace

TEST_CASE("lipschitz: penalty is the smaller-Gram value, the larger Gram adds |K - N| lambda^4") {
  // Both sides are sums of at most max(K, N)^2 squares of double dot products of exact float inputs
  // (converted exactly): their relative rounding error is below gamma_{64} ~ 1e-14, so 1e-12 is a
  // bound, not a fit.
  Stream s(1, "test.lipschitz.penalty");
  const double lambda = 0.8, beta = 0.3;
  for (auto [K, N] : {std::pair{7L, 3L}, std::pair{3L, 7L}, std::pair{5L, 5L}, std::pair{1L, 4L}}) {
    CAPTURE(K);
    CAPTURE(N);
    const Matrix W = test::normal(K, N, s, 0.5f);
    const double small = naive_gram_penalty(W, lambda, N <= K);
    const double big = naive_gram_penalty(W, lambda, N > K);
    const double got = lipschitz_penalty(W, lambda, beta, nullptr);
    CHECK(std::abs(got - beta * small) <= 1e-12 * beta * small);
    const double gap = double(std::labs(K - N)) * std::pow(lambda, 4);
    CHECK(std::abs((big - small) - gap) <= 1e-12 * big);
    CHECK(got <= beta * big);
  }
  // Zero exactly at lambda times orthonormal columns: W = lambda [I; 0].
  Matrix Q = Matrix::Zero(4, 2);
  Q(0, 0) = Q(1, 1) = 0.5f;
  CHECK(lipschitz_penalty(Q, 0.5, 1.0, nullptr) == 0.0);
  CHECK(lipschitz_penalty(Matrix(Q.transpose()), 0.5, 1.0, nullptr) == 0.0);
}

TEST_CASE("lipschitz: gradient equals central finite differences of the penalty") {
  // W has entries k / 1024 and the step is h = 2^-10, so W +- h is exact in float and the penalty is
  // evaluated at exactly the intended points. Along one weight w the penalty is a quartic in the step
  // t whose t^3 coefficient is 4 beta w (from (G_jj - l^2 + 2 w t + t^2)^2, the only entry of G
  // quadratic in t), so the central difference is exactly f' + f''' h^2 / 6 = f' + 4 beta w h^2 (the
  // fifth derivative is 0). Tolerance: that truncation, plus double rounding of the two penalties
  // (4 eps |f| / h), plus the float rounding of the gradient (the float result and its addition to
  // the grad's initial value: 2^-24 |g| + 2^-24 |g0 + g|).
  Stream s(2, "test.lipschitz.grad");
  const double lambda = 0.7, beta = 0.25, h = 1.0 / 1024;
  const double eps = std::numeric_limits<double>::epsilon(), u = 1.0 / (1 << 24);
  for (auto [K, N] : {std::pair{6L, 4L}, std::pair{4L, 6L}, std::pair{5L, 5L}}) {
    CAPTURE(K);
    CAPTURE(N);
    const Matrix W = dyadic(K, N, s);
    const Matrix g0 = test::normal(K, N, s);  // the gradient is added to what is there
    Matrix grad = g0;
    const double f = lipschitz_penalty(W, lambda, beta, &grad);
    for (long r = 0; r < K; ++r)
      for (long c = 0; c < N; ++c) {
        Matrix wp = W, wm = W;
        wp(r, c) += float(h);
        wm(r, c) -= float(h);
        REQUIRE(double(wp(r, c)) - double(W(r, c)) == h);
        REQUIRE(double(W(r, c)) - double(wm(r, c)) == h);
        const double fd =
            (lipschitz_penalty(wp, lambda, beta, nullptr) - lipschitz_penalty(wm, lambda, beta, nullptr)) / (2 * h);
        const double g = double(grad(r, c)) - double(g0(r, c));
        const double tol = 4 * beta * std::abs(W(r, c)) * h * h + 4 * eps * f / h + u * std::abs(g) +
                           u * std::abs(double(grad(r, c)));
        CAPTURE(r);
        CAPTURE(c);
        CHECK(std::abs(fd - g) <= tol);
      }
  }
}

TEST_CASE("lipschitz: target is 1 / (E[e^theta] + 3 SD[e^theta]) by numerical integration of the lognormal") {
  // E[e^(k theta)], theta ~ N(0, s^2), by composite Simpson on [-12 s, 2 s^2 + 12 s] (12 sd beyond
  // the peaks at k s^2, k = 1, 2: the cut tails weigh < 1e-30). With 20,000 intervals, h / s <= 0.0014
  // and Simpson's error h^4 (b - a) max|f''''| / 180 is < 1e-12 of each moment; the variance m2 - m1^2
  // loses at most 1 / (e^(s^2) - 1) < 400 of that relative accuracy at s = 0.05: 1e-9 is a bound.
  auto moment = [](double sd, int k) {
    const double a = -12 * sd, b = 2 * sd * sd + 12 * sd;
    const int n = 20000;
    const double h = (b - a) / n;
    auto f = [&](double t) { return std::exp(k * t - 0.5 * t * t / (sd * sd)) / (sd * std::sqrt(2 * M_PI)); };
    double s = f(a) + f(b);
    for (int i = 1; i < n; ++i) s += (i % 2 ? 4 : 2) * f(a + i * h);
    return s * h / 3;
  };
  double prev = 1.0;
  for (double sd : {0.05, 0.1, 0.2, 0.5, 1.0}) {
    CAPTURE(sd);
    const double m1 = moment(sd, 1), m2 = moment(sd, 2);
    const double expect = 1.0 / (m1 + 3 * std::sqrt(m2 - m1 * m1));
    const double got = lipschitz_target(sd);
    CHECK(std::abs(got - expect) <= 1e-9 * expect);
    // the issue text's closed form, as written there
    const double closed = 1.0 / (std::exp(sd * sd / 2) + 3 * std::sqrt((std::exp(sd * sd) - 1) * std::exp(sd * sd)));
    CHECK(std::abs(got - closed) <= 1e-12 * closed);
    CHECK(got < prev);
    prev = got;
  }
  CHECK(lipschitz_target(0.0) == 1.0);
  // small sigma: 1 - 3 sigma + O(sigma^2) (the O(sigma^2) term is 9 sigma^2 - sigma^2 / 2 = 8.5 sigma^2)
  CHECK(std::abs(lipschitz_target(1e-6) - (1 - 3e-6)) <= 1e-11);
  // the regularizer's target: from sigma, or the given lambda
  LipschitzParams p;
  p.sigma = 0.2;
  CHECK(LipschitzRegularizer(p, {}).lambda() == lipschitz_target(0.2));
  p.lambda = 0.9;
  CHECK(LipschitzRegularizer(p, {}).lambda() == 0.9);
  CHECK(LipschitzRegularizer(p, {}).name() == "lipschitz");
}

TEST_CASE("lipschitz: beta = 0 leaves gradients and training bit for bit unchanged") {
  const auto d = blobs();
  LipschitzParams p;
  p.sigma = 0.1;
  TrainParams tp;
  tp.epochs = 2;
  tp.batch_size = 30;
  Network a = blob_mlp(), b = blob_mlp();
  LipschitzRegularizer off(p, matmul_layers(b));
  // apply() alone: returns 0, gradients untouched
  Stream s(3, "test.lipschitz.grads");
  for (auto* q : b.parameters()) s.fill_normal(q->grad);
  std::vector<Matrix> before;
  for (auto* q : b.parameters()) before.push_back(q->grad);
  CHECK(off.apply(b) == 0.0);
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(b.parameters()[i]->grad == before[i]);
  // training
  const auto la = train(a, d, nullptr, tp, {}, false);
  const auto lb = train(b, d, nullptr, tp, {&off}, false);
  const auto pa = a.parameters(), pb = b.parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i]->value == pb[i]->value);
  REQUIRE(la.size() == lb.size());
  for (std::size_t e = 0; e < la.size(); ++e) CHECK(la[e].loss == lb[e].loss);
}

TEST_CASE("lipschitz: training with beta > 0 ends with a smaller penalty than without, and still learns") {
  const auto d = blobs();
  LipschitzParams p;
  p.beta = 1e-2;
  p.sigma = 0.1;
  TrainParams tp;
  tp.epochs = 10;
  tp.batch_size = 30;
  tp.optimizer.lr = 1e-2;
  Network plain = blob_mlp(), reg = blob_mlp();
  LipschitzRegularizer lip(p, matmul_layers(reg));
  const double start = total_penalty(reg, lip.lambda());
  train(plain, d, nullptr, tp, {}, false);
  const auto log = train(reg, d, nullptr, tp, {&lip}, false);
  const double r_plain = total_penalty(plain, lip.lambda()), r_reg = total_penalty(reg, lip.lambda());
  INFO("penalty (beta = 1) at init " << start << ", trained without " << r_plain << ", with " << r_reg);
  INFO("accuracy without " << evaluate(plain, d).accuracy << ", with " << evaluate(reg, d).accuracy);
  CHECK(r_reg < 0.5 * r_plain);
  CHECK(r_reg < start);
  // both fit the blobs they were trained on (closest centres 4 sd apart: Bayes accuracy > 93%, see
  // test_training.cpp; 300 samples, binomial sd 1.5%): the penalty did not stop the training
  CHECK(evaluate(plain, d).accuracy > 0.9);
  CHECK(evaluate(reg, d).accuracy > 0.9);
  // the logged loss includes the penalty: apply() on the trained net returns beta times the sum
  reg.zero_grad();
  CHECK(std::abs(lip.apply(reg) - p.beta * r_reg) <= 1e-12 * p.beta * r_reg);
  CHECK(log.back().loss > 0);
}

TEST_CASE("lipschitz: Conv2d crossbar weights, grouped convs keep their structural zeros") {
  // 4 -> 4 channels, 3x3, 2 groups: crossbar view K = 3 * 3 * 4 = 36 rows by N = 4 columns.
  Network net(Shape{4, 5, 5});
  net.add(make_layer({"conv2d", {{"in_c", 4}, {"in_h", 5}, {"in_w", 5}, {"out_c", 4}, {"kernel", 3}, {"stride", 1},
                                 {"pad", 1}, {"groups", 2}}}));
  net.add(make_layer({"flatten", {{"c", 4}, {"h", 5}, {"w", 5}}}));
  net.add(make_layer({"dense", {{"in", 100}, {"out", 3}}}));
  Stream init(4, "test.lipschitz.conv");
  net.init(init);
  auto& conv = dynamic_cast<Conv2d&>(net.layer(0));
  const Matrix& W = conv.weight();
  REQUIRE(W.rows() == 36);
  REQUIRE(W.cols() == 4);
  REQUIRE(net.parameters()[0]->value.data() == W.data());  // the weight Parameter is the crossbar view
  // N <= K: W^T W is block-diagonal over the groups, so the penalty is the sum of the groups' own
  // penalties (each block: the 18 in-group rows by the group's 2 outputs).
  const double lambda = 0.6;
  double groups = 0;
  for (int g = 0; g < 2; ++g) {
    Matrix block(18, 2);
    int row = 0;
    for (int r = 0; r < 36; ++r) {
      if (!conv.in_group(r, 2 * g)) continue;
      block.row(row++) = W.block(r, 2 * g, 1, 2);
    }
    REQUIRE(row == 18);
    groups += naive_gram_penalty(block, lambda, true);
  }
  CHECK(std::abs(lipschitz_penalty(W, lambda, 1.0, nullptr) - groups) <= 1e-12 * groups);
  // apply(): the in-group entries get the full-matrix gradient, the off-group ones nothing
  LipschitzParams p;
  p.beta = 0.5;
  p.lambda = lambda;
  LipschitzRegularizer lip(p, {0, 2});
  net.zero_grad();
  Matrix full = Matrix::Zero(36, 4);
  lipschitz_penalty(W, lambda, p.beta, &full);
  lip.apply(net);
  const Matrix& gw = net.parameters()[0]->grad;
  long off = 0;
  for (int r = 0; r < 36; ++r)
    for (int c = 0; c < 4; ++c) {
      if (conv.in_group(r, c)) {
        CHECK(gw(r, c) == full(r, c));
      } else {
        ++off;
        CHECK(gw(r, c) == 0.f);
        CHECK(W(r, c) == 0.f);
      }
    }
  CHECK(off == 72);
  // training steps: the structural zeros stay 0 (Conv2d::forward would throw otherwise)
  data::Dataset ds;
  ds.name = "test";
  ds.shape = Shape{4, 5, 5};
  ds.classes = 3;
  Stream xs(5, "test.lipschitz.conv.x");
  ds.x = test::normal(24, 100, xs);
  ds.y.resize(24);
  for (int i = 0; i < 24; ++i) ds.y[i] = i % 3;
  TrainParams tp;
  tp.epochs = 2;
  tp.batch_size = 8;
  CHECK_NOTHROW(train(net, ds, nullptr, tp, {&lip}, false));
  for (int r = 0; r < 36; ++r)
    for (int c = 0; c < 4; ++c)
      if (!conv.in_group(r, c)) CHECK(conv.weight()(r, c) == 0.f);
}

TEST_CASE("lipschitz: errors name the layer or the parameter") {
  Network net = blob_mlp();  // nodes: dense, relu, dense
  LipschitzParams p;
  p.beta = 1;
  LipschitzRegularizer relu(p, {0, 1});
  CHECK_THROWS_WITH_AS(relu.apply(net), doctest::Contains("layer 1"), Error);
  CHECK_THROWS_WITH_AS(relu.check(net), doctest::Contains("relu"), Error);
  LipschitzRegularizer missing(p, {7});
  CHECK_THROWS_WITH_AS(missing.apply(net), doctest::Contains("layer 7 is not in the network"), Error);
  // the layer list is checked also when the regularizer is off
  p.beta = 0;
  CHECK_THROWS_WITH_AS(LipschitzRegularizer(p, {1}).apply(net), doctest::Contains("layer 1"), Error);

  CHECK_THROWS_WITH_AS(lipschitz_target(-0.1), doctest::Contains("lipschitz.sigma"), Error);
  CHECK_THROWS_WITH_AS(lipschitz_target(std::nan("")), doctest::Contains("lipschitz.sigma"), Error);
  LipschitzParams bad;
  bad.sigma = -1;
  CHECK_THROWS_WITH_AS(LipschitzRegularizer(bad, {0}), doctest::Contains("lipschitz.sigma"), Error);
  bad = {};
  bad.beta = -1;
  CHECK_THROWS_WITH_AS(LipschitzRegularizer(bad, {0}), doctest::Contains("lipschitz.beta"), Error);
  bad = {};
  bad.lambda = -0.5;
  CHECK_THROWS_WITH_AS(LipschitzRegularizer(bad, {0}), doctest::Contains("lipschitz.lambda"), Error);

  const Matrix W = Matrix::Ones(3, 2);
  CHECK_THROWS_WITH_AS(lipschitz_penalty(W, -1, 1, nullptr), doctest::Contains("lipschitz.lambda"), Error);
  CHECK_THROWS_WITH_AS(lipschitz_penalty(W, 1, -1, nullptr), doctest::Contains("lipschitz.beta"), Error);
  Matrix wrong(2, 3);
  CHECK_THROWS_WITH_AS(lipschitz_penalty(W, 1, 1, &wrong), doctest::Contains("gradient is 2 x 3"), Error);
}
