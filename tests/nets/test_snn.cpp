// Spiking layers (nets/snn.hpp): LIF dynamics against hand-computed sequences, the rate-coding limit
// of the IF neuron, the T = 1 reduction, BPTT against finite differences of the smoothed neuron,
// encoding and read-out, and bad arguments.
#include <doctest/doctest.h>

#include <cmath>
#include <tuple>

#include "tests/common/layer_helpers.hpp"
#include "core/random.hpp"
#include "nets/analog.hpp"
#include "nets/dense.hpp"
#include "nets/snn.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {

Lif make_lif(int features, int steps, double beta, double threshold, const std::string& reset, bool learn = false,
             bool smooth = false, double slope = 25) {
  Lif::Options o;
  o.beta = beta;
  o.threshold = threshold;
  o.reset = reset;
  o.learn = learn;
  o.smooth = smooth;
  o.slope = slope;
  return Lif(Shape{features, 1, 1}, steps, o);
}

/// One sample's T inputs of one feature as a (T, 1) batch.
Matrix column(std::initializer_list<float> v) {
  Matrix m(long(v.size()), 1);
  long i = 0;
  for (float x : v) m(i++, 0) = x;
  return m;
}

}  // namespace

TEST_CASE("snn: lif spikes follow hand-computed sequences") {
  Matrix y;
  SUBCASE("beta 1 constant 0.7: soft and hard reset differ") {
    // soft: V = .7, 1.4 (spike, U = .4), 1.1 (spike, U = .1), .8      -> 0 1 1 0
    // hard: V = .7, 1.4 (spike, U = 0),  .7,                 1.4 (spike) -> 0 1 0 1
    Lif soft = make_lif(1, 4, 1.0, 1.0, "soft");
    soft.forward(column({0.7f, 0.7f, 0.7f, 0.7f}), y, Mode::eval);
    CHECK(y == column({0, 1, 1, 0}));
    Lif hard = make_lif(1, 4, 1.0, 1.0, "hard");
    hard.forward(column({0.7f, 0.7f, 0.7f, 0.7f}), y, Mode::eval);
    CHECK(y == column({0, 1, 0, 1}));
  }
  SUBCASE("leak 0.5") {
    // V0 = .6; V1 = .3 + .8 = 1.1 (spike, soft U = .1); V2 = .05 + .2 = .25; V3 = .125 + 1.5 = 1.625 (spike)
    Lif soft = make_lif(1, 4, 0.5, 1.0, "soft");
    soft.forward(column({0.6f, 0.8f, 0.2f, 1.5f}), y, Mode::eval);
    CHECK(y == column({0, 1, 0, 1}));
    // leak 0.5, threshold 0.5, hard: V0 = .4; V1 = .2 + .2 = .4; V2 = .2 + .4 = .6 (spike, U = 0); V3 = .3
    Lif hard = make_lif(1, 4, 0.5, 0.5, "hard");
    hard.forward(column({0.4f, 0.2f, 0.4f, 0.3f}), y, Mode::eval);
    CHECK(y == column({0, 0, 1, 0}));
  }
  SUBCASE("exactly at threshold does not spike, and samples do not share state") {
    // two samples of T = 2: (1.0, 0) and (0.25, 0.25) with beta 1: no spike anywhere (V never > 1)
    Lif l = make_lif(1, 2, 1.0, 1.0, "soft");
    l.forward(column({1.0f, 0.0f, 0.25f, 0.25f}), y, Mode::eval);
    CHECK(y == column({0, 0, 0, 0}));
    // the first sample's membrane (1.0) would make the second spike if it leaked across samples
    l.forward(column({1.0f, 0.0f, 0.5f, 0.0f}), y, Mode::eval);
    CHECK(y == column({0, 0, 0, 0}));
  }
}

TEST_CASE("snn: integrate-and-fire spike count is the clipped rate") {
  // beta 1, soft reset, constant input 0 < I <= theta: n_T = ceil(T I / theta) - 1, and theta n_T / T
  // lies in [I - theta / T, I) (nets/snn.hpp). Inputs are kept 1e-3 away from the integer crossings of
  // T I / theta so that float rounding of the running membrane (far below 1e-3) cannot move a spike.
  Stream s(11, "snn-if");
  const int T = 32;
  const float theta = 0.75f;
  const int F = 200;
  Lif l(Shape{F, 1, 1}, T, Lif::Options{1.0, theta, 25.0, "soft", false, false});
  Matrix x(T, F);
  std::vector<double> in(F);
  for (int i = 0; i < F; ++i) {
    double v;
    do v = s.uniform() * theta; while (v <= 0 || std::abs(T * v / theta - std::round(T * v / theta)) < 1e-3);
    in[std::size_t(i)] = v;
    x.col(i).setConstant(float(v));
  }
  Matrix y;
  l.forward(x, y, Mode::eval);
  for (int i = 0; i < F; ++i) {
    const double I = double(float(in[std::size_t(i)]));
    const double n = y.col(i).cast<double>().sum();
    CHECK(n == std::ceil(T * I / theta) - 1);
    CHECK(theta * n / T >= I - theta / double(T) - 1e-9);
    CHECK(theta * n / T < I);
  }
}

TEST_CASE("snn: with T = 1 a spiking network is the network with step activations") {
  // encode(T = 1) dense lif dense readout == dense, H(z - theta), dense: with one step the membrane is
  // the input current and the read-out is the identity.
  Stream s(12, "snn-t1");
  Network net(Shape{6, 1, 1});
  net.add(std::make_unique<SnnEncode>(Shape{6, 1, 1}, 1, "direct"));
  net.add(make_layer({"dense", {{"in", 6}, {"out", 5}}}));
  net.add(std::make_unique<Lif>(Shape{5, 1, 1}, 1, Lif::Options{0.9, 0.3, 25.0, "soft", false, false}));
  net.add(make_layer({"dense", {{"in", 5}, {"out", 3}}}));
  net.add(std::make_unique<SnnReadout>(Shape{3, 1, 1}, 1));
  Stream init(1, "init");
  net.init(init);
  const Matrix x = test::normal(7, 6, s);
  const auto& d1 = dynamic_cast<const Dense&>(net.layer(1));
  const auto& d2 = dynamic_cast<const Dense&>(net.layer(3));
  Matrix z = (x * d1.weight()).rowwise() + d1.bias().row(0);
  Matrix h = z.unaryExpr([](float v) { return v > 0.3f ? 1.f : 0.f; });
  Matrix expect = (h * d2.weight()).rowwise() + d2.bias().row(0);
  CHECK(net.forward(x) == expect);
}

TEST_CASE("snn: lif backward is the exact gradient of the smoothed neuron") {
  // smooth = 1: the forward uses s_k(V - theta), whose derivative is the surrogate g, so backward() must
  // match central differences of the forward, through both resets, the leak and the threshold.
  // Error bound of the difference quotient with step h: s_k is C^1 with a second derivative that jumps by
  // 4k at V = theta and |s_k'''| <= 6 k^2, so the truncation error of each of the T steps an input
  // reaches is at most 2 k h + k^2 h^2 (times |R| <= 1); float rounding of y (a few operations per step,
  // |V| <= 4) is below 8 T u (1 + 4) per output, i.e. sum |R| 40 T u / h on the quotient.
  Stream s(13, "snn-grad");
  const int T = 4, F = 3, B = 2;
  const double k = 0.5;
  const float h = 1.f / 64;
  for (const char* reset : {"soft", "hard"}) {
    CAPTURE(reset);
    Lif l = make_lif(F, T, 0.8, 0.6, reset, true, true, k);
    Matrix x = test::normal(B * T, F, s, 0.6f);
    Matrix r = test::normal(B * T, F, s, 0.5f).cwiseMax(-1.f).cwiseMin(1.f);
    Matrix y, dx;
    l.forward(x, y, Mode::train);
    for (auto* p : l.parameters()) p->grad.setZero();
    l.backward(r, dx);
    auto probe = [&]() {
      Matrix yy;
      l.forward(x, yy, Mode::eval);
      return (yy.cast<double>().array() * r.cast<double>().array()).sum();
    };
    const double tol = T * (2 * k * h + k * k * h * h) + r.cwiseAbs().cast<double>().sum() * 40 * T * test::kU / h;
    auto fd = [&](float& v) {
      const float v0 = v;
      v = v0 + h;
      const double lp = probe();
      v = v0 - h;
      const double lm = probe();
      v = v0;
      return (lp - lm) / (2.0 * h);
    };
    for (Eigen::Index i = 0; i < x.size(); ++i) CHECK(std::abs(fd(x.data()[i]) - dx.data()[i]) <= tol);
    for (auto* p : l.parameters()) {
      CAPTURE(p->name);
      const double g = p->grad(0, 0);
      // beta and theta reach all B T F outputs: their error bound is that many times the input's
      CHECK(std::abs(fd(p->value(0, 0)) - g) <= tol * B * F);
      CHECK(std::abs(g) > 1e-3);  // the check is not vacuous
    }
  }
}

TEST_CASE("snn: lif gradients are the same bits on any thread count") {
  // learned leak and threshold: their gradients sum over every sample, in sample order
  Stream s(15, "snn-threads");
  const int T = 5, F = 300, B = 64;
  const Matrix x = test::normal(B * T, F, s, 0.8f), r = test::normal(B * T, F, s);
  auto run = [&](int threads) {
    test::Threads th(threads);
    Lif l = make_lif(F, T, 0.8, 0.6, "soft", true);
    Matrix y, dx;
    l.forward(x, y, Mode::train);
    l.backward(r, dx);
    return std::make_tuple(y, dx, l.parameters()[0]->grad(0, 0), l.parameters()[1]->grad(0, 0));
  };
  const auto a = run(1), b = run(2);
  CHECK(std::get<0>(a) == std::get<0>(b));
  CHECK(std::get<1>(a) == std::get<1>(b));
  CHECK(std::get<2>(a) == std::get<2>(b));
  CHECK(std::get<3>(a) == std::get<3>(b));
}

TEST_CASE("snn: encoding and read-out") {
  Stream s(14, "snn-encode");
  SUBCASE("direct: each step is the sample; readout averages; their backward sums and averages") {
    SnnEncode e(Shape{3, 1, 1}, 4, "direct");
    SnnReadout ro(Shape{3, 1, 1}, 4);
    const Matrix x = test::normal(5, 3, s);
    Matrix y, z, dx, dy;
    e.forward(x, y, Mode::train);
    REQUIRE(y.rows() == 20);
    for (long b = 0; b < 5; ++b)
      for (long t = 0; t < 4; ++t) CHECK(y.row(b * 4 + t) == x.row(b));
    ro.forward(y, z, Mode::train);
    CHECK((z - x).cwiseAbs().maxCoeff() <= 4 * test::kU * x.cwiseAbs().maxCoeff());
    const Matrix g = test::normal(5, 3, s);
    ro.backward(g, dy);
    CHECK(dy.row(6) == g.row(1) * 0.25f);
    e.backward(dy, dx);
    CHECK((dx - g).cwiseAbs().maxCoeff() <= 4 * test::kU * g.cwiseAbs().maxCoeff());
  }
  SUBCASE("rate: Bernoulli spikes at the pixel value, the same for a sample in any batch position") {
    const int T = 2000;
    SnnEncode e(Shape{4, 1, 1}, T, "rate", 7);
    Matrix x(2, 4);
    x << 0.1f, 0.5f, 0.9f, 1.5f, 0.5f, -1.f, 0.f, 0.3f;
    Matrix y;
    e.forward(x, y, Mode::eval);
    for (long b = 0; b < 2; ++b)
      for (long i = 0; i < 4; ++i) {
        const double p = std::clamp(double(x(b, i)), 0.0, 1.0);
        const double m = y.block(b * T, i, T, 1).cast<double>().mean();
        CHECK(std::abs(m - p) <= 5 * std::sqrt(p * (1 - p) / T) + 1e-12);  // 5 sigma of a binomial mean
      }
    Matrix swapped(2, 4), y2;
    swapped << x.row(1), x.row(0);
    e.forward(swapped, y2, Mode::eval);
    CHECK(y2.topRows(T) == y.bottomRows(T));
    CHECK(y2.bottomRows(T) == y.topRows(T));
  }
}

TEST_CASE("snn: reference networks run and keep the batch") {
  for (int steps : {1, 3}) {
    Network n = make_snn_mlp(steps);
    CHECK(snn_steps(n) == steps);
    Stream init(2, "init");
    n.init(init);
    Stream s(3, "x");
    Matrix x = test::normal(5, 784, s).cwiseAbs();
    Matrix y = n.forward(x, Mode::train);
    CHECK(y.rows() == 5);
    CHECK(y.cols() == 10);
    n.backward(Matrix::Ones(5, 10));
  }
  CHECK(make_snn_cnn(2).output_shape().size() == 10);
  CHECK(snn_steps(make_mlp()) == 0);
}

TEST_CASE("snn: analog evaluation of a spiking network is the same on any thread count") {
  Network n = make_snn_mlp(3);
  Stream init(4, "init");
  n.init(init);
  Stream s(5, "x");
  Matrix x = test::normal(40, 784, s).cwiseAbs();
  VectorI labels(40);
  for (int i = 0; i < 40; ++i) labels(i) = i % 10;
  AnalogConfig cfg;
  cfg.mapping.readout = "sense_amp";
  cfg.mapping.tile_rows = 64;
  cfg.sense_amp.sigma_sa = 0.05;
  cfg.sense_amp.sigma_read_sa = 0.02;
  AnalogNetwork an(n, cfg, x);
  auto run = [&](int threads) {
    test::Threads th(threads);
    auto inst = an.program(Stream(9, "prog"));
    Matrix out = inst->forward(an.prefix(x), Stream(9, "read"), 0);
    const auto st = inst->evaluate(an.prefix(x), labels, Stream(9, "read"), 7);
    CHECK(st.total == 40);
    return out;
  };
  const Matrix a = run(1), b = run(2);
  CHECK(a.rows() == 40);
  CHECK(a == b);
}

TEST_CASE("snn: bad arguments name the kind and the argument") {
  auto err = [](const LayerSpec& sp) { return test::error_of(sp); };
  CHECK(err({"lif", {{"c", 2}, {"h", 1}, {"w", 1}, {"steps", 0}}}).find("'steps'") != std::string::npos);
  CHECK(err({"lif", {{"c", 2}, {"h", 1}, {"w", 1}, {"steps", 2}, {"beta", 1.5}}}).find("'beta'") != std::string::npos);
  CHECK(err({"lif", {{"c", 2}, {"h", 1}, {"w", 1}, {"steps", 2}, {"threshold", 0.0}}}).find("'threshold'") !=
        std::string::npos);
  CHECK(err({"lif", {{"c", 2}, {"h", 1}, {"w", 1}, {"steps", 2}, {"reset", std::string("zero")}}}).find("'reset'") !=
        std::string::npos);
  CHECK(err({"snn_encode", {{"c", 2}, {"h", 1}, {"w", 1}, {"steps", 2}, {"mode", std::string("burst")}}})
            .find("'mode'") != std::string::npos);
  CHECK(err({"snn_readout", {{"c", 2}, {"h", 1}, {"w", 1}}}).find("steps") != std::string::npos);
  Lif l = make_lif(2, 3, 0.9, 1.0, "soft");
  Matrix y;
  std::string msg;
  try {
    l.forward(Matrix::Zero(4, 2), y, Mode::eval);
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("not a whole number of samples") != std::string::npos);
}
