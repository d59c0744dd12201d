#include "nets/conv2d.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

using detail::kSampleChunk;
using MapM = Eigen::Map<Matrix>;
using CMapM = Eigen::Map<const Matrix>;

Conv2d::Conv2d(Shape in, int out_channels, int kernel, int stride, int pad)
    : in_(in), kernel_(kernel), stride_(stride), pad_(pad) {
  detail::check_shape("conv2d", "in_", in);
  detail::check_range("conv2d", "out_c", out_channels, 1, 1 << 20);
  detail::check_range("conv2d", "kernel", kernel, 1, 1 << 15);
  detail::check_range("conv2d", "stride", stride, 1, 1 << 15);
  detail::check_range("conv2d", "pad", pad, 0, 1 << 15);
  if (kernel > in.h + 2 * pad || kernel > in.w + 2 * pad)
    throw Error("conv2d: kernel " + std::to_string(kernel) + " does not fit input " + in.str() + " with pad " +
                std::to_string(pad));
  out_ = {out_channels, (in.h + 2 * pad - kernel) / stride + 1, (in.w + 2 * pad - kernel) / stride + 1};
  if ((long long)patch_size() * out_channels > (1LL << 30) || (long long)out_.size() > (1LL << 30))
    throw Error("conv2d: layer with input " + in.str() + ", kernel " + std::to_string(kernel) + " and " +
                std::to_string(out_channels) + " output channels is too large");
  const int k = patch_size();
  add_param("weight", k, out_channels, true);
  add_param("bias", 1, out_channels, false);
}

std::unique_ptr<Layer> Conv2d::make(const LayerSpec& spec) {
  detail::Args a(spec, {"in_c", "in_h", "in_w", "out_c", "kernel", "stride", "pad"});
  return std::make_unique<Conv2d>(Shape{a("in_c"), a("in_h"), a("in_w")}, a("out_c"), a("kernel"), a("stride"), a("pad"));
}

LayerSpec Conv2d::spec() const {
  return {"conv2d",
          {{"in_c", in_.c}, {"in_h", in_.h}, {"in_w", in_.w}, {"out_c", out_.c}, {"kernel", kernel_},
           {"stride", stride_}, {"pad", pad_}}};
}

void Conv2d::init(Stream& stream) {
  float bound = float(std::sqrt(6.0 / patch_size()));
  stream.fill_uniform(wp().value, -bound, bound);
  bp().value.setZero();
  wp().grad.setZero();
  bp().grad.setZero();
}

// In HWC the taps (kh, 0..kernel-1, 0..C-1) of a patch row are kernel * C contiguous floats of the input
// row ih, so both loops move whole kernel-width runs, clipped at the left and right padding.
void Conv2d::im2col(const float* x, long nb, float* cols) const {
  const int C = in_.c, H = in_.h, W = in_.w, k = kernel_;
  const long K = patch_size(), sample = in_.size(), run = long(k) * C;
  float* row = cols;
  for (long b = 0; b < nb; ++b) {
    const float* xs = x + b * sample;
    for (int oh = 0; oh < out_.h; ++oh) {
      for (int ow = 0; ow < out_.w; ++ow, row += K) {
        const int iw0 = ow * stride_ - pad_;
        const long lo = long(std::max(0, -iw0)) * C, hi = long(std::min(k, W - iw0)) * C;  // valid [lo, hi)
        float* dst = row;
        for (int kh = 0; kh < k; ++kh, dst += run) {
          const int ih = oh * stride_ - pad_ + kh;
          if (ih < 0 || ih >= H) {
            std::fill(dst, dst + run, 0.f);
            continue;
          }
          const long off = (long(ih) * W + iw0) * C;  // off + i >= 0 inside [lo, hi)
          for (long i = 0; i < lo; ++i) dst[i] = 0.f;
          for (long i = lo; i < hi; ++i) dst[i] = xs[off + i];
          for (long i = hi; i < run; ++i) dst[i] = 0.f;
        }
      }
    }
  }
}

void Conv2d::col2im(const float* dcols, long nb, float* dx) const {
  const int C = in_.c, H = in_.h, W = in_.w, k = kernel_;
  const long K = patch_size(), sample = in_.size(), run = long(k) * C;
  std::fill(dx, dx + nb * sample, 0.f);
  const float* row = dcols;
  for (long b = 0; b < nb; ++b) {
    float* ds = dx + b * sample;
    for (int oh = 0; oh < out_.h; ++oh) {
      for (int ow = 0; ow < out_.w; ++ow, row += K) {
        const int iw0 = ow * stride_ - pad_;
        const long lo = long(std::max(0, -iw0)) * C, hi = long(std::min(k, W - iw0)) * C;
        const float* src = row;
        for (int kh = 0; kh < k; ++kh, src += run) {
          const int ih = oh * stride_ - pad_ + kh;
          if (ih < 0 || ih >= H) continue;
          const long off = (long(ih) * W + iw0) * C;
          for (long i = lo; i < hi; ++i) ds[off + i] += src[i];
        }
      }
    }
  }
}

void Conv2d::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("conv2d", "x", x, in_.size());
  const long batch = x.rows(), P = positions(), K = patch_size(), N = out_.c;
  y.resize(batch, out_.size());
  const int chunks = detail::chunk_count(batch);
  const int threads = std::max(1, std::min(omp_get_max_threads(), chunks));
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
  if ((int)cols_.size() < threads) cols_.resize(threads);
  const auto& w = wp().value;
  const auto b = bp().value.row(0);
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    auto& buf = cols_[omp_get_thread_num()];
    if ((long)buf.size() < kSampleChunk * P * K) buf.resize(kSampleChunk * P * K);
    im2col(x.data() + b0 * in_.size(), nb, buf.data());
    MapM out(y.data() + b0 * P * N, nb * P, N);
    out.noalias() = CMapM(buf.data(), nb * P, K) * w;
    out.rowwise() += b;
  }
  have_x_ = mode == Mode::train;
  if (have_x_) x_ = x;
}

void Conv2d::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("conv2d", have_x_, x_.rows(), dy, out_.size());
  const long batch = dy.rows(), P = positions(), K = patch_size(), N = out_.c;
  dx.resize(batch, in_.size());
  const int chunks = detail::chunk_count(batch);
  const int threads = std::max(1, std::min(omp_get_max_threads(), chunks));
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
  if ((int)cols_.size() < threads) cols_.resize(threads);
  if ((int)dcols_.size() < threads) dcols_.resize(threads);
  if (dw_parts_.rows() != chunks * K || dw_parts_.cols() != N) dw_parts_.resize(chunks * K, N);
  if (db_parts_.rows() != chunks || db_parts_.cols() != N) db_parts_.resize(chunks, N);
  const auto& w = wp().value;
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    const int t = omp_get_thread_num();
    auto& buf = cols_[t];
    auto& dbuf = dcols_[t];
    if ((long)buf.size() < kSampleChunk * P * K) buf.resize(kSampleChunk * P * K);
    if ((long)dbuf.size() < kSampleChunk * P * K) dbuf.resize(kSampleChunk * P * K);
    // The patches are rebuilt from the cached input rather than kept from forward: a chunk's patches
    // are (kernel^2)x the size of its input and are cheap to redo.
    im2col(x_.data() + b0 * in_.size(), nb, buf.data());
    CMapM cols(buf.data(), nb * P, K);
    CMapM g(dy.data() + b0 * P * N, nb * P, N);
    dw_parts_.middleRows(long(c) * K, K).noalias() = cols.transpose() * g;
    db_parts_.row(c) = g.colwise().sum();
    MapM dcols(dbuf.data(), nb * P, K);
    dcols.noalias() = g * w.transpose();
    col2im(dbuf.data(), nb, dx.data() + b0 * in_.size());
  }
  for (int c = 0; c < chunks; ++c) {
    wp().grad += dw_parts_.middleRows(long(c) * K, K);
    bp().grad += db_parts_.row(c);
  }
}

const Matrix& Conv2d::lower(const Matrix& x, Matrix& scratch) const {
  detail::check_features("conv2d", "x", x, in_.size());
  const long batch = x.rows(), P = positions(), K = patch_size();
  scratch.resize(batch * P, K);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * P * K >= detail::kParallelWork)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    im2col(x.data() + b0 * in_.size(), nb, scratch.data() + b0 * P * K);
  }
  return scratch;
}

Eigen::Ref<const Matrix> Conv2d::lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                               Matrix& scratch) const {
  detail::check_features("conv2d", "x", x, in_.size());
  require(b0 >= 0 && nb >= 0 && b0 + nb <= x.rows(), "conv2d lower_samples: sample range out of bounds");
  scratch.resize(nb * positions(), patch_size());
  im2col(x.data() + b0 * in_.size(), nb, scratch.data());
  return scratch;
}

void Conv2d::raise(const Matrix& products, Matrix& y) const {
  detail::check_features("conv2d", "products", products, out_.c);
  const long P = positions();
  if (products.rows() % P != 0)
    throw Error("conv2d: products have " + std::to_string(products.rows()) + " rows, not a multiple of " +
                std::to_string(P) + " output positions");
  const long batch = products.rows() / P;
  y.resize(batch, out_.size());
  MapM out(y.data(), batch * P, out_.c);
  out = products;
  out.rowwise() += bp().value.row(0);
}

}  // namespace aimc::nets
