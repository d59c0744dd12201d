#include "nets/pool.hpp"

#include <algorithm>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

using detail::kSampleChunk;

Pool2d::Pool2d(const char* kind, Shape in, int kernel, int stride)
    : kind_(kind), in_(in), kernel_(kernel), stride_(stride) {
  detail::check_shape(kind, "in_", in);
  detail::check_range(kind, "kernel", kernel, 1, 1 << 15);
  detail::check_range(kind, "stride", stride, 1, 1 << 15);
  if (kernel > in.h || kernel > in.w)
    throw Error(std::string(kind) + ": kernel " + std::to_string(kernel) + " does not fit input " + in.str());
  out_ = {in.c, (in.h - kernel) / stride + 1, (in.w - kernel) / stride + 1};
}

LayerSpec Pool2d::spec() const {
  return {kind_, {{"in_c", in_.c}, {"in_h", in_.h}, {"in_w", in_.w}, {"kernel", kernel_}, {"stride", stride_}}};
}

namespace {
template <class P>
std::unique_ptr<Layer> make_pool(const LayerSpec& spec) {
  detail::Args a(spec, {"in_c", "in_h", "in_w", "kernel", "stride"});
  return std::make_unique<P>(Shape{a("in_c"), a("in_h"), a("in_w")}, a("kernel"), a("stride"));
}
}  // namespace

std::unique_ptr<Layer> MaxPool2d::make(const LayerSpec& spec) { return make_pool<MaxPool2d>(spec); }
std::unique_ptr<Layer> AvgPool2d::make(const LayerSpec& spec) { return make_pool<AvgPool2d>(spec); }

MaxPool2d::MaxPool2d(Shape in, int kernel, int stride) : Pool2d("maxpool2d", in, kernel, stride) {}

void MaxPool2d::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features(kind_, "x", x, in_.size());
  const long batch = x.rows(), in_size = in_.size(), out_size = out_.size();
  const int C = in_.c, W = in_.w, k = kernel_;
  y.resize(batch, out_size);
  argmax_.resize(batch * out_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * k * k >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      const float* xs = x.data() + b * in_size;
      float* ys = y.data() + b * out_size;
      std::int32_t* as = argmax_.data() + b * out_size;
      for (int oh = 0; oh < out_.h; ++oh) {
        for (int ow = 0; ow < out_.w; ++ow) {
          float* o = ys + (long(oh) * out_.w + ow) * C;
          std::int32_t* a = as + (long(oh) * out_.w + ow) * C;
          for (int kh = 0; kh < k; ++kh) {
            for (int kw = 0; kw < k; ++kw) {
              const std::int32_t base = ((oh * stride_ + kh) * W + ow * stride_ + kw) * C;
              const float* in = xs + base;
              if (kh == 0 && kw == 0) {
                for (int c = 0; c < C; ++c) {
                  o[c] = in[c];
                  a[c] = base + c;
                }
              } else {
                for (int c = 0; c < C; ++c) {  // branch-free so that it vectorizes
                  const bool greater = in[c] > o[c];
                  o[c] = greater ? in[c] : o[c];
                  a[c] = greater ? base + c : a[c];
                }
              }
            }
          }
        }
      }
    }
  }
  have_cache_ = mode == Mode::train;
  rows_ = batch;
}

void MaxPool2d::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward(kind_, have_cache_, rows_, dy, out_.size());
  const long batch = dy.rows(), in_size = in_.size(), out_size = out_.size();
  const int k = kernel_;
  dx.setZero(batch, in_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * k * k >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      const float* g = dy.data() + b * out_size;
      const std::int32_t* a = argmax_.data() + b * out_size;
      float* d = dx.data() + b * in_size;
      for (long i = 0; i < out_size; ++i) d[a[i]] += g[i];
    }
  }
}

AvgPool2d::AvgPool2d(Shape in, int kernel, int stride) : Pool2d("avgpool2d", in, kernel, stride) {}

void AvgPool2d::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features(kind_, "x", x, in_.size());
  const long batch = x.rows(), in_size = in_.size(), out_size = out_.size();
  const int C = in_.c, W = in_.w, k = kernel_;
  const float scale = 1.f / float(k * k);
  y.resize(batch, out_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * k * k >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      const float* xs = x.data() + b * in_size;
      float* ys = y.data() + b * out_size;
      for (int oh = 0; oh < out_.h; ++oh) {
        for (int ow = 0; ow < out_.w; ++ow) {
          float* o = ys + (long(oh) * out_.w + ow) * C;
          std::fill(o, o + C, 0.f);
          for (int kh = 0; kh < k; ++kh)
            for (int kw = 0; kw < k; ++kw) {
              const float* in = xs + (long(oh * stride_ + kh) * W + ow * stride_ + kw) * C;
              for (int c = 0; c < C; ++c) o[c] += in[c];
            }
          for (int c = 0; c < C; ++c) o[c] *= scale;
        }
      }
    }
  }
  have_cache_ = mode == Mode::train;
  rows_ = batch;
}

void AvgPool2d::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward(kind_, have_cache_, rows_, dy, out_.size());
  const long batch = dy.rows(), in_size = in_.size(), out_size = out_.size();
  const int C = in_.c, W = in_.w, k = kernel_;
  const float scale = 1.f / float(k * k);
  dx.setZero(batch, in_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * k * k >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      const float* gs = dy.data() + b * out_size;
      float* ds = dx.data() + b * in_size;
      for (int oh = 0; oh < out_.h; ++oh) {
        for (int ow = 0; ow < out_.w; ++ow) {
          const float* g = gs + (long(oh) * out_.w + ow) * C;
          for (int kh = 0; kh < k; ++kh)
            for (int kw = 0; kw < k; ++kw) {
              float* d = ds + (long(oh * stride_ + kh) * W + ow * stride_ + kw) * C;
              for (int c = 0; c < C; ++c) d[c] += g[c] * scale;
            }
        }
      }
    }
  }
}

}  // namespace aimc::nets
