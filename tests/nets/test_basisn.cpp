// BasisN (nets/basisn.hpp): the basis_product / basis_combine pair against the standard layers it
// replaces, the conversion, quantizers, gradients, the shared basis, model files and bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "nets/analog.hpp"
#include "nets/basisn.hpp"
#include "nets/detail.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/optimizer.hpp"
#include "tests/common/layer_helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using aimc::test::error_of;
using aimc::test::gamma_n;
using aimc::test::kU;
using aimc::test::normal;
using aimc::test::Threads;

namespace {
/// conv3x3 (5 channels: not a multiple of the group, so the last segment is padded) -> relu -> flatten
/// -> dense (K = 6*6*4 = 144 inputs, not a multiple of L = 36) -> 3 outputs.
Network small_net() {
  Network n(Shape{5, 6, 6});
  n.add(make_layer({"conv2d", {{"in_c", 5}, {"in_h", 6}, {"in_w", 6}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  n.add(make_layer({"relu", {{"c", 4}, {"h", 6}, {"w", 6}}}));
  n.add(make_layer({"flatten", {{"c", 4}, {"h", 6}, {"w", 6}}}));
  n.add(make_layer({"dense", {{"in", 144}, {"out", 3}}}));
  Stream s(7, "test.basisn.init");
  n.init(s);
  for (std::size_t i = 0; i < n.size(); ++i)
    if (n.layer(i).params().size() == 2) n.layer(i).params()[1]->value.setConstant(0.1f);
  return n;
}

/// basis_quantize's rule in double, written from the header (not from basisn.cpp): m = min(1, |c| / s);
/// uniform: round(m E) / E with E = 2^(b-1) - 1; pow2: the power 2^n nearest in log2, n = floor(log2 m +
/// 1/2) (a mantissa >= 2^(-1/2) rounds up), magnitudes 2^0 .. 2^-(E-1), anything smaller -> 0.
double q_rule(double c, double s, int bits, bool pow2) {
  if (!(s > 0) || c == 0) return 0;
  const double m = std::min(1.0, std::abs(c) / s);
  const double E = std::pow(2.0, bits - 1) - 1;
  double q;
  if (!pow2) {
    q = std::round(m * E) / E;
  } else {
    const double e = std::max(0.0, -std::floor(std::log2(m) + 0.5));
    q = e >= E ? 0.0 : std::pow(2.0, -e);
  }
  return (c < 0 ? -q : q) * s;
}

/// Q(C) of a basis_combine: per-column scale, or C itself for bits = 0.
MatrixD q_oracle(const Matrix& c, int bits, bool pow2) {
  MatrixD q = c.cast<double>();
  if (bits == 0) return q;
  for (Eigen::Index j = 0; j < q.cols(); ++j) {
    const double s = q.col(j).cwiseAbs().maxCoeff();
    for (Eigen::Index i = 0; i < q.rows(); ++i) q(i, j) = q_rule(q(i, j), s, bits, pow2);
  }
  return q;
}

/// basis_product in double with naive loops, from the header's definition: segment s of output
/// position (oh, ow) is the kh x kw x g receptive field of channels [s g, s g + g) (taps major, channels
/// minor, channels >= C and taps in the zero padding are 0); output row (b P0 + pos) S + s holds its M
/// responses, i.e. channel s M + j of that position.
struct ProductOracle {
  Shape in;
  ConvGeometry g;
  int L, M, G, S, Ho, Wo;
  ProductOracle(Shape in_, ConvGeometry g_, int L_, int M_) : in(in_), g(g_), L(L_), M(M_) {
    G = L / (g.kh * g.kw);
    S = (in.c + G - 1) / G;
    Ho = (in.h + g.pad_top + g.pad_bottom - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    Wo = (in.w + g.pad_left + g.pad_right - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  }
  long P() const { return long(Ho) * Wo * S; }  // crossbar rows per sample
  /// Calls f(row, k, input index) for sample b for every segment entry that reads the input.
  template <class F>
  void each(F f) const {
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow)
        for (int s = 0; s < S; ++s)
          for (int i = 0; i < g.kh; ++i)
            for (int j = 0; j < g.kw; ++j)
              for (int c = 0; c < G; ++c) {
                const int ch = s * G + c, ih = oh * g.sh - g.pad_top + i * g.dh, iw = ow * g.sw - g.pad_left + j * g.dw;
                if (ch >= in.c || ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
                f((long(oh) * Wo + ow) * S + s, (i * g.kw + j) * G + c, (long(ih) * in.w + iw) * in.c + ch);
              }
  }
  /// The segment rows X_s of every position (B P, L).
  MatrixD lower(const MatrixD& x) const {
    MatrixD r = MatrixD::Zero(x.rows() * P(), L);
    for (Eigen::Index b = 0; b < x.rows(); ++b) each([&](long row, int k, long xi) { r(b * P() + row, k) = x(b, xi); });
    return r;
  }
  /// y (B, P M) and the sums of |products| per output.
  void forward(const MatrixD& x, const MatrixD& B, MatrixD& y, MatrixD& abs) const {
    const MatrixD r = lower(x);
    y = MatrixD::Zero(x.rows(), P() * M);
    abs = y;
    for (Eigen::Index row = 0; row < r.rows(); ++row)
      for (int j = 0; j < M; ++j)
        for (int k = 0; k < L; ++k) {
          y.data()[row * M + j] += r(row, k) * B(k, j);
          abs.data()[row * M + j] += std::abs(r(row, k) * B(k, j));
        }
  }
  /// The exact adjoint: dx = lowering^T (dY B^T), dB = X^T dY, with sums of |terms| for the bounds.
  void backward(const MatrixD& x, const MatrixD& B, const MatrixD& dy, MatrixD& dx, MatrixD& dx_abs, MatrixD& dB,
                MatrixD& dB_abs) const {
    dx = MatrixD::Zero(x.rows(), x.cols());
    dx_abs = dx;
    dB = MatrixD::Zero(L, M);
    dB_abs = dB;
    for (Eigen::Index b = 0; b < x.rows(); ++b)
      each([&](long row, int k, long xi) {
        for (int j = 0; j < M; ++j) {
          const double d = dy(b, row * M + j);
          dx(b, xi) += d * B(k, j);
          dx_abs(b, xi) += std::abs(d * B(k, j));
          dB(k, j) += x(b, xi) * d;
          dB_abs(k, j) += std::abs(x(b, xi) * d);
        }
      });
  }
};

/// Entrywise |a - b| <= bound (all three the same shape).
bool within(const MatrixD& a, const MatrixD& b, const MatrixD& bound) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return ((a - b).cwiseAbs().array() <= bound.array()).all();
}

/// The nodes of `n` that are basis_product layers.
std::vector<std::size_t> product_nodes(const Network& n) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < n.size(); ++i)
    if (dynamic_cast<const BasisProduct*>(&n.layer(i))) out.push_back(i);
  return out;
}

std::string basisn_error(const Network& n, const BasisOptions& o) {
  try {
    to_basisn(n, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

BasisOptions options(int length, int size, std::string layers = "all") {
  BasisOptions o;
  o.length = length;
  o.size = size;
  o.layers = std::move(layers);
  return o;
}
}  // namespace

TEST_CASE("basisn: a full basis (M = L) reproduces the standard network within float rounding") {
  const Network ref = small_net();
  BasisOptions o;
  o.length = 36;  // 3x3 taps x 4 channels; the dense layer is cut into 4 vectors of 36
  o.size = 36;
  std::vector<BasisLayerInfo> info;
  Network bn = to_basisn(ref, o, &info);
  REQUIRE(info.size() == 2);
  CHECK(info[0].segments == 2);  // ceil(5 / 4)
  CHECK(info[1].segments == 4);  // ceil(144 / 36)
  for (const auto& l : info) CHECK(l.fit_error < 1e-5);
  Stream s(3, "test.basisn.x");
  const Matrix x = normal(4, ref.input_shape().size(), s);
  Network a = ref.clone();
  const Matrix y0 = a.forward(x), y1 = bn.forward(x);
  REQUIRE(y1.rows() == y0.rows());
  REQUIRE(y1.cols() == y0.cols());
  // Loose bound: the pair re-associates sums of at most 144 products twice (segment products, combination)
  // and the orthonormal basis is itself rounded to float; 1e-4 of the output scale is far above it.
  const double scale = y0.cwiseAbs().maxCoeff() + 1.0;
  CHECK((y1 - y0).cwiseAbs().maxCoeff() < 1e-4 * scale);
  // basis (once) + per converted layer: the product's bias, the coefficients and the combine bias
  CHECK(bn.parameter_store().size() == 1 + 2 * 3);
}

TEST_CASE("basisn: basis_quantize on hand-computed values (uniform and pow2 - per column and whole matrix)") {
  // Column 0 has max 1 and column 1 max 2.5; no value sits on a rounding boundary (ties, mantissa
  // 2^(-1/2), the zero threshold 2^(-6.5) = 0.01105 of 4-bit pow2) by more than 4e-5 relative.
  Matrix w(8, 2);
  w.col(0) << 1.0f, 0.4f, -0.3f, 0.06f, 0.08f, 0.0f, -0.55f, 0.2f;
  w.col(1) << 1.0f, 0.7f, 0.72f, -0.3f, 0.36f, 0.012f, 0.011f, 0.0111f;
  w.col(1) *= 2.5f;
  auto check = [&](int bits, const std::string& mode, bool per_column, const std::vector<double>& c0,
                   const std::vector<double>& c1) {
    CAPTURE(bits);
    CAPTURE(mode);
    CAPTURE(per_column);
    Matrix q;
    basis_quantize(w, bits, mode, per_column, q);
    REQUIRE(q.rows() == 8);
    REQUIRE(q.cols() == 2);
    for (int i = 0; i < 8; ++i) {
      CAPTURE(i);
      // expected values are k/7 or 2^-e times a float scale: one float rounding apart at most
      CHECK(double(q(i, 0)) == doctest::Approx(c0[std::size_t(i)]).epsilon(1e-6));
      CHECK(double(q(i, 1)) == doctest::Approx(c1[std::size_t(i)]).epsilon(1e-6));
    }
  };
  const double s = 2.5;
  auto k7 = [](std::vector<double> k, double scale) {
    for (auto& v : k) v = v / 7 * scale;
    return k;
  };
  auto times = [](std::vector<double> k, double scale) {
    for (auto& v : k) v *= scale;
    return k;
  };
  // uniform, 4 bits: levels k/7 of the column max (0.4*7 = 2.8 -> 3, 0.3*7 = 2.1 -> 2, 0.06*7 -> 0, ...)
  check(4, "uniform", true, k7({7, 3, -2, 0, 1, 0, -4, 1}, 1.0), k7({7, 5, 5, -2, 3, 0, 0, 0}, s));
  // pow2, 4 bits: 2^0 .. 2^-6; 0.7 (mantissa 0.7 < 0.7071) -> 2^-1, 0.72 -> 2^0, 0.012 -> 2^-6,
  // 0.0111 (above 2^-6.5) -> 2^-6, 0.011 (below) -> 0
  check(4, "pow2", true, {1, 0.5, -0.25, 0.0625, 0.0625, 0, -0.5, 0.25},
        times({1, 0.5, 1, -0.25, 0.5, 0.015625, 0, 0.015625}, s));
  // whole matrix: one scale 2.5, so column 0 is quantized on 2.5 (0.4 / 2.5 * 7 = 1.12 -> 1, ...)
  check(4, "uniform", false, k7({3, 1, -1, 0, 0, 0, -2, 1}, s), k7({7, 5, 5, -2, 3, 0, 0, 0}, s));
  check(4, "pow2", false, times({0.5, 0.125, -0.125, 0.03125, 0.03125, 0, -0.25, 0.0625}, s),
        times({1, 0.5, 1, -0.25, 0.5, 0.015625, 0, 0.015625}, s));
  // 2 bits: uniform levels {0, 1} (|m| >= 1/2 -> 1); pow2 E = 1: only 2^0, anything below 2^-0.5 -> 0
  check(2, "uniform", true, {1, 0, 0, 0, 0, 0, -1, 0}, times({1, 1, 1, 0, 0, 0, 0, 0}, s));
  check(2, "pow2", true, {1, 0, 0, 0, 0, 0, 0, 0}, times({1, 0, 1, 0, 0, 0, 0, 0}, s));

  Matrix q;
  basis_quantize(w, 0, "pow2", true, q);
  CHECK(q == w);
  basis_quantize(w, 0, "uniform", false, q);
  CHECK(q == w);
  basis_quantize(Matrix::Zero(3, 2), 4, "pow2", true, q);  // zero scale: zeros, not NaN
  CHECK(q == Matrix::Zero(3, 2));
  for (int bits : {-1, 1, 17}) {
    const std::string text = std::to_string(bits) + " bits";
    CHECK_THROWS_WITH_AS(basis_quantize(w, bits, "uniform", true, q), doctest::Contains(text.c_str()), Error);
  }
  CHECK_THROWS_WITH_AS(basis_quantize(w, 4, "log", true, q), doctest::Contains("log"), Error);
  CHECK_THROWS_AS(basis_quantize(w, 0, "log", true, q), Error);
}

TEST_CASE("basisn: basis_product forward and lowering against a naive double oracle") {
  struct Case {
    const char* what;
    LayerSpec spec;
    Shape in;
    ConvGeometry g;
    int L, M;
  };
  using V = std::vector<long long>;
  ConvGeometry ga = ConvGeometry::square(3, 2, 0);
  ga.pad_top = 1, ga.pad_left = 0, ga.pad_bottom = 2, ga.pad_right = 1;
  ConvGeometry gb;
  gb.kh = 2, gb.kw = 3, gb.sh = 2, gb.sw = 1, gb.pad_top = 0, gb.pad_left = 1, gb.pad_bottom = 1, gb.pad_right = 0;
  gb.dh = 2, gb.dw = 1;
  const Case cases[] = {
      // 3x3 stride 2, asymmetric pads; L = 18: groups of g = 2 channels, C = 5 -> 3 segments, the last padded
      {"conv 3x3 stride 2",
       {"basis_product",
        {{"in_c", 5}, {"in_h", 7}, {"in_w", 6}, {"kernel", 3}, {"stride", 2}, {"pad", 0}, {"pads", V{1, 0, 2, 1}}, {"length", 18}, {"size", 4}}},
       {5, 7, 6}, ga, 18, 4},
      // 2x3 kernel, strides (2, 1), dilation (2, 1), asymmetric pads; L = 12: g = 2, 3 segments
      {"conv 2x3 dilated",
       {"basis_product",
        {{"in_c", 5}, {"in_h", 6}, {"in_w", 5}, {"kernel", 2}, {"stride", 2}, {"pad", 0}, {"kernel_shape", V{2, 3}},
         {"strides", V{2, 1}}, {"pads", V{0, 1, 1, 0}}, {"dilations", V{2, 1}}, {"length", 12}, {"size", 5}}},
       {5, 6, 5}, gb, 12, 5},
      // dense: 50 inputs as 1x1 on a 1x1 image, L = 16: 4 segments, the last 2 inputs + 14 zeros
      {"dense",
       {"basis_product", {{"in_c", 50}, {"in_h", 1}, {"in_w", 1}, {"kernel", 1}, {"stride", 1}, {"pad", 0}, {"length", 16}, {"size", 5}}},
       {50, 1, 1}, ConvGeometry::square(1, 1, 0), 16, 5},
  };
  Stream s(21, "test.basisn.product");
  for (const Case& k : cases) {
    CAPTURE(k.what);
    auto layer = make_layer(k.spec);
    auto* bp = dynamic_cast<BasisProduct*>(layer.get());
    REQUIRE(bp != nullptr);
    const ProductOracle o(k.in, k.g, k.L, k.M);
    CHECK(bp->group() == o.G);
    CHECK(bp->segments() == o.S);
    CHECK(bp->positions() == o.P());
    CHECK(bp->output_shape() == Shape{o.S * k.M, o.Ho, o.Wo});
    CHECK(make_layer(bp->spec())->spec().args == bp->spec().args);
    CHECK(dynamic_cast<BasisProduct&>(*make_layer(bp->spec())).geometry() == k.g);
    s.fill_normal(bp->params()[0]->value, 0.f, 1.f);
    // 19 samples: two chunks of the layer's sample split (16 + 3)
    const Matrix x = normal(19, k.in.size(), s);
    Matrix y;
    bp->forward(x, y, Mode::eval);
    MatrixD yo, abs;
    const MatrixD B = bp->weight().cast<double>();
    o.forward(x.cast<double>(), B, yo, abs);
    CHECK(o.P() * k.M == bp->output_shape().size());
    // Each output is a float sum of L products (the padded zeros add nothing) and the zero bias:
    // |error| <= gamma_L sum |products|; gamma_(L+1) also covers the oracle's double rounding.
    CHECK(within(y.cast<double>(), yo, gamma_n(k.L + 1) * abs));
    CHECK(abs.maxCoeff() > 0);

    // The analog path: lower() is the oracle's segment rows exactly (pure data movement), raise()
    // adds the bias to the products exactly, and raise(lower(x) B) is the forward within the same bound.
    Matrix scratch;
    const Matrix& rows = bp->lower(x, scratch);
    CHECK(rows.cast<double>() == o.lower(x.cast<double>()));
    const Matrix prod = rows * bp->weight();
    Matrix y2;
    bp->raise(prod, y2);
    CHECK(y2 == Eigen::Map<const Matrix>(prod.data(), x.rows(), o.P() * k.M));  // bias is 0
    CHECK(within(y2.cast<double>(), yo, gamma_n(k.L + 1) * abs));
    // raise() adds a (1 x M) bias to every response row
    bp->params()[1]->value.setConstant(0.25f);
    bp->raise(prod, y2);
    CHECK(y2 == (Eigen::Map<const Matrix>(prod.data(), x.rows() * o.P(), k.M).array() + 0.25f).matrix().reshaped<Eigen::RowMajor>(x.rows(), o.P() * k.M));
    bp->params()[1]->value.setZero();
    // lower_samples over a range that crosses the chunk boundary: the matching rows of lower()
    Matrix scratch2;
    const Eigen::Ref<const Matrix> part = bp->lower_samples(x, 5, 12, scratch2);
    CHECK(part == rows.middleRows(5 * o.P(), 12 * o.P()));
    CHECK_THROWS_AS(bp->lower_samples(x, 10, 10, scratch2), Error);
  }
}

TEST_CASE("basisn: basis_combine forward against a double oracle with float and quantized coefficients") {
  const int S = 3, M = 4, N = 5, h = 2, w = 3, K = S * M;
  Stream s(23, "test.basisn.combine");
  for (const auto& [bits, mode] : {std::pair{0, "pow2"}, std::pair{4, "uniform"}, std::pair{4, "pow2"}}) {
    CAPTURE(bits);
    CAPTURE(mode);
    auto layer = make_layer({"basis_combine", {{"segments", S}, {"size", M}, {"out", N}, {"h", h}, {"w", w}, {"coeff_bits", bits}, {"coeff_mode", mode}}});
    auto* bc = dynamic_cast<BasisCombine*>(layer.get());
    REQUIRE(bc != nullptr);
    CHECK(bc->input_shape() == Shape{K, h, w});
    CHECK(bc->output_shape() == Shape{N, h, w});
    s.fill_normal(bc->params()[0]->value, 0.f, 1.f);
    s.fill_normal(bc->params()[1]->value, 0.f, 1.f);
    const Matrix& C = bc->params()[0]->value;
    const MatrixD Q = q_oracle(C, bits, std::string(mode) == "pow2");
    // coefficients(): each entry is the rule's value rounded once to float
    CHECK(within(bc->coefficients().cast<double>(), Q, kU * Q.cwiseAbs()));
    if (bits > 0) {
      CHECK((Q - C.cast<double>()).cwiseAbs().maxCoeff() > 1e-3);  // the quantizer acted
      // every column is on the grid: k/7 of its max (uniform) or +-2^-e, e in 0..6, or 0 (pow2)
      for (Eigen::Index j = 0; j < N; ++j) {
        const double sc = C.col(j).cwiseAbs().maxCoeff();
        for (Eigen::Index i = 0; i < K; ++i) {
          const double m = std::abs(double(bc->coefficients()(i, j))) / sc;
          if (std::string(mode) == "uniform") {
            CHECK(std::abs(m * 7 - std::round(m * 7)) < 1e-5);
          } else if (m > 0) {
            const double e = -std::log2(m);
            CHECK(std::abs(e - std::round(e)) < 1e-5);
            CHECK(std::round(e) <= 6);
          }
        }
      }
    }
    const Matrix x = normal(19, K * h * w, s);
    Matrix y;
    bc->forward(x, y, Mode::eval);
    REQUIRE(y.rows() == 19);
    REQUIRE(y.cols() == N * h * w);
    const MatrixD b = bc->params()[1]->value.cast<double>();
    MatrixD yo = MatrixD::Zero(19, N * h * w), abs = yo;
    for (Eigen::Index r = 0; r < 19; ++r)
      for (int p = 0; p < h * w; ++p)
        for (int o = 0; o < N; ++o) {
          double v = b(0, o), a = std::abs(b(0, o));
          for (int k = 0; k < K; ++k) {
            v += double(x(r, p * K + k)) * Q(k, o);
            a += std::abs(double(x(r, p * K + k)) * Q(k, o));
          }
          yo(r, p * N + o) = v;
          abs(r, p * N + o) = a;
        }
    // a float sum of K products plus the bias (gamma_(K+1)), each coefficient one float rounding off
    // the rule's value (one more u): gamma_(K+2) of the sum of absolute terms.
    CHECK(within(y.cast<double>(), yo, gamma_n(K + 2) * abs));
  }
}

TEST_CASE("basisn: backward of both layers against the exact adjoint in double (straight-through for quantized coefficients)") {
  Stream s(25, "test.basisn.grad");
  {
    ConvGeometry g = ConvGeometry::square(3, 2, 0);
    g.pad_top = 1, g.pad_left = 0, g.pad_bottom = 2, g.pad_right = 1;
    const Shape in{5, 7, 6};
    const int L = 18, M = 4;
    BasisProduct bp(in, g, L, M);
    s.fill_normal(bp.params()[0]->value, 0.f, 1.f);
    const ProductOracle o(in, g, L, M);
    for (long batch : {3L, 19L}) {
      CAPTURE(batch);
      const Matrix x = normal(batch, in.size(), s);
      Matrix y, dx;
      bp.forward(x, y, Mode::train);
      const Matrix dy = normal(batch, y.cols(), s);
      for (auto& p : bp.params()) p->grad.setZero();
      bp.backward(dy, dx);
      MatrixD dxo, dxa, dBo, dBa, yo, ya;
      const MatrixD B = bp.weight().cast<double>(), xd = x.cast<double>(), dyd = dy.cast<double>();
      o.backward(xd, B, dyd, dxo, dxa, dBo, dBa);
      o.forward(xd, B, yo, ya);
      // The oracle's adjoint is checked on its own: y is linear in x and in B (bias 0), so by Euler's
      // identity <dx, x> = <dy, y> = <dB, B>, to double rounding (1e-12 of the absolute sum).
      const double dyy = (dyd.array() * yo.array()).sum(), tol = 1e-12 * (dyd.cwiseAbs().array() * ya.array()).sum();
      CHECK(std::abs((dxo.array() * xd.array()).sum() - dyy) <= tol);
      CHECK(std::abs((dBo.array() * B.array()).sum() - dyy) <= tol);
      // dx: each entry gathers at most kh kw = 9 contributions (windows, one segment), each a float
      // sum of M products: gamma_(M + 9). dB: a float sum over the batch's B P rows, per chunk then
      // across chunks (any order): gamma_(B P + 1). The bias gradient: B P terms.
      CHECK(within(dx.cast<double>(), dxo, gamma_n(M + 9) * dxa));
      CHECK(within(bp.params()[0]->grad.cast<double>(), dBo, gamma_n(batch * o.P() + 1) * dBa));
      const MatrixD db = dyd.reshaped<Eigen::RowMajor>(batch * o.P(), M).colwise().sum();
      const MatrixD dba = dyd.cwiseAbs().reshaped<Eigen::RowMajor>(batch * o.P(), M).colwise().sum();
      CHECK(within(bp.params()[1]->grad.cast<double>(), db, gamma_n(batch * o.P()) * dba));
      CHECK(!bp.params()[1]->trainable);  // the product's bias is a frozen zero slot
      // gradients accumulate: a second backward adds the same sum again (two more roundings per chunk)
      bp.backward(dy, dx);
      CHECK(within(bp.params()[0]->grad.cast<double>(), 2 * dBo, 2 * gamma_n(batch * o.P() + 4) * dBa));
    }
  }
  const int S = 3, M = 4, N = 5, h = 2, w = 3, K = S * M, P = h * w;
  for (const auto& [bits, mode] : {std::pair{0, "pow2"}, std::pair{4, "uniform"}, std::pair{3, "pow2"}}) {
    CAPTURE(bits);
    CAPTURE(mode);
    BasisCombine bc(S, M, N, h, w, bits, mode);
    s.fill_normal(bc.params()[0]->value, 0.f, 1.f);
    s.fill_normal(bc.params()[1]->value, 0.f, 1.f);
    const long batch = 19;
    const Matrix x = normal(batch, K * P, s);
    Matrix y, dx;
    bc.forward(x, y, Mode::train);
    const Matrix dy = normal(batch, N * P, s);
    for (auto& p : bc.params()) p->grad.setZero();
    bc.backward(dy, dx);
    // straight-through: dC = X^T dY (as if dL/dQ(C) were dL/dC), dx = dY Q(C)^T
    const MatrixD Q = q_oracle(bc.params()[0]->value, bits, std::string(mode) == "pow2");
    const MatrixD X = x.cast<double>().reshaped<Eigen::RowMajor>(batch * P, K);
    const MatrixD G = dy.cast<double>().reshaped<Eigen::RowMajor>(batch * P, N);
    const MatrixD dC = X.transpose() * G, dCa = X.cwiseAbs().transpose() * G.cwiseAbs();
    const MatrixD dX = G * Q.transpose(), dXa = G.cwiseAbs() * Q.cwiseAbs().transpose();
    // Euler's identity on the oracle: <dX, X> = <dY, Y - b> = <dC, Q>
    const double dyy = (G.array() * (X * Q).array()).sum(), tol = 1e-12 * (G.cwiseAbs().array() * (X.cwiseAbs() * Q.cwiseAbs()).array()).sum();
    CHECK(std::abs((dX.array() * X.array()).sum() - dyy) <= tol);
    CHECK(std::abs((dC.array() * Q.array()).sum() - dyy) <= tol);
    // dC: float sums of B P = 114 products; dx: sums of N products with coefficients one rounding off
    CHECK(within(bc.params()[0]->grad.cast<double>(), dC, gamma_n(batch * P + 1) * dCa));
    CHECK(within(dx.cast<double>().reshaped<Eigen::RowMajor>(batch * P, K), dX, gamma_n(N + 1) * dXa));
    CHECK(within(bc.params()[1]->grad.cast<double>(), G.colwise().sum(), gamma_n(batch * P) * G.cwiseAbs().colwise().sum()));
    if (bits > 0) {
      // the straight-through dx uses Q(C), not C: the float-C adjoint is measurably different
      const MatrixD dXc = G * bc.params()[0]->value.cast<double>().transpose();
      CHECK((dXc - dX).cwiseAbs().maxCoeff() > 1e3 * gamma_n(N + 1) * dXa.maxCoeff());
    }
  }
}

TEST_CASE("basisn: the shared basis is one tensor - its gradient is the sum over layers and one optimizer step moves it once") {
  const Network ref = small_net();
  Network bn = to_basisn(ref, options(36, 12));
  const auto prods = product_nodes(bn);
  REQUIRE(prods.size() == 2);
  const ParamPtr basis = shared_basis(bn);
  REQUIRE(basis != nullptr);
  for (std::size_t i : prods) CHECK(bn.layer(i).params()[0].get() == basis.get());
  const auto store = bn.parameter_store();
  CHECK(std::count(store.begin(), store.end(), basis) == 1);
  CHECK(store.size() == 1 + 2 * 3);
  const auto raw = bn.parameters();
  CHECK(std::count(raw.begin(), raw.end(), basis.get()) == 1);

  Stream s(31, "test.basisn.shared");
  const Matrix x = normal(5, ref.input_shape().size(), s);
  bn.zero_grad();
  const Matrix y = bn.forward(x, Mode::train);
  const Matrix dl = normal(y.rows(), y.cols(), s);
  bn.backward(dl);
  const Matrix G = basis->grad;
  // Each product node's contribution alone: its backward on the gradient the network passed it.
  std::vector<Matrix> part;
  for (std::size_t i : prods) {
    const Matrix dy = bn.output_grad(i);
    REQUIRE(dy.size() > 0);
    basis->grad.setZero();
    Matrix dx;
    bn.layer(i).backward(dy, dx);
    part.push_back(basis->grad);
  }
  const Matrix sum = part[0] + part[1];
  // one float addition apart, in whatever order the network added them
  CHECK(((G - sum).cwiseAbs().array() <= float(kU) * (part[0].cwiseAbs() + part[1].cwiseAbs()).array()).all());
  // both layers contribute (a basis stepped by one layer's gradient would fail the check above)
  CHECK(part[0].norm() > 1e-2 * G.norm());
  CHECK(part[1].norm() > 1e-2 * G.norm());

  // A fresh pass gives the same gradient; plain SGD (momentum 0, no decay on the basis) then moves
  // the basis by exactly -lr G once: w - lr G up to one rounding of the product and one of the
  // difference (FMA or not), which is far below lr |G| (the size of a second step).
  bn.zero_grad();
  bn.forward(x, Mode::train);
  bn.backward(dl);
  REQUIRE(basis->grad == G);
  CHECK(!basis->decay);
  OptimizerParams op;
  op.kind = "sgd";
  op.lr = 0.1;
  op.momentum = 0;
  auto opt = make_optimizer(op);
  const Matrix before = basis->value;
  opt->step(bn.parameters());
  const Matrix expect = before - 0.1f * G;
  const Matrix tol = 2 * float(kU) * (before.cwiseAbs() + 0.1f * G.cwiseAbs());
  CHECK(((basis->value - expect).cwiseAbs().array() <= tol.array()).all());
  CHECK((0.1f * G.cwiseAbs() - 10 * tol).maxCoeff() > 0);  // a second step would be visible
  for (std::size_t i : prods) CHECK(bn.layer(i).params()[0]->value == basis->value);
}

TEST_CASE("basisn: to_basisn with M < L - fit error and coefficients recomputed in double and an orthonormal basis") {
  const Network ref = small_net();
  const int L = 36, M = 10;
  std::vector<BasisLayerInfo> info;
  const Network bn = to_basisn(ref, options(L, M), &info);
  REQUIRE(info.size() == 2);
  const MatrixD B = shared_basis(bn)->value.cast<double>();
  REQUIRE(B.rows() == L);
  REQUIRE(B.cols() == M);
  // Orthonormal columns: the double eigenvectors (orthonormal to ~L eps_double) rounded to float,
  // B_f = B + D with |D| <= u |B|: |(B_f^T B_f - I)_ij| <= 2u |b_i| |b_j| + u^2 = 2u (+ 1e-12 for the
  // solver and the double product).
  CHECK((B.transpose() * B - MatrixD::Identity(M, M)).cwiseAbs().maxCoeff() <= 2 * kU + 1e-12);

  struct Src {
    std::size_t node;
    int C, taps, G, S;
  };
  // conv: 3x3 taps over 5 channels, g = 4, 2 segments; dense: 144 inputs, 1 tap, g = 36, 4 segments
  const Src srcs[] = {{0, 5, 9, 4, 2}, {3, 144, 1, 36, 4}};
  for (std::size_t l = 0; l < 2; ++l) {
    const Src& sr = srcs[l];
    CAPTURE(ref.name(sr.node));
    CHECK(info[l].name == ref.name(sr.node));
    CHECK(info[l].segments == sr.S);
    const MatrixD W = dynamic_cast<const MatmulLayer&>(ref.layer(sr.node)).weight().cast<double>();
    const auto& comb = dynamic_cast<const BasisCombine&>(bn.layer(bn.find(ref.name(sr.node))));
    const MatrixD C = comb.params()[0]->value.cast<double>();
    REQUIRE(C.rows() == sr.S * M);
    REQUIRE(C.cols() == W.cols());
    CHECK(comb.params()[1]->value == ref.layer(sr.node).params()[1]->value);  // the bias is kept
    double err2 = 0, bound2 = 0;
    for (int s = 0; s < sr.S; ++s)
      for (Eigen::Index n = 0; n < W.cols(); ++n) {
        // W_s column n: taps major, the group's channels minor, zero rows for channels >= C
        VectorD ws = VectorD::Zero(L);
        for (int t = 0; t < sr.taps; ++t)
          for (int c = 0; c < sr.G && s * sr.G + c < sr.C; ++c) ws(t * sr.G + c) = W(Eigen::Index(t) * sr.C + s * sr.G + c, n);
        const VectorD cs = C.block(Eigen::Index(s) * M, n, M, 1);
        // C_s = B^T W_s: a float sum of L products per coefficient
        const VectorD ct = B.transpose() * ws, cta = B.cwiseAbs().transpose() * ws.cwiseAbs();
        CHECK(((cs - ct).cwiseAbs().array() <= gamma_n(L + 1) * cta.array()).all());
        // the residual over the rows the layer has (padded rows, channels >= C, are not weights)
        VectorD real = VectorD::Zero(L);
        for (int t = 0; t < sr.taps; ++t)
          for (int c = 0; c < sr.G && s * sr.G + c < sr.C; ++c) real(t * sr.G + c) = 1;
        err2 += (ws - B * cs).cwiseProduct(real).squaredNorm();
        // the library forms W_s - B C_s in float: each entry within gamma_(M+1) (|w| + sum |B||C|)
        bound2 += (gamma_n(M + 1) * (ws.cwiseAbs() + B.cwiseAbs() * cs.cwiseAbs())).cwiseProduct(real).squaredNorm();
      }
    const double norm = W.norm(), fit = std::sqrt(err2) / norm;
    CHECK(std::abs(info[l].fit_error - fit) <= std::sqrt(bound2) / norm + 1e-12);
    CHECK(fit > 1e-2);  // M < L leaves a residual: the check above compares two non-trivial numbers
    CHECK(info[l].rows == W.rows());
    CHECK(info[l].cols == W.cols());
  }
}

TEST_CASE("basisn: to_basisn is a pure function of the weights - bit-identical runs and clones - and sets flags and quantization") {
  Network ref = small_net();
  const BasisOptions o = options(36, 10);
  Network a = to_basisn(ref, o), b = to_basisn(ref, o), c = to_basisn(ref.clone(), o);
  Stream s(33, "test.basisn.pure");
  const Matrix x = normal(4, ref.input_shape().size(), s);
  const auto sa = a.parameter_store(), sb = b.parameter_store(), sc = c.parameter_store();
  REQUIRE(sa.size() == sb.size());
  REQUIRE(sa.size() == sc.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    CHECK(sa[i]->value == sb[i]->value);
    CHECK(sa[i]->value == sc[i]->value);
    CHECK(sa[i].get() != sb[i].get());
  }
  const Matrix ya = a.forward(x);
  CHECK(ya == b.forward(x));
  CHECK(ya == c.forward(x));

  // Only the dense layer converted: the conv is copied into new tensors, detached from the source.
  Network d = to_basisn(ref, options(36, 10, "1"));
  REQUIRE(d.size() == ref.size() + 1);
  CHECK(product_nodes(d) == std::vector<std::size_t>{3});
  CHECK(d.layer(0).params()[0].get() != ref.layer(0).params()[0].get());
  const Matrix yd = d.forward(x);
  ref.layer(0).params()[0]->value.setConstant(3.f);
  ref.layer(3).params()[0]->value.setConstant(-1.f);
  CHECK(d.forward(x) == yd);
  CHECK(a.forward(x) == ya);

  // set_basis_trainable: basis, coefficients (+ combine bias), everything else; the product bias stays frozen
  for (const auto& [fb, fc, fo] : {std::tuple{false, true, false}, std::tuple{true, false, true}}) {
    CAPTURE(fb);
    set_basis_trainable(d, fb, fc, fo);
    CHECK(d.layer(3).params()[0]->trainable == fb);
    CHECK(!d.layer(3).params()[1]->trainable);
    CHECK(d.layer(4).params()[0]->trainable == fc);
    CHECK(d.layer(4).params()[1]->trainable == fc);
    CHECK(d.layer(0).params()[0]->trainable == fo);
    CHECK(d.layer(0).params()[1]->trainable == fo);
  }

  // set_coefficient_quantization reaches every basis_combine (spec and forward)
  BasisOptions q = o;
  q.coeff_bits = 3;
  q.coeff_mode = "uniform";
  Network e = to_basisn(ref.clone(), q);
  for (std::size_t i : product_nodes(e)) {
    const LayerSpec sp = e.layer(i + 1).spec();
    CHECK(sp.kind == "basis_combine");
    CHECK(sp.get("coeff_bits") == 3);
    CHECK(sp.get_string("coeff_mode") == "uniform");
  }
  set_coefficient_quantization(a, 4, "pow2");
  int combines = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (const auto* cb = dynamic_cast<const BasisCombine*>(&a.layer(i))) {
      ++combines;
      CHECK(cb->coeff_bits() == 4);
      CHECK(a.layer(i).spec().get("coeff_bits") == 4);
      CHECK(a.layer(i).spec().get_string("coeff_mode") == "pow2");
    }
  CHECK(combines == 2);
  CHECK(a.forward(x) != ya);  // 4-bit coefficients change the outputs
  set_coefficient_quantization(a, 0, "pow2");
  CHECK(a.forward(x) == ya);  // the float coefficients were kept
  CHECK_THROWS_AS(set_coefficient_quantization(a, 1, "pow2"), Error);
  CHECK_THROWS_AS(set_coefficient_quantization(a, 4, "log"), Error);
}

TEST_CASE("basisn: model files keep the outputs bit for bit and the basis one shared tensor") {
  Network bn = to_basisn(small_net(), options(36, 10));
  set_coefficient_quantization(bn, 4, "pow2");
  Stream s(35, "test.basisn.file");
  const Matrix x = normal(4, bn.input_shape().size(), s);
  const Matrix y = bn.forward(x);
  const auto path = std::filesystem::temp_directory_path() / "aimc_test_basisn.h5";
  save_model(path.string(), bn, ModelMeta{.name = "basisn"});
  auto m = load_model(path.string());
  std::filesystem::remove(path);
  REQUIRE(m.net.size() == bn.size());
  CHECK(m.net.parameter_store().size() == bn.parameter_store().size());
  const ParamPtr basis = shared_basis(m.net);
  REQUIRE(basis != nullptr);
  const auto prods = product_nodes(m.net);
  CHECK(prods == product_nodes(bn));
  for (std::size_t i : prods) CHECK(m.net.layer(i).params()[0].get() == basis.get());
  CHECK(basis->value == shared_basis(bn)->value);
  for (std::size_t i = 0; i < bn.size(); ++i) {
    CHECK(m.net.name(i) == bn.name(i));
    CHECK(m.net.layer(i).spec().args == bn.layer(i).spec().args);
  }
  CHECK(m.net.forward(x) == y);
}

TEST_CASE("basisn: on a chip every basis_product layer reads one physical array") {
  const Network bn = to_basisn(small_net(), options(36, 8));
  AnalogConfig c;
  c.mapping.readout = "ideal";
  c.mapping.tile_rows = 16;  // the 36 x 8 basis on 3 x 2 tiles
  c.mapping.tile_cols = 4;
  c.rram.sigma_prog = 0.05;
  Stream s(37, "test.basisn.analog");
  const Matrix calib = normal(20, bn.input_shape().size(), s);
  AnalogNetwork an(bn, c, calib);
  REQUIRE(an.analog_layers() == product_nodes(bn));
  auto chip1 = an.program(Stream(1, "test.basisn.prog"));
  auto chip2 = an.program(Stream(2, "test.basisn.prog"));
  REQUIRE(chip1->tiles(0).size() == 6);
  REQUIRE(chip1->tiles(1).size() == 6);
  for (std::size_t t = 0; t < 6; ++t) {
    CAPTURE(t);
    const Matrix w0 = chip1->tiles(0)[t]->effective_weights();
    CHECK(w0 == chip1->tiles(1)[t]->effective_weights());       // the same devices
    CHECK(w0 != chip2->tiles(0)[t]->effective_weights());       // another chip, other devices
    CHECK(chip2->tiles(0)[t]->effective_weights() == chip2->tiles(1)[t]->effective_weights());
  }
  // Control: equal weights in two tensors are two arrays (independent draws); one bound tensor is one.
  Network n(Shape{8, 1, 1});
  n.add(make_layer({"dense", {{"in", 8}, {"out", 8}}}));
  n.add(make_layer({"relu", {{"c", 8}, {"h", 1}, {"w", 1}}}));
  n.add(make_layer({"dense", {{"in", 8}, {"out", 8}}}));
  Stream init(3, "test.basisn.init2");
  n.init(init);
  n.layer(2).params()[0]->value = n.layer(0).params()[0]->value;
  for (bool bound : {false, true}) {
    CAPTURE(bound);
    if (bound) n.layer(2).bind(0, n.layer(0).params()[0]);
    AnalogNetwork a2(n, c, normal(10, 8, s));
    auto chip = a2.program(Stream(1, "test.basisn.prog"));
    REQUIRE(chip->tiles(0).size() == 2);
    for (std::size_t t = 0; t < 2; ++t)
      CHECK((chip->tiles(0)[t]->effective_weights() == chip->tiles(1)[t]->effective_weights()) == bound);
  }
}

TEST_CASE("basisn: analog evaluation of a BasisN network is the same with 1 and 2 threads") {
  const Network bn = to_basisn(small_net(), options(36, 8));
  AnalogConfig c;
  c.mapping.tile_rows = 16;
  c.mapping.tile_cols = 4;
  c.rram.sigma_prog = 0.05;
  c.rram.sigma_read = 0.02;
  c.adc.sigma_adc_lsb = 0.5;
  Stream s(39, "test.basisn.threads");
  AnalogNetwork an(bn, c, normal(40, bn.input_shape().size(), s));
  const Matrix x = an.prefix(normal(400, bn.input_shape().size(), s));
  VectorI labels(400);
  for (int i = 0; i < 400; ++i) labels(i) = i % 3;
  // chunks of 200 samples: the digital basis_combine of the conv layer runs its parallel loop
  const int chunk = 200;
  CHECK(double(chunk) * double(bn.layer(1).macs()) >= detail::kParallelWork);
  auto run = [&](int threads) {
    Threads t(threads);
    return an.program(Stream(5, "test.basisn.prog"))->evaluate(x, labels, Stream(5, "test.basisn.read"), chunk, 400);
  };
  const AnalogStats a = run(1), b = run(2);
  CHECK(a.total == 400);
  CHECK(a.adc_conversions > 0);
  CHECK(a.correct == b.correct);
  CHECK(a.total == b.total);
  CHECK(a.loss_sum == b.loss_sum);
  CHECK(a.adc_saturated == b.adc_saturated);
  CHECK(a.adc_conversions == b.adc_conversions);
  CHECK(a.dac_saturated == b.dac_saturated);
  CHECK(a.signal == b.signal);
  CHECK(a.noise == b.noise);
  CHECK(a.snr_samples == b.snr_samples);
  REQUIRE(a.noise.size() == 2);
  CHECK(a.noise[0] > 0);  // read noise is on: identical stats are not identical zeros
}

TEST_CASE("basisn: bad layer specs and conversion options are errors naming the argument") {
  auto product = [](long long length, long long size) {
    return LayerSpec{"basis_product",
                     {{"in_c", 4}, {"in_h", 5}, {"in_w", 5}, {"kernel", 3}, {"stride", 1}, {"pad", 1}, {"length", length}, {"size", size}}};
  };
  auto combine = [](long long bits, std::string mode) {
    return LayerSpec{"basis_combine",
                     {{"segments", 2}, {"size", 4}, {"out", 3}, {"h", 2}, {"w", 2}, {"coeff_bits", bits}, {"coeff_mode", std::move(mode)}}};
  };
  CHECK(error_of(product(18, 4)).empty());
  CHECK(error_of(product(18, 18)).empty());
  CHECK(error_of(combine(0, "pow2")).empty());
  CHECK(error_of(combine(16, "uniform")).empty());
  LayerSpec grouped = product(18, 4);
  grouped.args.emplace_back("groups", 2LL);
  for (const auto& [e, kind, arg] :
       {std::tuple{error_of(product(20, 4)), "basis_product", "'length'"},  // not a multiple of 9 taps
        std::tuple{error_of(product(18, 19)), "basis_product", "'size'"},   // M > L
        std::tuple{error_of(product(18, 0)), "basis_product", "'size'"},
        std::tuple{error_of(grouped), "basis_product", "'groups'"},
        std::tuple{error_of(combine(1, "pow2")), "basis_combine", "'coeff_bits'"},
        std::tuple{error_of(combine(17, "uniform")), "basis_combine", "'coeff_bits'"},
        std::tuple{error_of(combine(4, "log")), "basis_combine", "'coeff_mode'"}}) {
    CAPTURE(e);
    CHECK(e.find(kind) != std::string::npos);
    CHECK(e.find(arg) != std::string::npos);
  }
  CHECK(error_of(combine(4, "log")).find("log") != std::string::npos);

  const Network ref = small_net();
  CHECK(basisn_error(ref, options(36, 36)).empty());
  Network grouped_net(Shape{4, 5, 5});
  grouped_net.add(make_layer({"conv2d", {{"in_c", 4}, {"in_h", 5}, {"in_w", 5}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}, {"groups", 2}}}));
  for (const auto& [e, key, what] :
       {std::tuple{basisn_error(ref, options(36, 37)), "basisn.size", "37"},
        std::tuple{basisn_error(ref, options(36, 0)), "basisn.size", "0"},
        std::tuple{basisn_error(ref, options(0, 1)), "basisn.length", "0"},
        std::tuple{basisn_error(ref, options(20, 4)), "basisn.length", "20"},  // 3x3 taps do not divide 20
        std::tuple{basisn_error(ref, options(36, 4, "2")), "basisn.layers", "2"},  // 2 matmul layers: 0, 1
        std::tuple{basisn_error(ref, options(36, 4, "x")), "basisn.layers", "x"},
        std::tuple{basisn_error(grouped_net, options(36, 4)), "basisn.layers", "grouped"}}) {
    CAPTURE(e);
    CHECK(e.find(key) != std::string::npos);
    CHECK(e.find(what) != std::string::npos);
  }
}
