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

namespace {
constexpr int kMaxExtent = 1 << 15;
}  // namespace

ConvGeometry ConvGeometry::square(int kernel, int stride, int pad) {
  detail::check_range("conv2d", "kernel", kernel, 1, kMaxExtent);
  detail::check_range("conv2d", "stride", stride, 1, kMaxExtent);
  detail::check_range("conv2d", "pad", pad, 0, kMaxExtent);
  ConvGeometry g;
  g.kh = g.kw = kernel;
  g.sh = g.sw = stride;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = pad;
  return g;
}

Conv2d::Conv2d(Shape in, int out_channels, int kernel, int stride, int pad)
    : Conv2d(in, out_channels, ConvGeometry::square(kernel, stride, pad)) {}

Conv2d::Conv2d(Shape in, int out_channels, const ConvGeometry& g) : in_(in), g_(g) {
  detail::check_shape("conv2d", "in_", in);
  detail::check_range("conv2d", "out_c", out_channels, 1, 1 << 20);
  detail::check_list("conv2d", "kernel_shape", {g.kh, g.kw}, 1, kMaxExtent);
  detail::check_list("conv2d", "strides", {g.sh, g.sw}, 1, kMaxExtent);
  detail::check_list("conv2d", "pads", {g.pad_top, g.pad_left, g.pad_bottom, g.pad_right}, 0, kMaxExtent);
  detail::check_list("conv2d", "dilations", {g.dh, g.dw}, 1, kMaxExtent);
  detail::check_range("conv2d", "groups", g.groups, 1, in.c);
  if (in.c % g.groups != 0 || out_channels % g.groups != 0)
    throw Error("conv2d: argument 'groups' = " + std::to_string(g.groups) + " does not divide in_c = " +
                std::to_string(in.c) + " and out_c = " + std::to_string(out_channels));
  // Input positions one window spans, and the padded input extents.
  const long long eh = (long long)g.dh * (g.kh - 1) + 1, ew = (long long)g.dw * (g.kw - 1) + 1;
  const long long ph = (long long)in.h + g.pad_top + g.pad_bottom, pw = (long long)in.w + g.pad_left + g.pad_right;
  const bool plain = g.kh == g.kw && g.dh == 1 && g.dw == 1 && g.pad_left == g.pad_top && g.pad_bottom == g.pad_top &&
                     g.pad_right == g.pad_top;
  if (eh > ph || ew > pw) {
    if (plain)
      throw Error("conv2d: kernel " + std::to_string(g.kh) + " does not fit input " + in.str() + " with pad " +
                  std::to_string(g.pad_top));
    throw Error("conv2d: argument 'kernel_shape' = " + detail::list_str({g.kh, g.kw}) + " with dilations " +
                detail::list_str({g.dh, g.dw}) + " spans " + std::to_string(eh) + "x" + std::to_string(ew) +
                " positions, more than input " + in.str() + " padded by pads " +
                detail::list_str({g.pad_top, g.pad_left, g.pad_bottom, g.pad_right}));
  }
  out_ = {out_channels, int((ph - eh) / g.sh + 1), int((pw - ew) / g.sw + 1)};
  if ((long long)patch_size() * out_channels > (1LL << 30) || (long long)out_.size() > (1LL << 30))
    throw Error("conv2d: layer with input " + in.str() + ", kernel " +
                (plain ? std::to_string(g.kh) : detail::list_str({g.kh, g.kw})) + " and " + std::to_string(out_channels) +
                " output channels is too large");
  add_param("weight", patch_size(), out_channels, true);
  add_param("bias", 1, out_channels, false);
}

std::unique_ptr<Layer> Conv2d::make(const LayerSpec& spec) {
  detail::Args a(spec, {"in_c", "in_h", "in_w", "out_c", "kernel", "stride", "pad", "kernel_shape", "strides", "pads",
                        "dilations", "groups"});
  const Shape in{a("in_c"), a("in_h"), a("in_w")};
  const int out_c = a("out_c");
  ConvGeometry g = ConvGeometry::from_args(a);
  g.groups = a.opt("groups", 1);
  return std::make_unique<Conv2d>(in, out_c, g);
}

ConvGeometry ConvGeometry::from_args(const detail::Args& a) {
  const int pad = a("pad");
  ConvGeometry g = square(a("kernel"), a("stride"), pad);
  const auto k = a.ints("kernel_shape", 2, {g.kh, g.kw});
  const auto s = a.ints("strides", 2, {g.sh, g.sw});
  const auto p = a.ints("pads", 4, {pad, pad, pad, pad});
  const auto d = a.ints("dilations", 2, {1, 1});
  g.kh = k[0], g.kw = k[1];
  g.sh = s[0], g.sw = s[1];
  g.pad_top = p[0], g.pad_left = p[1], g.pad_bottom = p[2], g.pad_right = p[3];
  g.dh = d[0], g.dw = d[1];
  return g;
}

void ConvGeometry::to_args(LayerSpec& s) const {
  s.args.emplace_back("kernel", (long long)kh);
  s.args.emplace_back("stride", (long long)sh);
  s.args.emplace_back("pad", (long long)pad_top);
  using L = std::vector<long long>;
  if (kw != kh) s.args.emplace_back("kernel_shape", L{kh, kw});
  if (sw != sh) s.args.emplace_back("strides", L{sh, sw});
  if (pad_left != pad_top || pad_bottom != pad_top || pad_right != pad_top)
    s.args.emplace_back("pads", L{pad_top, pad_left, pad_bottom, pad_right});
  if (dh != 1 || dw != 1) s.args.emplace_back("dilations", L{dh, dw});
}

LayerSpec Conv2d::spec() const {
  LayerSpec s{"conv2d", {{"in_c", in_.c}, {"in_h", in_.h}, {"in_w", in_.w}, {"out_c", out_.c}}};
  g_.to_args(s);
  if (g_.groups != 1) s.args.emplace_back("groups", (long long)g_.groups);
  return s;
}

void Conv2d::init(Stream& stream) {
  const int G = g_.groups, og = out_.c / G;
  const float bound = float(std::sqrt(6.0 / group_patch_size()));
  Matrix wc(group_patch_size(), out_.c);
  stream.fill_uniform(wc, -bound, bound);
  auto& w = wp().value;
  if (G == 1) {
    w = wc;
  } else {
    w.setZero();
    for (int r = 0; r < wc.rows(); ++r)
      for (int o = 0; o < out_.c; ++o) w(full_row(r, o / og), o) = wc(r, o);
  }
  bp().value.setZero();
  wp().grad.setZero();
  bp().grad.setZero();
}

void Conv2d::compact_weight() {
  const int C = in_.c, cg = C / g_.groups, og = out_.c / g_.groups, taps = g_.kh * g_.kw;
  const Matrix& w = wp().value;
  wc_.resize(group_patch_size(), out_.c);
  for (int t = 0; t < taps; ++t)
    for (int c = 0; c < C; ++c) {
      const int row = t * C + c, grp = c / cg;
      for (int o = 0; o < out_.c; ++o) {
        const float v = w(row, o);
        if (o / og == grp) wc_(t * cg + c % cg, o) = v;
        else if (v != 0.f)
          throw Error("conv2d: weight entry (" + std::to_string(row) + ", " + std::to_string(o) + ") = " +
                      std::to_string(v) + " connects input channel " + std::to_string(c) + " to output channel " +
                      std::to_string(o) + " of another group (groups = " + std::to_string(g_.groups) +
                      "); entries outside the diagonal blocks must be 0");
      }
    }
}

// In HWC, without dilation, the taps (i, 0..kw-1, 0..C-1) of a patch row are kw * C contiguous floats of
// input row ih, so the all-channel loops move whole kernel-width runs, clipped at the left and right
// padding. Dilated or grouped patches copy one run of cg channels per tap.
void Conv2d::im2col(const float* x, long nb, int c0, int cg, float* cols) const {
  const int C = in_.c, H = in_.h, W = in_.w, kh = g_.kh, kw = g_.kw;
  const long K = long(kh) * kw * cg, sample = in_.size();
  float* row = cols;
  const bool runs = g_.dw == 1 && cg == C;
  for (long b = 0; b < nb; ++b) {
    const float* xs = x + b * sample;
    for (int oh = 0; oh < out_.h; ++oh) {
      for (int ow = 0; ow < out_.w; ++ow, row += K) {
        const int iw0 = ow * g_.sw - g_.pad_left;
        if (runs) {
          const long run = long(kw) * C;
          // valid taps [jlo, jhi), clipped so that a window wholly inside the padding copies nothing
          const int jlo = std::min(kw, std::max(0, -iw0)), jhi = std::max(jlo, std::min(kw, W - iw0));
          const long lo = long(jlo) * C, hi = long(jhi) * C;
          float* dst = row;
          for (int i = 0; i < kh; ++i, dst += run) {
            const int ih = oh * g_.sh - g_.pad_top + i * g_.dh;
            if (ih < 0 || ih >= H) {
              std::fill(dst, dst + run, 0.f);
              continue;
            }
            const long off = (long(ih) * W + iw0) * C;  // off + i >= 0 inside [lo, hi)
            for (long q = 0; q < lo; ++q) dst[q] = 0.f;
            for (long q = lo; q < hi; ++q) dst[q] = xs[off + q];
            for (long q = hi; q < run; ++q) dst[q] = 0.f;
          }
        } else {
          float* dst = row;
          for (int i = 0; i < kh; ++i) {
            const int ih = oh * g_.sh - g_.pad_top + i * g_.dh;
            for (int j = 0; j < kw; ++j, dst += cg) {
              const int iw = iw0 + j * g_.dw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) std::fill(dst, dst + cg, 0.f);
              else std::copy_n(xs + (long(ih) * W + iw) * C + c0, cg, dst);
            }
          }
        }
      }
    }
  }
}

void Conv2d::col2im_add(const float* dcols, long nb, int c0, int cg, float* dx) const {
  const int C = in_.c, H = in_.h, W = in_.w, kh = g_.kh, kw = g_.kw;
  const long K = long(kh) * kw * cg, sample = in_.size();
  const bool runs = g_.dw == 1 && cg == C;
  const float* row = dcols;
  for (long b = 0; b < nb; ++b) {
    float* ds = dx + b * sample;
    for (int oh = 0; oh < out_.h; ++oh) {
      for (int ow = 0; ow < out_.w; ++ow, row += K) {
        const int iw0 = ow * g_.sw - g_.pad_left;
        if (runs) {
          const long run = long(kw) * C;
          const int jlo = std::min(kw, std::max(0, -iw0)), jhi = std::max(jlo, std::min(kw, W - iw0));
          const long lo = long(jlo) * C, hi = long(jhi) * C;
          const float* src = row;
          for (int i = 0; i < kh; ++i, src += run) {
            const int ih = oh * g_.sh - g_.pad_top + i * g_.dh;
            if (ih < 0 || ih >= H) continue;
            const long off = (long(ih) * W + iw0) * C;
            for (long q = lo; q < hi; ++q) ds[off + q] += src[q];
          }
        } else {
          const float* src = row;
          for (int i = 0; i < kh; ++i) {
            const int ih = oh * g_.sh - g_.pad_top + i * g_.dh;
            for (int j = 0; j < kw; ++j, src += cg) {
              const int iw = iw0 + j * g_.dw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              float* d = ds + (long(ih) * W + iw) * C + c0;
              for (int c = 0; c < cg; ++c) d[c] += src[c];
            }
          }
        }
      }
    }
  }
}

void Conv2d::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("conv2d", "x", x, in_.size());
  const long batch = x.rows(), P = positions(), K = group_patch_size(), N = out_.c;
  const int G = g_.groups, cg = in_.c / G, og = out_.c / G;
  y.resize(batch, out_.size());
  const int chunks = detail::chunk_count(batch);
  const int threads = std::max(1, std::min(omp_get_max_threads(), chunks));
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
  if ((int)cols_.size() < threads) cols_.resize(threads);
  if (G > 1) compact_weight();
  const Matrix& w = G > 1 ? wc_ : wp().value;
  const auto b = bp().value.row(0);
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    auto& buf = cols_[omp_get_thread_num()];
    if ((long)buf.size() < kSampleChunk * P * K) buf.resize(kSampleChunk * P * K);
    MapM out(y.data() + b0 * P * N, nb * P, N);
    if (G == 1) {
      im2col(x.data() + b0 * in_.size(), nb, 0, in_.c, buf.data());
      out.noalias() = CMapM(buf.data(), nb * P, K) * w;
    } else {
      for (int g = 0; g < G; ++g) {
        im2col(x.data() + b0 * in_.size(), nb, g * cg, cg, buf.data());
        out.middleCols(g * og, og).noalias() = CMapM(buf.data(), nb * P, K) * w.middleCols(g * og, og);
      }
    }
    out.rowwise() += b;
  }
  have_x_ = mode == Mode::train;
  if (have_x_) x_ = x;
}

void Conv2d::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("conv2d", have_x_, x_.rows(), dy, out_.size());
  const long batch = dy.rows(), P = positions(), K = group_patch_size(), N = out_.c;
  const int G = g_.groups, cg = in_.c / G, og = out_.c / G;
  dx.resize(batch, in_.size());
  const int chunks = detail::chunk_count(batch);
  const int threads = std::max(1, std::min(omp_get_max_threads(), chunks));
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
  if ((int)cols_.size() < threads) cols_.resize(threads);
  if ((int)dcols_.size() < threads) dcols_.resize(threads);
  if (dw_parts_.rows() != chunks * K || dw_parts_.cols() != N) dw_parts_.resize(chunks * K, N);
  if (db_parts_.rows() != chunks || db_parts_.cols() != N) db_parts_.resize(chunks, N);
  if (G > 1) compact_weight();
  const Matrix& w = G > 1 ? wc_ : wp().value;
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    const int t = omp_get_thread_num();
    auto& buf = cols_[t];
    auto& dbuf = dcols_[t];
    if ((long)buf.size() < kSampleChunk * P * K) buf.resize(kSampleChunk * P * K);
    if ((long)dbuf.size() < kSampleChunk * P * K) dbuf.resize(kSampleChunk * P * K);
    float* dxc = dx.data() + b0 * in_.size();
    std::fill(dxc, dxc + nb * in_.size(), 0.f);
    CMapM g(dy.data() + b0 * P * N, nb * P, N);
    CMapM cols(buf.data(), nb * P, K);
    MapM dcols(dbuf.data(), nb * P, K);
    // The patches are rebuilt from the cached input rather than kept from forward: a chunk's patches
    // are (kh kw)x the size of its input and are cheap to redo.
    if (G == 1) {
      im2col(x_.data() + b0 * in_.size(), nb, 0, in_.c, buf.data());
      dw_parts_.middleRows(long(c) * K, K).noalias() = cols.transpose() * g;
      db_parts_.row(c) = g.colwise().sum();
      dcols.noalias() = g * w.transpose();
      col2im_add(dbuf.data(), nb, 0, in_.c, dxc);
    } else {
      db_parts_.row(c) = g.colwise().sum();
      for (int grp = 0; grp < G; ++grp) {
        im2col(x_.data() + b0 * in_.size(), nb, grp * cg, cg, buf.data());
        const auto gg = g.middleCols(grp * og, og);
        dw_parts_.block(long(c) * K, grp * og, K, og).noalias() = cols.transpose() * gg;
        dcols.noalias() = gg * w.middleCols(grp * og, og).transpose();
        col2im_add(dbuf.data(), nb, grp * cg, cg, dxc);
      }
    }
  }
  for (int c = 0; c < chunks; ++c) {
    if (G == 1) {
      wp().grad += dw_parts_.middleRows(long(c) * K, K);
    } else {  // in-group entries only: the off-group gradient is masked (stays as it is, 0)
      auto& gw = wp().grad;
      for (long r = 0; r < K; ++r)
        for (int o = 0; o < N; ++o) gw(full_row(int(r), o / og), o) += dw_parts_(long(c) * K + r, o);
    }
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
    im2col(x.data() + b0 * in_.size(), nb, 0, in_.c, scratch.data() + b0 * P * K);
  }
  return scratch;
}

Eigen::Ref<const Matrix> Conv2d::lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                               Matrix& scratch) const {
  detail::check_features("conv2d", "x", x, in_.size());
  require(b0 >= 0 && nb >= 0 && b0 + nb <= x.rows(), "conv2d lower_samples: sample range out of bounds");
  scratch.resize(nb * positions(), patch_size());
  im2col(x.data() + b0 * in_.size(), nb, 0, in_.c, scratch.data());
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
