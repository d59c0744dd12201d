#include "nets/batchnorm.hpp"

#include <algorithm>
#include <cmath>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

using detail::kSampleChunk;

BatchNorm::BatchNorm(Shape shape, double eps, double momentum) : shape_(shape), eps_(eps), momentum_(momentum) {
  detail::check_shape("batchnorm", "", shape);
  if (!(std::isfinite(eps) && eps > 0))
    throw Error("batchnorm: argument 'eps' = " + detail::num(eps) + ": expected a finite number > 0");
  if (!(momentum >= 0 && momentum <= 1))
    throw Error("batchnorm: argument 'momentum' = " + detail::num(momentum) + ": expected a number in [0, 1]");
  add_param("weight", 1, shape.c, false).value.setOnes();
  add_param("bias", 1, shape.c, false);
  add_param("running_mean", 1, shape.c, false).trainable = false;
  Parameter& rv = add_param("running_var", 1, shape.c, false);
  rv.trainable = false;
  rv.value.setOnes();
}

std::unique_ptr<Layer> BatchNorm::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "eps", "momentum"});
  return std::make_unique<BatchNorm>(Shape{a("c"), a("h"), a("w")}, a.real("eps", kDefaultEps),
                                     a.real("momentum", kDefaultMomentum));
}

LayerSpec BatchNorm::spec() const {
  LayerSpec s{"batchnorm", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}}};
  if (eps_ != kDefaultEps) s.args.emplace_back("eps", eps_);
  if (momentum_ != kDefaultMomentum) s.args.emplace_back("momentum", momentum_);
  return s;
}

void BatchNorm::init(Stream&) {
  params_[0]->value.setOnes();
  params_[1]->value.setZero();
  params_[2]->value.setZero();
  params_[3]->value.setOnes();
  for (auto& p : params_) p->grad.setZero();
}

void BatchNorm::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("batchnorm", "x", x, shape_.size());
  const long batch = x.rows(), F = shape_.size(), P = long(shape_.h) * shape_.w;
  const int C = shape_.c;
  const auto uC = std::size_t(C);
  y.resize(batch, F);
  const int chunks = detail::chunk_count(batch);
  const bool parallel = double(batch) * F >= detail::kParallelWork;
  const float* gamma = params_[0]->value.data();
  const float* beta = params_[1]->value.data();
  if (mode == Mode::eval) {
    // y = (x - running_mean) s + beta, s = gamma / sqrt(running_var + eps)
    std::vector<double> s(uC), m(uC);
    for (int c = 0; c < C; ++c) {
      s[c] = double(gamma[c]) / std::sqrt(double(params_[3]->value(0, c)) + eps_);
      m[c] = params_[2]->value(0, c);
    }
#pragma omp parallel for schedule(static) if (parallel)
    for (long b = 0; b < batch; ++b) {
      const float* in = x.data() + b * F;
      float* out = y.data() + b * F;
      for (long p = 0; p < P; ++p)
        for (int c = 0; c < C; ++c) out[p * C + c] = float((double(in[p * C + c]) - m[c]) * s[c] + beta[c]);
    }
    have_cache_ = false;
    return;
  }
  const double n = double(batch) * double(P);
  if (n < 2)
    throw Error("batchnorm: train mode needs at least 2 values per channel, got a batch of " + std::to_string(batch) +
                " with " + std::to_string(P) + " position(s)");
  // Two passes (mean, then the mean square deviation), each summed per chunk and reduced in chunk order.
  auto channel_sums = [&](auto term) {
    parts_.assign(std::size_t(chunks) * uC, 0.0);
#pragma omp parallel for schedule(static) if (parallel)
    for (int ch = 0; ch < chunks; ++ch) {
      double* acc = parts_.data() + std::size_t(ch) * uC;
      const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
      for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
        const float* in = x.data() + b * F;
        for (long p = 0; p < P; ++p)
          for (int c = 0; c < C; ++c) acc[c] += term(double(in[p * C + c]), c);
      }
    }
    std::vector<double> sum(uC, 0.0);
    for (int ch = 0; ch < chunks; ++ch)
      for (int c = 0; c < C; ++c) sum[c] += parts_[std::size_t(ch) * uC + std::size_t(c)];
    return sum;
  };
  mean_ = channel_sums([](double v, int) { return v; });
  for (auto& m : mean_) m /= n;
  std::vector<double> var = channel_sums([&](double v, int c) { return (v - mean_[c]) * (v - mean_[c]); });
  inv_std_.resize(uC);
  for (int c = 0; c < C; ++c) {
    var[c] /= n;
    inv_std_[c] = 1.0 / std::sqrt(var[c] + eps_);
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (long b = 0; b < batch; ++b) {
    const float* in = x.data() + b * F;
    float* out = y.data() + b * F;
    for (long p = 0; p < P; ++p)
      for (int c = 0; c < C; ++c)
        out[p * C + c] = float((double(in[p * C + c]) - mean_[c]) * inv_std_[c] * gamma[c] + beta[c]);
  }
  float* rm = params_[2]->value.data();
  float* rv = params_[3]->value.data();
  for (int c = 0; c < C; ++c) {
    rm[c] = float((1 - momentum_) * rm[c] + momentum_ * mean_[c]);
    rv[c] = float((1 - momentum_) * rv[c] + momentum_ * var[c] * n / (n - 1));
  }
  x_ = x;
  have_cache_ = true;
}

void BatchNorm::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("batchnorm", have_cache_, x_.rows(), dy, shape_.size());
  const long batch = dy.rows(), F = shape_.size(), P = long(shape_.h) * shape_.w;
  const int C = shape_.c;
  const auto uC = std::size_t(C);
  const double n = double(batch) * double(P);
  const int chunks = detail::chunk_count(batch);
  const bool parallel = double(batch) * F >= detail::kParallelWork;
  // Per channel: sum of dy and of dy * xhat.
  parts_.assign(std::size_t(chunks) * 2 * uC, 0.0);
#pragma omp parallel for schedule(static) if (parallel)
  for (int ch = 0; ch < chunks; ++ch) {
    double* sdy = parts_.data() + std::size_t(ch) * 2 * uC;
    double* sdyx = sdy + uC;
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      const float* in = x_.data() + b * F;
      const float* g = dy.data() + b * F;
      for (long p = 0; p < P; ++p)
        for (int c = 0; c < C; ++c) {
          const double xhat = (double(in[p * C + c]) - mean_[c]) * inv_std_[c];
          sdy[c] += g[p * C + c];
          sdyx[c] += double(g[p * C + c]) * xhat;
        }
    }
  }
  std::vector<double> sdy(uC, 0.0), sdyx(uC, 0.0);
  for (int ch = 0; ch < chunks; ++ch)
    for (std::size_t c = 0; c < uC; ++c) {
      sdy[c] += parts_[std::size_t(ch) * 2 * uC + c];
      sdyx[c] += parts_[std::size_t(ch) * 2 * uC + uC + c];
    }
  const float* gamma = params_[0]->value.data();
  dx.resize(batch, F);
#pragma omp parallel for schedule(static) if (parallel)
  for (long b = 0; b < batch; ++b) {
    const float* in = x_.data() + b * F;
    const float* g = dy.data() + b * F;
    float* d = dx.data() + b * F;
    for (long p = 0; p < P; ++p)
      for (int c = 0; c < C; ++c) {
        const double xhat = (double(in[p * C + c]) - mean_[c]) * inv_std_[c];
        d[p * C + c] = float(gamma[c] * inv_std_[c] * (double(g[p * C + c]) - sdy[c] / n - xhat * sdyx[c] / n));
      }
  }
  for (int c = 0; c < C; ++c) {
    params_[0]->grad(0, c) += float(sdyx[c]);
    params_[1]->grad(0, c) += float(sdy[c]);
  }
}

}  // namespace aimc::nets
