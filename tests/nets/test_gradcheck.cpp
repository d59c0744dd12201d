// Finite-difference gradient checks of every layer (dx and every parameter) and of the loss.
//
// Layers: the scalar probed is L = sum_i R_i y_i (R fixed), whose gradient with respect to y is R, so
// backward(R) must return dL/dx and add dL/dparameter. Every layer here is linear, or piecewise
// linear away from its kinks, in each input and parameter, so a central difference has no truncation
// error. The data are dyadic: x, parameters and R are multiples of 1/8 in [-1, 1] (pool and ReLU
// inputs are chosen away from ties and from 0), the step h is 1/8 or 1/16. Then every product,
// every partial sum (far below 2^24 units of 2^-9) and L itself are exact in float and double, so the
// difference quotient and the analytic gradient must agree EXACTLY, whatever order the GEMMs sum in;
// the only exception, average pooling with a non-dyadic 1/k^2, gets a rounding bound stated there.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <string>

#include "core/random.hpp"
#include "nets/activation.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"
#include "nets/layer.hpp"
#include "nets/pool.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {

/// Fills m with multiples of 1/8 in [-1, 1].
void fill_dyadic(Matrix& m, Stream& s) {
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = float(int(s.below(17)) - 8) / 8.f;
}

double probe(const Matrix& y, const Matrix& r) {
  double l = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) l += double(y.data()[i]) * double(r.data()[i]);
  return l;
}

/// Largest |fd - analytic| over one array; `tol(i)` is the allowed error of entry i.
struct Worst {
  double err = 0, allowed = 0;
  long checked = 0, failed = 0;
};

/// Central difference of L with respect to every entry of `values` (perturbed in place by +-h),
/// compared with `analytic`.
Worst fd_compare(Layer& layer, const Matrix& x_in, Matrix& values, const Matrix& analytic, const Matrix& r, float h,
                 bool perturb_x, const std::function<double(double)>& tol) {
  Worst w;
  Matrix x = x_in, y;
  Matrix& target = perturb_x ? x : values;
  for (Eigen::Index i = 0; i < target.size(); ++i) {
    const float v = target.data()[i];
    const float vp = v + h, vm = v - h;
    target.data()[i] = vp;
    layer.forward(x, y, Mode::eval);
    const double lp = probe(y, r);
    target.data()[i] = vm;
    layer.forward(x, y, Mode::eval);
    const double lm = probe(y, r);
    target.data()[i] = v;
    const double fd = (lp - lm) / (double(vp) - double(vm));
    const double g = analytic.data()[i];
    const double err = std::abs(fd - g), allowed = tol(std::abs(g));
    ++w.checked;
    if (err > allowed) ++w.failed;
    if (err - allowed > w.err - w.allowed) w.err = err, w.allowed = allowed;
  }
  return w;
}

/// Checks dx and every parameter gradient of `layer` at x with step h; R is dyadic.
void gradcheck(Layer& layer, const Matrix& x, float h, Stream& s,
               const std::function<double(double)>& tol = [](double) { return 0.0; }) {
  Matrix y, y_eval, dx;
  layer.forward(x, y, Mode::train);
  Matrix r(y.rows(), y.cols());
  fill_dyadic(r, s);
  for (auto* p : layer.parameters()) p->grad.setZero();
  layer.backward(r, dx);
  layer.forward(x, y_eval, Mode::eval);
  CHECK(y_eval == y);  // eval and train forward compute the same output
  REQUIRE(dx.rows() == x.rows());
  REQUIRE(dx.cols() == x.cols());

  Matrix none;
  Worst wx = fd_compare(layer, x, none, dx, r, h, true, tol);
  INFO("dx: checked ", wx.checked, ", worst error ", wx.err, " allowed ", wx.allowed);
  CHECK(wx.failed == 0);
  for (auto* p : layer.parameters()) {
    const Matrix g = p->grad;
    Worst wp = fd_compare(layer, x, p->value, g, r, h, false, tol);
    INFO("parameter ", p->name, ": checked ", wp.checked, ", worst error ", wp.err, " allowed ", wp.allowed);
    CHECK(wp.failed == 0);
  }
}

Matrix dyadic(long rows, long cols, Stream& s) {
  Matrix m(rows, cols);
  fill_dyadic(m, s);
  return m;
}

/// Pool input: each sample holds a random permutation of 0, 1/2, 1, ... shifted to mean 0, so values in
/// a window differ by >= 1/2 > 2h and a +-h step never changes which one is the maximum.
Matrix distinct_rows(long rows, long cols, Stream& s) {
  Matrix m(rows, cols);
  std::vector<int> v(cols);
  for (long b = 0; b < rows; ++b) {
    std::iota(v.begin(), v.end(), 0);
    s.shuffle(v.begin(), v.end());
    for (long j = 0; j < cols; ++j) m(b, j) = 0.5f * float(v[j] - cols / 2);
  }
  return m;
}

}  // namespace

TEST_CASE("gradcheck: dense dx, weight and bias (exact on dyadic data)") {
  Stream s(1, "gradcheck-dense");
  // (3, 6, 37): 3 sample chunks; (260, 2, 3): 3 blocks of weight-gradient rows.
  for (auto [in, out, batch] : {std::tuple{5, 3, 4}, std::tuple{7, 1, 1}, std::tuple{3, 6, 37}, std::tuple{260, 2, 3}}) {
    CAPTURE(in);
    CAPTURE(out);
    CAPTURE(batch);
    Dense d(in, out);
    fill_dyadic(d.parameters()[0]->value, s);
    fill_dyadic(d.parameters()[1]->value, s);
    gradcheck(d, dyadic(batch, in, s), 0.125f, s);
  }
}

TEST_CASE("gradcheck: conv2d dx, weight and bias for several kernel/stride/pad (exact on dyadic data)") {
  Stream s(2, "gradcheck-conv");
  struct Case {
    Shape in;
    int out_c, kernel, stride, pad, batch;
  };
  const Case cases[] = {
      {{3, 5, 6}, 4, 3, 1, 0, 3},  // valid convolution
      {{2, 5, 4}, 3, 3, 1, 1, 2},  // same padding
      {{2, 7, 6}, 2, 3, 2, 1, 2},  // stride 2 with padding; last column not reached
      {{3, 6, 6}, 2, 2, 2, 0, 2},  // non-overlapping 2x2
      {{4, 3, 3}, 3, 1, 1, 0, 2},  // 1x1 (pure channel mixing)
      {{1, 6, 7}, 2, 5, 3, 2, 2},  // large kernel, stride 3, pad 2
      {{2, 4, 4}, 2, 3, 1, 1, 35},  // 3 chunks, the last one partial: per-chunk gradient reduction
  };
  for (const auto& c : cases) {
    CAPTURE(c.in.str());
    CAPTURE(c.kernel);
    CAPTURE(c.stride);
    CAPTURE(c.pad);
    CAPTURE(c.batch);
    Conv2d conv(c.in, c.out_c, c.kernel, c.stride, c.pad);
    fill_dyadic(conv.parameters()[0]->value, s);
    fill_dyadic(conv.parameters()[1]->value, s);
    gradcheck(conv, dyadic(c.batch, c.in.size(), s), 0.125f, s);
  }
}

TEST_CASE("gradcheck: max pooling (exact, inputs away from ties)") {
  Stream s(3, "gradcheck-maxpool");
  struct Case {
    Shape in;
    int kernel, stride;
  };
  for (const auto& c : {Case{{2, 4, 4}, 2, 2}, Case{{3, 5, 6}, 3, 2}, Case{{2, 4, 5}, 2, 1}, Case{{1, 7, 5}, 3, 3}}) {
    CAPTURE(c.in.str());
    CAPTURE(c.kernel);
    CAPTURE(c.stride);
    MaxPool2d pool(c.in, c.kernel, c.stride);
    gradcheck(pool, distinct_rows(3, c.in.size(), s), 0.125f, s);
  }
}

TEST_CASE("gradcheck: average pooling") {
  Stream s(4, "gradcheck-avgpool");
  SUBCASE("dyadic 1/k^2: exact") {
    struct Case {
      Shape in;
      int kernel, stride;
    };
    for (const auto& c : {Case{{2, 4, 4}, 2, 2}, Case{{2, 5, 6}, 2, 1}, Case{{1, 8, 9}, 4, 3}}) {
      CAPTURE(c.in.str());
      CAPTURE(c.kernel);
      CAPTURE(c.stride);
      AvgPool2d pool(c.in, c.kernel, c.stride);
      gradcheck(pool, dyadic(3, c.in.size(), s), 0.125f, s);
    }
  }
  SUBCASE("3x3 window: 1/9 is rounded") {
    // The window sums are exact (dyadic); each output y = fl(sum * fl(1/9)) has relative error <= u =
    // 2^-24, |y| <= max|x| + h = 1.125 and |R| <= 1, so each of the two probes of L is off by at most
    // u * 1.125 * (#outputs) and the difference quotient by that / h. The analytic entries are sums of
    // at most 9 terms R * fl(1/9), off by at most 10 u. Both bounds are added.
    const Shape in{2, 7, 5};
    AvgPool2d pool(in, 3, 2);
    const long batch = 3;
    const float h = 0.125f;
    const double u = std::ldexp(1.0, -24);
    const double outputs = double(batch) * pool.output_shape().size();
    gradcheck(pool, dyadic(batch, in.size(), s), h, s, [&](double) { return u * 1.125 * outputs / h + 10 * u; });
  }
}

TEST_CASE("gradcheck: relu and flatten (exact)") {
  Stream s(5, "gradcheck-act");
  const Shape shape{3, 2, 4};
  // ReLU inputs (k + 1/2) / 4 are at least 1/8 away from the kink at 0; the step is 1/16.
  Matrix x(5, shape.size());
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = (float(int(s.below(8)) - 4) + 0.5f) / 4.f;
  ReLU relu(shape);
  gradcheck(relu, x, 0.0625f, s);
  Flatten flatten(shape);
  gradcheck(flatten, dyadic(5, shape.size(), s), 0.125f, s);
}

TEST_CASE("gradcheck: softmax cross-entropy dlogits") {
  // The loss is computed in double from float logits, so the difference quotient carries only the
  // central-difference truncation error h^2/6 * max|d^3 L/dz^3|. For the mean over B rows,
  // d^3 L/dz_j^3 = p(1-p)(1-2p)/B with |p(1-p)(1-2p)| <= 1/(6 sqrt 3) < 0.1 (mixed third derivatives
  // are smaller). dlogits is stored in float: relative error <= u = 2^-24 of a value <= 1/B.
  Stream s(6, "gradcheck-loss");
  const long batch = 5, classes = 7;
  Matrix z(batch, classes);
  s.fill_normal(z, 0.f, 2.f);
  VectorI labels(batch);
  for (long b = 0; b < batch; ++b) labels[b] = int(s.below(classes));
  Matrix d;
  softmax_cross_entropy(z, labels, &d);
  const float h = 1.f / 128;
  const double tol = (double(h) * h / 6 * 0.1 + std::ldexp(1.0, -24)) / batch;
  double worst = 0;
  for (Eigen::Index i = 0; i < z.size(); ++i) {
    const float v = z.data()[i], vp = v + h, vm = v - h;
    z.data()[i] = vp;
    const double lp = softmax_cross_entropy(z, labels);
    z.data()[i] = vm;
    const double lm = softmax_cross_entropy(z, labels);
    z.data()[i] = v;
    const double fd = (lp - lm) / (double(vp) - double(vm));
    worst = std::max(worst, std::abs(fd - double(d.data()[i])));
  }
  INFO("worst error ", worst, " allowed ", tol);
  CHECK(worst <= tol);
  // Each row of (softmax - onehot) / B sums to 0.
  for (long b = 0; b < batch; ++b) CHECK(std::abs(d.row(b).sum()) <= 1e-7);
}

TEST_CASE("gradcheck: backward adds to parameter gradients") {
  Stream s(7, "gradcheck-accumulate");
  Conv2d conv({2, 4, 4}, 3, 3, 1, 1);
  for (auto* p : conv.parameters()) fill_dyadic(p->value, s);
  Matrix x = dyadic(3, conv.input_shape().size(), s), y, dx;
  conv.forward(x, y, Mode::train);
  Matrix r = dyadic(y.rows(), y.cols(), s);
  conv.backward(r, dx);
  const Matrix gw = conv.parameters()[0]->grad, gb = conv.parameters()[1]->grad;
  CHECK(gw.norm() > 0);
  conv.backward(r, dx);
  CHECK(conv.parameters()[0]->grad == 2 * gw);  // exact: dyadic sums doubled
  CHECK(conv.parameters()[1]->grad == 2 * gb);
}
