#include "nets/pool.hpp"

#include <algorithm>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

using detail::kSampleChunk;

namespace {
constexpr int kMaxExtent = 1 << 15;

PoolGeometry checked_square(const char* kind, int kernel, int stride) {
  detail::check_range(kind, "kernel", kernel, 1, kMaxExtent);
  detail::check_range(kind, "stride", stride, 1, kMaxExtent);
  return PoolGeometry::square(kernel, stride);
}

/// The window arguments shared by both pooling kinds (after Args has checked the keys).
PoolGeometry read_geometry(const char* kind, const detail::Args& a) {
  PoolGeometry g = checked_square(kind, a("kernel"), a("stride"));
  const auto k = a.ints("kernel_shape", 2, {g.kh, g.kw});
  const auto s = a.ints("strides", 2, {g.sh, g.sw});
  const auto p = a.ints("pads", 4, {0, 0, 0, 0});
  g.kh = k[0], g.kw = k[1];
  g.sh = s[0], g.sw = s[1];
  g.pad_top = p[0], g.pad_left = p[1], g.pad_bottom = p[2], g.pad_right = p[3];
  return g;
}
}  // namespace

PoolGeometry PoolGeometry::square(int kernel, int stride) {
  PoolGeometry g;
  g.kh = g.kw = kernel;
  g.sh = g.sw = stride;
  return g;
}

Pool2d::Pool2d(const char* kind, Shape in, const PoolGeometry& g) : kind_(kind), in_(in), g_(g) {
  detail::check_shape(kind, "in_", in);
  detail::check_list(kind, "kernel_shape", {g.kh, g.kw}, 1, kMaxExtent);
  detail::check_list(kind, "strides", {g.sh, g.sw}, 1, kMaxExtent);
  detail::check_list(kind, "pads", {g.pad_top, g.pad_left, g.pad_bottom, g.pad_right}, 0, kMaxExtent);
  const auto pads = detail::list_str({g.pad_top, g.pad_left, g.pad_bottom, g.pad_right});
  if (g.pad_top >= g.kh || g.pad_bottom >= g.kh || g.pad_left >= g.kw || g.pad_right >= g.kw)
    throw Error(std::string(kind) + ": argument 'pads' = " + pads + ": each pad must be smaller than the window " +
                detail::list_str({g.kh, g.kw}) + " on its axis");
  const long long ph = (long long)in.h + g.pad_top + g.pad_bottom, pw = (long long)in.w + g.pad_left + g.pad_right;
  if (g.kh > ph || g.kw > pw) {
    const bool plain = g.kh == g.kw && g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0;
    if (plain) throw Error(std::string(kind) + ": kernel " + std::to_string(g.kh) + " does not fit input " + in.str());
    throw Error(std::string(kind) + ": argument 'kernel_shape' = " + detail::list_str({g.kh, g.kw}) +
                " does not fit input " + in.str() + " padded by pads " + pads);
  }
  out_ = {in.c, int((ph - g.kh) / g.sh + 1), int((pw - g.kw) / g.sw + 1)};
}

LayerSpec Pool2d::spec() const {
  LayerSpec s{kind_, {{"in_c", in_.c}, {"in_h", in_.h}, {"in_w", in_.w}, {"kernel", g_.kh}, {"stride", g_.sh}}};
  using L = std::vector<long long>;
  if (g_.kw != g_.kh) s.args.emplace_back("kernel_shape", L{g_.kh, g_.kw});
  if (g_.sw != g_.sh) s.args.emplace_back("strides", L{g_.sh, g_.sw});
  if (g_.pad_top != 0 || g_.pad_left != 0 || g_.pad_bottom != 0 || g_.pad_right != 0)
    s.args.emplace_back("pads", L{g_.pad_top, g_.pad_left, g_.pad_bottom, g_.pad_right});
  return s;
}

std::unique_ptr<Layer> MaxPool2d::make(const LayerSpec& spec) {
  detail::Args a(spec, {"in_c", "in_h", "in_w", "kernel", "stride", "kernel_shape", "strides", "pads"});
  const Shape in{a("in_c"), a("in_h"), a("in_w")};
  return std::make_unique<MaxPool2d>(in, read_geometry("maxpool2d", a));
}

std::unique_ptr<Layer> AvgPool2d::make(const LayerSpec& spec) {
  detail::Args a(spec, {"in_c", "in_h", "in_w", "kernel", "stride", "kernel_shape", "strides", "pads",
                        "count_include_pad"});
  const Shape in{a("in_c"), a("in_h"), a("in_w")};
  const PoolGeometry g = read_geometry("avgpool2d", a);
  const int include = a.opt("count_include_pad", 1);
  detail::check_range("avgpool2d", "count_include_pad", include, 0, 1);
  return std::make_unique<AvgPool2d>(in, g, include == 1);
}

MaxPool2d::MaxPool2d(Shape in, int kernel, int stride) : MaxPool2d(in, checked_square("maxpool2d", kernel, stride)) {}
MaxPool2d::MaxPool2d(Shape in, const PoolGeometry& g) : Pool2d("maxpool2d", in, g) {}

void MaxPool2d::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features(kind_, "x", x, in_.size());
  const long batch = x.rows(), in_size = in_.size(), out_size = out_.size();
  const int C = in_.c, W = in_.w;
  y.resize(batch, out_size);
  argmax_.resize(batch * out_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * g_.kh * g_.kw >= detail::kParallelWork)
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
          int i0, i1, j0, j1;
          window(oh, ow, i0, i1, j0, j1);  // padding never wins: only input values are compared
          for (int i = i0; i < i1; ++i) {
            for (int j = j0; j < j1; ++j) {
              const std::int32_t base = (i * W + j) * C;
              const float* in = xs + base;
              if (i == i0 && j == j0) {
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
  dx.setZero(batch, in_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * g_.kh * g_.kw >= detail::kParallelWork)
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

AvgPool2d::AvgPool2d(Shape in, int kernel, int stride) : AvgPool2d(in, checked_square("avgpool2d", kernel, stride)) {}
AvgPool2d::AvgPool2d(Shape in, const PoolGeometry& g, bool count_include_pad)
    : Pool2d("avgpool2d", in, g), count_include_pad_(count_include_pad) {}

LayerSpec AvgPool2d::spec() const {
  LayerSpec s = Pool2d::spec();
  if (!count_include_pad_) s.args.emplace_back("count_include_pad", 0LL);
  return s;
}

float AvgPool2d::scale(int oh, int ow) const {
  if (count_include_pad_) return 1.f / float(g_.kh * g_.kw);
  int i0, i1, j0, j1;
  window(oh, ow, i0, i1, j0, j1);
  return 1.f / float((i1 - i0) * (j1 - j0));
}

void AvgPool2d::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features(kind_, "x", x, in_.size());
  const long batch = x.rows(), in_size = in_.size(), out_size = out_.size();
  const int C = in_.c, W = in_.w;
  y.resize(batch, out_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * g_.kh * g_.kw >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      const float* xs = x.data() + b * in_size;
      float* ys = y.data() + b * out_size;
      for (int oh = 0; oh < out_.h; ++oh) {
        for (int ow = 0; ow < out_.w; ++ow) {
          float* o = ys + (long(oh) * out_.w + ow) * C;
          std::fill(o, o + C, 0.f);
          int i0, i1, j0, j1;
          window(oh, ow, i0, i1, j0, j1);  // padded zeros add nothing to the sum
          for (int i = i0; i < i1; ++i)
            for (int j = j0; j < j1; ++j) {
              const float* in = xs + (long(i) * W + j) * C;
              for (int c = 0; c < C; ++c) o[c] += in[c];
            }
          const float s = scale(oh, ow);
          for (int c = 0; c < C; ++c) o[c] *= s;
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
  const int C = in_.c, W = in_.w;
  dx.setZero(batch, in_size);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * out_size * g_.kh * g_.kw >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      const float* gs = dy.data() + b * out_size;
      float* ds = dx.data() + b * in_size;
      for (int oh = 0; oh < out_.h; ++oh) {
        for (int ow = 0; ow < out_.w; ++ow) {
          const float* g = gs + (long(oh) * out_.w + ow) * C;
          const float s = scale(oh, ow);
          int i0, i1, j0, j1;
          window(oh, ow, i0, i1, j0, j1);
          for (int i = i0; i < i1; ++i)
            for (int j = j0; j < j1; ++j) {
              float* d = ds + (long(i) * W + j) * C;
              for (int c = 0; c < C; ++c) d[c] += g[c] * s;
            }
        }
      }
    }
  }
}

GlobalAvgPool::GlobalAvgPool(Shape in) : in_(in) { detail::check_shape("globalavgpool", "", in); }

std::unique_ptr<Layer> GlobalAvgPool::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w"});
  return std::make_unique<GlobalAvgPool>(Shape{a("c"), a("h"), a("w")});
}

LayerSpec GlobalAvgPool::spec() const { return {"globalavgpool", {{"c", in_.c}, {"h", in_.h}, {"w", in_.w}}}; }

void GlobalAvgPool::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("globalavgpool", "x", x, in_.size());
  const long batch = x.rows(), P = long(in_.h) * in_.w;
  const int C = in_.c;
  y.resize(batch, C);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * in_.size() >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    std::vector<double> acc(std::size_t(C), 0.0);
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* xs = x.data() + b * in_.size();
      for (long p = 0; p < P; ++p)
        for (int c = 0; c < C; ++c) acc[std::size_t(c)] += xs[p * C + c];
      for (int c = 0; c < C; ++c) y(b, c) = float(acc[std::size_t(c)] / double(P));
    }
  }
  have_cache_ = mode == Mode::train;
  rows_ = batch;
}

void GlobalAvgPool::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("globalavgpool", have_cache_, rows_, dy, in_.c);
  const long batch = dy.rows(), P = long(in_.h) * in_.w;
  const int C = in_.c;
  dx.resize(batch, in_.size());
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * in_.size() >= detail::kParallelWork)
  for (int ch = 0; ch < chunks; ++ch) {
    const long b1 = std::min<long>(batch, long(ch + 1) * kSampleChunk);
    for (long b = long(ch) * kSampleChunk; b < b1; ++b) {
      float* ds = dx.data() + b * in_.size();
      for (int c = 0; c < C; ++c) {
        const float g = float(double(dy(b, c)) / double(P));
        for (long p = 0; p < P; ++p) ds[p * C + c] = g;
      }
    }
  }
}

}  // namespace aimc::nets
