#include "nets/dense.hpp"

#include <algorithm>
#include <cmath>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

using detail::kSampleChunk;

namespace {
/// Input rows of W per task of the weight-gradient product; fixed so the work split (and thus the
/// result) does not depend on the thread count.
constexpr int kRowBlock = 128;
}  // namespace

Dense::Dense(int in, int out) : in_(in), out_(out) {
  detail::check_range("dense", "in", in, 1, 1 << 30);
  detail::check_range("dense", "out", out, 1, 1 << 30);
  add_param("weight", in, out, true);
  add_param("bias", 1, out, false);
}

std::unique_ptr<Layer> Dense::make(const LayerSpec& spec) {
  detail::Args a(spec, {"in", "out"});
  return std::make_unique<Dense>(a("in"), a("out"));
}

LayerSpec Dense::spec() const { return {"dense", {{"in", in_}, {"out", out_}}}; }

void Dense::init(Stream& stream) {
  float bound = float(std::sqrt(6.0 / in_));
  stream.fill_uniform(wp().value, -bound, bound);
  bp().value.setZero();
  wp().grad.setZero();
  bp().grad.setZero();
}

void Dense::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("dense", "x", x, in_);
  const long batch = x.rows();
  y.resize(batch, out_);
  const int chunks = detail::chunk_count(batch);
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    auto yc = y.middleRows(b0, nb);
    yc.noalias() = x.middleRows(b0, nb) * wp().value;
    yc.rowwise() += bp().value.row(0);
  }
  have_x_ = mode == Mode::train;
  if (have_x_) x_ = x;
}

void Dense::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("dense", have_x_, x_.rows(), dy, out_);
  const long batch = dy.rows();
  dx.resize(batch, in_);
  const int chunks = detail::chunk_count(batch);
  const int blocks = (in_ + kRowBlock - 1) / kRowBlock;
  // One task list: dx row chunks first, then weight-gradient row blocks. Every output element is
  // written by exactly one task with a fixed summation, so no reduction across tasks is needed.
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int t = 0; t < chunks + blocks; ++t) {
    if (t < chunks) {
      const long b0 = long(t) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
      dx.middleRows(b0, nb).noalias() = dy.middleRows(b0, nb) * wp().value.transpose();
    } else {
      const int i0 = (t - chunks) * kRowBlock, ni = std::min(kRowBlock, in_ - i0);
      wp().grad.middleRows(i0, ni).noalias() += x_.middleCols(i0, ni).transpose() * dy;
    }
  }
  bp().grad.row(0) += dy.colwise().sum();
}

const Matrix& Dense::lower(const Matrix& x, Matrix&) const {
  detail::check_features("dense", "x", x, in_);
  return x;
}

Eigen::Ref<const Matrix> Dense::lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb, Matrix&) const {
  detail::check_features("dense", "x", x, in_);
  return x.middleRows(b0, nb);
}

void Dense::raise(const Matrix& products, Matrix& y) const {
  detail::check_features("dense", "products", products, out_);
  y = products;
  y.rowwise() += bp().value.row(0);
}

}  // namespace aimc::nets
