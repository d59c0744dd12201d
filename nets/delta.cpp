#include "nets/delta.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "nets/activation.hpp"
#include "nets/batchnorm.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"
#include "nets/merge.hpp"
#include "nets/normalize.hpp"
#include "nets/pool.hpp"

namespace aimc::nets {

CleanActivations::CleanActivations(Network& net, const Matrix& x, Eigen::Index chunk) : input(x) {
  const std::size_t N = net.size();
  out.resize(N);
  for (std::size_t n = 0; n < N; ++n) out[n].resize(x.rows(), net.layer(n).output_shape().size());
  std::vector<int> ids;
  Eigen::Index b0 = 0;
  for (std::size_t n = 0; n < N; ++n)
    ids.push_back(net.add_hook(n, [&, n](std::size_t, Matrix& y) { out[n].middleRows(b0, y.rows()) = y; }));
  for (; b0 < x.rows(); b0 += chunk) net.forward(x.middleRows(b0, std::min(chunk, x.rows() - b0)));
  for (int id : ids) net.remove_hook(id);
}

std::size_t CleanActivations::bytes(const Network& net, Eigen::Index n) {
  std::size_t per = std::size_t(net.input_shape().size());
  for (std::size_t i = 0; i < net.size(); ++i) per += std::size_t(net.layer(i).output_shape().size());
  return per * std::size_t(n) * sizeof(float);
}

IncrementalSuffix::IncrementalSuffix(Network& net, const CleanActivations& clean) : net_(&net), clean_(&clean) {
  const std::size_t N = net.size();
  require(clean.out.size() == N, "IncrementalSuffix: clean activations of another network");
  kind_.resize(N, Kind::other);
  ch_.resize(N);
  acc_.resize(N);
  mark_.resize(N);
  seen_.resize(N);
  for (std::size_t n = 0; n < N; ++n) {
    Layer& l = net.layer(n);
    const std::string k = l.spec().kind;
    if (k == "conv2d") kind_[n] = Kind::conv2d;
    else if (k == "dense") kind_[n] = Kind::dense;
    else if (k == "relu") kind_[n] = Kind::relu;
    else if (k == "clip") kind_[n] = Kind::clip;
    else if (k == "batchnorm") kind_[n] = Kind::batchnorm;
    else if (k == "normalize") kind_[n] = Kind::normalize;
    else if (k == "maxpool2d") kind_[n] = Kind::maxpool2d;
    else if (k == "avgpool2d") kind_[n] = Kind::avgpool2d;
    else if (k == "globalavgpool") kind_[n] = Kind::globalavgpool;
    else if (k == "flatten") kind_[n] = Kind::flatten;
    else if (k == "add") kind_[n] = Kind::add;
    else if (k == "concat") kind_[n] = Kind::concat;
    const std::size_t size = std::size_t(l.output_shape().size());
    acc_[n].assign(size, 0.0);
    mark_[n].assign(size, 0);
  }
}

std::vector<std::uint8_t>& IncrementalSuffix::seen_mark(std::size_t n) {
  std::vector<std::uint8_t>& m = seen_[n];
  if (m.empty()) {
    const Shape os = net_->layer(n).output_shape();
    m.assign(std::size_t(kind_[n] == Kind::conv2d ? os.h * os.w : os.size()), 0);
  }
  return m;
}

__attribute__((always_inline)) inline void IncrementalSuffix::emit(std::size_t n, Eigen::Index s, std::int32_t e, float v) {
  const float c = clean_row(n, s)[e];
  if (v == c || (std::isnan(v) && std::isnan(c))) return;
  Change& o = ch_[n];
  o.idx.push_back(e);
  o.val.push_back(v);
  mark_[n][std::size_t(e)] = std::int32_t(o.idx.size());
}

bool IncrementalSuffix::prefers_dense(std::size_t n) const {
  if (kind_[n] == Kind::other) return true;
  if (kind_[n] != Kind::conv2d && kind_[n] != Kind::dense) return false;
  const auto& m = static_cast<const MatmulLayer&>(net_->layer(n));
  if (m.product()) return true;  // an analog product: only the layer knows what it computes
  // A dense node's product of one row is a matrix-vector product either way: its rank-k update does at
  // most the same multiply-adds, without the GEMM call's packing and allocation.
  if (kind_[n] == Kind::dense) return false;
  const int in = net_->inputs(n)[0];
  const double nnz = double(ch_[std::size_t(in)].idx.size());
  double per_change = 0;
  if (kind_[n] == Kind::dense) {
    per_change = double(m.weight().cols());
  } else {
    const auto& c = static_cast<const Conv2d&>(m);
    per_change = double(c.geometry().kh * c.geometry().kw) * double(c.output_shape().c / c.groups());
  }
  return nnz * per_change > kDenseSwitch * double(m.macs());
}

void IncrementalSuffix::dense_node(std::size_t n, Eigen::Index s, DeltaStats& st) {
  ++st.dense_nodes;
  const auto& in = net_->inputs(n);
  xs_.resize(in.size());
  std::vector<const Matrix*> ptr(in.size());
  for (std::size_t k = 0; k < in.size(); ++k) {
    ptr[k] = &xs_[k];
    if (in[k] == Network::kInput) {  // never changed
      xs_[k] = clean_->input.row(s);
      continue;
    }
    const std::size_t src = std::size_t(in[k]);
    const Change& c = ch_[src];
    if (c.full) {
      xs_[k] = Eigen::Map<const Matrix>(c.row.data(), 1, Eigen::Index(c.row.size()));
      continue;
    }
    xs_[k] = clean_->out[src].row(s);
    for (std::size_t i = 0; i < c.idx.size(); ++i) xs_[k](0, c.idx[i]) = c.val[i];
  }
  Layer& l = net_->layer(n);
  if (in.size() == 1) l.forward(xs_[0], yout_, Mode::eval);
  else l.forward_multi(ptr, yout_, Mode::eval);
  // Mostly changed (more than kFullRow of the elements): kept as a full row, and the nodes it reaches run
  // densely too; otherwise listed element by element for the sparse kernels.
  const Eigen::Index size = yout_.cols();
  const float* yc = clean_row(n, s);
  Eigen::Index changed = 0;
  for (Eigen::Index e = 0; e < size; ++e) changed += yout_(0, e) != yc[e];
  if (double(changed) > kFullRow * double(size)) {
    Change& o = ch_[n];
    o.full = true;
    ++st.full_rows;
    o.row.assign(yout_.data(), yout_.data() + size);
    return;
  }
  for (Eigen::Index e = 0; e < size; ++e) emit(n, s, std::int32_t(e), yout_(0, e));
}

namespace {

/// Calls f(oh, ow, ci) for every pooling window that holds input element e (channel ci): the windows
/// oh with oh sh - pad_top <= h < oh sh - pad_top + kh, likewise ow.
template <class F>
void for_each_window(const PoolGeometry& g, const Shape& is, const Shape& os, std::int32_t e, F&& f) {
  const int ci = e % is.c, w = (e / is.c) % is.w, h = e / (is.c * is.w);
  const int oh0 = std::max(0, (h + g.pad_top - g.kh + g.sh) / g.sh), oh1 = std::min(os.h - 1, (h + g.pad_top) / g.sh);
  const int ow0 = std::max(0, (w + g.pad_left - g.kw + g.sw) / g.sw), ow1 = std::min(os.w - 1, (w + g.pad_left) / g.sw);
  for (int oh = oh0; oh <= oh1; ++oh)
    for (int ow = ow0; ow <= ow1; ++ow) {
      if (oh * g.sh - g.pad_top > h || oh * g.sh - g.pad_top + g.kh <= h) continue;
      if (ow * g.sw - g.pad_left > w || ow * g.sw - g.pad_left + g.kw <= w) continue;
      f(oh, ow, ci);
    }
}

}  // namespace

bool IncrementalSuffix::sparse_node(std::size_t n, Eigen::Index s) {
  const auto& in = net_->inputs(n);
  const std::size_t src = std::size_t(in[0]);
  const Change& c = ch_[src];
  const float* xin = clean_row(src, s);
  const float* yc = clean_row(n, s);
  auto value_of = [&](std::size_t node, std::int32_t e) {
    const std::int32_t m = mark_[node][std::size_t(e)];
    return m ? ch_[node].val[std::size_t(m - 1)] : clean_row(node, s)[e];
  };
  std::vector<double>& acc = acc_[n];
  touched_.clear();
  auto add = [&](std::int32_t e, double d) {
    if (acc[std::size_t(e)] == 0.0 && d != 0.0) touched_.push_back(e);
    acc[std::size_t(e)] += d;
  };
  // (an entry whose sum returns to exactly 0 is re-listed when it changes again; emit_acc skips duplicates
  // through the mark array)
  auto emit_acc = [&] {
    for (std::int32_t e : touched_) {
      const double d = acc[std::size_t(e)];
      acc[std::size_t(e)] = 0.0;
      if (mark_[n][std::size_t(e)]) continue;
      emit(n, s, e, float(double(yc[e]) + d));
    }
  };
  // Gives the node up to dense_node: forgets what it accumulated and emitted so far.
  auto abandon = [&] {
    for (std::int32_t e : touched_) acc[std::size_t(e)] = 0.0;
    for (std::int32_t e : ch_[n].idx) mark_[n][std::size_t(e)] = 0;
    ch_[n].idx.clear();
    ch_[n].val.clear();
    return false;
  };
  // Prefetches the cache lines of a clean row that the changed elements idx map to (elementwise kinds read
  // and emit at the same indices): the rows of a sample are cold (the campaign jumps between samples), so
  // issuing all their misses at once instead of one per emit hides most of the memory latency.
  auto prefetch = [](const float* row, const std::vector<std::int32_t>& idx) {
    std::int32_t last = -1;
    for (std::int32_t e : idx)
      if ((e >> 4) != last) {
        last = e >> 4;
        __builtin_prefetch(row + e);
      }
  };
  Layer& layer = net_->layer(n);
  switch (kind_[n]) {
    case Kind::relu:
    case Kind::clip:
    case Kind::flatten:
    case Kind::batchnorm:
    case Kind::normalize:
      prefetch(yc, c.idx);
      break;
    case Kind::add:
      for (int k : in) {
        prefetch(yc, ch_[std::size_t(k)].idx);
        for (int j : in)
          if (j != k) prefetch(clean_row(std::size_t(j), s), ch_[std::size_t(k)].idx);
      }
      break;
    default:
      break;
  }
  switch (kind_[n]) {
    case Kind::conv2d: {
      const auto& cv = static_cast<const Conv2d&>(layer);
      const ConvGeometry& g = cv.geometry();
      const Shape is = cv.input_shape(), os = cv.output_shape();
      const int cg = is.c / g.groups, og = os.c / g.groups;
      const Matrix& W = cv.weight();
      // touched output positions (all their channels are emitted; untouched channels come out clean)
      std::vector<std::uint8_t>& pm = seen_mark(n);
      for (std::size_t i = 0; i < c.idx.size(); ++i) {
        const std::int32_t e = c.idx[i];
        const double d = double(c.val[i]) - double(xin[e]);
        if (!std::isfinite(d)) return abandon();  // inf/NaN: the dense product propagates them as the layer does
        if (d == 0.0) continue;
        const int ci = e % is.c, w = (e / is.c) % is.w, h = e / (is.c * is.w);
        const int o0 = (ci / cg) * og;
        for (int ki = 0; ki < g.kh; ++ki) {
          const int th = h + g.pad_top - ki * g.dh;
          if (th < 0 || th % g.sh) continue;
          const int oh = th / g.sh;
          if (oh >= os.h) continue;
          for (int kj = 0; kj < g.kw; ++kj) {
            const int tw = w + g.pad_left - kj * g.dw;
            if (tw < 0 || tw % g.sw) continue;
            const int ow = tw / g.sw;
            if (ow >= os.w) continue;
            const std::int32_t pos = oh * os.w + ow;
            if (!pm[std::size_t(pos)]) {
              pm[std::size_t(pos)] = 1;
              touched_.push_back(pos);
              for (int o = 0; o < os.c; o += 16) __builtin_prefetch(yc + std::size_t(pos) * std::size_t(os.c) + o);
            }
            const float* wr = W.row((ki * g.kw + kj) * is.c + ci).data() + o0;
            double* a = acc.data() + std::size_t(pos) * std::size_t(os.c) + std::size_t(o0);
            for (int o = 0; o < og; ++o) a[o] += d * double(wr[o]);
          }
        }
      }
      for (std::int32_t pos : touched_) {
        pm[std::size_t(pos)] = 0;
        const std::int32_t base = pos * os.c;
        for (int o = 0; o < os.c; ++o) {
          double& a = acc[std::size_t(base + o)];
          if (a != 0.0) emit(n, s, base + o, float(double(yc[base + o]) + a));
          a = 0.0;
        }
      }
      return true;
    }
    case Kind::dense: {
      const Matrix& W = static_cast<const MatmulLayer&>(layer).weight();
      const Eigen::Index N = W.cols();
      Eigen::Map<Eigen::VectorXd> a(acc.data(), N);
      for (std::size_t i = 0; i < c.idx.size(); ++i) {
        const double d = double(c.val[i]) - double(xin[c.idx[i]]);
        if (!std::isfinite(d)) {
          a.setZero();
          return abandon();
        }
        a += d * W.row(c.idx[i]).transpose().cast<double>();
      }
      for (Eigen::Index o = 0; o < N; ++o) {
        if (a[o] != 0.0) emit(n, s, std::int32_t(o), float(double(yc[o]) + a[o]));
        a[o] = 0.0;
      }
      return true;
    }
    case Kind::relu:
      for (std::size_t i = 0; i < c.idx.size(); ++i) emit(n, s, c.idx[i], c.val[i] > 0.f ? c.val[i] : 0.f);
      return true;
    case Kind::clip: {
      const auto& cl = static_cast<const Clip&>(layer);
      const float lo = float(cl.min()), hi = float(cl.max());
      for (std::size_t i = 0; i < c.idx.size(); ++i) emit(n, s, c.idx[i], std::min(std::max(c.val[i], lo), hi));
      return true;
    }
    case Kind::flatten:
      for (std::size_t i = 0; i < c.idx.size(); ++i) emit(n, s, c.idx[i], c.val[i]);
      return true;
    case Kind::batchnorm: {
      const auto& bn = static_cast<const BatchNorm&>(layer);
      const int C = bn.input_shape().c;
      for (std::size_t i = 0; i < c.idx.size(); ++i) {
        const int ch = c.idx[i] % C;
        const double k = double(bn.gamma()(0, ch)) / std::sqrt(double(bn.running_var()(0, ch)) + bn.eps());
        add(c.idx[i], (double(c.val[i]) - double(xin[c.idx[i]])) * k);
      }
      emit_acc();
      return true;
    }
    case Kind::normalize: {
      const auto& nz = static_cast<const Normalize&>(layer);
      const int C = nz.input_shape().c;
      for (std::size_t i = 0; i < c.idx.size(); ++i) {
        const int ch = c.idx[i] % C;
        add(c.idx[i], (double(c.val[i]) - double(xin[c.idx[i]])) / nz.stddev()[std::size_t(ch)]);
      }
      emit_acc();
      return true;
    }
    case Kind::globalavgpool: {
      const Shape is = layer.input_shape();
      const double inv = 1.0 / double(is.h * is.w);
      for (std::size_t i = 0; i < c.idx.size(); ++i)
        add(c.idx[i] % is.c, (double(c.val[i]) - double(xin[c.idx[i]])) * inv);
      emit_acc();
      return true;
    }
    case Kind::avgpool2d: {
      const auto& ap = static_cast<const AvgPool2d&>(layer);
      const PoolGeometry& g = ap.geometry();
      const Shape is = ap.input_shape(), os = ap.output_shape();
      for (std::size_t i = 0; i < c.idx.size(); ++i) {
        const std::int32_t e = c.idx[i];
        const double d = double(c.val[i]) - double(xin[e]);
        if (!std::isfinite(d)) return abandon();  // inf/NaN: the layer's forward propagates them
        for_each_window(g, is, os, e, [&](int oh, int ow, int ci) {
          add((oh * os.w + ow) * os.c + ci, d * double(ap.scale(oh, ow)));
        });
      }
      emit_acc();
      return true;
    }
    case Kind::maxpool2d: {
      const auto& mp = static_cast<const MaxPool2d&>(layer);
      const PoolGeometry& g = mp.geometry();
      const Shape is = mp.input_shape(), os = mp.output_shape();
      std::vector<std::int32_t>& outs = outs_;
      std::vector<std::uint8_t>& seen = seen_mark(n);
      outs.clear();
      for (std::int32_t e : c.idx)
        for_each_window(g, is, os, e, [&](int oh, int ow, int ci) {
          const std::int32_t o = (oh * os.w + ow) * os.c + ci;
          if (!seen[std::size_t(o)]) {
            seen[std::size_t(o)] = 1;
            outs.push_back(o);
          }
        });
      for (std::int32_t o : outs) seen[std::size_t(o)] = 0;
      for (std::int32_t o : outs) {
        const int ci = o % os.c, ow = (o / os.c) % os.w, oh = o / (os.c * os.w);
        const int ih = oh * g.sh - g.pad_top, iw = ow * g.sw - g.pad_left;
        const int i0 = std::max(0, ih), i1 = std::min(is.h, ih + g.kh), j0 = std::max(0, iw), j1 = std::min(is.w, iw + g.kw);
        float m = -std::numeric_limits<float>::infinity();
        bool nan = false;
        for (int i = i0; i < i1; ++i)
          for (int j = j0; j < j1; ++j) {
            const float v = value_of(src, (i * is.w + j) * is.c + ci);
            if (std::isnan(v)) nan = true;
            if (v > m) m = v;
          }
        if (nan) return abandon();  // NaN ordering is the layer's business
        emit(n, s, o, m);
      }
      return true;
    }
    case Kind::add: {
      // the union of the inputs' changes (in order of first appearance)
      std::vector<std::int32_t>& outs = outs_;
      std::vector<std::uint8_t>& seen = seen_mark(n);
      outs.clear();
      for (int k : in)
        for (std::int32_t e : ch_[std::size_t(k)].idx)
          if (!seen[std::size_t(e)]) {
            seen[std::size_t(e)] = 1;
            outs.push_back(e);
          }
      for (std::int32_t e : outs) seen[std::size_t(e)] = 0;
      for (std::int32_t e : outs) {
        float v = value_of(std::size_t(in[0]), e);
        for (std::size_t k = 1; k < in.size(); ++k) v += value_of(std::size_t(in[k]), e);
        emit(n, s, e, v);
      }
      return true;
    }
    case Kind::concat: {
      const Shape os = layer.output_shape();
      int off = 0;
      for (std::size_t k = 0; k < in.size(); ++k) {
        const int ck = layer.input_shape(int(k)).c;
        for (std::size_t i = 0; i < ch_[std::size_t(in[k])].idx.size(); ++i) {
          const std::int32_t e = ch_[std::size_t(in[k])].idx[i];
          emit(n, s, (e / ck) * os.c + off + e % ck, ch_[std::size_t(in[k])].val[i]);
        }
        off += ck;
      }
      return true;
    }
    case Kind::other:
      break;
  }
  return false;
}

}  // namespace aimc::nets

namespace aimc::nets {

double near_tie_bound(const float* z, Eigen::Index n) {
  double m = 0;
  for (Eigen::Index i = 0; i < n; ++i) m = std::max(m, double(std::fabs(z[i])));
  return 1e-3 * (1 + m);
}

bool near_tie(const float* z, Eigen::Index n) {
  if (n < 2) return false;
  double a = -std::numeric_limits<double>::infinity(), b = a;
  for (Eigen::Index i = 0; i < n; ++i) {
    const double v = z[i];
    if (!std::isfinite(v)) return false;  // judged by the non-finite rule, not by a margin
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) {
      b = v;
    }
  }
  return a - b <= near_tie_bound(z, n);
}

void IncrementalSuffix::run(std::size_t node, Eigen::Index sample, Eigen::Index element, float v, float* logits,
                            DeltaStats& st) {
  const std::size_t N = net_->size();
  require(node < N && sample >= 0 && sample < clean_->out[node].rows() && element >= 0 &&
              element < clean_->out[node].cols(),
          "IncrementalSuffix::run: node, sample or element out of range");
  ++st.runs;
  emit(node, sample, std::int32_t(element), v);
  std::vector<std::size_t>& used = used_;
  used.assign(1, node);
  for (std::size_t n = node + 1; n < N; ++n) {
    bool reached = false, reads_input = false, full_input = false;
    for (int k : net_->inputs(n)) {
      if (k == Network::kInput) {
        reads_input = true;
      } else if (ch_[std::size_t(k)].full) {
        reached = full_input = true;
      } else if (!ch_[std::size_t(k)].idx.empty()) {
        reached = true;
      }
    }
    if (!reached) continue;
    used.push_back(n);
    // (the sparse kernels read listed changes of changed nodes only: a node that also reads the network
    // input, or reads a full row, runs densely)
    if (reads_input || full_input || prefers_dense(n) || !sparse_node(n, sample)) dense_node(n, sample, st);
    else ++st.sparse_nodes;
  }
  const std::size_t last = N - 1;
  const float* yc = clean_row(last, sample);
  const Eigen::Index C = clean_->out[last].cols();
  const Change& o = ch_[last];
  if (o.full) {
    std::copy(o.row.begin(), o.row.end(), logits);
  } else {
    std::copy(yc, yc + C, logits);
    for (std::size_t i = 0; i < o.idx.size(); ++i) logits[o.idx[i]] = o.val[i];
  }
  bool same = true;  // the change died out before the output (emit's rule: equal, or both NaN)
  for (Eigen::Index e = 0; e < C; ++e)
    if (!(logits[e] == yc[e] || (std::isnan(logits[e]) && std::isnan(yc[e])))) same = false;
  if (same) ++st.unchanged;
  for (std::size_t n : used) {  // back to clean for the next call
    Change& c = ch_[n];
    for (std::int32_t e : c.idx) mark_[n][std::size_t(e)] = 0;
    c.idx.clear();
    c.val.clear();
    c.full = false;
  }
}

}  // namespace aimc::nets
