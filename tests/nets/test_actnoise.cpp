// Activation noise (nets/actnoise.hpp) and the denoising-block machinery of nets/mitigation.hpp:
// the noise's statistics and keyed streams against the documented formulas, its off switches and
// errors, the gradient-norm ranking against homogeneity and finite differences, insert_denoise and the
// NLL term of train_blocks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "data/dataset.hpp"
#include "nets/activation.hpp"
#include "nets/actnoise.hpp"
#include "nets/dense.hpp"
#include "nets/denoise.hpp"
#include "nets/mitigation.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"
#include "tests/common/approx.hpp"
#include "tests/common/layer_helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using aimc::test::normal;
using aimc::test::rel;

namespace {

/// Dense(w0 -> w1) ReLU Dense(w1 -> w2) ReLU ... Dense(-> w_last): node 2k is the k-th Dense layer.
Network chain(const std::vector<int>& w) {
  Network net(Shape{w[0], 1, 1});
  for (std::size_t k = 0; k + 1 < w.size(); ++k) {
    net.add(std::make_unique<Dense>(w[k], w[k + 1]));
    if (k + 2 < w.size()) net.add(std::make_unique<ReLU>(Shape{w[k + 1], 1, 1}));
  }
  return net;
}

/// Records the outputs of `nodes` as the hooks added so far have left them (hooks run in the order they
/// were added): a Taps made before an ActivationNoise sees the clean outputs, one made after the noisy.
struct Taps {
  Network& net;
  std::vector<int> ids;
  std::vector<Matrix> out;
  Taps(Network& n, const std::vector<std::size_t>& nodes) : net(n), out(nodes.size()) {
    for (std::size_t k = 0; k < nodes.size(); ++k)
      ids.push_back(net.add_hook(nodes[k], [this, k](std::size_t, Matrix& y) { out[k] = y; }));
  }
  ~Taps() {
    for (int id : ids) net.remove_hook(id);
  }
  Taps(const Taps&) = delete;
  Taps& operator=(const Taps&) = delete;
};

data::Dataset dataset(const Matrix& x, int classes) {
  data::Dataset d;
  d.x = x;
  d.y.resize(x.rows());
  for (Eigen::Index i = 0; i < x.rows(); ++i) d.y(i) = int((i * 7) % classes);
  d.classes = classes;
  d.shape = Shape{int(x.cols()), 1, 1};
  return d;
}

/// Softmax cross-entropy of one row of logits, in double, written from its definition.
double row_loss(const Matrix& logits, Eigen::Index i, int label) {
  double m = -std::numeric_limits<double>::infinity();
  for (Eigen::Index j = 0; j < logits.cols(); ++j) m = std::max(m, double(logits(i, j)));
  double s = 0;
  for (Eigen::Index j = 0; j < logits.cols(); ++j) s += std::exp(double(logits(i, j)) - m);
  return m + std::log(s) - double(logits(i, label));
}

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

/// The noise z of one row as the header documents it: Stream(seed, "actnoise", {instance, l, row}).fill_normal
/// with sd eta R_l (additive) or eta (multiplicative).
std::vector<float> keyed_noise(std::uint64_t seed, std::uint64_t instance, std::uint64_t l, std::uint64_t row,
                               Eigen::Index cols, float sd) {
  std::vector<float> z(static_cast<std::size_t>(cols));
  Stream s(seed, "actnoise", {instance, l, row});
  s.fill_normal(std::span<float>(z), 0.f, sd);
  return z;
}

std::vector<Matrix> values(Network& net) {
  std::vector<Matrix> v;
  for (const auto& p : net.parameter_store()) v.push_back(p->value);
  return v;
}

}  // namespace

TEST_CASE("actnoise: additive and multiplicative noise have mean 0 and the documented spread") {
  Network net = chain({8, 48, 10});
  Stream init(1, "init", {});
  net.init(init);
  net.layer(2).parameters()[0]->value *= 0.25f;  // ranges of clearly different size (see below)
  Stream s(2, "test", {});
  const Matrix x = normal(400, 8, s);
  const auto nodes = noise_layers(net, "all");
  REQUIRE(nodes == std::vector<std::size_t>{0, 2});
  const auto R = activation_ranges(net, nodes, x);
  REQUIRE(R.size() == 2);
  {
    // Oracle of the ranges: max |a| of the clean outputs, read by hooks on a plain forward.
    Taps t(net, nodes);
    net.forward(x, Mode::eval);
    for (std::size_t k = 0; k < 2; ++k) CHECK(R[k] == double(t.out[k].cwiseAbs().maxCoeff()));
  }
  // The additive check standardizes by eta R_l of its own layer: it resolves a wrong layer's range only
  // if the two ranges differ by more than the spread tolerance below (at most 0.07).
  CHECK(std::abs(R[0] - R[1]) > 0.2 * std::max(R[0], R[1]));

  const double eta = 0.1;
  for (auto model : {NoiseModel::additive, NoiseModel::multiplicative}) {
    CAPTURE(noise_model_name(model));
    Taps clean(net, nodes);
    ActivationNoise an(net, model, eta, nodes, R, 7);
    Taps noisy(net, nodes);
    an.set_batch(3, 0);
    net.forward(x, Mode::eval);
    for (std::size_t k = 0; k < 2; ++k) {
      CAPTURE(k);
      // Standardized draws: (a' - a) / (eta R_l) or (a' / a - 1) / eta, each N(0, 1) by the header. The
      // float rounding of a' (one add or one multiply) moves them by ~1e-6, far below the bounds.
      std::vector<double> z;
      const Matrix &c = clean.out[k], &n = noisy.out[k];
      for (Eigen::Index i = 0; i < c.size(); ++i) {
        const double a = c.data()[i], b = n.data()[i];
        if (model == NoiseModel::additive) z.push_back((b - a) / (eta * R[k]));
        else if (a != 0) z.push_back((b / a - 1) / eta);
      }
      const double N = double(z.size());
      CHECK(N > 0.99 * double(c.size()));
      const double mean = std::accumulate(z.begin(), z.end(), 0.0) / N;
      double ss = 0;
      for (double v : z) ss += (v - mean) * (v - mean);
      const double sd = std::sqrt(ss / (N - 1));
      // 6 standard errors: the mean's is 1 / sqrt(N), the sample sd's sqrt(1 / (2 N)) (N = 19,200 and 4,000).
      INFO("mean " << mean << ", sd " << sd << ", N " << N);
      CHECK(std::abs(mean) <= 6 / std::sqrt(N));
      CHECK(std::abs(sd - 1) <= 6 * std::sqrt(1 / (2 * N)));
    }
  }
}

TEST_CASE("actnoise: a row's noise depends only on instance and layer and row index") {
  Network net = chain({12, 32, 24, 10});
  Stream init(3, "init", {});
  net.init(init);
  Stream s(4, "test", {});
  const data::Dataset d = dataset(normal(150, 12, s), 10);
  const auto nodes = noise_layers(net, "all");
  REQUIRE(nodes == std::vector<std::size_t>{0, 2, 4});
  const auto R = activation_ranges(net, nodes, d.x);
  const std::uint64_t seed = 11;
  const double eta = 0.3;

  for (auto model : {NoiseModel::additive, NoiseModel::multiplicative}) {
    CAPTURE(noise_model_name(model));
    Taps clean(net, nodes);
    ActivationNoise an(net, model, eta, nodes, R, seed);
    Taps noisy(net, nodes);
    // Rows 40..56 alone (row0 = 40) and inside the whole set (row0 = 0): in both, every noisy output is
    // the clean one plus (times 1 +) the documented keyed draw, bit for bit.
    for (auto [row0, rows] : {std::pair<Eigen::Index, Eigen::Index>{40, 17}, std::pair<Eigen::Index, Eigen::Index>{0, 150}}) {
      CAPTURE(row0);
      an.set_batch(5, std::uint64_t(row0));
      net.forward(d.x.middleRows(row0, rows), Mode::eval);
      for (std::size_t l = 0; l < nodes.size(); ++l) {
        const Matrix &c = clean.out[l], &n = noisy.out[l];
        REQUIRE(n.rows() == rows);
        const float sd = float(model == NoiseModel::additive ? eta * R[l] : eta);
        long long mismatches = 0;
        for (Eigen::Index i = 0; i < rows; ++i) {
          const auto z = keyed_noise(seed, 5, l, std::uint64_t(row0 + i), c.cols(), sd);
          for (Eigen::Index j = 0; j < c.cols(); ++j) {
            const float want = model == NoiseModel::additive ? c(i, j) + z[std::size_t(j)] : c(i, j) * (1.f + z[std::size_t(j)]);
            mismatches += n(i, j) != want;
          }
        }
        CAPTURE(l);
        CHECK(mismatches == 0);
      }
    }
    // Another instance: other draws everywhere (two float normals coincide with probability ~1e-7).
    an.set_batch(5, 0);
    net.forward(d.x, Mode::eval);
    const Matrix a = noisy.out[0];
    an.set_batch(6, 0);
    net.forward(d.x, Mode::eval);
    CHECK((a.array() == noisy.out[0].array()).count() == 0);
  }

  // evaluate_noisy against a loop written here (batches keyed by their first row, the loss in double
  // from the logits), and between batch sizes 7 and 64.
  ActivationNoise an(net, NoiseModel::additive, eta, nodes, R, seed);
  std::vector<Matrix> logits;
  for (int b : {7, 64}) {
    CAPTURE(b);
    Matrix L(d.size(), 10);
    for (Eigen::Index i = 0; i < d.size(); i += b) {
      const Eigen::Index m = std::min<Eigen::Index>(b, d.size() - i);
      an.set_batch(9, std::uint64_t(i));
      L.middleRows(i, m) = net.forward(d.x.middleRows(i, m), Mode::eval);
    }
    double loss = 0;
    long long correct = 0;
    for (Eigen::Index i = 0; i < d.size(); ++i) {
      loss += row_loss(L, i, d.y(i));
      Eigen::Index arg;
      L.row(i).maxCoeff(&arg);
      correct += arg == d.y(i);
    }
    loss /= double(d.size());
    const EvalResult r = evaluate_noisy(net, an, 9, d, b);
    CHECK(r.total == d.size());
    CHECK(r.correct == correct);
    CHECK(r.accuracy == double(correct) / double(d.size()));
    // Same logits: the two sums of 150 per-row losses differ only by double rounding.
    CHECK(r.loss == doctest::Approx(loss).epsilon(1e-12));
    logits.push_back(L);
  }
  // Across batch sizes a row's logits may differ in the last bits (GEMM kernels for leftover rows; see
  // test_training's "evaluate: the batch size ..."), never more: float dot products of <= 32 terms through
  // three layers, 3 * 32 u < 1e-5 of sums of |products| of the order of the largest logit; 1e-4 of it is
  // a bound with margin. The per-row loss is 2-Lipschitz in the max-norm of the logits.
  const double tol = 1e-4 * std::max(1.0, double(logits[0].cwiseAbs().maxCoeff()));
  CHECK((logits[0] - logits[1]).cwiseAbs().maxCoeff() <= tol);
  const EvalResult r7 = evaluate_noisy(net, an, 9, d, 7), r64 = evaluate_noisy(net, an, 9, d, 64);
  CHECK(std::abs(r7.loss - r64.loss) <= 2 * tol + 1e-12);
  // The accuracies are equal when no row's top-two logit gap is within the rounding (asserted).
  double gap = INFINITY;
  for (Eigen::Index i = 0; i < d.size(); ++i) {
    std::vector<float> v(logits[0].row(i).data(), logits[0].row(i).data() + 10);
    std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<float>());
    gap = std::min(gap, double(v[0] - v[1]));
  }
  CHECK(gap > 2 * tol);
  CHECK(r7.correct == r64.correct);
  // Power: noise keyed by the position in the batch instead would change the loss by about as much as
  // the noise itself does, far above the tolerance.
  an.set_enabled(false);
  const EvalResult r0 = evaluate_noisy(net, an, 9, d, 64);
  CHECK(std::abs(r64.loss - r0.loss) > 100 * tol);
}

TEST_CASE("actnoise: disabled or eta 0 or destroyed noise leaves the outputs bit-identical") {
  Network net = chain({8, 16, 10});
  Stream init(5, "init", {});
  net.init(init);
  Stream s(6, "test", {});
  const Matrix x = normal(20, 8, s);
  const Matrix clean = net.forward(x);
  const auto nodes = noise_layers(net, "all");
  const auto R = activation_ranges(net, nodes, x);
  for (auto model : {NoiseModel::additive, NoiseModel::multiplicative}) {
    CAPTURE(noise_model_name(model));
    {
      ActivationNoise zero(net, model, 0.0, nodes, R, 1);
      CHECK(net.forward(x) == clean);
    }
    Taps before(net, {0});
    {
      ActivationNoise an(net, model, 0.5, nodes, R, 1);
      CHECK(an.eta() == 0.5);
      CHECK(an.nodes() == nodes);
      an.set_batch(2, 0);
      const Matrix noisy = net.forward(x);
      CHECK(noisy != clean);  // power of the checks below
      an.set_enabled(false);
      CHECK(net.forward(x) == clean);
      an.set_enabled(true);
      CHECK(net.forward(x) == noisy);  // same (instance, rows): the same draws
      // The training step hook: instance kTrainInstance + step, row0 = 0.
      an.begin_step(3);
      const Matrix step3 = net.forward(x, Mode::train);
      an.set_batch(ActivationNoise::kTrainInstance + 3, 0);
      CHECK(net.forward(x, Mode::train) == step3);
      CHECK(step3 != noisy);
    }
    // Hooks removed by the destructor; a hook added before it still runs.
    before.out[0].resize(0, 0);
    CHECK(net.forward(x) == clean);
    CHECK(before.out[0].rows() == 20);
  }
}

TEST_CASE("actnoise: bad eta or ranges or names are errors naming the key") {
  Network net = chain({4, 6, 3});
  Stream init(7, "init", {});
  net.init(init);
  const Matrix x = Matrix::Ones(2, 4);
  const Matrix clean = net.forward(x);
  const std::vector<std::size_t> nodes{0, 2};
  for (double eta : {-0.1, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    CAPTURE(eta);
    const std::string e = error_text([&] { ActivationNoise an(net, NoiseModel::additive, eta, nodes, {1.0, 1.0}, 1); });
    CAPTURE(e);
    CHECK(e.find("eta") != std::string::npos);
  }
  const std::string e = error_text([&] { ActivationNoise an(net, NoiseModel::additive, 0.1, nodes, {1.0}, 1); });
  CAPTURE(e);
  CHECK(e.find("ranges") != std::string::npos);
  CHECK(net.forward(x) == clean);  // a constructor that threw left no hook behind

  CHECK_THROWS_WITH_AS(parse_noise_model("x"), doctest::Contains("noise.model"), Error);
  CHECK_THROWS_WITH_AS(parse_noise_model("x"), doctest::Contains("'x'"), Error);
  CHECK_THROWS_WITH_AS(parse_noise_model("x", "sweep.model"), doctest::Contains("sweep.model"), Error);
  CHECK_THROWS_WITH_AS(noise_layers(net, "bogus"), doctest::Contains("noise.layers"), Error);
  CHECK_THROWS_WITH_AS(noise_layers(net, "bogus"), doctest::Contains("bogus"), Error);
  for (auto m : {NoiseModel::additive, NoiseModel::multiplicative}) CHECK(parse_noise_model(noise_model_name(m)) == m);
  CHECK(std::string(noise_model_name(NoiseModel::additive)) == "additive");
  CHECK(std::string(noise_model_name(NoiseModel::multiplicative)) == "multiplicative");
}

TEST_CASE("actnoise: noise_layers all and hidden") {
  // Oracle: the Dense/Conv2d nodes by their spec kind.
  auto kinds = [](const Network& net) {
    std::vector<std::size_t> r;
    for (std::size_t i = 0; i < net.size(); ++i)
      if (net.layer(i).spec().kind == "dense" || net.layer(i).spec().kind == "conv2d") r.push_back(i);
    return r;
  };
  Network mlp = chain({8, 16, 12, 10});
  CHECK(noise_layers(mlp, "all") == std::vector<std::size_t>{0, 2, 4});
  CHECK(noise_layers(mlp, "hidden") == std::vector<std::size_t>{0, 2});
  Network cnn = make_reference("cnn");
  auto all = kinds(cnn);
  REQUIRE(all.size() == 4);
  CHECK(noise_layers(cnn, "all") == all);
  all.pop_back();
  CHECK(noise_layers(cnn, "hidden") == all);
  // A denoising block inserted into the network is not an analog layer: the selections stay.
  Stream init(1, "init", {});
  cnn.init(init);
  const auto sites = block_sites(cnn);
  insert_denoise(cnn, sites, std::vector<int>(sites.size(), 1), 4, "residual", 2);
  CHECK(noise_layers(cnn, "all") == kinds(cnn));
  CHECK(noise_layers(cnn, "all").size() == 4);
}

TEST_CASE("actnoise: gradient_norms ranks a planted noise-sensitive site first") {
  // Dense(10 -> 24) ReLU Dense(24 -> 24) ReLU Dense(24 -> 10), zero biases. Dividing the Dense layer
  // before a site's ReLU by c = 16 and multiplying the one after it by 16 leaves the function unchanged
  // (ReLU is positively homogeneous; the layer ranges, hence the additive noise, scale along) and
  // multiplies dL/d(the site's output) by 16, other sites' gradients unchanged. Powers of two are exact
  // in float, so the ratios hold to rounding of the double sums (1e-6 is wide).
  Network base = chain({10, 24, 24, 10});
  Stream init(8, "init", {});
  base.init(init);
  Stream s(9, "test", {});
  const data::Dataset d = dataset(normal(200, 10, s), 10);
  const auto sites = block_sites(base);
  REQUIRE(sites.size() == 2);
  std::vector<std::size_t> nodes;
  for (const auto& site : sites) nodes.push_back(base.find(site.after));
  CHECK(nodes == std::vector<std::size_t>{1, 3});

  auto norms = [&](Network& net) {
    const auto layers = noise_layers(net, "all");
    ActivationNoise an(net, NoiseModel::additive, 0.2, layers, activation_ranges(net, layers, d.x), 4);
    const auto before = values(net);
    const auto g = gradient_norms(net, an, nodes, d, 64);
    CHECK(values(net) == before);
    for (const auto& p : net.parameter_store()) CHECK(p->grad.cwiseAbs().maxCoeff() == 0.f);
    return g;
  };
  const auto g0 = norms(base);
  REQUIRE(g0.size() == 2);
  CHECK(g0[0] > 0);
  CHECK(g0[1] > 0);
  // Plant the site that ranks last without planting, so the ranking has to change.
  const std::size_t weak = g0[0] < g0[1] ? 0 : 1, strong = 1 - weak;
  for (std::size_t planted : {weak, strong}) {
    CAPTURE(planted);
    Network net = base.clone();
    const std::size_t before = 2 * planted, after = before + 2;  // the Dense nodes around site `planted`
    for (auto* p : net.layer(before).parameters()) p->value /= 16.f;
    net.layer(after).parameters()[0]->value *= 16.f;  // weight only: the next layer's bias is unchanged
    const auto g = norms(net);
    // relative, as the comment above states (with doctest's default scale of 1 the bound was absolute)
    CHECK(g[planted] == rel(16 * g0[planted], 1e-6));
    CHECK(g[1 - planted] == rel(g0[1 - planted], 1e-6));
    CHECK(g[planted] > g[1 - planted]);
  }
}

TEST_CASE("actnoise: gradient_norms against finite differences of the per-image loss") {
  // Tiny network, noise present but eta 0 (off). For each image, dL/d(output of node j) by central
  // differences: a hook after node j adds +-h to one element, the loss is the softmax cross-entropy in
  // double of the float logits. The network is piecewise linear and the loss smooth; the test asserts
  // that no step crosses a ReLU kink, so the difference is exact up to O(h^2) curvature (~1e-6) and the
  // float rounding of the logits (~1e-7 of their size) divided by 2h: ~1e-4 of the gradient here. The
  // norms are compared at 1e-3 relative.
  Network net = chain({5, 7, 6, 3});
  Stream init(10, "init", {});
  net.init(init);
  Stream s(11, "test", {});
  const data::Dataset d = dataset(normal(3, 5, s), 3);
  const auto layers = noise_layers(net, "all");
  ActivationNoise an(net, NoiseModel::additive, 0.0, layers, activation_ranges(net, layers, d.x), 1);
  const std::vector<std::size_t> nodes{0, 1, 2, 3, 4};
  const auto g = gradient_norms(net, an, nodes, d, 2);  // batches of 2 and 1
  REQUIRE(g.size() == nodes.size());

  const double h = 1e-3;
  // Kink margin: a step of h at one element moves a ReLU input by at most h max(1, max |w|).
  double wmax = 1;
  for (const auto& p : net.parameter_store()) wmax = std::max(wmax, double(p->value.cwiseAbs().maxCoeff()));
  {
    Taps pre(net, {0, 2});
    net.forward(d.x);
    const double margin = std::min(pre.out[0].cwiseAbs().minCoeff(), pre.out[1].cwiseAbs().minCoeff());
    CHECK(margin > 2 * h * wmax);
  }
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    CAPTURE(k);
    double mean = 0;
    for (Eigen::Index i = 0; i < d.size(); ++i) {
      const Matrix xi = d.x.middleRows(i, 1);
      const Eigen::Index cols = net.layer(nodes[k]).output_shape().size();
      double sq = 0;
      for (Eigen::Index j = 0; j < cols; ++j) {
        float delta = 0;
        const int id = net.add_hook(nodes[k], [&](std::size_t, Matrix& y) { y(0, j) += delta; });
        delta = float(h);
        const double lp = row_loss(net.forward(xi), 0, d.y(i));
        delta = float(-h);
        const double lm = row_loss(net.forward(xi), 0, d.y(i));
        net.remove_hook(id);
        const double fd = (lp - lm) / (2 * h);
        sq += fd * fd;
      }
      mean += std::sqrt(sq) / double(d.size());
    }
    CHECK(mean > 0);
    CHECK(g[k] == rel(mean, 1e-3));
  }
}

TEST_CASE("insert_denoise: identity blocks and their parameter and MAC counts in the reference CNN") {
  Network base = make_reference("cnn");
  Stream init(1, "init", {});
  base.init(init);
  const auto sites = block_sites(base);
  REQUIRE(sites.size() == 3);
  CHECK(sites[0].shape == Shape{32, 14, 14});
  CHECK(sites[2].shape == Shape{128, 1, 1});
  Stream s(12, "test", {});
  const Matrix x = normal(2, 784, s);
  const Matrix out = base.forward(x);
  const long long p0 = parameter_count(base), m0 = mac_count(base);

  // Hand counts at site 0 (c = 32, 14 x 14, r = 4: m = 8), from the header's definition:
  //   params: w1 32*8 + b1 8 + w2 9*8*8 + b2 8 + w3 8*o + b3 o;  MACs: 196 (32*8 + 9*8*8 + 8*o).
  CHECK(denoise_params(sites[0].shape, 4, "residual") == 256 + 8 + 576 + 8 + 256 + 32);
  CHECK(denoise_params(sites[0].shape, 4, "probabilistic") == 256 + 8 + 576 + 8 + 512 + 64);
  CHECK(denoise_macs(sites[0].shape, 4, "residual") == 196 * (256 + 576 + 256));
  CHECK(denoise_macs(sites[0].shape, 4, "probabilistic") == 196 * (256 + 576 + 512));
  // Site 2, a vector (c = 128, m = 32, 1x1 maps): 128*32 + 32 + 32*32 + 32 + 32*128 + 128.
  CHECK(denoise_params(sites[2].shape, 4, "residual") == 4096 + 32 + 1024 + 32 + 4096 + 128);
  CHECK(denoise_macs(sites[2].shape, 4, "residual") == 4096 + 1024 + 4096);

  for (const std::string form : {"residual", "probabilistic"}) {
    for (int r : {4, 1000}) {  // 1000: clamped to every site's channel count, one hidden channel
      for (const std::vector<int>& placement : {std::vector<int>{1, 0, 1}, std::vector<int>{0, 1, 0}, std::vector<int>{1, 1, 1}}) {
        CAPTURE(form);
        CAPTURE(r);
        CAPTURE(placement[0] * 100 + placement[1] * 10 + placement[2]);
        Network net = base.clone();
        const auto idx = insert_denoise(net, sites, placement, r, form, 9);
        long long want_p = 0, want_m = 0, block_p = 0, block_m = 0;
        std::size_t k = 0;
        for (std::size_t site = 0; site < sites.size(); ++site) {
          if (placement[site] == 0) continue;
          want_p += denoise_params(sites[site].shape, r, form);
          want_m += denoise_macs(sites[site].shape, r, form);
          REQUIRE(k < idx.size());
          CHECK(net.name(idx[k]) == "denoise_" + sites[site].after);
          CHECK(net.inputs(idx[k]) == std::vector<int>{int(net.find(sites[site].after))});
          auto* block = dynamic_cast<Denoise*>(&net.layer(idx[k]));
          REQUIRE(block != nullptr);
          CHECK(Denoise::form_name(block->form()) == form);
          CHECK(block->hidden() == (r == 4 ? sites[site].shape.c / 4 : 1));
          for (auto* p : block->parameters()) block_p += p->value.size();
          block_m += block->macs();
          ++k;
        }
        CHECK(idx.size() == k);
        CHECK(net.size() == base.size() + k);
        CHECK(parameter_count(net) - p0 == want_p);
        CHECK(parameter_count(net) - p0 == block_p);
        CHECK(mac_count(net) - m0 == want_m);
        CHECK(mac_count(net) - m0 == block_m);
        CHECK(net.forward(x) == out);
      }
    }
  }
  Network net = base.clone();
  CHECK_THROWS_WITH_AS(insert_denoise(net, sites, {1, 1}, 4, "residual", 9), doctest::Contains("placement"), Error);
  CHECK_THROWS_AS(insert_denoise(net, sites, {1, 1, 1}, 4, "gaussian", 9), Error);
  CHECK(net.size() == base.size());  // nothing inserted by a call that threw
}

TEST_CASE("insert_denoise: train_blocks with the NLL term fits the noise model and leaves the backbone") {
  // Dense(8 -> 16) ReLU Dense(16 -> 4), a probabilistic block after the ReLU, additive noise on the first
  // Dense layer as the training step hook.
  Network clean = chain({8, 16, 4});
  Stream init(13, "init", {});
  clean.init(init);
  Stream s(14, "test", {});
  const data::Dataset d = dataset(normal(256, 8, s), 4);
  const auto sites = block_sites(clean);
  REQUIRE(sites.size() == 1);
  REQUIRE(sites[0].after == clean.name(1));

  TrainParams tp;
  tp.epochs = 6;
  tp.batch_size = 32;
  tp.schedule = "constant";
  tp.optimizer.lr = 1e-2;
  tp.seed = 3;

  struct Run {
    double nll_before, nll_after, r2;
    std::vector<EpochLog> logs;
    Matrix w3, b3;
  };
  auto run = [&](double nll_weight) {
    Network net = clean.clone();
    const auto blocks = insert_denoise(net, sites, {1}, 2, "probabilistic", 5);
    REQUIRE(blocks.size() == 1);
    auto& block = dynamic_cast<Denoise&>(net.layer(blocks[0]));
    const auto layers = noise_layers(net, "hidden");
    REQUIRE(layers == std::vector<std::size_t>{0});
    ActivationNoise an(net, NoiseModel::additive, 0.05, layers, activation_ranges(net, layers, d.x), 6);
    Taps in(net, {1});  // the block's input: the noisy ReLU output
    // The block's NLL on the whole set under a fixed noise instance, against the clean ReLU output.
    auto nll_now = [&] {
      Taps t(clean, {1});
      clean.forward(d.x, Mode::eval);
      an.set_batch(1, 0);
      net.forward(d.x, Mode::train);
      return block.nll(t.out[0], nullptr);
    };
    Run res;
    res.nll_before = nll_now();
    // At the identity start (mu = 0, s = 0) the NLL is the mean of 0.5 (log 2 pi + r^2), r = noisy - clean.
    {
      Taps t(clean, {1});
      clean.forward(d.x, Mode::eval);
      const MatrixD r = in.out[0].cast<double>() - t.out[0].cast<double>();
      res.r2 = r.squaredNorm() / double(r.size());
      CHECK(res.nll_before == doctest::Approx(0.5 * (std::log(2 * std::numbers::pi) + res.r2)).epsilon(1e-6));
    }
    std::vector<bool> is_block(net.size(), false);
    is_block[blocks[0]] = true;
    std::vector<Matrix> backbone, head;
    for (std::size_t i = 0; i < net.size(); ++i)
      for (auto* p : net.layer(i).parameters()) (is_block[i] ? head : backbone).push_back(p->value);
    res.logs = train_blocks(net, blocks, clean, {sites[0].after}, d, tp, BlockLoss{0, nll_weight}, {&an}, false);
    REQUIRE(res.logs.size() == 6);
    std::size_t kb = 0, kh = 0;
    bool moved = false;
    for (std::size_t i = 0; i < net.size(); ++i)
      for (auto* p : net.layer(i).parameters()) {
        if (is_block[i]) moved = moved || p->value != head[kh++];
        else CHECK(p->value == backbone[kb++]);  // frozen backbone, bit for bit
        CHECK(p->trainable);                     // flags restored
      }
    CHECK(moved);
    res.nll_after = nll_now();
    res.w3 = block.params()[4]->value;
    res.b3 = block.params()[5]->value;
    return res;
  };
  const Run with = run(1.0), without = run(0.0);
  // The noise is present and far below the initial model's unit variance, so fitting s lowers the NLL.
  CHECK(with.r2 > 1e-4);
  CHECK(with.r2 < 0.5);
  CHECK(with.nll_after < with.nll_before);
  CHECK(with.logs.back().loss < with.logs.front().loss);
  // Without the term the log-variance half of the head (columns c..2c of w3 and b3) gets no gradient and
  // stays exactly 0; with it, it moves, and the NLL ends lower than the cross-entropy-only run's.
  const int c = 16;
  CHECK(without.w3.rightCols(c).cwiseAbs().maxCoeff() == 0.f);
  CHECK(without.b3.rightCols(c).cwiseAbs().maxCoeff() == 0.f);
  CHECK(with.w3.rightCols(c).cwiseAbs().maxCoeff() > 0.f);
  CHECK(with.b3.rightCols(c).cwiseAbs().maxCoeff() > 0.f);
  CHECK(with.nll_after < without.nll_after);
}
