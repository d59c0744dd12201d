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
}  // namespace

std::unique_ptr<Layer> ReLU::make(const LayerSpec& spec) { return std::make_unique<ReLU>(chw(spec)); }
std::unique_ptr<Layer> Flatten::make(const LayerSpec& spec) { return std::make_unique<Flatten>(chw(spec)); }

ReLU::ReLU(Shape shape) : shape_(shape) { detail::check_shape("relu", "", shape); }

LayerSpec ReLU::spec() const { return {"relu", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}}}; }

void ReLU::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("relu", "x", x, shape_.size());
  const long n = x.size();
  y.resize(x.rows(), x.cols());
  have_mask_ = mode == Mode::train;
  rows_ = x.rows();
  if (have_mask_) mask_.resize(n);
  const float* in = x.data();
  float* out = y.data();
  std::uint8_t* m = mask_.data();
  const long blocks = (n + detail::kElementBlock - 1) / detail::kElementBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (long blk = 0; blk < blocks; ++blk) {
    const long i0 = blk * detail::kElementBlock, i1 = std::min(n, i0 + detail::kElementBlock);
    for (long i = i0; i < i1; ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
    if (have_mask_)
      for (long i = i0; i < i1; ++i) m[i] = in[i] > 0.f;
  }
}

void ReLU::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("relu", have_mask_, rows_, dy, shape_.size());
  const long n = dy.size();
  dx.resize(dy.rows(), dy.cols());
  const float* g = dy.data();
  float* d = dx.data();
  const std::uint8_t* m = mask_.data();
  const long blocks = (n + detail::kElementBlock - 1) / detail::kElementBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (long blk = 0; blk < blocks; ++blk) {
    const long i0 = blk * detail::kElementBlock, i1 = std::min(n, i0 + detail::kElementBlock);
    for (long i = i0; i < i1; ++i) d[i] = m[i] ? g[i] : 0.f;
  }
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
  const long n = x.size();
  y.resize(x.rows(), x.cols());
  have_mask_ = mode == Mode::train;
  rows_ = x.rows();
  if (have_mask_) mask_.resize(n);
  const float lo = float(min_), hi = float(max_);
  const float* in = x.data();
  float* out = y.data();
  std::uint8_t* m = mask_.data();
  const long blocks = (n + detail::kElementBlock - 1) / detail::kElementBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (long blk = 0; blk < blocks; ++blk) {
    const long i0 = blk * detail::kElementBlock, i1 = std::min(n, i0 + detail::kElementBlock);
    for (long i = i0; i < i1; ++i) out[i] = std::min(std::max(in[i], lo), hi);  // NaN stays NaN
    if (have_mask_)
      for (long i = i0; i < i1; ++i) m[i] = in[i] > lo && in[i] < hi;
  }
}

void Clip::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("clip", have_mask_, rows_, dy, shape_.size());
  const long n = dy.size();
  dx.resize(dy.rows(), dy.cols());
  const float* g = dy.data();
  float* d = dx.data();
  const std::uint8_t* m = mask_.data();
  const long blocks = (n + detail::kElementBlock - 1) / detail::kElementBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (long blk = 0; blk < blocks; ++blk) {
    const long i0 = blk * detail::kElementBlock, i1 = std::min(n, i0 + detail::kElementBlock);
    for (long i = i0; i < i1; ++i) d[i] = m[i] ? g[i] : 0.f;
  }
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
