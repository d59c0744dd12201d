#include "nets/merge.hpp"

#include "core/error.hpp"
#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

namespace {
void check_inputs(const char* kind, std::size_t got, int expected) {
  if (got != std::size_t(expected))
    throw Error(std::string(kind) + ": " + std::to_string(got) + " inputs, expected " + std::to_string(expected));
}
[[noreturn]] void needs_multi(const char* kind) {
  throw Error(std::string(kind) + ": a layer with several inputs runs through forward_multi/backward_multi");
}
}  // namespace

Add::Add(Shape shape, int n) : shape_(shape), n_(n) {
  detail::check_shape("add", "", shape);
  detail::check_range("add", "n", n, 2, 1 << 16);
}

std::unique_ptr<Layer> Add::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "n"});
  return std::make_unique<Add>(Shape{a("c"), a("h"), a("w")}, a("n"));
}

LayerSpec Add::spec() const { return {"add", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}, {"n", n_}}}; }

void Add::forward(const Matrix&, Matrix&, Mode) { needs_multi("add"); }
void Add::backward(const Matrix&, Matrix&) { needs_multi("add"); }

void Add::forward_multi(std::span<const Matrix* const> xs, Matrix& y, Mode) {
  check_inputs("add", xs.size(), n_);
  for (std::size_t k = 0; k < xs.size(); ++k) {
    detail::check_features("add", "x", *xs[k], shape_.size());
    if (xs[k]->rows() != xs[0]->rows()) throw Error("add: inputs differ in batch size");
  }
  y = *xs[0];
  for (std::size_t k = 1; k < xs.size(); ++k) y += *xs[k];
}

void Add::backward_multi(const Matrix& dy, std::span<Matrix* const> dxs) {
  check_inputs("add", dxs.size(), n_);
  detail::check_features("add", "dy", dy, shape_.size());
  for (auto* d : dxs) *d = dy;
}

Concat::Concat(int h, int w, std::vector<int> channels) : h_(h), w_(w), channels_(std::move(channels)) {
  detail::check_range("concat", "h", h, 1, 1 << 30);
  detail::check_range("concat", "w", w, 1, 1 << 30);
  if (channels_.size() < 2) throw Error("concat: argument 'channels' needs at least 2 inputs");
  long long total = 0;
  for (int c : channels_) {
    detail::check_range("concat", "channels", c, 1, 1 << 30);
    total += c;
  }
  if (total * h * w > (1LL << 30)) throw Error("concat: output has more than 2^30 features");
  total_ = int(total);
}

std::unique_ptr<Layer> Concat::make(const LayerSpec& spec) {
  detail::Args a(spec, {"h", "w", "channels"});
  std::vector<int> ch;
  for (long long c : spec.get_ints("channels")) {
    detail::check_range("concat", "channels", c, 1, 1 << 30);
    ch.push_back(int(c));
  }
  return std::make_unique<Concat>(a("h"), a("w"), std::move(ch));
}

LayerSpec Concat::spec() const {
  return {"concat", {{"h", h_}, {"w", w_}, {"channels", std::vector<long long>(channels_.begin(), channels_.end())}}};
}

void Concat::forward(const Matrix&, Matrix&, Mode) { needs_multi("concat"); }
void Concat::backward(const Matrix&, Matrix&) { needs_multi("concat"); }

void Concat::forward_multi(std::span<const Matrix* const> xs, Matrix& y, Mode) {
  check_inputs("concat", xs.size(), arity());
  const Eigen::Index B = xs[0]->rows(), P = Eigen::Index(h_) * w_;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    detail::check_features("concat", "x", *xs[k], channels_[k] * h_ * w_);
    if (xs[k]->rows() != B) throw Error("concat: inputs differ in batch size");
  }
  y.resize(B, P * total_);
  for (Eigen::Index b = 0; b < B; ++b) {
    float* out = y.row(b).data();
    for (Eigen::Index p = 0; p < P; ++p) {
      int off = 0;
      for (std::size_t k = 0; k < xs.size(); ++k) {
        const int c = channels_[k];
        const float* in = xs[k]->row(b).data() + p * c;
        std::copy(in, in + c, out + p * total_ + off);
        off += c;
      }
    }
  }
}

void Concat::backward_multi(const Matrix& dy, std::span<Matrix* const> dxs) {
  check_inputs("concat", dxs.size(), arity());
  detail::check_features("concat", "dy", dy, total_ * h_ * w_);
  const Eigen::Index B = dy.rows(), P = Eigen::Index(h_) * w_;
  for (std::size_t k = 0; k < dxs.size(); ++k) dxs[k]->resize(B, P * channels_[k]);
  for (Eigen::Index b = 0; b < B; ++b) {
    const float* g = dy.row(b).data();
    for (Eigen::Index p = 0; p < P; ++p) {
      int off = 0;
      for (std::size_t k = 0; k < dxs.size(); ++k) {
        const int c = channels_[k];
        std::copy(g + p * total_ + off, g + p * total_ + off + c, dxs[k]->row(b).data() + p * c);
        off += c;
      }
    }
  }
}

}  // namespace aimc::nets
