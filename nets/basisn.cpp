#include "nets/basisn.hpp"

#include <omp.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <map>

#include "nets/analog.hpp"
#include "nets/dense.hpp"
#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

using detail::kSampleChunk;
using MapM = Eigen::Map<Matrix>;
using CMapM = Eigen::Map<const Matrix>;

namespace {
/// Rows of the coefficient matrix per task of the coefficient-gradient product (fixed: the split, and
/// so the result, does not depend on the thread count).
constexpr int kRowBlock = 128;

void check_mode(const std::string& kind, const std::string& mode) {
  if (mode != "uniform" && mode != "pow2")
    throw Error(kind + ": argument 'coeff_mode' = \"" + mode + "\": must be uniform or pow2");
}

float quantize_one(float v, double scale, int bits, bool pow2) {
  if (!(scale > 0) || v == 0.f) return 0.f;
  const double m = std::min(1.0, std::abs(double(v)) / scale);
  double q;
  if (!pow2) {
    const double levels = double((1LL << (bits - 1)) - 1);
    q = std::nearbyint(m * levels) / levels;
  } else {
    const int E = int((1LL << (bits - 1)) - 1);  // magnitudes 2^0 .. 2^-(E-1)
    int k;
    const double f = std::frexp(m, &k);  // m = f 2^k, f in [0.5, 1)
    int e = f >= 0.70710678118654752440 ? -k : 1 - k;  // the nearer power in log2: 2^k or 2^(k-1)
    if (e < 0) e = 0;
    q = e >= E ? 0.0 : std::ldexp(1.0, -e);
  }
  return float((v < 0 ? -q : q) * scale);
}
}  // namespace

void basis_quantize(const Matrix& w, int bits, const std::string& mode, bool per_column, Matrix& q) {
  check_mode("basis_quantize", mode);
  if (bits == 0) {
    q = w;
    return;
  }
  if (bits < 2 || bits > 16) throw Error("basis_quantize: " + std::to_string(bits) + " bits (expected 0 or 2..16)");
  q.resize(w.rows(), w.cols());
  const bool pow2 = mode == "pow2";
  const double whole = w.size() ? double(w.cwiseAbs().maxCoeff()) : 0.0;
  for (Eigen::Index j = 0; j < w.cols(); ++j) {
    const double s = per_column ? (w.rows() ? double(w.col(j).cwiseAbs().maxCoeff()) : 0.0) : whole;
    for (Eigen::Index i = 0; i < w.rows(); ++i) q(i, j) = quantize_one(w(i, j), s, bits, pow2);
  }
}

// ---------------------------------------------------------------------------------------------- product

BasisProduct::BasisProduct(Shape in, const ConvGeometry& g, int length, int size)
    : in_(in), conv_(in, 1, g), length_(length), size_(size) {
  detail::check_range("basis_product", "length", length, 1, 1 << 16);
  detail::check_range("basis_product", "size", size, 1, length);
  if (g.groups != 1) throw Error("basis_product: argument 'groups' = " + std::to_string(g.groups) + ": must be 1");
  const int taps = g.kh * g.kw;
  if (length % taps != 0)
    throw Error("basis_product: argument 'length' = " + std::to_string(length) + " is not a multiple of the " +
                std::to_string(taps) + " kernel taps");
  group_ = length / taps;
  segments_ = (in.c + group_ - 1) / group_;
  const Shape co = conv_.output_shape();
  if ((long long)segments_ * size > (1LL << 24))
    throw Error("basis_product: " + std::to_string(segments_) + " segments of " + std::to_string(size) +
                " responses are too many");
  out_ = {segments_ * size, co.h, co.w};
  add_param("basis", length, size, false);
  add_param("bias", 1, size, false);
  params_[1]->trainable = false;
}

std::unique_ptr<Layer> BasisProduct::make(const LayerSpec& spec) {
  detail::Args a(spec, {"in_c", "in_h", "in_w", "kernel", "stride", "pad", "kernel_shape", "strides", "pads",
                        "dilations", "length", "size"});
  const Shape in{a("in_c"), a("in_h"), a("in_w")};
  const ConvGeometry g = ConvGeometry::from_args(a);
  return std::make_unique<BasisProduct>(in, g, a("length"), a("size"));
}

LayerSpec BasisProduct::spec() const {
  LayerSpec s{"basis_product", {{"in_c", in_.c}, {"in_h", in_.h}, {"in_w", in_.w}}};
  conv_.geometry().to_args(s);
  s.args.emplace_back("length", (long long)length_);
  s.args.emplace_back("size", (long long)size_);
  return s;
}

void BasisProduct::init(Stream& stream) {
  const float bound = float(std::sqrt(3.0 / length_));
  stream.fill_uniform(params_[0]->value, -bound, bound);
  params_[1]->value.setZero();
  params_[0]->grad.setZero();
  params_[1]->grad.setZero();
}

void BasisProduct::lower_rows(const float* x, long nb, float* rows, std::vector<float>& buf) const {
  const ConvGeometry& g = conv_.geometry();
  const int taps = g.kh * g.kw, S = segments_, L = length_;
  const long P0 = long(out_.h) * out_.w;
  if ((long)buf.size() < nb * P0 * taps * group_) buf.resize(std::size_t(nb * P0 * taps * group_));
  for (int s = 0; s < S; ++s) {
    const int cg = std::min(group_, in_.c - s * group_);
    conv_.patches(x, nb, s * group_, cg, buf.data());
    for (long r = 0; r < nb * P0; ++r) {
      float* dst = rows + (r * S + s) * L;
      const float* src = buf.data() + r * taps * cg;
      if (cg == group_) {
        std::copy_n(src, L, dst);
      } else {
        for (int t = 0; t < taps; ++t) {
          std::copy_n(src + t * cg, cg, dst + t * group_);
          std::fill(dst + t * group_ + cg, dst + (t + 1) * group_, 0.f);
        }
      }
    }
  }
}

void BasisProduct::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("basis_product", "x", x, in_.size());
  const long batch = x.rows(), P = positions(), L = length_, M = size_;
  y.resize(batch, out_.size());
  const int chunks = detail::chunk_count(batch);
  const int threads = std::max(1, std::min(omp_get_max_threads(), chunks));
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
  if ((int)rows_.size() < threads) rows_.resize(threads);
  if ((int)buf_.size() < threads) buf_.resize(threads);
  const Matrix& B = weight();
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    const int t = omp_get_thread_num();
    auto& rows = rows_[t];
    if ((long)rows.size() < nb * P * L) rows.resize(std::size_t(kSampleChunk * P * L));
    lower_rows(x.data() + b0 * in_.size(), nb, rows.data(), buf_[t]);
    MapM out(y.data() + b0 * P * M, nb * P, M);
    out.noalias() = CMapM(rows.data(), nb * P, L) * B;
    out.rowwise() += params_[1]->value.row(0);
  }
  have_x_ = mode == Mode::train;
  if (have_x_) x_ = x;
}

void BasisProduct::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("basis_product", have_x_, x_.rows(), dy, out_.size());
  const ConvGeometry& g = conv_.geometry();
  const long batch = dy.rows(), P = positions(), L = length_, M = size_, P0 = long(out_.h) * out_.w;
  const int S = segments_, taps = g.kh * g.kw;
  dx.resize(batch, in_.size());
  const int chunks = detail::chunk_count(batch);
  const int threads = std::max(1, std::min(omp_get_max_threads(), chunks));
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
  if ((int)rows_.size() < threads) rows_.resize(threads);
  if ((int)drows_.size() < threads) drows_.resize(threads);
  if ((int)buf_.size() < threads) buf_.resize(threads);
  if (dw_parts_.rows() != chunks * L || dw_parts_.cols() != M) dw_parts_.resize(chunks * L, M);
  const Matrix& B = weight();
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    const int t = omp_get_thread_num();
    auto& rows = rows_[t];
    auto& drows = drows_[t];
    auto& buf = buf_[t];
    if ((long)rows.size() < nb * P * L) rows.resize(std::size_t(kSampleChunk * P * L));
    if ((long)drows.size() < nb * P * L) drows.resize(std::size_t(kSampleChunk * P * L));
    lower_rows(x_.data() + b0 * in_.size(), nb, rows.data(), buf);
    CMapM gy(dy.data() + b0 * P * M, nb * P, M);
    dw_parts_.middleRows(long(c) * L, L).noalias() = CMapM(rows.data(), nb * P, L).transpose() * gy;
    MapM dr(drows.data(), nb * P, L);
    dr.noalias() = gy * B.transpose();
    float* dxc = dx.data() + b0 * in_.size();
    std::fill(dxc, dxc + nb * in_.size(), 0.f);
    for (int s = 0; s < S; ++s) {
      const int cg = std::min(group_, in_.c - s * group_);
      if ((long)buf.size() < nb * P0 * taps * cg) buf.resize(std::size_t(nb * P0 * taps * cg));
      for (long r = 0; r < nb * P0; ++r) {
        const float* src = drows.data() + (r * S + s) * L;
        float* dst = buf.data() + r * taps * cg;
        for (int tp = 0; tp < taps; ++tp) std::copy_n(src + tp * group_, cg, dst + tp * cg);
      }
      conv_.patches_add_grad(buf.data(), nb, s * group_, cg, dxc);
    }
  }
  for (int c = 0; c < chunks; ++c) params_[0]->grad += dw_parts_.middleRows(long(c) * L, L);
  params_[1]->grad.row(0) += CMapM(dy.data(), batch * P, M).colwise().sum();
}

const Matrix& BasisProduct::lower(const Matrix& x, Matrix& scratch) const {
  detail::check_features("basis_product", "x", x, in_.size());
  const long batch = x.rows(), P = positions();
  scratch.resize(batch * P, length_);
  const int chunks = detail::chunk_count(batch);
#pragma omp parallel for schedule(static) if (double(batch) * P * length_ >= detail::kParallelWork)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    std::vector<float> buf;
    lower_rows(x.data() + b0 * in_.size(), nb, scratch.data() + b0 * P * length_, buf);
  }
  return scratch;
}

Eigen::Ref<const Matrix> BasisProduct::lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                                     Matrix& scratch) const {
  detail::check_features("basis_product", "x", x, in_.size());
  require(b0 >= 0 && nb >= 0 && b0 + nb <= x.rows(), "basis_product lower_samples: sample range out of bounds");
  scratch.resize(nb * positions(), length_);
  std::vector<float> buf;
  lower_rows(x.data() + b0 * in_.size(), nb, scratch.data(), buf);
  return scratch;
}

void BasisProduct::raise(const Matrix& products, Matrix& y) const {
  detail::check_features("basis_product", "products", products, size_);
  const long P = positions();
  if (products.rows() % P != 0)
    throw Error("basis_product: products have " + std::to_string(products.rows()) + " rows, not a multiple of " +
                std::to_string(P) + " positions");
  const long batch = products.rows() / P;
  y.resize(batch, out_.size());
  MapM out(y.data(), batch * P, size_);
  out = products;
  out.rowwise() += params_[1]->value.row(0);
}

// ---------------------------------------------------------------------------------------------- combine

BasisCombine::BasisCombine(int segments, int size, int out, int h, int w, int coeff_bits, std::string coeff_mode)
    : segments_(segments), size_(size), out_(out), h_(h), w_(w), bits_(coeff_bits), mode_(std::move(coeff_mode)) {
  detail::check_range("basis_combine", "segments", segments, 1, 1 << 20);
  detail::check_range("basis_combine", "size", size, 1, 1 << 16);
  detail::check_range("basis_combine", "out", out, 1, 1 << 20);
  detail::check_range("basis_combine", "h", h, 1, 1 << 15);
  detail::check_range("basis_combine", "w", w, 1, 1 << 15);
  set_quantization(coeff_bits, mode_);
  add_param("coeff", (long long)segments * size, out, true);
  add_param("bias", 1, out, false);
}

void BasisCombine::set_quantization(int bits, const std::string& mode) {
  check_mode("basis_combine", mode);
  if (bits != 0 && (bits < 2 || bits > 16))
    throw Error("basis_combine: argument 'coeff_bits' = " + std::to_string(bits) + ": must be 0 (float) or 2..16");
  bits_ = bits;
  mode_ = mode;
}

std::unique_ptr<Layer> BasisCombine::make(const LayerSpec& spec) {
  detail::Args a(spec, {"segments", "size", "out", "h", "w", "coeff_bits", "coeff_mode"});
  const std::string mode = spec.has("coeff_mode") ? spec.get_string("coeff_mode") : "pow2";
  return std::make_unique<BasisCombine>(a("segments"), a("size"), a("out"), a("h"), a("w"), a.opt("coeff_bits", 0), mode);
}

LayerSpec BasisCombine::spec() const {
  return {"basis_combine",
          {{"segments", segments_}, {"size", size_}, {"out", out_}, {"h", h_}, {"w", w_}, {"coeff_bits", bits_},
           {"coeff_mode", mode_}}};
}

void BasisCombine::init(Stream& stream) {
  const float bound = float(std::sqrt(6.0 / (double(segments_) * size_)));
  stream.fill_uniform(params_[0]->value, -bound, bound);
  params_[1]->value.setZero();
  params_[0]->grad.setZero();
  params_[1]->grad.setZero();
}

Matrix BasisCombine::coefficients() const {
  Matrix q;
  basis_quantize(params_[0]->value, bits_, mode_, true, q);
  return q;
}

void BasisCombine::forward(const Matrix& x, Matrix& y, Mode mode) {
  const long K = long(segments_) * size_, P = long(h_) * w_;
  detail::check_features("basis_combine", "x", x, int(K * P));
  basis_quantize(params_[0]->value, bits_, mode_, true, cq_);
  const long batch = x.rows();
  y.resize(batch, P * out_);
  const int chunks = detail::chunk_count(batch);
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int c = 0; c < chunks; ++c) {
    const long b0 = long(c) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
    MapM out(y.data() + b0 * P * out_, nb * P, out_);
    out.noalias() = CMapM(x.data() + b0 * P * K, nb * P, K) * cq_;
    out.rowwise() += params_[1]->value.row(0);
  }
  have_x_ = mode == Mode::train;
  if (have_x_) x_ = x;
}

void BasisCombine::backward(const Matrix& dy, Matrix& dx) {
  const long K = long(segments_) * size_, P = long(h_) * w_;
  detail::check_backward("basis_combine", have_x_, x_.rows(), dy, int(P * out_));
  const long batch = dy.rows();
  dx.resize(batch, K * P);
  const int chunks = detail::chunk_count(batch);
  const int blocks = int((K + kRowBlock - 1) / kRowBlock);
  const CMapM X(x_.data(), batch * P, K), G(dy.data(), batch * P, out_);
  auto& grad = params_[0]->grad;
  const bool parallel = double(batch) * macs() >= detail::kParallelWork;
  // dx row chunks, then coefficient-gradient row blocks: each output element is written by one task
  // with a fixed summation order (straight-through: dL/dC = dL/dQ(C)).
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int t = 0; t < chunks + blocks; ++t) {
    if (t < chunks) {
      const long b0 = long(t) * kSampleChunk, nb = std::min<long>(kSampleChunk, batch - b0);
      MapM(dx.data() + b0 * P * K, nb * P, K).noalias() = G.middleRows(b0 * P, nb * P) * cq_.transpose();
    } else {
      const long i0 = long(t - chunks) * kRowBlock, ni = std::min<long>(kRowBlock, K - i0);
      grad.middleRows(i0, ni).noalias() += X.middleCols(i0, ni).transpose() * G;
    }
  }
  params_[1]->grad.row(0) += G.colwise().sum();
}

// ---------------------------------------------------------------------------------------------- network

namespace {
struct Source {
  std::size_t node;
  Shape in;
  ConvGeometry g;
  const Matrix* W;
  const Matrix* b;
  int S = 0, group = 0;
};

/// Segment s of column n of W as a vector of length L (taps major, group channels minor, zero-padded).
void segment(const Source& src, int L, int s, Eigen::Index n, float* v) {
  const int taps = src.g.kh * src.g.kw, C = src.in.c, cg = std::min(src.group, C - s * src.group);
  std::fill(v, v + L, 0.f);
  for (int t = 0; t < taps; ++t)
    for (int c = 0; c < cg; ++c) v[t * src.group + c] = (*src.W)(Eigen::Index(t) * C + s * src.group + c, n);
}
}  // namespace

Network to_basisn(const Network& net, const BasisOptions& o, std::vector<BasisLayerInfo>* info) {
  if (o.length < 1 || o.length > (1 << 16))
    throw Error("parameter 'basisn.length' = " + std::to_string(o.length) + ": must be in [1, 65536]");
  if (o.size < 1 || o.size > o.length)
    throw Error("parameter 'basisn.size' = " + std::to_string(o.size) + ": must be in [1, basisn.length = " +
                std::to_string(o.length) + "]");
  MappingParams m;
  m.analog_layers = o.layers;
  std::vector<std::size_t> chosen;
  try {
    chosen = analog_layer_indices(net, m);
  } catch (const Error& e) {
    std::string msg = e.what();
    const std::string from = "mapping.analog_layers";
    if (auto p = msg.find(from); p != std::string::npos) msg.replace(p, from.size(), "basisn.layers");
    throw Error(msg);
  }
  if (chosen.empty()) throw Error("parameter 'basisn.layers' = \"" + o.layers + "\": selects no Dense/Conv2d layer");
  const int L = o.length, M = o.size;

  std::vector<Source> src;
  for (std::size_t i : chosen) {
    Source s;
    s.node = i;
    if (const auto* d = dynamic_cast<const Dense*>(&net.layer(i))) {
      s.in = {int(d->weight().rows()), 1, 1};
      s.g = ConvGeometry::square(1, 1, 0);
      s.W = &d->weight();
      s.b = &d->bias();
    } else if (const auto* c = dynamic_cast<const Conv2d*>(&net.layer(i))) {
      if (c->groups() != 1)
        throw Error("parameter 'basisn.layers': layer '" + net.name(i) + "' is a grouped convolution (groups = " +
                    std::to_string(c->groups()) + "); BasisN converts groups = 1 only");
      s.in = c->input_shape();
      s.g = c->geometry();
      s.W = &c->weight();
      s.b = &c->bias();
    } else {
      throw Error("parameter 'basisn.layers': layer '" + net.name(i) + "' is neither dense nor conv2d");
    }
    const int taps = s.g.kh * s.g.kw;
    if (L % taps != 0)
      throw Error("parameter 'basisn.length' = " + std::to_string(L) + ": not a multiple of the " +
                  std::to_string(taps) + " kernel taps of layer '" + net.name(i) + "'");
    s.group = L / taps;
    s.S = (s.in.c + s.group - 1) / s.group;
    src.push_back(s);
  }

  // Basis: top-M eigenvectors of A A^T (A = all weighted segments as columns), in double.
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(L, L);
  std::vector<float> v(std::size_t(L), 0.f);
  for (const Source& s : src) {
    const double norm = s.W->cast<double>().norm();
    if (!(norm > 0)) continue;
    Eigen::MatrixXd A(L, Eigen::Index(s.S) * s.W->cols());
    for (int sg = 0; sg < s.S; ++sg)
      for (Eigen::Index n = 0; n < s.W->cols(); ++n) {
        segment(s, L, sg, n, v.data());
        for (int r = 0; r < L; ++r) A(r, sg * s.W->cols() + n) = double(v[std::size_t(r)]) / norm;
      }
    gram.noalias() += A * A.transpose();
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
  Matrix basis(L, M);
  for (int j = 0; j < M; ++j) {
    Eigen::VectorXd e = eig.eigenvectors().col(L - 1 - j);  // eigenvalues ascend
    Eigen::Index imax;
    e.cwiseAbs().maxCoeff(&imax);
    if (e(imax) < 0) e = -e;  // a fixed sign, so the basis is a function of the weights alone
    basis.col(j) = e.cast<float>();
  }
  auto shared = std::make_shared<Parameter>();
  shared->name = "basis";
  shared->value = basis;
  shared->grad = Matrix::Zero(L, M);
  shared->decay = false;

  // Rebuild: converted nodes become (name.basis, name); the others keep their tensors (shared with net;
  // the final clone() detaches the result).
  Network out(net.input_shape());
  auto input_names = [&](std::size_t i) {
    std::vector<std::string> names;
    for (int k : net.inputs(i)) names.push_back(k == Network::kInput ? "input" : net.name(std::size_t(k)));
    return names;
  };
  if (info) info->clear();
  std::size_t next = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (next < src.size() && src[next].node == i) {
      const Source& s = src[next++];
      auto prod = std::make_unique<BasisProduct>(s.in, s.g, L, M);
      prod->bind(0, shared);
      const Shape ro = prod->output_shape();
      out.add(net.name(i) + ".basis", std::move(prod), input_names(i));
      auto comb = std::make_unique<BasisCombine>(s.S, M, int(s.W->cols()), ro.h, ro.w, o.coeff_bits, o.coeff_mode);
      Matrix C(Eigen::Index(s.S) * M, s.W->cols());
      Matrix Ws(L, s.W->cols());
      double err2 = 0, ref2 = double(s.W->cast<double>().squaredNorm());
      for (int sg = 0; sg < s.S; ++sg) {
        for (Eigen::Index n = 0; n < s.W->cols(); ++n) {
          segment(s, L, sg, n, v.data());
          Ws.col(n) = Eigen::Map<const Eigen::VectorXf>(v.data(), L);
        }
        C.middleRows(Eigen::Index(sg) * M, M).noalias() = basis.transpose() * Ws;
        // Only the rows the layer reads: a zero-padded row of the segment meets a zero input.
        const Matrix res = Ws - basis * C.middleRows(Eigen::Index(sg) * M, M);
        const int taps = s.g.kh * s.g.kw, cg = std::min(s.group, s.in.c - sg * s.group);
        for (int t = 0; t < taps; ++t)
          err2 += res.middleRows(Eigen::Index(t) * s.group, cg).cast<double>().squaredNorm();
      }
      comb->params()[0]->value = C;
      comb->params()[1]->value = *s.b;
      out.add(net.name(i), std::move(comb), {net.name(i) + ".basis"});
      if (info) {
        const auto& ml = dynamic_cast<const MatmulLayer&>(net.layer(i));
        info->push_back({net.name(i), s.W->rows(), s.W->cols(), ml.positions(), s.S,
                         ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0});
      }
    } else {
      auto copy = clone_layer(net.layer(i));
      for (std::size_t k = 0; k < copy->params().size(); ++k) copy->bind(k, net.layer(i).params()[k]);
      out.add(net.name(i), std::move(copy), input_names(i));
    }
  }
  return out.clone();
}

ParamPtr shared_basis(const Network& net) {
  for (std::size_t i = 0; i < net.size(); ++i)
    if (dynamic_cast<const BasisProduct*>(&net.layer(i))) return net.layer(i).params()[0];
  return nullptr;
}

void set_coefficient_quantization(Network& net, int bits, const std::string& mode) {
  for (std::size_t i = 0; i < net.size(); ++i)
    if (auto* c = dynamic_cast<BasisCombine*>(&net.layer(i))) c->set_quantization(bits, mode);
}

void set_basis_trainable(Network& net, bool basis, bool coefficients, bool others) {
  for (std::size_t i = 0; i < net.size(); ++i) {
    Layer& l = net.layer(i);
    if (dynamic_cast<BasisProduct*>(&l)) {
      l.params()[0]->trainable = basis;
      l.params()[1]->trainable = false;
    } else if (dynamic_cast<BasisCombine*>(&l)) {
      for (const auto& p : l.params()) p->trainable = coefficients;
    } else {
      for (const auto& p : l.params()) p->trainable = others;
    }
  }
}

}  // namespace aimc::nets
