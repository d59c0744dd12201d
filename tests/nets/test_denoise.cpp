// The denoising block (nets/denoise.hpp): identity at initialization, forward, gradients and the
// probabilistic form's NLL against an independent double-precision oracle, model files, bad arguments.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>

#include "core/random.hpp"
#include "nets/denoise.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "tests/common/layer_helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using aimc::test::error_of;
using aimc::test::normal;

namespace {

/// The block in double, naive loops over positions, written from the header's definition and
/// Conv2d's documented crossbar layout (row (i k + j) m + ch of w2 is tap (i, j), input channel ch).
struct Oracle {
  int c, h, w, m, o;
  bool prob;
  std::vector<MatrixD> P;  // w1, b1, w2, b2, w3, b3
  double min_abs_z = INFINITY;  // smallest |pre-activation| of the last forward (ReLU kinks)

  explicit Oracle(const Denoise& L) {
    const Shape s = L.input_shape();
    c = s.c, h = s.h, w = s.w, m = L.hidden();
    prob = L.form() == Denoise::Form::probabilistic;
    o = prob ? 2 * c : c;
    for (const auto& p : L.params()) P.push_back(p->value.cast<double>());
  }

  /// Head output h3 (B, h w o).
  MatrixD head(const MatrixD& x) {
    const int k = h * w > 1 ? 3 : 1, pos = h * w;
    MatrixD out(x.rows(), Eigen::Index(pos) * o);
    for (Eigen::Index b = 0; b < x.rows(); ++b) {
      MatrixD a1(pos, m), a2(pos, m);
      for (int p = 0; p < pos; ++p)
        for (int q = 0; q < m; ++q) {
          double z = P[1](0, q);
          for (int ch = 0; ch < c; ++ch) z += x(b, p * c + ch) * P[0](ch, q);
          min_abs_z = std::min(min_abs_z, std::abs(z));
          a1(p, q) = std::max(z, 0.0);
        }
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j)
          for (int q = 0; q < m; ++q) {
            double z = P[3](0, q);
            for (int di = 0; di < k; ++di)
              for (int dj = 0; dj < k; ++dj) {
                const int ii = i + di - k / 2, jj = j + dj - k / 2;
                if (ii < 0 || ii >= h || jj < 0 || jj >= w) continue;
                for (int ch = 0; ch < m; ++ch) z += a1(ii * w + jj, ch) * P[2]((di * k + dj) * m + ch, q);
              }
            min_abs_z = std::min(min_abs_z, std::abs(z));
            a2(i * w + j, q) = std::max(z, 0.0);
          }
      for (int p = 0; p < pos; ++p)
        for (int t = 0; t < o; ++t) {
          double v = P[5](0, t);
          for (int q = 0; q < m; ++q) v += a2(p, q) * P[4](q, t);
          out(b, Eigen::Index(p) * o + t) = v;
        }
    }
    return out;
  }

  /// y = x + h3 (residual) or x - mu (probabilistic).
  MatrixD forward(const MatrixD& x) {
    const MatrixD hd = head(x);
    MatrixD y(x.rows(), x.cols());
    for (Eigen::Index b = 0; b < x.rows(); ++b)
      for (int p = 0; p < h * w; ++p)
        for (int ch = 0; ch < c; ++ch)
          y(b, p * c + ch) = x(b, p * c + ch) + (prob ? -1 : 1) * hd(b, Eigen::Index(p) * o + ch);
    return y;
  }

  /// Mean Gaussian NLL of r = x - target under N(mu, exp(clamp(s, -10, 10))).
  double nll(const MatrixD& x, const MatrixD& target) {
    const MatrixD hd = head(x);
    double sum = 0;
    for (Eigen::Index b = 0; b < x.rows(); ++b)
      for (int p = 0; p < h * w; ++p)
        for (int ch = 0; ch < c; ++ch) {
          const double mu = hd(b, Eigen::Index(p) * o + ch), s = std::clamp(hd(b, Eigen::Index(p) * o + c + ch), -10.0, 10.0);
          const double d = x(b, p * c + ch) - target(b, p * c + ch) - mu;
          sum += 0.5 * (std::log(2 * std::numbers::pi) + s + d * d * std::exp(-s));
        }
    return sum / double(x.size());
  }
};

void randomize(Denoise& L, Stream& s) {
  for (auto& p : L.params()) s.fill_normal(p->value, 0.f, 0.5f);
}

/// Checks dx and every parameter gradient of `L` (from its last backward) against central differences
/// of `loss(oracle, x)` in double.
template <class Loss>
void check_gradients(const Denoise& L, const Matrix& x, const Matrix& dx, Loss loss) {
  // Central differences of the double oracle with step 1e-7: the oracle is piecewise linear (residual
  // form) or smooth (NLL) between ReLU kinks, so away from kinks the difference is exact up to double
  // rounding, ~1e-16 |loss| / 1e-7 ~ 1e-8, plus O(h^2) = 1e-14 curvature terms of the NLL. A step moves
  // every pre-activation by at most h (sum of |coefficients|) < 1e-5 here; the test asserts that the
  // smallest |pre-activation| is above 1e-4, so no difference straddles a kink. The analytic gradient is
  // float through three maps with sums of at most 9 m + c <= 30 products: gamma_30 ~ 2e-6 of sums of
  // absolute products of order 10, so 1e-4 relative (absolute below magnitude 1) holds with margin.
  const double h = 1e-7;
  Oracle base(L);
  const MatrixD xd = x.cast<double>();
  loss(base, xd);
  CHECK(base.min_abs_z > 1e-4);
  for (Eigen::Index i = 0; i < xd.size(); ++i) {
    MatrixD xp = xd, xm = xd;
    xp.data()[i] += h;
    xm.data()[i] -= h;
    Oracle a = base, b = base;
    const double fd = (loss(a, xp) - loss(b, xm)) / (2 * h);
    CHECK(double(dx.data()[i]) == doctest::Approx(fd).epsilon(1e-4).scale(1.0));
  }
  for (std::size_t k = 0; k < base.P.size(); ++k) {
    CAPTURE(L.params()[k]->name);
    for (Eigen::Index i = 0; i < base.P[k].size(); ++i) {
      Oracle a = base, b = base;
      a.P[k].data()[i] += h;
      b.P[k].data()[i] -= h;
      const double fd = (loss(a, xd) - loss(b, xd)) / (2 * h);
      CHECK(double(L.params()[k]->grad.data()[i]) == doctest::Approx(fd).epsilon(1e-4).scale(1.0));
    }
  }
}

struct Case {
  int c, h, w, r;
};
// A non-square feature map (3x3 taps clipped at every border) and a feature vector (dense maps).
constexpr Case kCases[] = {{4, 3, 4, 2}, {6, 1, 1, 2}};

}  // namespace

TEST_CASE("denoise: an initialized block is exactly the identity, in a network too") {
  Stream s(3, "test", {});
  for (auto form : {Denoise::Form::residual, Denoise::Form::probabilistic}) {
    CAPTURE(Denoise::form_name(form));
    for (const auto& k : kCases) {
      Denoise L(k.c, k.h, k.w, k.r, form);
      L.init(s);
      CHECK(L.params()[0]->value.cwiseAbs().maxCoeff() > 0);  // the first maps are drawn, not zero
      CHECK(L.params()[2]->value.cwiseAbs().maxCoeff() > 0);
      const Matrix x = normal(5, k.c * k.h * k.w, s);
      Matrix y;
      L.forward(x, y, Mode::eval);
      CHECK(y == x);
      L.forward(x, y, Mode::train);
      CHECK(y == x);
    }
    // Inserted into the reference CNN after its first pooling: the logits are bit-identical.
    Network net = make_reference("cnn");
    Stream init(1, "init", {});
    net.init(init);
    const Matrix x = normal(3, 784, s);
    const Matrix before = net.forward(x);
    auto block = std::make_unique<Denoise>(32, 14, 14, 4, form);
    Stream bi(2, "init", {});
    block->init(bi);
    net.insert_after(net.name(2), std::move(block), "den");
    CHECK(net.size() == 11);
    CHECK(net.forward(x) == before);
  }
}

TEST_CASE("denoise: forward and gradients against a double-precision oracle and finite differences") {
  Stream s(5, "test", {});
  for (auto form : {Denoise::Form::residual, Denoise::Form::probabilistic}) {
    for (const auto& k : kCases) {
      CAPTURE(Denoise::form_name(form));
      CAPTURE(k.h);
      Denoise L(k.c, k.h, k.w, k.r, form);
      CHECK(L.hidden() == k.c / k.r);
      const int pos = k.h * k.w, m = k.c / k.r, kk = pos > 1 ? 9 : 1, o = form == Denoise::Form::residual ? k.c : 2 * k.c;
      CHECK(L.macs() == (long long)pos * (k.c * m + kk * m * m + m * o));
      randomize(L, s);
      const int features = k.c * pos;
      const Matrix x = normal(2, features, s);
      Matrix y;
      L.forward(x, y, Mode::train);
      Oracle oracle(L);
      const MatrixD yo = oracle.forward(x.cast<double>());
      // Each output is x plus three chained float sums of at most 9 m + c <= 30 products each: the
      // float error is a few gamma_30 ~ 2e-6 of sums of absolute products of order 10.
      CHECK((y.cast<double>() - yo).cwiseAbs().maxCoeff() <= 1e-4 * (1 + yo.cwiseAbs().maxCoeff()));

      // L = sum(g .* y) with a random g: dL/dy = g.
      const Matrix g = normal(2, features, s);
      Matrix dx;
      for (auto& p : L.params()) p->grad.setZero();
      L.backward(g, dx);
      const MatrixD gd = g.cast<double>();
      check_gradients(L, x, dx, [&](Oracle& O, const MatrixD& xx) { return (O.forward(xx).array() * gd.array()).sum(); });
    }
  }
}

TEST_CASE("denoise: the probabilistic NLL, its value and gradient against finite differences") {
  Stream s(7, "test", {});
  for (const auto& k : kCases) {
    CAPTURE(k.h);
    Denoise L(k.c, k.h, k.w, k.r, Denoise::Form::probabilistic);
    randomize(L, s);
    // Channel 1's log variance far above the clamp (s ~ 15 at every position): its value is clamped to
    // 10 and its gradient is 0; the oracle's clamp gives the same.
    L.params()[5]->value(0, k.c + 1) = 15.f;
    const int features = k.c * k.h * k.w;
    const Matrix x = normal(2, features, s);
    const Matrix target = x + normal(2, features, s, 0.3f);
    const Matrix g = normal(2, features, s);
    Matrix y, dh, dx;
    L.forward(x, y, Mode::train);
    for (auto& p : L.params()) p->grad.setZero();
    const double v = L.nll(target, &dh);
    Oracle oracle(L);
    const double vo = oracle.nll(x.cast<double>(), target.cast<double>());
    // The layer evaluates the same double sum from a float head: float rounding of mu and s (~1e-6 of
    // the head's sums) moves the mean by far less than 1e-5.
    CHECK(v == doctest::Approx(vo).epsilon(1e-5));
    CHECK(dh.rows() == 2);
    CHECK(dh.cols() == k.h * k.w * 2 * k.c);
    for (int p = 0; p < k.h * k.w; ++p)
      for (Eigen::Index b = 0; b < 2; ++b) CHECK(dh(b, Eigen::Index(p) * 2 * k.c + k.c + 1) == 0.f);
    CHECK(L.nll(target, nullptr) == v);  // no gradient requested: same value, nothing scheduled twice
    // Gradient of sum(g .* y) + nll: backward adds the scheduled NLL gradient.
    L.backward(g, dx);
    const MatrixD gd = g.cast<double>(), td = target.cast<double>();
    check_gradients(L, x, dx, [&](Oracle& O, const MatrixD& xx) {
      return (O.forward(xx).array() * gd.array()).sum() + O.nll(xx, td);
    });
    // The NLL gradient is consumed by one backward: the next one is the plain upstream gradient.
    Matrix dx2;
    for (auto& p : L.params()) p->grad.setZero();
    L.forward(x, y, Mode::train);
    L.backward(g, dx2);
    CHECK(dx2 != dx);
  }
  Denoise r(4, 2, 2, 2, Denoise::Form::residual);
  Matrix y;
  r.forward(Matrix::Zero(1, 16), y, Mode::train);
  CHECK_THROWS_AS(r.nll(Matrix::Zero(1, 16), nullptr), Error);
}

TEST_CASE("denoise: model files keep both forms bit for bit") {
  Network net = make_reference("cnn");
  Stream init(1, "init", {});
  net.init(init);
  Stream s(9, "test", {});
  auto a = std::make_unique<Denoise>(32, 14, 14, 4, Denoise::Form::probabilistic);
  auto b = std::make_unique<Denoise>(32, 14, 14, 8, Denoise::Form::residual);
  randomize(*a, s);
  randomize(*b, s);
  const std::size_t ia = net.insert_after(net.name(2), std::move(a), "den_p");
  const std::size_t ib = net.insert_after("den_p", std::move(b), "den_r");
  const Matrix x = normal(3, 784, s);
  const Matrix out = net.forward(x);
  const auto path = std::filesystem::temp_directory_path() / "aimc_test_denoise.h5";
  save_model(path.string(), net, ModelMeta{.name = "cnn"});
  auto m = load_model(path.string());
  std::filesystem::remove(path);
  REQUIRE(m.net.size() == net.size());
  CHECK(m.net.layer(ia).spec().args == net.layer(ia).spec().args);
  CHECK(m.net.layer(ib).spec().args == net.layer(ib).spec().args);
  CHECK(m.net.layer(ia).spec().get_string("form") == "probabilistic");
  CHECK(m.net.forward(x) == out);
}

TEST_CASE("denoise: bad arguments are errors naming the kind and the argument") {
  auto spec = [](long long c, long long r, std::string form) {
    return LayerSpec{"denoise", {{"c", c}, {"h", 2}, {"w", 2}, {"r", r}, {"form", std::move(form)}}};
  };
  CHECK(error_of(spec(4, 2, "residual")).empty());
  CHECK(error_of(spec(4, 4, "probabilistic")).empty());
  for (const auto& [e, arg] : {std::pair{error_of(spec(4, 0, "residual")), "'r'"},
                               std::pair{error_of(spec(4, 5, "residual")), "'r'"},
                               std::pair{error_of(spec(0, 1, "residual")), "'c'"},
                               std::pair{error_of(spec(4, 2, "gaussian")), "'form'"}}) {
    CAPTURE(e);
    CHECK(e.find("denoise") != std::string::npos);
    CHECK(e.find(arg) != std::string::npos);
  }
  CHECK(error_of(spec(4, 2, "gaussian")).find("gaussian") != std::string::npos);
  CHECK(error_of({"denoise", {{"c", 4}, {"h", 2}, {"w", 2}, {"r", 2}}}).find("form") != std::string::npos);
}
