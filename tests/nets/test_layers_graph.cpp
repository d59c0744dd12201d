// The layer kinds and options of issue 14: conv2d kernel_shape / strides / pads /
// dilations / groups, pooling with padding, batchnorm, globalavgpool, clip, normalize; gradients through
// a graph with fan-out; fold_batchnorm; the ResNet reference; model files and specs.
//
// Oracles are independent of the code under test: naive direct loops in double or long double, and
// central differences. Gradient checks of (piecewise) linear layers use dyadic data as in
// test_gradcheck.cpp, where every product and partial sum is exact in float, so the difference quotient
// and the analytic gradient must agree exactly. Batchnorm is not linear; its check differentiates a
// long double reference numerically and allows the float rounding of the layer's result plus the
// truncation error estimated from two step sizes.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <string>

#include "core/error.hpp"
#include "core/random.hpp"
#include "nets/activation.hpp"
#include "nets/basisn.hpp"
#include "nets/batchnorm.hpp"
#include "nets/compensation.hpp"
#include "nets/denoise.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"
#include "nets/fold.hpp"
#include "nets/layer.hpp"
#include "nets/merge.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/normalize.hpp"
#include "nets/pool.hpp"
#include "nets/snn.hpp"
#include "tests/common/layer_helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using namespace aimc::test;

namespace {

/// Multiples of 1/den in [-1, 1].
void fill_dyadic(Matrix& m, Stream& s, int den = 8) {
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = float(int(s.below(2 * den + 1)) - den) / float(den);
}

Matrix dyadic(long rows, long cols, Stream& s, int den = 8) {
  Matrix m(rows, cols);
  fill_dyadic(m, s, den);
  return m;
}


ConvGeometry geo(int kh, int kw, int sh, int sw, std::array<int, 4> pads, int dh = 1, int dw = 1, int groups = 1) {
  ConvGeometry g;
  g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw;
  g.pad_top = pads[0], g.pad_left = pads[1], g.pad_bottom = pads[2], g.pad_right = pads[3];
  g.dh = dh, g.dw = dw, g.groups = groups;
  return g;
}

PoolGeometry pgeo(int kh, int kw, int sh, int sw, std::array<int, 4> pads) {
  PoolGeometry g;
  g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw;
  g.pad_top = pads[0], g.pad_left = pads[1], g.pad_bottom = pads[2], g.pad_right = pads[3];
  return g;
}

/// Direct convolution in double over (b, oh, ow, co, i, j, ci in co's group), reading the weight at its
/// crossbar row (i * kw + j) * C + ci; also returns per output the sum of |products| + |bias|.
void naive_conv(const Matrix& x, const Conv2d& conv, MatrixD& y, MatrixD& mag) {
  const Shape in = conv.input_shape(), out = conv.output_shape();
  const ConvGeometry& g = conv.geometry();
  const int cg = in.c / g.groups, og = out.c / g.groups;
  const Matrix& w = conv.weight();
  y.setZero(x.rows(), out.size());
  mag.setZero(x.rows(), out.size());
  for (long b = 0; b < x.rows(); ++b)
    for (int oh = 0; oh < out.h; ++oh)
      for (int ow = 0; ow < out.w; ++ow)
        for (int co = 0; co < out.c; ++co) {
          double acc = conv.bias()(0, co), a = std::abs(acc);
          const int grp = co / og;
          for (int i = 0; i < g.kh; ++i)
            for (int j = 0; j < g.kw; ++j) {
              const int ih = oh * g.sh - g.pad_top + i * g.dh, iw = ow * g.sw - g.pad_left + j * g.dw;
              if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
              for (int ci = grp * cg; ci < (grp + 1) * cg; ++ci) {
                const double p = double(x(b, (ih * in.w + iw) * in.c + ci)) * w((i * g.kw + j) * in.c + ci, co);
                acc += p;
                a += std::abs(p);
              }
            }
          y(b, (oh * out.w + ow) * out.c + co) = acc;
          mag(b, (oh * out.w + ow) * out.c + co) = a;
        }
}

/// Entries of a parameter or input that a gradient check perturbs (false: structurally zero).
using Perturbable = std::function<bool(Eigen::Index row, Eigen::Index col)>;

double probe(const Matrix& y, const Matrix& r) {
  double l = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) l += double(y.data()[i]) * double(r.data()[i]);
  return l;
}

/// Central differences of L = sum R y (y = f() after perturbing `target` in place by +-h) against
/// `analytic`, required to agree exactly; entries that are not perturbable must have gradient exactly 0.
/// Returns the number of entries checked.
long fd_exact(Matrix& target, const Matrix& analytic, float h, const Matrix& r, const std::function<Matrix()>& f,
              const Perturbable& perturbable = {}) {
  long checked = 0, failed = 0, masked_bad = 0;
  for (Eigen::Index i = 0; i < target.rows(); ++i)
    for (Eigen::Index j = 0; j < target.cols(); ++j) {
      if (perturbable && !perturbable(i, j)) {
        if (analytic(i, j) != 0.f) ++masked_bad;
        continue;
      }
      const float v = target(i, j);
      target(i, j) = v + h;
      const double lp = probe(f(), r);
      target(i, j) = v - h;
      const double lm = probe(f(), r);
      target(i, j) = v;
      const double fd = (lp - lm) / (2.0 * double(h));
      if (fd != double(analytic(i, j))) ++failed;
      ++checked;
    }
  CHECK(failed == 0);
  CHECK(masked_bad == 0);
  return checked;
}

/// Exact gradient check of one layer: dx and every parameter (off-group conv weights are not perturbed
/// and must get gradient 0).
void gradcheck_exact(Layer& layer, const Matrix& x_in, float h, Stream& s, int r_den = 8) {
  Matrix x = x_in, y, dx;
  layer.forward(x, y, Mode::train);
  Matrix r = dyadic(y.rows(), y.cols(), s, r_den);
  for (auto* p : layer.parameters()) p->grad.setZero();
  layer.backward(r, dx);
  REQUIRE(dx.rows() == x.rows());
  REQUIRE(dx.cols() == x.cols());
  auto f = [&] {
    Matrix out;
    layer.forward(x, out, Mode::eval);
    return out;
  };
  CHECK(fd_exact(x, dx, h, r, f) == x.size());
  const auto* conv = dynamic_cast<const Conv2d*>(&layer);
  for (auto* p : layer.parameters()) {
    CAPTURE(p->name);
    const Matrix g = p->grad;
    Perturbable ok;
    if (conv && p->name == "weight") ok = [&](Eigen::Index row, Eigen::Index col) { return conv->in_group(int(row), int(col)); };
    CHECK(fd_exact(p->value, g, h, r, f, ok) > 0);
  }
}

/// Pool input: each sample holds a random permutation of 0, 1/2, 1, ... shifted to mean 0, so values in
/// a window differ by >= 1/2 > 2h and a +-h step never changes which one is the maximum.
Matrix distinct_rows(long rows, long cols, Stream& s, float offset = 0.f) {
  Matrix m(rows, cols);
  std::vector<int> v(static_cast<std::size_t>(cols));
  for (long b = 0; b < rows; ++b) {
    std::iota(v.begin(), v.end(), 0);
    s.shuffle(v.begin(), v.end());
    for (long j = 0; j < cols; ++j) m(b, j) = 0.5f * float(v[std::size_t(j)] - cols / 2) + offset;
  }
  return m;
}

struct ConvCase {
  const char* what;
  Shape in;
  int out_c;
  ConvGeometry g;
  int batch;
};

const ConvCase kConvCases[] = {
    {"grouped", {4, 7, 6}, 6, geo(3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 2), 3},
    {"depthwise", {3, 6, 7}, 3, geo(3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 3), 2},
    {"depthwise, multiplier 2, stride 2", {3, 6, 5}, 6, geo(3, 3, 2, 2, {1, 1, 1, 1}, 1, 1, 3), 2},
    {"dilation 2", {2, 9, 8}, 3, geo(3, 3, 1, 1, {2, 2, 2, 2}, 2, 2), 2},
    {"non-square kernel, stride and dilation", {2, 8, 9}, 2, geo(2, 3, 1, 2, {0, 0, 0, 0}, 3, 1), 2},
    {"asymmetric pads", {2, 6, 5}, 3, geo(3, 3, 1, 1, {0, 1, 2, 1}), 2},
    {"1x3 kernel, strides [2,1]", {3, 7, 8}, 4, geo(1, 3, 2, 1, {0, 1, 0, 1}), 2},
    {"pad larger than kernel, stride 3 (regression)", {2, 4, 4}, 2, geo(1, 1, 3, 3, {3, 3, 3, 3}), 2},
    {"all options, 3 chunks", {4, 5, 6}, 4, geo(3, 2, 2, 3, {1, 0, 2, 1}, 2, 1, 2), 35},
    {"1x1 grouped", {6, 3, 3}, 4, geo(1, 1, 1, 1, {0, 0, 0, 0}, 1, 1, 2), 2},
};

}  // namespace

TEST_CASE("conv2d options: forward and the crossbar view match a naive convolution") {
  Stream s(21, "conv-options");
  for (const auto& c : kConvCases) {
    CAPTURE(c.what);
    Conv2d conv(c.in, c.out_c, c.g);
    const ConvGeometry& g = c.g;
    const Shape out = conv.output_shape();
    // H_out = floor((H + top + bottom - dh (kh - 1) - 1) / sh) + 1 (ONNX Conv)
    CHECK(out.h == (c.in.h + g.pad_top + g.pad_bottom - g.dh * (g.kh - 1) - 1) / g.sh + 1);
    CHECK(out.w == (c.in.w + g.pad_left + g.pad_right - g.dw * (g.kw - 1) - 1) / g.sw + 1);
    CHECK(conv.macs() == (long long)out.h * out.w * g.kh * g.kw * (c.in.c / g.groups) * c.out_c);
    Stream init = s.child("init");
    conv.init(init);
    s.fill_normal(conv.parameters()[1]->value, 0.f, 0.5f);
    // Block-diagonal: entry (row of channel ci, output co) is zero unless they share a group.
    const int cg = c.in.c / g.groups, og = c.out_c / g.groups;
    long off_nonzero = 0, in_zero = 0;
    for (int r = 0; r < conv.weight().rows(); ++r)
      for (int o = 0; o < c.out_c; ++o) {
        const bool same = (r % c.in.c) / cg == o / og;
        CHECK(conv.in_group(r, o) == same);
        if (!same && conv.weight()(r, o) != 0.f) ++off_nonzero;
        if (same && conv.weight()(r, o) == 0.f) ++in_zero;
      }
    CHECK(off_nonzero == 0);
    CHECK(in_zero == 0);

    Matrix x = normal(c.batch, c.in.size(), s), y;
    conv.forward(x, y, Mode::eval);
    REQUIRE(y.rows() == c.batch);
    REQUIRE(y.cols() == out.size());
    MatrixD ref, mag;
    naive_conv(x, conv, ref, mag);
    // A float dot product of the in-group terms plus the bias; the crossbar product adds exact zeros
    // for the others, so gamma_{K+1} with K = all crossbar rows bounds both.
    const double bound = gamma_n(conv.patch_size() + 1);
    long bad = 0, bad_xbar = 0;
    for (Eigen::Index i = 0; i < y.size(); ++i)
      if (std::abs(double(y.data()[i]) - ref.data()[i]) > bound * mag.data()[i]) ++bad;
    CHECK(bad == 0);
    CHECK(ref.cwiseAbs().maxCoeff() > 0.5);  // not trivially satisfied
    // The MatmulLayer contract the analog mapping relies on: raise(lower(x) * weight()).
    Matrix scratch, y2;
    const Matrix& rows = conv.lower(x, scratch);
    REQUIRE(rows.rows() == c.batch * conv.positions());
    REQUIRE(rows.cols() == conv.patch_size());
    conv.raise(Matrix(rows * conv.weight()), y2);
    for (Eigen::Index i = 0; i < y.size(); ++i)
      if (std::abs(double(y2.data()[i]) - ref.data()[i]) > bound * mag.data()[i]) ++bad_xbar;
    CHECK(bad_xbar == 0);
    // lower_samples is the matching slice of lower().
    if (c.batch > 1) {
      Matrix s2;
      const Eigen::Ref<const Matrix> part = conv.lower_samples(x, 1, c.batch - 1, s2);
      CHECK(part == rows.bottomRows((c.batch - 1) * conv.positions()));
    }
  }
}

TEST_CASE("conv2d options: patch rows hold the dilated (i, j, c) taps, zeros in asymmetric padding") {
  Stream s(22, "im2col-options");
  const Shape in{2, 5, 6};
  const ConvGeometry g = geo(2, 3, 2, 1, {1, 0, 2, 2}, 2, 2);
  Conv2d conv(in, 1, g);
  const Shape out = conv.output_shape();
  Matrix x = normal(2, in.size(), s), scratch;
  const Matrix& p = conv.lower(x, scratch);
  REQUIRE(p.cols() == 2 * 3 * 2);
  long bad = 0, padded = 0;
  for (int b = 0; b < 2; ++b)
    for (int oh = 0; oh < out.h; ++oh)
      for (int ow = 0; ow < out.w; ++ow)
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 3; ++j)
            for (int c = 0; c < 2; ++c) {
              const int ih = oh * 2 - 1 + 2 * i, iw = ow - 0 + 2 * j;
              const bool inside = ih >= 0 && ih < in.h && iw >= 0 && iw < in.w;
              padded += !inside;
              const float want = inside ? x(b, (ih * in.w + iw) * in.c + c) : 0.f;
              if (p((b * out.h + oh) * out.w + ow, (i * 3 + j) * 2 + c) != want) ++bad;
            }
  CHECK(bad == 0);
  CHECK(padded > 0);
}

TEST_CASE("gradcheck: conv2d options dx, weight (in-group) and bias (exact on dyadic data)") {
  Stream s(23, "gradcheck-conv-options");
  for (const auto& c : kConvCases) {
    CAPTURE(c.what);
    Conv2d conv(c.in, c.out_c, c.g);
    Stream init = s.child("init");
    conv.init(init);  // zeros off the diagonal blocks
    Matrix wc = conv.weight();
    for (int r = 0; r < wc.rows(); ++r)
      for (int o = 0; o < wc.cols(); ++o) wc(r, o) = conv.in_group(r, o) ? float(int(s.below(17)) - 8) / 8.f : 0.f;
    conv.parameters()[0]->value = wc;
    fill_dyadic(conv.parameters()[1]->value, s);
    gradcheck_exact(conv, dyadic(c.batch, c.in.size(), s), 0.125f, s);
  }
}

TEST_CASE("conv2d groups: He uniform init on the in-group entries only, fan-in kh kw in_c / groups") {
  // U(-a, a), a = sqrt(6 / F): mean 0 with standard error a / sqrt(3 n), mean square a^2 / 3 with
  // standard error sqrt((a^4/5 - a^4/9) / n), both checked within 5 standard errors (false failure < 1e-6).
  Conv2d conv({16, 5, 5}, 32, geo(3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 4));
  Stream s(24, "init");
  conv.init(s);
  const int fan_in = 3 * 3 * 16 / 4;
  CHECK(conv.group_patch_size() == fan_in);
  const double a = std::sqrt(6.0 / fan_in);
  std::vector<double> in_group;
  long off = 0;
  for (int r = 0; r < conv.weight().rows(); ++r)
    for (int o = 0; o < 32; ++o) {
      if (conv.in_group(r, o)) in_group.push_back(conv.weight()(r, o));
      else off += conv.weight()(r, o) != 0.f;
    }
  CHECK(off == 0);
  const double n = double(in_group.size());
  CHECK(n == fan_in * 32);
  double mean = 0, ms = 0, amax = 0;
  for (double v : in_group) mean += v / n, ms += v * v / n, amax = std::max(amax, std::abs(v));
  CHECK(amax <= a);
  CHECK(std::abs(mean) <= 5 * a / std::sqrt(3 * n));
  CHECK(std::abs(ms - a * a / 3) <= 5 * std::sqrt((std::pow(a, 4) / 5 - std::pow(a, 4) / 9) / n));
  CHECK(conv.bias().isZero(0));
}

TEST_CASE("conv2d groups: a weight with an entry outside the diagonal blocks is an Error") {
  Conv2d conv({4, 3, 3}, 2, geo(1, 1, 1, 1, {0, 0, 0, 0}, 1, 1, 2));
  conv.parameters()[0]->value(3, 0) = 0.5f;  // channel 3 (group 1) -> output 0 (group 0)
  Matrix y;
  CHECK_THROWS_WITH_AS(conv.forward(Matrix::Zero(1, 36), y, Mode::eval),
                       "conv2d: weight entry (3, 0) = 0.500000 connects input channel 3 to output channel 0 of another "
                       "group (groups = 2); entries outside the diagonal blocks must be 0",
                       Error);
}

namespace {
/// Direct pooling in double: window of output (oh, ow) clipped to the input; max over the input values
/// in it, or their sum divided by kh kw (count_include_pad) or by their number.
void naive_pool(const Matrix& x, Shape in, const PoolGeometry& g, Shape out, bool is_max, bool include_pad, MatrixD& y,
                MatrixD& mag) {
  y.setZero(x.rows(), out.size());
  mag.setZero(x.rows(), out.size());
  for (long b = 0; b < x.rows(); ++b)
    for (int oh = 0; oh < out.h; ++oh)
      for (int ow = 0; ow < out.w; ++ow)
        for (int c = 0; c < in.c; ++c) {
          double acc = is_max ? -INFINITY : 0.0, a = 0;
          int count = 0;
          for (int i = 0; i < g.kh; ++i)
            for (int j = 0; j < g.kw; ++j) {
              const int ih = oh * g.sh - g.pad_top + i, iw = ow * g.sw - g.pad_left + j;
              if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
              const double v = x(b, (ih * in.w + iw) * in.c + c);
              acc = is_max ? std::max(acc, v) : acc + v;
              a += std::abs(v);
              ++count;
            }
          const int d = include_pad ? g.kh * g.kw : count;
          y(b, (oh * out.w + ow) * in.c + c) = is_max ? acc : acc / d;
          mag(b, (oh * out.w + ow) * in.c + c) = a / d;
        }
}
}  // namespace

TEST_CASE("pooling with kernel_shape, strides and pads matches a naive window loop") {
  Stream s(25, "pool-options");
  struct Case {
    Shape in;
    PoolGeometry g;
  };
  const Case cases[] = {{{2, 5, 6}, pgeo(2, 3, 2, 1, {1, 0, 1, 2})},
                        {{1, 4, 4}, pgeo(3, 3, 1, 1, {1, 1, 1, 1})},
                        {{3, 7, 5}, pgeo(2, 2, 2, 2, {0, 1, 1, 0})}};
  for (const auto& c : cases) {
    CAPTURE(c.in.str());
    // Max: all inputs negative, so a padded zero that "won" would show up as 0.
    MaxPool2d mp(c.in, c.g);
    const Shape out = mp.output_shape();
    CHECK(out.h == (c.in.h + c.g.pad_top + c.g.pad_bottom - c.g.kh) / c.g.sh + 1);
    CHECK(out.w == (c.in.w + c.g.pad_left + c.g.pad_right - c.g.kw) / c.g.sw + 1);
    Matrix x = distinct_rows(3, c.in.size(), s, -100.f), y, dx;
    mp.forward(x, y, Mode::train);
    MatrixD ref, mag;
    naive_pool(x, c.in, c.g, out, true, true, ref, mag);
    CHECK(y.cast<double>() == ref);
    CHECK(y.maxCoeff() < 0);
    // Backward: the gradient lands on the arg-max of each window (distinct values, so unique).
    Matrix dy = normal(3, out.size(), s);
    mp.backward(dy, dx);
    MatrixD dref = MatrixD::Zero(3, c.in.size());
    for (long b = 0; b < 3; ++b)
      for (long o = 0; o < out.size(); ++o)
        for (long i = 0; i < c.in.size(); ++i)
          if (double(x(b, i)) == ref(b, o) && i % c.in.c == o % c.in.c) dref(b, i) += dy(b, o);
    CHECK((dx.cast<double>() - dref).cwiseAbs().maxCoeff() <= 4 * kU * dy.cwiseAbs().sum());
    for (bool include : {true, false}) {
      CAPTURE(include);
      AvgPool2d ap(c.in, c.g, include);
      Matrix xa = normal(3, c.in.size(), s);
      ap.forward(xa, y, Mode::train);
      naive_pool(xa, c.in, c.g, out, false, include, ref, mag);
      // A float sum of at most kh kw values times fl(1 / d): gamma_{kh kw + 1} of sum |x| / d.
      const double bound = gamma_n(c.g.kh * c.g.kw + 1);
      long bad = 0;
      for (Eigen::Index i = 0; i < y.size(); ++i)
        if (std::abs(double(y.data()[i]) - ref.data()[i]) > bound * mag.data()[i]) ++bad;
      CHECK(bad == 0);
    }
  }
  SUBCASE("hand-computed: 2x2 windows, pads [1,1,0,0], counted and not") {
    Matrix x(1, 4), y;
    x << 1, 2, 3, 4;  // 1 channel 2x2; output 2x2, window (oh, ow) covers rows oh-1..oh, cols ow-1..ow
    AvgPool2d with(Shape{1, 2, 2}, pgeo(2, 2, 1, 1, {1, 1, 0, 0}), true), without(Shape{1, 2, 2}, pgeo(2, 2, 1, 1, {1, 1, 0, 0}), false);
    with.forward(x, y, Mode::eval);
    Matrix want(1, 4);
    want << 0.25f, 0.75f, 1.f, 2.5f;
    CHECK(y == want);
    without.forward(x, y, Mode::eval);
    want << 1.f, 1.5f, 2.f, 2.5f;
    CHECK(y == want);
    MaxPool2d mp(Shape{1, 2, 2}, pgeo(2, 2, 1, 1, {1, 1, 0, 0}));
    mp.forward(-x, y, Mode::eval);
    want << -1.f, -1.f, -1.f, -1.f;  // padding never wins over -1
    CHECK(y == want);
  }
}

TEST_CASE("gradcheck: pooling with pads (exact: distinct max inputs, dyadic 1/count)") {
  Stream s(26, "gradcheck-pool-options");
  const Shape in{2, 5, 4};
  const PoolGeometry g = pgeo(2, 2, 1, 2, {1, 1, 1, 0});  // window counts 1, 2 or 4
  MaxPool2d mp(in, g);
  gradcheck_exact(mp, distinct_rows(3, in.size(), s), 0.125f, s);
  for (bool include : {true, false}) {
    AvgPool2d ap(in, g, include);
    gradcheck_exact(ap, dyadic(3, in.size(), s), 0.125f, s);
  }
}

TEST_CASE("globalavgpool: mean per channel, gradient spread evenly") {
  Stream s(27, "gap");
  const Shape in{5, 3, 3};
  GlobalAvgPool gap(in);
  CHECK(gap.output_shape() == Shape{5, 1, 1});
  Matrix x = normal(4, in.size(), s), y, dx;
  gap.forward(x, y, Mode::train);
  long bad = 0;
  for (long b = 0; b < 4; ++b)
    for (int c = 0; c < 5; ++c) {
      long double sum = 0, mag = 0;
      for (int p = 0; p < 9; ++p) sum += x(b, p * 5 + c), mag += std::abs(x(b, p * 5 + c));
      // summed in double (error <= 9 * 2^-53 of sum |x|), rounded once to float
      const double ref = double(sum / 9);
      if (std::abs(double(y(b, c)) - ref) > kU * std::abs(ref) + 1e-15 * double(mag)) ++bad;
    }
  CHECK(bad == 0);
  Matrix dy = normal(4, 5, s);
  gap.backward(dy, dx);
  bad = 0;
  for (long b = 0; b < 4; ++b)
    for (long i = 0; i < in.size(); ++i) {
      const double ref = double(dy(b, i % 5)) / 9;
      if (std::abs(double(dx(b, i)) - ref) > kU * std::abs(ref)) ++bad;
    }
  CHECK(bad == 0);
  GlobalAvgPool gap8(Shape{3, 2, 4});  // 1/8 is dyadic: exact
  gradcheck_exact(gap8, dyadic(3, 24, s), 0.125f, s);
}

TEST_CASE("clip: ReLU6 forward, gradient only strictly inside, NaN passes through") {
  Clip relu6({6, 1, 1}, 0.0, 6.0);
  Matrix x(1, 6), y, dx;
  x << -1, 0, 3, 6, 7, NAN;
  relu6.forward(x, y, Mode::train);
  CHECK(y(0, 0) == 0);
  CHECK(y(0, 1) == 0);
  CHECK(y(0, 2) == 3);
  CHECK(y(0, 3) == 6);
  CHECK(y(0, 4) == 6);
  CHECK(std::isnan(y(0, 5)));
  relu6.backward(Matrix::Constant(1, 6, 2.f), dx);
  Matrix want(1, 6);
  want << 0, 0, 2, 0, 0, 0;
  CHECK(dx == want);
  // Exact gradient check on inputs (k + 1/2) / 4, at least 1/8 from the bounds -1 and 1; step 1/16.
  Stream s(28, "gradcheck-clip");
  Clip clip({3, 2, 2}, -1.0, 1.0);
  Matrix xc(4, 12);
  for (Eigen::Index i = 0; i < xc.size(); ++i) xc.data()[i] = (float(int(s.below(17)) - 8) + 0.5f) / 4.f;
  gradcheck_exact(clip, xc, 0.0625f, s);
  Clip one_sided({2, 1, 1}, -INFINITY, 0.5);
  Matrix x2(1, 2), y2;
  x2 << -1e30f, 2;
  one_sided.forward(x2, y2, Mode::eval);
  CHECK(y2(0, 0) == -1e30f);
  CHECK(y2(0, 1) == 0.5f);
}

TEST_CASE("normalize: (x - mean_c) / std_c per channel") {
  Stream s(29, "normalize");
  const Shape shape{3, 2, 5};
  Normalize norm(shape, {0.4914, -0.25, 3.0}, {0.247, 2.0, 0.5});
  Matrix x = normal(3, shape.size(), s), y;
  norm.forward(x, y, Mode::eval);
  long bad = 0;
  for (long b = 0; b < 3; ++b)
    for (long i = 0; i < shape.size(); ++i) {
      const int c = int(i % 3);
      const double ref = (double(x(b, i)) - norm.mean()[std::size_t(c)]) / norm.stddev()[std::size_t(c)];
      if (std::abs(double(y(b, i)) - ref) > kU * std::abs(ref) + 1e-15 * (std::abs(ref) + 10)) ++bad;
    }
  CHECK(bad == 0);
  // Powers of two as std and dyadic means: exact gradient check.
  Normalize dy_norm(shape, {0.125, -0.5, 0.25}, {0.5, 2.0, 4.0});
  gradcheck_exact(dy_norm, dyadic(3, shape.size(), s), 0.125f, s);
}

namespace {
using LD = long double;

/// Train-mode batchnorm in long double (two-pass statistics) and L = sum R y.
struct BnRef {
  std::vector<LD> mean, var;
  std::vector<LD> y;
};
BnRef bn_reference(const std::vector<LD>& x, long batch, Shape s, const std::vector<LD>& gamma, const std::vector<LD>& beta,
                   double eps) {
  const long P = long(s.h) * s.w, F = s.size();
  const LD n = LD(batch) * P;
  BnRef r{std::vector<LD>(std::size_t(s.c), 0), std::vector<LD>(std::size_t(s.c), 0), std::vector<LD>(x.size())};
  for (long b = 0; b < batch; ++b)
    for (long i = 0; i < F; ++i) r.mean[std::size_t(i % s.c)] += x[std::size_t(b * F + i)] / n;
  for (long b = 0; b < batch; ++b)
    for (long i = 0; i < F; ++i) {
      const LD d = x[std::size_t(b * F + i)] - r.mean[std::size_t(i % s.c)];
      r.var[std::size_t(i % s.c)] += d * d / n;
    }
  for (long b = 0; b < batch; ++b)
    for (long i = 0; i < F; ++i) {
      const auto c = std::size_t(i % s.c);
      r.y[std::size_t(b * F + i)] =
          (x[std::size_t(b * F + i)] - r.mean[c]) / std::sqrt(r.var[c] + LD(eps)) * gamma[c] + beta[c];
    }
  return r;
}

std::vector<LD> to_ld(const Matrix& m) { return std::vector<LD>(m.data(), m.data() + m.size()); }
}  // namespace

TEST_CASE("batchnorm: train-mode output and running statistics against a direct computation") {
  Stream s(30, "bn-forward");
  const Shape shape{3, 2, 3};
  const long batch = 5;
  const double n = double(batch) * 6;
  BatchNorm bn(shape, 1e-3, 0.25);
  Matrix gamma = normal(1, 3, s), beta = normal(1, 3, s);
  bn.parameters()[0]->value = gamma;
  bn.parameters()[1]->value = beta;
  Matrix rm0 = normal(1, 3, s), rv0 = Matrix::Constant(1, 3, 2.f);
  bn.parameters()[2]->value = rm0;
  bn.parameters()[3]->value = rv0;
  // channel offsets and scales differ, so a statistic over the wrong axis would show
  Matrix x = normal(batch, shape.size(), s);
  for (long b = 0; b < batch; ++b)
    for (long i = 0; i < shape.size(); ++i) x(b, i) = x(b, i) * float(1 + i % 3) + float(3 * (i % 3) - 2);
  Matrix y;
  bn.forward(x, y, Mode::train);
  const auto ref = bn_reference(to_ld(x), batch, shape, to_ld(gamma), to_ld(beta), 1e-3);
  // Layer: double statistics (relative error <= ~n 2^-53 < 2^-40), one float rounding.
  long bad = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    const double r = double(ref.y[std::size_t(i)]);
    const auto c = std::size_t(i % 3);
    const double scale = std::abs(double(gamma(0, long(c)))) / std::sqrt(double(ref.var[c]) + 1e-3) *
                             (std::abs(double(x.data()[i])) + std::abs(double(ref.mean[c]))) +
                         std::abs(beta(0, long(c)));
    if (std::abs(double(y.data()[i]) - r) > kU * std::abs(r) + 0x1p-40 * scale) ++bad;
  }
  CHECK(bad == 0);
  // running = (1 - m) running + m batch_stat, the variance unbiased (n / (n - 1))
  for (int c = 0; c < 3; ++c) {
    const double want_m = 0.75 * rm0(0, c) + 0.25 * double(ref.mean[std::size_t(c)]);
    const double want_v = 0.75 * rv0(0, c) + 0.25 * double(ref.var[std::size_t(c)]) * n / (n - 1);
    CHECK(std::abs(bn.running_mean()(0, c) - want_m) <= kU * std::abs(want_m) + 1e-12 * (1 + std::abs(ref.mean[c])));
    CHECK(std::abs(bn.running_var()(0, c) - want_v) <= kU * std::abs(want_v) + 1e-12 * (1 + double(ref.var[c])));
  }
  // Eval mode uses the running statistics: y = (x - rm) gamma / sqrt(rv + eps) + beta.
  Matrix ye;
  bn.forward(x, ye, Mode::eval);
  bad = 0;
  for (Eigen::Index i = 0; i < ye.size(); ++i) {
    const long c = long(i % 3);
    const LD sc = LD(gamma(0, c)) / std::sqrt(LD(bn.running_var()(0, c)) + LD(1e-3));
    const LD r = (LD(x.data()[i]) - LD(bn.running_mean()(0, c))) * sc + LD(beta(0, c));
    const double mag = double(std::abs(sc) * (std::abs(LD(x.data()[i])) + std::abs(LD(bn.running_mean()(0, c))))) +
                       std::abs(beta(0, c));
    if (std::abs(double(ye.data()[i]) - double(r)) > kU * std::abs(double(r)) + 0x1p-45 * mag) ++bad;
  }
  CHECK(bad == 0);
  // eval forward does not touch the running statistics and leaves no cache for backward
  Matrix dx;
  CHECK_THROWS_AS(bn.backward(ye, dx), Error);
  // Defaults: gamma 1, beta 0, running 0 / 1; running_* are not trainable and never decay.
  BatchNorm fresh(shape);
  CHECK(fresh.gamma() == Matrix::Ones(1, 3));
  CHECK(fresh.beta().isZero(0));
  CHECK(fresh.running_mean().isZero(0));
  CHECK(fresh.running_var() == Matrix::Ones(1, 3));
  const auto p = fresh.parameters();
  REQUIRE(p.size() == 4);
  CHECK(p[0]->name == "weight");
  CHECK(p[1]->name == "bias");
  CHECK(p[2]->name == "running_mean");
  CHECK(p[3]->name == "running_var");
  for (auto* q : p) CHECK(!q->decay);
  CHECK(p[0]->trainable);
  CHECK(p[1]->trainable);
  CHECK(!p[2]->trainable);
  CHECK(!p[3]->trainable);
}

TEST_CASE("gradcheck: batchnorm dx, gamma and beta against central differences of a long double reference") {
  // The reference L(x, gamma, beta) = sum R y is differentiated numerically in long double (rounding
  // <= ~n 2^-64 of sum |R y|, so below 1e-15 / h here). The truncation error T h^2 of a central
  // difference is estimated from the same quotient at 2h, which differs by 3 T h^2 (+ O(h^4)), and
  // added to the tolerance. The layer's float result may be off by u |g| plus its double rounding
  // (< 2^-40 of the magnitude of the terms).
  Stream s(31, "gradcheck-bn");
  const Shape shape{3, 2, 2};
  const long batch = 6;
  BatchNorm bn(shape, 1e-2);
  Matrix gamma = normal(1, 3, s), beta = normal(1, 3, s);
  bn.parameters()[0]->value = gamma;
  bn.parameters()[1]->value = beta;
  Matrix x = normal(batch, shape.size(), s), y, dx;
  Matrix r = normal(batch, shape.size(), s);
  bn.forward(x, y, Mode::train);
  for (auto* p : bn.parameters()) p->grad.setZero();
  bn.backward(r, dx);
  const auto rr = to_ld(r);
  auto loss = [&](const std::vector<LD>& xl, const std::vector<LD>& g, const std::vector<LD>& b) {
    const auto ref = bn_reference(xl, batch, shape, g, b, 1e-2);
    LD l = 0;
    for (std::size_t i = 0; i < rr.size(); ++i) l += rr[i] * ref.y[i];
    return l;
  };
  std::vector<LD> xl = to_ld(x), gl = to_ld(gamma), bl = to_ld(beta);
  const LD h = 0x1p-14L;
  double worst_ratio = 0, max_tol = 0, max_g = 0;
  long bad = 0;
  auto check_entry = [&](std::vector<LD>& v, std::size_t i, double g, double mag) {
    auto quotient = [&](LD step) {
      const LD keep = v[i];
      v[i] = keep + step;
      const LD lp = loss(xl, gl, bl);
      v[i] = keep - step;
      const LD lm = loss(xl, gl, bl);
      v[i] = keep;
      return double((lp - lm) / (2 * step));
    };
    const double d1 = quotient(h), d2 = quotient(2 * h);
    const double tol = kU * std::abs(d1) + 0x1p-40 * mag + std::abs(d2 - d1) + 1e-10;
    if (std::abs(g - d1) > tol) ++bad;
    worst_ratio = std::max(worst_ratio, std::abs(g - d1) / tol);
    max_tol = std::max(max_tol, tol);
    max_g = std::max(max_g, std::abs(g));
  };
  const double n = double(batch) * 4;
  const auto ref = bn_reference(xl, batch, shape, gl, bl, 1e-2);
  std::vector<double> sdy(3, 0), sdyx(3, 0);
  for (long b = 0; b < batch; ++b)
    for (long i = 0; i < shape.size(); ++i) {
      const auto c = std::size_t(i % 3);
      const double xhat = double((xl[std::size_t(b * 12 + i)] - ref.mean[c]) / std::sqrt(ref.var[c] + LD(1e-2)));
      sdy[c] += std::abs(r(b, i));
      sdyx[c] += std::abs(r(b, i) * xhat);
    }
  for (std::size_t i = 0; i < xl.size(); ++i) {
    const auto c = i % 3;
    const double inv = 1 / std::sqrt(double(ref.var[c]) + 1e-2);
    const double mag = std::abs(gamma(0, long(c))) * inv * (std::abs(rr[i]) + sdy[c] / n + 10 * sdyx[c] / n);
    check_entry(xl, i, dx.data()[i], double(mag));
  }
  for (std::size_t c = 0; c < 3; ++c) {
    check_entry(gl, c, bn.parameters()[0]->grad(0, long(c)), sdyx[c]);
    check_entry(bl, c, bn.parameters()[1]->grad(0, long(c)), sdy[c]);
  }
  INFO("worst error / tolerance ", worst_ratio);
  CHECK(bad == 0);
  // The check has power: its tolerance is far below the gradients it tests.
  CHECK(max_tol < 1e-5 * max_g);
  // Sum rule: dx sums to 0 over each channel (the mean is subtracted).
  for (int c = 0; c < 3; ++c) {
    double sum = 0, mag = 0;
    for (long i = c; i < dx.size(); i += 3) sum += dx.data()[i], mag += std::abs(dx.data()[i]);
    CHECK(std::abs(sum) <= 1e-5 * mag);
  }
}

TEST_CASE("new layers: results are bit-identical with 1 and 2 OpenMP threads") {
  {
    Threads two(2);
    int team = 0;
#pragma omp parallel
#pragma omp single
    team = omp_get_num_threads();
    CHECK(team == 2);
  }
  Stream s(32, "threads-new");
  // 7 chunks (the last one partial); each layer does more than detail::kParallelWork per batch.
  const long batch = 100;
  std::vector<std::unique_ptr<Layer>> layers;
  layers.push_back(std::make_unique<Conv2d>(Shape{16, 12, 12}, 16, geo(3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 4)));
  layers.push_back(std::make_unique<Conv2d>(Shape{32, 10, 10}, 32, geo(3, 3, 1, 1, {2, 2, 2, 2}, 2, 2, 32)));
  layers.push_back(std::make_unique<Conv2d>(Shape{8, 13, 11}, 12, geo(3, 2, 2, 1, {0, 1, 2, 1}, 1, 2, 1)));
  layers.push_back(std::make_unique<BatchNorm>(Shape{64, 8, 8}));
  layers.push_back(std::make_unique<GlobalAvgPool>(Shape{64, 8, 8}));
  layers.push_back(std::make_unique<MaxPool2d>(Shape{16, 24, 24}, pgeo(3, 3, 2, 2, {1, 1, 1, 1})));
  layers.push_back(std::make_unique<AvgPool2d>(Shape{16, 24, 24}, pgeo(3, 3, 2, 2, {1, 1, 1, 1}), false));
  for (auto& layer : layers) {
    CAPTURE(layer->spec().str());
    Stream init = s.child("init");
    layer->init(init);
    std::vector<Matrix> start;
    for (auto* p : layer->parameters()) start.push_back(p->value);
    Matrix x = normal(batch, layer->input_shape().size(), s);
    Matrix dy = normal(batch, layer->output_shape().size(), s);
    auto run = [&](int threads, Matrix& y, Matrix& dx, std::vector<Matrix>& state) {
      Threads t(threads);
      const auto params = layer->parameters();
      for (std::size_t i = 0; i < params.size(); ++i) {
        params[i]->value = start[i];  // batchnorm's running statistics are updated by the train forward
        params[i]->grad.setZero();
      }
      layer->forward(x, y, Mode::train);
      layer->backward(dy, dx);
      state.clear();
      for (auto* p : params) state.push_back(p->grad), state.push_back(p->value);
    };
    Matrix y1, dx1;
    std::vector<Matrix> st1;
    run(1, y1, dx1, st1);
    for (int repeat = 0; repeat < 2; ++repeat) {
      Matrix y2, dx2;
      std::vector<Matrix> st2;
      run(2, y2, dx2, st2);
      CHECK(y1 == y2);
      CHECK(dx1 == dx2);
      REQUIRE(st1.size() == st2.size());
      for (std::size_t i = 0; i < st1.size(); ++i) CHECK(st1[i] == st2[i]);
    }
  }
}

TEST_CASE("gradcheck: a graph with fan-out through add and concat accumulates gradients (exact)") {
  // stem -> grouped conv -> 1x1 conv -> add(., stem) -> concat(., stem) -> global average -> dense: the
  // stem output has three readers, so its weight gradient is the sum over three paths. All layers are
  // linear and the data multiples of 1/2 in [-1, 1], so every value stays below 2^11 in units of 2^-9:
  // exact in float, and the difference quotients must equal the analytic gradients exactly.
  Stream s(33, "gradcheck-graph");
  const Shape in{2, 4, 4};
  Network net(in);
  net.add("stem", make_layer({"conv2d", {{"in_c", 2}, {"in_h", 4}, {"in_w", 4}, {"out_c", 2}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}),
          {"input"});
  net.add("branch.conv",
          make_layer({"conv2d", {{"in_c", 2}, {"in_h", 4}, {"in_w", 4}, {"out_c", 2}, {"kernel", 3}, {"stride", 1}, {"pad", 1}, {"groups", 2}}}),
          {"stem"});
  net.add("branch.mix",
          make_layer({"conv2d", {{"in_c", 2}, {"in_h", 4}, {"in_w", 4}, {"out_c", 2}, {"kernel", 1}, {"stride", 1}, {"pad", 0}}}),
          {"branch.conv"});
  net.add("add", make_layer({"add", {{"c", 2}, {"h", 4}, {"w", 4}, {"n", 2}}}), {"branch.mix", "stem"});
  net.add("cat", make_layer({"concat", {{"h", 4}, {"w", 4}, {"channels", std::vector<long long>{2, 2}}}}), {"add", "stem"});
  net.add("pool", make_layer({"globalavgpool", {{"c", 4}, {"h", 4}, {"w", 4}}}), {"cat"});
  net.add("fc", make_layer({"dense", {{"in", 4}, {"out", 3}}}), {"pool"});
  for (std::size_t i = 0; i < net.size(); ++i) {
    const auto* conv = dynamic_cast<const Conv2d*>(&net.layer(i));
    for (auto* p : net.layer(i).parameters())
      for (Eigen::Index r = 0; r < p->value.rows(); ++r)
        for (Eigen::Index c = 0; c < p->value.cols(); ++c)
          p->value(r, c) = conv && p->name == "weight" && !conv->in_group(int(r), int(c))
                               ? 0.f
                               : float(int(s.below(5)) - 2) / 2.f;
  }
  const Matrix x = dyadic(3, in.size(), s, 2);
  net.zero_grad();
  Matrix logits = net.forward(x, Mode::train);
  const Matrix r = dyadic(logits.rows(), logits.cols(), s, 2);
  net.backward(r);
  auto f = [&] { return net.forward(x, Mode::eval); };
  long checked = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    const auto* conv = dynamic_cast<const Conv2d*>(&net.layer(i));
    for (auto* p : net.layer(i).parameters()) {
      CAPTURE(net.name(i));
      CAPTURE(p->name);
      const Matrix g = p->grad;
      CHECK(g.norm() > 0);
      Perturbable ok;
      if (conv && p->name == "weight") ok = [&](Eigen::Index row, Eigen::Index col) { return conv->in_group(int(row), int(col)); };
      checked += fd_exact(p->value, g, 0.5f, r, f, ok);
    }
  }
  CHECK(checked == 38 + 20 + 6 + 15);
}

namespace {
/// Per-element bound on |folded layer(x) - batchnorm(layer(x))| in eval mode, for a layer output
/// computed as a float dot product of K terms plus bias (|error| <= gamma_{K+1} A, A = sum |x w| + |b|):
///   original: conv error scaled by |s|, then (c - m) s + beta rounded once (u |Y|, plus double rounding);
///   folded:   w' = fl(w s) and b' = fl((b - m) s + beta) are off by u of their size, and the folded dot
///             product by gamma_{K+1} A' (A' = sum |x w'| + |b'|).
/// Sum: |s| gamma_{K+1} A + (gamma_{K+1} + 2u) A' + 2u |Y| + 2^-40 (|s| (A + |m|) + |beta|).
struct FoldBound {
  MatrixD bound, exact;
};
FoldBound fold_bound(const Matrix& x, const MatmulLayer& orig, const MatmulLayer& folded, const BatchNorm& bn) {
  Matrix s1, s2;
  const Matrix& rows = orig.lower(x, s1);
  const Matrix rows2 = folded.lower(x, s2);
  const MatrixD a = rows.cast<double>().cwiseAbs() * orig.weight().cast<double>().cwiseAbs();
  const MatrixD a2 = rows2.cast<double>().cwiseAbs() * folded.weight().cast<double>().cwiseAbs();
  const MatrixD c = rows.cast<double>() * orig.weight().cast<double>();
  const long K = orig.weight().rows(), N = orig.weight().cols(), P = orig.positions();
  FoldBound fb{MatrixD(x.rows(), P * N), MatrixD(x.rows(), P * N)};
  for (long r = 0; r < rows.rows(); ++r)
    for (long o = 0; o < N; ++o) {
      const double sc = double(bn.gamma()(0, o)) / std::sqrt(double(bn.running_var()(0, o)) + bn.eps());
      const double m = bn.running_mean()(0, o), beta = bn.beta()(0, o);
      const double A = a(r, o) + std::abs(orig.bias()(0, o)), A2 = a2(r, o) + std::abs(folded.bias()(0, o));
      const double Y = (c(r, o) + orig.bias()(0, o) - m) * sc + beta;
      fb.exact(r / P, (r % P) * N + o) = Y;
      fb.bound(r / P, (r % P) * N + o) = std::abs(sc) * gamma_n(K + 1) * A + (gamma_n(K + 1) + 2 * kU) * A2 +
                                        2 * kU * std::abs(Y) + 0x1p-40 * (std::abs(sc) * (A + std::abs(m)) + std::abs(beta));
    }
  return fb;
}

/// Random batchnorm parameters and running statistics (running_var in [0.5, 2]).
void randomize_bn(Network& net, Stream& s) {
  for (std::size_t i = 0; i < net.size(); ++i)
    if (dynamic_cast<BatchNorm*>(&net.layer(i))) {
      auto p = net.layer(i).parameters();
      s.fill_normal(p[0]->value, 1.f, 0.3f);
      s.fill_normal(p[1]->value, 0.f, 0.3f);
      s.fill_normal(p[2]->value, 0.f, 0.3f);
      s.fill_uniform(p[3]->value, 0.5f, 2.f);
    }
}

/// Captures every node's output in eval mode.
std::map<std::string, Matrix> node_outputs(Network& net, const Matrix& x) {
  std::map<std::string, Matrix> out;
  std::vector<int> ids;
  for (std::size_t i = 0; i < net.size(); ++i)
    ids.push_back(net.add_hook(i, [&out, &net](std::size_t node, Matrix& y) { out[net.name(node)] = y; }));
  net.forward(x, Mode::eval);
  for (int id : ids) net.remove_hook(id);
  return out;
}
}  // namespace

TEST_CASE("fold_batchnorm: conv -> bn and dense -> bn fold, outputs equal within the rounding bound") {
  Stream s(34, "fold-chain");
  const Shape in{3, 6, 6};
  Network net(in);
  net.add("c1", make_layer({"conv2d", {{"in_c", 3}, {"in_h", 6}, {"in_w", 6}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}), {"input"});
  net.add("bn1", make_layer({"batchnorm", {{"c", 4}, {"h", 6}, {"w", 6}, {"eps", 1e-3}}}), {"c1"});
  net.add("r1", make_layer({"relu", {{"c", 4}, {"h", 6}, {"w", 6}}}), {"bn1"});
  net.add("flat", make_layer({"flatten", {{"c", 4}, {"h", 6}, {"w", 6}}}), {"r1"});
  net.add("d1", make_layer({"dense", {{"in", 144}, {"out", 5}}}), {"flat"});
  net.add("bn2", make_layer({"batchnorm", {{"c", 5}, {"h", 1}, {"w", 1}}}), {"d1"});
  Stream init = s.child("init");
  net.init(init);
  for (std::size_t i : {std::size_t(0), std::size_t(4)}) s.fill_normal(net.layer(i).parameters()[1]->value, 0.f, 0.5f);
  randomize_bn(net, s);
  Network folded = fold_batchnorm(net);
  REQUIRE(folded.size() == 4);
  CHECK(folded.name(0) == "c1");
  CHECK(folded.name(1) == "r1");
  CHECK(folded.name(2) == "flat");
  CHECK(folded.name(3) == "d1");  // the output node stays last
  CHECK(folded.inputs(1) == std::vector<int>{0});
  // The original is untouched.
  CHECK(net.size() == 6);

  const Matrix x = normal(4, in.size(), s);
  auto orig = node_outputs(net, x);
  auto fold = node_outputs(folded, x);
  // Node 1: the folded conv against conv -> bn.
  const auto b1 = fold_bound(x, dynamic_cast<const MatmulLayer&>(net.layer(0)),
                             dynamic_cast<const MatmulLayer&>(folded.layer(0)), dynamic_cast<const BatchNorm&>(net.layer(1)));
  const MatrixD e1 = (fold["c1"].cast<double>() - orig["bn1"].cast<double>()).cwiseAbs();
  CHECK((e1.array() <= b1.bound.array()).all());
  // relu is 1-Lipschitz: its outputs differ by at most the bound above; the folded dense layer maps that
  // through |W'|, and adds its own rounding on each side plus the per-node fold error at the original input.
  const auto& d_orig = dynamic_cast<const MatmulLayer&>(net.layer(4));
  const auto& d_fold = dynamic_cast<const MatmulLayer&>(folded.layer(3));
  const auto b2 = fold_bound(orig["flat"], d_orig, d_fold, dynamic_cast<const BatchNorm&>(net.layer(5)));
  const MatrixD wabs = d_fold.weight().cast<double>().cwiseAbs();
  const MatrixD prop = b1.bound * wabs;
  const MatrixD round_f = gamma_n(145) * ((fold["flat"].cast<double>().cwiseAbs() * wabs).rowwise() +
                                          d_fold.bias().cast<double>().cwiseAbs().row(0));
  const MatrixD e2 = (fold["d1"].cast<double>() - orig["bn2"].cast<double>()).cwiseAbs();
  const MatrixD total = prop + round_f + b2.bound;
  CHECK((e2.array() <= total.array()).all());
  // The check has power: the bound is tiny against the outputs.
  // The check has power: the bound is far below the outputs (a fold that dropped a mean, a beta or a
  // scale would be off by O(0.1) and more), and the actual error is far below the bound.
  INFO("max bound ", total.maxCoeff(), ", max error ", e2.maxCoeff(), ", max |output| ", b2.exact.cwiseAbs().maxCoeff());
  CHECK(total.maxCoeff() < 1e-3 * b2.exact.cwiseAbs().maxCoeff());
  CHECK(folded.forward(x).rows() == 4);
}

TEST_CASE("fold_batchnorm: batchnorm after the input, an add or a layer with other readers stays") {
  Stream s(35, "fold-keep");
  const Shape in{2, 4, 4};
  Network net(in);
  auto bn = [](int c) { return make_layer({"batchnorm", {{"c", c}, {"h", 4}, {"w", 4}}}); };
  net.add("bn_in", bn(2), {"input"});
  net.add("c", make_layer({"conv2d", {{"in_c", 2}, {"in_h", 4}, {"in_w", 4}, {"out_c", 2}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}), {"bn_in"});
  net.add("bn_c", bn(2), {"c"});
  net.add("r", make_layer({"relu", {{"c", 2}, {"h", 4}, {"w", 4}}}), {"c"});  // second reader of c
  net.add("add", make_layer({"add", {{"c", 2}, {"h", 4}, {"w", 4}, {"n", 2}}}), {"bn_c", "r"});
  net.add("bn_add", bn(2), {"add"});
  Stream init = s.child("init");
  net.init(init);
  randomize_bn(net, s);
  Network folded = fold_batchnorm(net);
  REQUIRE(folded.size() == net.size());
  for (std::size_t i = 0; i < net.size(); ++i) {
    CHECK(folded.name(i) == net.name(i));
    CHECK(folded.inputs(i) == net.inputs(i));
    CHECK(folded.layer(i).spec().str() == net.layer(i).spec().str());
  }
  const Matrix x = normal(3, in.size(), s);
  CHECK(folded.forward(x) == net.forward(x));
  // A copy: changing the fold's tensors leaves the original alone.
  folded.layer(1).parameters()[0]->value.setZero();
  CHECK(net.layer(1).parameters()[0]->value.norm() > 0);
}

TEST_CASE("make_resnet: CIFAR-style ResNet-8 and ResNet-20 (He et al. 2016, Sec. 4.2)") {
  for (int depth : {8, 20}) {
    CAPTURE(depth);
    const int n = (depth - 2) / 6;
    Network net = make_resnet(depth);
    std::map<std::string, int> kinds;
    for (std::size_t i = 0; i < net.size(); ++i) ++kinds[net.layer(i).spec().kind];
    // depth = main-path convolutions (1 + 6n) + the dense layer; plus two 1x1 projection shortcuts.
    CHECK(kinds["conv2d"] == 6 * n + 1 + 2);
    CHECK(kinds["dense"] == 1);
    CHECK(kinds["batchnorm"] == kinds["conv2d"]);
    CHECK(kinds["add"] == 3 * n);
    CHECK(kinds["relu"] == 1 + 6 * n);
    CHECK(kinds["globalavgpool"] == 1);
    CHECK(net.input_shape() == Shape{1, 28, 28});
    CHECK(net.output_shape() == Shape{10, 1, 1});
    CHECK(net.layer(net.find("stage1.block0.conv1")).output_shape() == Shape{16, 28, 28});
    CHECK(net.layer(net.find("stage2.block0.conv1")).output_shape() == Shape{32, 14, 14});
    CHECK(net.layer(net.find("stage3.block0.conv1")).output_shape() == Shape{64, 7, 7});
    const auto& down = dynamic_cast<const Conv2d&>(net.layer(net.find("stage2.block0.shortcut.conv")));
    CHECK(down.kernel() == 1);
    CHECK(down.stride() == 2);
    CHECK_THROWS_AS(net.find("stage1.block0.shortcut.conv"), Error);  // identity shortcut
    // The identity shortcut of a later block reads the previous block's output.
    const std::string last = "stage3.block" + std::to_string(n - 1) + ".";
    const auto& add_in = net.inputs(net.find(last + "add"));
    CHECK(net.name(std::size_t(add_in[0])) == last + "bn2");
    if (n > 1) CHECK(net.name(std::size_t(add_in[1])) == "stage3.block" + std::to_string(n - 2) + ".relu");
    CHECK(net.name(net.size() - 1) == "fc");
    CHECK(net.name(std::size_t(net.inputs(net.size() - 1)[0])) == "pool");
    CHECK(make_reference("resnet" + std::to_string(depth)).summary() == net.summary());
  }
  // A CIFAR-10 input: 32 -> 16 -> 8; one train step runs and gives finite gradients.
  Network cifar = make_resnet(8, Shape{3, 32, 32}, 10);
  CHECK(cifar.layer(cifar.find("stage3.block0.bn2")).output_shape() == Shape{64, 8, 8});
  Stream s(36, "resnet");
  Stream init = s.child("init");
  cifar.init(init);
  Matrix x = normal(2, 3 * 32 * 32, s);
  cifar.zero_grad();
  Matrix logits = cifar.forward(x, Mode::train);
  CHECK(logits.rows() == 2);
  CHECK(logits.cols() == 10);
  Matrix d;
  VectorI labels = VectorI::Zero(2);
  softmax_cross_entropy(logits, labels, &d);
  cifar.backward(d);
  for (auto* p : cifar.parameters()) CHECK(p->grad.allFinite());
  CHECK(cifar.parameters()[0]->grad.norm() > 0);
  CHECK_THROWS_WITH_AS(make_resnet(9), "make_resnet: depth 9 is not 6 n + 2 with 1 <= n <= 1000 (8, 14, 20, 32, ...)", Error);
  CHECK_THROWS_WITH_AS(make_reference("resnet"), "unknown reference model 'resnet' (expected mlp, cnn, resnet8, resnet20, snn_cnn or snn_mlp)",
                       Error);
}

TEST_CASE("fold_batchnorm: every batchnorm of ResNet-8 folds, each folded conv within the rounding bound") {
  Stream s(37, "fold-resnet");
  Network net = make_resnet(8, Shape{3, 12, 12}, 10);
  Stream init = s.child("init");
  net.init(init);
  randomize_bn(net, s);
  Network folded = fold_batchnorm(net);
  long bns = 0;
  for (std::size_t i = 0; i < net.size(); ++i) bns += net.layer(i).spec().kind == "batchnorm";
  CHECK(bns == 9);
  REQUIRE(folded.size() == net.size() - std::size_t(bns));
  for (std::size_t i = 0; i < folded.size(); ++i) CHECK(folded.layer(i).spec().kind != "batchnorm");
  CHECK(folded.name(folded.size() - 1) == "fc");
  const Matrix x = normal(3, net.input_shape().size(), s);
  auto orig = node_outputs(net, x);
  long checked = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    const auto* bn = dynamic_cast<const BatchNorm*>(&net.layer(i));
    if (!bn) continue;
    const std::size_t j = std::size_t(net.inputs(i)[0]);
    CAPTURE(net.name(j));
    const int src = net.inputs(j)[0];
    const Matrix& xin = src == Network::kInput ? x : orig[net.name(std::size_t(src))];
    auto& f = dynamic_cast<MatmulLayer&>(folded.layer(folded.find(net.name(j))));
    Matrix yf;
    f.forward(xin, yf, Mode::eval);
    const auto b = fold_bound(xin, dynamic_cast<const MatmulLayer&>(net.layer(j)), f, *bn);
    const MatrixD e = (yf.cast<double>() - orig[net.name(i)].cast<double>()).cwiseAbs();
    CHECK((e.array() <= b.bound.array()).all());
    ++checked;
  }
  CHECK(checked == 9);
}

TEST_CASE("model file: ResNet-8 with batchnorm running statistics round-trips bit-exactly") {
  Stream s(38, "resnet-file");
  Network net = make_resnet(8);
  Stream init = s.child("init");
  net.init(init);
  randomize_bn(net, s);
  // Two train-mode passes move the running statistics away from their initial values.
  for (int k = 0; k < 2; ++k) net.forward(normal(4, 784, s), Mode::train);
  const auto path = (std::filesystem::temp_directory_path() / "aimc_test_resnet8.h5").string();
  save_model(path, net, {"resnet8", "synthetic", 0, 1, 0, 0, "", {}});
  auto m = load_model(path);
  std::filesystem::remove(path);
  REQUIRE(m.net.size() == net.size());
  for (std::size_t i = 0; i < net.size(); ++i) {
    CHECK(m.net.name(i) == net.name(i));
    CHECK(m.net.inputs(i) == net.inputs(i));
    CHECK(m.net.layer(i).spec().str() == net.layer(i).spec().str());
  }
  const auto a = net.parameters(), b = m.net.parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i]->value == b[i]->value);
    CHECK(a[i]->trainable == b[i]->trainable);
    CHECK(a[i]->decay == b[i]->decay);
  }
  const Matrix x = normal(5, 784, s);
  CHECK(m.net.forward(x, Mode::eval) == net.forward(x, Mode::eval));
  CHECK(m.net.forward(x, Mode::train) == net.forward(x, Mode::train));
}

TEST_CASE("model file: float arguments and lists of floats (normalize, clip, batchnorm) round-trip") {
  Stream s(39, "float-args-file");
  const Shape in{3, 6, 6};
  Network net(in);
  net.add("norm", make_layer({"normalize", {{"c", 3}, {"h", 6}, {"w", 6}, {"mean", std::vector<double>{0.4914, 0.4822, 0.4465}},
                                            {"std", std::vector<double>{0.247, 0.2435, 0.2616}}}}),
          {"input"});
  net.add("conv", make_layer({"conv2d", {{"in_c", 3}, {"in_h", 6}, {"in_w", 6}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1},
                                         {"strides", std::vector<long long>{1, 2}}, {"dilations", std::vector<long long>{2, 1}}}}),
          {"norm"});
  const Shape c = net.output_shape();
  net.add("bn", make_layer({"batchnorm", {{"c", c.c}, {"h", c.h}, {"w", c.w}, {"eps", 1e-3}, {"momentum", 0.05}}}), {"conv"});
  net.add("relu6", make_layer({"clip", {{"c", c.c}, {"h", c.h}, {"w", c.w}, {"min", 0.0}, {"max", 6.0}}}), {"bn"});
  net.add("avg", make_layer({"avgpool2d", {{"in_c", c.c}, {"in_h", c.h}, {"in_w", c.w}, {"kernel", 2}, {"stride", 1},
                                           {"pads", std::vector<long long>{1, 0, 0, 1}}, {"count_include_pad", 0}}}),
          {"relu6"});
  const Shape a = net.output_shape();
  net.add("gap", make_layer({"globalavgpool", {{"c", a.c}, {"h", a.h}, {"w", a.w}}}), {"avg"});
  net.add("fc", make_layer({"dense", {{"in", a.c}, {"out", 3}}}), {"gap"});
  Stream init = s.child("init");
  net.init(init);
  randomize_bn(net, s);
  const auto path = (std::filesystem::temp_directory_path() / "aimc_test_float_args.h5").string();
  save_model(path, net, {"floats", "synthetic", 0, 1, 0, 0, "", {}});
  auto m = load_model(path);
  std::filesystem::remove(path);
  REQUIRE(m.net.size() == net.size());
  for (std::size_t i = 0; i < net.size(); ++i) {
    CAPTURE(net.name(i));
    CHECK(m.net.layer(i).spec().kind == net.layer(i).spec().kind);
    // every argument with its value and type (the file stores them in their own order)
    auto sorted = [](LayerSpec sp) {
      std::sort(sp.args.begin(), sp.args.end(), [](const auto& p, const auto& q) { return p.first < q.first; });
      return sp.args;
    };
    CHECK(sorted(m.net.layer(i).spec()) == sorted(net.layer(i).spec()));
  }
  const Matrix x = normal(3, in.size(), s);
  CHECK(m.net.forward(x) == net.forward(x));
}

TEST_CASE("make_layer: spec round trip for the new kinds and every conv2d / pool option") {
  std::vector<std::unique_ptr<Layer>> layers;
  for (const auto& c : kConvCases) layers.push_back(std::make_unique<Conv2d>(c.in, c.out_c, c.g));
  layers.push_back(std::make_unique<MaxPool2d>(Shape{2, 5, 6}, pgeo(2, 3, 2, 1, {1, 0, 1, 2})));
  layers.push_back(std::make_unique<AvgPool2d>(Shape{2, 5, 6}, pgeo(3, 3, 1, 2, {1, 1, 0, 2}), false));
  layers.push_back(std::make_unique<AvgPool2d>(Shape{2, 5, 6}, pgeo(3, 3, 1, 1, {1, 1, 1, 1}), true));
  layers.push_back(std::make_unique<BatchNorm>(Shape{4, 3, 2}));
  layers.push_back(std::make_unique<BatchNorm>(Shape{4, 3, 2}, 1e-3, 0.01));
  layers.push_back(std::make_unique<GlobalAvgPool>(Shape{4, 3, 2}));
  layers.push_back(std::make_unique<Clip>(Shape{4, 3, 2}, 0.0, 6.0));
  layers.push_back(std::make_unique<Clip>(Shape{4, 3, 2}, -INFINITY, 0.25));
  layers.push_back(std::make_unique<Normalize>(Shape{2, 3, 2}, std::vector<double>{0.5, -1}, std::vector<double>{0.25, 3}));
  layers.push_back(std::make_unique<Dense>(7, 3));
  layers.push_back(std::make_unique<ReLU>(Shape{4, 2, 3}));
  layers.push_back(std::make_unique<Flatten>(Shape{4, 2, 3}));
  layers.push_back(std::make_unique<Add>(Shape{4, 2, 3}, 3));
  layers.push_back(std::make_unique<Concat>(2, 3, std::vector<int>{1, 4}));
  layers.push_back(std::make_unique<Compensation>(4, 2, 3, 0));
  layers.push_back(std::make_unique<Compensation>(4, 2, 3, 2));
  layers.push_back(std::make_unique<Compensation>(4, 2, 3, 2, true));
  layers.push_back(std::make_unique<Denoise>(4, 2, 3, 2, Denoise::Form::residual));
  layers.push_back(std::make_unique<Denoise>(4, 1, 1, 4, Denoise::Form::probabilistic));
  {
    ConvGeometry g;
    g.kh = 3, g.kw = 2, g.sh = 2, g.sw = 1, g.pad_top = 1, g.pad_left = 0, g.pad_bottom = 2, g.pad_right = 1, g.dw = 2;
    layers.push_back(std::make_unique<BasisProduct>(Shape{5, 6, 7}, g, 18, 7));
  }
  layers.push_back(std::make_unique<BasisProduct>(Shape{50, 1, 1}, ConvGeometry::square(1, 1, 0), 16, 16));
  layers.push_back(std::make_unique<BasisCombine>(3, 7, 4, 2, 5, 4, "pow2"));
  layers.push_back(std::make_unique<BasisCombine>(2, 5, 3, 1, 1, 0, "uniform"));
  layers.push_back(std::make_unique<SnnEncode>(Shape{4, 2, 3}, 3, "direct"));
  layers.push_back(std::make_unique<SnnEncode>(Shape{4, 2, 3}, 5, "rate", 42));
  layers.push_back(std::make_unique<Lif>(Shape{4, 2, 3}, 3, Lif::Options{0.5, 0.25, 10.0, "hard", true, false}));
  layers.push_back(std::make_unique<SnnReadout>(Shape{4, 2, 3}, 3));
  // Every registered kind is covered here: a new kind adds one line above.
  for (const auto& k : layer_kinds()) {
    CAPTURE(k.name);
    CHECK(std::any_of(layers.begin(), layers.end(), [&](const auto& l) { return l->spec().kind == k.name; }));
  }
  for (auto& layer : layers) {
    const LayerSpec spec = layer->spec();
    CAPTURE(spec.str());
    auto copy = make_layer(spec);
    CHECK(copy->spec().kind == spec.kind);
    CHECK(copy->spec().args == spec.args);
    CHECK(copy->input_shape() == layer->input_shape());
    CHECK(copy->output_shape() == layer->output_shape());
    CHECK(copy->parameters().size() == layer->parameters().size());
  }
  // Optional arguments appear only when they differ from their defaults: explicit defaults give the
  // old spec, so existing specs, model files and summaries are unchanged.
  LayerSpec explicit_defaults{"conv2d",
                              {{"in_c", 2}, {"in_h", 5}, {"in_w", 5}, {"out_c", 2}, {"kernel", 3}, {"stride", 1}, {"pad", 1},
                               {"kernel_shape", std::vector<long long>{3, 3}}, {"strides", std::vector<long long>{1, 1}},
                               {"pads", std::vector<long long>{1, 1, 1, 1}}, {"dilations", std::vector<long long>{1, 1}}, {"groups", 1}}};
  CHECK(make_layer(explicit_defaults)->spec().str() == "conv2d in_c=2 in_h=5 in_w=5 out_c=2 kernel=3 stride=1 pad=1");
  CHECK(make_layer({"batchnorm", {{"c", 2}, {"h", 1}, {"w", 1}, {"eps", 1e-5}, {"momentum", 0.1}}})->spec().str() ==
        "batchnorm c=2 h=1 w=1");
  CHECK(make_layer({"avgpool2d", {{"in_c", 1}, {"in_h", 4}, {"in_w", 4}, {"kernel", 2}, {"stride", 2}, {"pads", std::vector<long long>{0, 0, 0, 0}},
                                  {"count_include_pad", 1}}})
            ->spec()
            .str() == "avgpool2d in_c=1 in_h=4 in_w=4 kernel=2 stride=2");
  // kernel_shape overrides kernel; the spec then names the layer's own kernel_shape[0].
  auto k = make_layer({"conv2d", {{"in_c", 1}, {"in_h", 5}, {"in_w", 5}, {"out_c", 1}, {"kernel", 5}, {"stride", 1}, {"pad", 0},
                                  {"kernel_shape", std::vector<long long>{1, 3}}}});
  CHECK(k->spec().str() == "conv2d in_c=1 in_h=5 in_w=5 out_c=1 kernel=1 stride=1 pad=0 kernel_shape=[1,3]");
  CHECK(k->output_shape() == Shape{1, 5, 3});
  // Integer lists are accepted where floats are expected (files written by other tools).
  auto nm = make_layer({"normalize", {{"c", 2}, {"h", 1}, {"w", 1}, {"mean", std::vector<long long>{0, 1}}, {"std", std::vector<long long>{1, 2}}}});
  CHECK(dynamic_cast<Normalize&>(*nm).stddev() == std::vector<double>{1, 2});
}

TEST_CASE("make_layer: bad arguments of the new kinds and options are one-line errors naming kind and argument") {
  using L = std::vector<long long>;
  auto conv = [](std::vector<std::pair<std::string, AttrValue>> extra, int in_c = 4, int h = 5, int out_c = 6) {
    LayerSpec s{"conv2d", {{"in_c", in_c}, {"in_h", h}, {"in_w", h}, {"out_c", out_c}, {"kernel", 3}, {"stride", 1}, {"pad", 0}}};
    for (auto& e : extra) s.args.push_back(e);
    return s;
  };
  const std::pair<LayerSpec, std::string> cases[] = {
      {conv({{"groups", 3}}), "conv2d: argument 'groups' = 3 does not divide in_c = 4 and out_c = 6"},
      {conv({{"groups", 0}}), "conv2d: argument 'groups' = 0: expected an integer in [1, 4]"},
      {conv({{"groups", 8}}, 4, 5, 8), "conv2d: argument 'groups' = 8: expected an integer in [1, 4]"},
      {conv({{"kernel_shape", L{3}}}), "layer 'conv2d': argument 'kernel_shape' has 1 values, expected 2"},
      {conv({{"kernel_shape", L{0, 3}}}), "conv2d: argument 'kernel_shape' = [0,3]: expected integers in [1, 32768]"},
      {conv({{"strides", L{1, 0}}}), "conv2d: argument 'strides' = [1,0]: expected integers in [1, 32768]"},
      {conv({{"pads", L{-1, 0, 0, 0}}}), "conv2d: argument 'pads' = [-1,0,0,0]: expected integers in [0, 32768]"},
      {conv({{"pads", L{1, 1}}}), "layer 'conv2d': argument 'pads' has 2 values, expected 4"},
      {conv({{"dilations", L{0, 1}}}), "conv2d: argument 'dilations' = [0,1]: expected integers in [1, 32768]"},
      {conv({{"dilations", L{3, 3}}}),
       "conv2d: argument 'kernel_shape' = [3,3] with dilations [3,3] spans 7x7 positions, more than input (4,5,5) padded "
       "by pads [0,0,0,0]"},
      {conv({{"strides", std::vector<double>{1.5, 1}}}), "layer 'conv2d': argument 'strides' is not a list of integers"},
      {conv({{"dilation", L{2, 2}}}),
       "layer 'conv2d': unexpected argument 'dilation' (expected in_c, in_h, in_w, out_c, kernel, stride, pad, "
       "kernel_shape, strides, pads, dilations, groups)"},
      {{"maxpool2d", {{"in_c", 1}, {"in_h", 4}, {"in_w", 4}, {"kernel", 2}, {"stride", 2}, {"pads", L{2, 0, 0, 0}}}},
       "maxpool2d: argument 'pads' = [2,0,0,0]: each pad must be smaller than the window [2,2] on its axis"},
      {{"maxpool2d", {{"in_c", 1}, {"in_h", 4}, {"in_w", 4}, {"kernel", 2}, {"stride", 2}, {"count_include_pad", 0}}},
       "layer 'maxpool2d': unexpected argument 'count_include_pad' (expected in_c, in_h, in_w, kernel, stride, "
       "kernel_shape, strides, pads)"},
      {{"avgpool2d", {{"in_c", 1}, {"in_h", 4}, {"in_w", 4}, {"kernel", 2}, {"stride", 2}, {"count_include_pad", 2}}},
       "avgpool2d: argument 'count_include_pad' = 2: expected an integer in [0, 1]"},
      {{"avgpool2d", {{"in_c", 1}, {"in_h", 4}, {"in_w", 4}, {"kernel", 2}, {"stride", 2}, {"kernel_shape", L{2, 6}}}},
       "avgpool2d: argument 'kernel_shape' = [2,6] does not fit input (1,4,4) padded by pads [0,0,0,0]"},
      {{"batchnorm", {{"c", 2}, {"h", 1}, {"w", 1}, {"eps", 0.0}}}, "batchnorm: argument 'eps' = 0: expected a finite number > 0"},
      {{"batchnorm", {{"c", 2}, {"h", 1}, {"w", 1}, {"momentum", 1.5}}},
       "batchnorm: argument 'momentum' = 1.5: expected a number in [0, 1]"},
      {{"batchnorm", {{"c", 2}, {"h", 1}, {"w", 1}, {"eps", std::string("small")}}},
       "layer 'batchnorm': argument 'eps' is not a number"},
      {{"batchnorm", {{"c", 0}, {"h", 1}, {"w", 1}}}, "batchnorm: argument 'c' = 0: expected an integer in [1, 1073741824]"},
      {{"globalavgpool", {{"c", 2}, {"h", 0}, {"w", 1}}}, "globalavgpool: argument 'h' = 0: expected an integer in [1, 1073741824]"},
      {{"clip", {{"c", 2}, {"h", 1}, {"w", 1}, {"min", 7.0}, {"max", 6.0}}},
       "clip: argument 'min' = 7 is larger than argument 'max' = 6"},
      {{"clip", {{"c", 2}, {"h", 1}, {"w", 1}, {"min", 0.0}}}, "layer 'clip': missing argument 'max'"},
      {{"clip", {{"c", 2}, {"h", 1}, {"w", 1}, {"min", NAN}, {"max", 6.0}}}, "clip: argument 'min' is NaN"},
      {{"normalize", {{"c", 3}, {"h", 1}, {"w", 1}, {"mean", std::vector<double>{0, 0, 0}}, {"std", std::vector<double>{1, 1}}}},
       "normalize: argument 'std' has 2 values, expected c = 3"},
      {{"normalize", {{"c", 2}, {"h", 1}, {"w", 1}, {"mean", std::vector<double>{0, 0}}, {"std", std::vector<double>{1, 0}}}},
       "normalize: argument 'std' value 1 = 0: expected a finite number > 0"},
      {{"normalize", {{"c", 1}, {"h", 1}, {"w", 1}, {"mean", std::string("imagenet")}, {"std", std::vector<double>{1}}}},
       "layer 'normalize': argument 'mean' is not a list of numbers"},
  };
  for (const auto& [spec, want] : cases) {
    CAPTURE(spec.str());
    const std::string got = error_of(spec);
    CHECK(got == want);
    CHECK(got.find('\n') == std::string::npos);
  }
  BatchNorm bn(Shape{2, 1, 1});
  Matrix y;
  CHECK_THROWS_WITH_AS(bn.forward(Matrix::Zero(1, 2), y, Mode::train),
                       "batchnorm: train mode needs at least 2 values per channel, got a batch of 1 with 1 position(s)", Error);
  CHECK_NOTHROW(bn.forward(Matrix::Zero(1, 2), y, Mode::eval));
}
