#include "nets/normalize.hpp"

#include <cmath>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

Normalize::Normalize(Shape shape, std::vector<double> mean, std::vector<double> sd)
    : shape_(shape), mean_(std::move(mean)), std_(std::move(sd)) {
  detail::check_shape("normalize", "", shape);
  auto check = [&](const char* name, const std::vector<double>& v, bool positive) {
    if (v.size() != std::size_t(shape.c))
      throw Error(std::string("normalize: argument '") + name + "' has " + std::to_string(v.size()) +
                  " values, expected c = " + std::to_string(shape.c));
    for (std::size_t c = 0; c < v.size(); ++c)
      if (!std::isfinite(v[c]) || (positive && v[c] <= 0))
        throw Error(std::string("normalize: argument '") + name + "' value " + std::to_string(c) + " = " +
                    detail::num(v[c]) + ": expected a finite number" + (positive ? " > 0" : ""));
  };
  check("mean", mean_, false);
  check("std", std_, true);
}

std::unique_ptr<Layer> Normalize::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "mean", "std"});
  return std::make_unique<Normalize>(Shape{a("c"), a("h"), a("w")}, spec.get_floats("mean"), spec.get_floats("std"));
}

LayerSpec Normalize::spec() const {
  return {"normalize", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}, {"mean", mean_}, {"std", std_}}};
}

void Normalize::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("normalize", "x", x, shape_.size());
  const long batch = x.rows(), P = long(shape_.h) * shape_.w;
  const int C = shape_.c;
  y.resize(batch, x.cols());
#pragma omp parallel for schedule(static) if (double(x.size()) >= detail::kParallelWork)
  for (long b = 0; b < batch; ++b) {
    const float* in = x.data() + b * x.cols();
    float* out = y.data() + b * x.cols();
    for (long p = 0; p < P; ++p)
      for (int c = 0; c < C; ++c) out[p * C + c] = float((double(in[p * C + c]) - mean_[c]) / std_[c]);
  }
  have_cache_ = mode == Mode::train;
  rows_ = batch;
}

void Normalize::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("normalize", have_cache_, rows_, dy, shape_.size());
  const long batch = dy.rows(), P = long(shape_.h) * shape_.w;
  const int C = shape_.c;
  dx.resize(batch, dy.cols());
#pragma omp parallel for schedule(static) if (double(dy.size()) >= detail::kParallelWork)
  for (long b = 0; b < batch; ++b) {
    const float* g = dy.data() + b * dy.cols();
    float* d = dx.data() + b * dy.cols();
    for (long p = 0; p < P; ++p)
      for (int c = 0; c < C; ++c) d[p * C + c] = float(double(g[p * C + c]) / std_[c]);
  }
}

}  // namespace aimc::nets
