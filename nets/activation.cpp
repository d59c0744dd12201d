#include "nets/activation.hpp"

#include <algorithm>
#include <cmath>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

namespace {
Shape chw(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w"});
  return {a("c"), a("h"), a("w")};
}

/// y = f(x) elementwise; with `train`, mask[i] = pass(x[i]) (where the gradient flows), over
/// fixed-size blocks in parallel.
template <class F, class Pass>
void masked_forward(const Matrix& x, Matrix& y, bool train, std::vector<std::uint8_t>& mask, F f, Pass pass) {
  const long n = x.size();
  y.resize(x.rows(), x.cols());
  if (train) mask.resize(std::size_t(n));
  const float* in = x.data();
  float* out = y.data();
  std::uint8_t* m = mask.data();
  const long blocks = (n + detail::kElementBlock - 1) / detail::kElementBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (long blk = 0; blk < blocks; ++blk) {
    const long i0 = blk * detail::kElementBlock, i1 = std::min(n, i0 + detail::kElementBlock);
    for (long i = i0; i < i1; ++i) out[i] = f(in[i]);
    if (train)
      for (long i = i0; i < i1; ++i) m[i] = pass(in[i]);
  }
}

/// dx = dy where the mask of the last train-mode forward is set, else 0.
void masked_backward(const Matrix& dy, Matrix& dx, const std::vector<std::uint8_t>& mask) {
  const long n = dy.size();
  dx.resize(dy.rows(), dy.cols());
  const float* g = dy.data();
  float* d = dx.data();
  const std::uint8_t* m = mask.data();
  const long blocks = (n + detail::kElementBlock - 1) / detail::kElementBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (long blk = 0; blk < blocks; ++blk) {
    const long i0 = blk * detail::kElementBlock, i1 = std::min(n, i0 + detail::kElementBlock);
    for (long i = i0; i < i1; ++i) d[i] = m[i] ? g[i] : 0.f;
  }
}
}  // namespace

std::unique_ptr<Layer> ReLU::make(const LayerSpec& spec) { return std::make_unique<ReLU>(chw(spec)); }
std::unique_ptr<Layer> Flatten::make(const LayerSpec& spec) { return std::make_unique<Flatten>(chw(spec)); }

ReLU::ReLU(Shape shape) : shape_(shape) { detail::check_shape("relu", "", shape); }

LayerSpec ReLU::spec() const { return {"relu", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}}}; }

void ReLU::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("relu", "x", x, shape_.size());
  have_mask_ = mode == Mode::train;
  rows_ = x.rows();
  masked_forward(x, y, have_mask_, mask_, [](float v) { return v > 0.f ? v : 0.f; }, [](float v) { return v > 0.f; });
}

void ReLU::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("relu", have_mask_, rows_, dy, shape_.size());
  masked_backward(dy, dx, mask_);
}

Clip::Clip(Shape shape, double min, double max) : shape_(shape), min_(min), max_(max) {
  detail::check_shape("clip", "", shape);
  if (std::isnan(min)) throw Error("clip: argument 'min' is NaN");
  if (std::isnan(max)) throw Error("clip: argument 'max' is NaN");
  if (min > max)
    throw Error("clip: argument 'min' = " + detail::num(min) + " is larger than argument 'max' = " + detail::num(max));
}

std::unique_ptr<Layer> Clip::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "min", "max"});
  return std::make_unique<Clip>(Shape{a("c"), a("h"), a("w")}, spec.get_float("min"), spec.get_float("max"));
}

LayerSpec Clip::spec() const {
  return {"clip", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}, {"min", min_}, {"max", max_}}};
}

void Clip::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("clip", "x", x, shape_.size());
  have_mask_ = mode == Mode::train;
  rows_ = x.rows();
  const float lo = float(min_), hi = float(max_);
  masked_forward(
      x, y, have_mask_, mask_, [lo, hi](float v) { return std::min(std::max(v, lo), hi); },  // NaN stays NaN
      [lo, hi](float v) { return v > lo && v < hi; });
}

void Clip::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("clip", have_mask_, rows_, dy, shape_.size());
  masked_backward(dy, dx, mask_);
}

Flatten::Flatten(Shape in) : in_(in) { detail::check_shape("flatten", "", in); }

LayerSpec Flatten::spec() const { return {"flatten", {{"c", in_.c}, {"h", in_.h}, {"w", in_.w}}}; }

void Flatten::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("flatten", "x", x, in_.size());
  y = x;
  have_cache_ = mode == Mode::train;
  rows_ = x.rows();
}

void Flatten::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("flatten", have_cache_, rows_, dy, in_.size());
  dx = dy;
}

}  // namespace aimc::nets
