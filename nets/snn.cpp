#include "nets/snn.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

namespace {

constexpr int kMaxSteps = 4096;

Shape chw(const detail::Args& a) { return {a("c"), a("h"), a("w")}; }

std::string text_arg(const LayerSpec& spec, const char* key, const char* fallback) {
  return spec.has(key) ? spec.get_string(key) : std::string(fallback);
}

void check_steps(const char* kind, int steps) { detail::check_range(kind, "steps", steps, 1, kMaxSteps); }

/// Rows of a batch of B samples over T steps: B T; Error naming the kind unless x has a whole number of
/// samples.
long samples_of(const char* kind, const Matrix& x, int steps) {
  if (x.rows() % steps != 0)
    throw Error(std::string(kind) + ": " + std::to_string(x.rows()) + " rows are not a whole number of samples of " +
                std::to_string(steps) + " time steps");
  return long(x.rows() / steps);
}

std::uint64_t fnv1a(const float* v, long n) {
  std::uint64_t h = 1469598103934665603ULL;
  for (long i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &v[i], sizeof bits);
    for (int k = 0; k < 4; ++k) {
      h ^= (bits >> (8 * k)) & 0xffu;
      h *= 1099511628211ULL;
    }
  }
  return h;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// snn_encode

SnnEncode::SnnEncode(Shape shape, int steps, std::string mode, std::uint64_t seed)
    : shape_(shape), steps_(steps), mode_(std::move(mode)), seed_(seed) {
  detail::check_shape("snn_encode", "", shape);
  check_steps("snn_encode", steps);
  if (mode_ != "direct" && mode_ != "rate")
    throw Error("snn_encode: argument 'mode' = \"" + mode_ + "\": expected direct or rate");
}

std::unique_ptr<Layer> SnnEncode::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "steps", "mode", "seed"});
  const long long seed = spec.has("seed") ? spec.get("seed") : 0;
  if (seed < 0) throw Error("snn_encode: argument 'seed' = " + std::to_string(seed) + ": expected >= 0");
  return std::make_unique<SnnEncode>(chw(a), a("steps"), text_arg(spec, "mode", "direct"), std::uint64_t(seed));
}

LayerSpec SnnEncode::spec() const {
  LayerSpec s{"snn_encode", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}, {"steps", steps_}, {"mode", mode_}}};
  if (mode_ == "rate") s.args.emplace_back("seed", (long long)seed_);
  return s;
}

void SnnEncode::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("snn_encode", "x", x, shape_.size());
  const long B = long(x.rows()), T = steps_, F = long(x.cols());
  y.resize(B * T, F);
#pragma omp parallel for schedule(static) if (B * T * F > (1 << 16))
  for (long b = 0; b < B; ++b) {
    if (mode_ == "direct") {
      for (long t = 0; t < T; ++t) y.row(b * T + t) = x.row(b);
      continue;
    }
    const std::uint64_t h = fnv1a(&x(b, 0), F);
    for (long t = 0; t < T; ++t) {
      Stream s(seed_, "snn.rate", {h, std::uint64_t(t)});
      auto row = y.row(b * T + t);
      s.fill_uniform(row);
      for (long i = 0; i < F; ++i) {
        const float p = std::clamp(x(b, i), 0.f, 1.f);
        row(i) = row(i) < p ? 1.f : 0.f;
      }
    }
  }
  rows_ = B;
  have_cache_ = mode == Mode::train;
}

void SnnEncode::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("snn_encode", have_cache_, rows_ * steps_, dy, shape_.size());
  const long B = rows_, T = steps_;
  dx.setZero(B, dy.cols());
  for (long b = 0; b < B; ++b)
    for (long t = 0; t < T; ++t) dx.row(b) += dy.row(b * T + t);
}

// ------------------------------------------------------------------------------------------------
// lif

Lif::Lif(Shape shape, int steps, Options o) : shape_(shape), steps_(steps), o_(std::move(o)) {
  detail::check_shape("lif", "", shape);
  check_steps("lif", steps);
  if (!(o_.beta >= 0 && o_.beta <= 1)) throw Error("lif: argument 'beta' = " + detail::num(o_.beta) + ": expected in [0, 1]");
  if (!(o_.threshold > 0 && std::isfinite(o_.threshold)))
    throw Error("lif: argument 'threshold' = " + detail::num(o_.threshold) + ": expected a finite value > 0");
  if (!(o_.slope > 0 && std::isfinite(o_.slope)))
    throw Error("lif: argument 'slope' = " + detail::num(o_.slope) + ": expected a finite value > 0");
  if (o_.reset != "soft" && o_.reset != "hard")
    throw Error("lif: argument 'reset' = \"" + o_.reset + "\": expected soft or hard");
  Parameter& b = add_param("beta", 1, 1, false);
  Parameter& th = add_param("threshold", 1, 1, false);
  b.trainable = th.trainable = o_.learn;
  Stream unused(0, "unused");
  init(unused);
}

std::unique_ptr<Layer> Lif::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "steps", "beta", "threshold", "reset", "slope", "learn", "smooth"});
  Options o;
  o.beta = a.real("beta", o.beta);
  o.threshold = a.real("threshold", o.threshold);
  o.slope = a.real("slope", o.slope);
  o.reset = text_arg(spec, "reset", "soft");
  const int learn = a.opt("learn", 0), smooth = a.opt("smooth", 0);
  detail::check_range("lif", "learn", learn, 0, 1);
  detail::check_range("lif", "smooth", smooth, 0, 1);
  o.learn = learn == 1;
  o.smooth = smooth == 1;
  return std::make_unique<Lif>(chw(a), a("steps"), o);
}

LayerSpec Lif::spec() const {
  return {"lif",
          {{"c", shape_.c},
           {"h", shape_.h},
           {"w", shape_.w},
           {"steps", steps_},
           {"beta", o_.beta},
           {"threshold", o_.threshold},
           {"reset", o_.reset},
           {"slope", o_.slope},
           {"learn", (long long)o_.learn},
           {"smooth", (long long)o_.smooth}}};
}

void Lif::init(Stream&) {
  params_[0]->value = Matrix::Constant(1, 1, float(o_.beta));
  params_[1]->value = Matrix::Constant(1, 1, float(o_.threshold));
  params_[0]->grad = Matrix::Zero(1, 1);
  params_[1]->grad = Matrix::Zero(1, 1);
}

double Lif::beta() const { return params_[0]->value(0, 0); }
double Lif::threshold() const { return params_[1]->value(0, 0); }

void Lif::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("lif", "x", x, shape_.size());
  const long B = samples_of("lif", x, steps_), T = steps_, F = long(x.cols());
  if (o_.learn) {  // keep the learned constants in their domain
    params_[0]->value(0, 0) = std::clamp(params_[0]->value(0, 0), 0.f, 1.f);
    params_[1]->value(0, 0) = std::max(params_[1]->value(0, 0), 1e-3f);
  }
  const float beta = params_[0]->value(0, 0), th = params_[1]->value(0, 0), k = float(o_.slope);
  const bool soft = o_.reset == "soft", smooth = o_.smooth, train = mode == Mode::train;
  y.resize(x.rows(), F);
  if (train) {
    v_.resize(x.rows(), F);
    s_.resize(x.rows(), F);
  }
  long long spikes = 0;
#pragma omp parallel for schedule(static) reduction(+ : spikes) if (B * T * F > (1 << 16))
  for (long b = 0; b < B; ++b) {
    std::vector<float> u(std::size_t(F), 0.f);
    for (long t = 0; t < T; ++t) {
      const long r = b * T + t;
      const float* in = &x(r, 0);
      float* out = &y(r, 0);
      for (long i = 0; i < F; ++i) {
        const float v = beta * u[std::size_t(i)] + in[i];
        const float d = v - th;
        const float s = smooth ? 0.5f + d / (1.f + k * std::abs(d)) : (d > 0.f ? 1.f : 0.f);
        u[std::size_t(i)] = soft ? v - th * s : v * (1.f - s);
        out[i] = s;
        spikes += s > 0.5f;
        if (train) {
          v_(r, i) = v;
          s_(r, i) = s;
        }
      }
    }
  }
  spike_rate_ = x.size() > 0 ? double(spikes) / double(x.size()) : 0.0;
  rows_ = long(x.rows());
  have_cache_ = train;
}

void Lif::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("lif", have_cache_, rows_, dy, shape_.size());
  const long T = steps_, B = rows_ / T, F = long(dy.cols());
  const float beta = params_[0]->value(0, 0), th = params_[1]->value(0, 0), k = float(o_.slope);
  const bool soft = o_.reset == "soft";
  dx.resize(dy.rows(), F);
  // Per-sample sums, added in sample order afterwards: the same bits on any thread count.
  std::vector<double> dbeta(std::size_t(B), 0.0), dth(std::size_t(B), 0.0);
#pragma omp parallel for schedule(static) if (B * T * F > (1 << 16))
  for (long b = 0; b < B; ++b) {
    std::vector<float> du(std::size_t(F), 0.f);  // dL/dU_t, from step t + 1
    double db = 0, dt = 0;
    for (long t = T - 1; t >= 0; --t) {
      const long r = b * T + t;
      for (long i = 0; i < F; ++i) {
        const float v = v_(r, i), s = s_(r, i), d = v - th;
        const float a = 1.f + k * std::abs(d);
        const float g = 1.f / (a * a);
        const float dudv = soft ? 1.f - th * g : (1.f - s) - v * g;
        const float dudth = soft ? -s + th * g : v * g;
        const float gs = dy(r, i), gu = du[std::size_t(i)];
        const float dv = gs * g + gu * dudv;
        dx(r, i) = dv;
        dt += double(-gs * g + gu * dudth);
        if (t > 0) {
          // U_{t-1}: recomputed from the cached V and S of step t - 1
          const float vp = v_(r - 1, i), sp = s_(r - 1, i);
          const float up = soft ? vp - th * sp : vp * (1.f - sp);
          db += double(dv) * double(up);
        }
        du[std::size_t(i)] = beta * dv;
      }
    }
    dbeta[std::size_t(b)] = db;
    dth[std::size_t(b)] = dt;
  }
  double sb = 0, st = 0;
  for (long b = 0; b < B; ++b) sb += dbeta[std::size_t(b)], st += dth[std::size_t(b)];
  params_[0]->grad(0, 0) += float(sb);
  params_[1]->grad(0, 0) += float(st);
}

// ------------------------------------------------------------------------------------------------
// snn_readout

SnnReadout::SnnReadout(Shape shape, int steps) : shape_(shape), steps_(steps) {
  detail::check_shape("snn_readout", "", shape);
  check_steps("snn_readout", steps);
}

std::unique_ptr<Layer> SnnReadout::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "steps"});
  return std::make_unique<SnnReadout>(chw(a), a("steps"));
}

LayerSpec SnnReadout::spec() const {
  return {"snn_readout", {{"c", shape_.c}, {"h", shape_.h}, {"w", shape_.w}, {"steps", steps_}}};
}

void SnnReadout::forward(const Matrix& x, Matrix& y, Mode mode) {
  detail::check_features("snn_readout", "x", x, shape_.size());
  const long B = samples_of("snn_readout", x, steps_), T = steps_;
  y.setZero(B, x.cols());
  for (long b = 0; b < B; ++b) {
    for (long t = 0; t < T; ++t) y.row(b) += x.row(b * T + t);
  }
  y *= 1.f / float(T);
  rows_ = B;
  have_cache_ = mode == Mode::train;
}

void SnnReadout::backward(const Matrix& dy, Matrix& dx) {
  detail::check_backward("snn_readout", have_cache_, rows_, dy, shape_.size());
  const long B = rows_, T = steps_;
  dx.resize(B * T, dy.cols());
  const float inv = 1.f / float(T);
  for (long b = 0; b < B; ++b)
    for (long t = 0; t < T; ++t) dx.row(b * T + t) = dy.row(b) * inv;
}

// ------------------------------------------------------------------------------------------------

int snn_steps(const Network& net) {
  for (std::size_t i = 0; i < net.size(); ++i)
    if (const auto* e = dynamic_cast<const SnnEncode*>(&net.layer(i))) return e->steps();
  return 0;
}

namespace {
std::unique_ptr<Layer> lif(int c, int h, int w, int steps) {
  return std::make_unique<Lif>(Shape{c, h, w}, steps, Lif::Options{});
}
std::unique_ptr<Layer> conv(int c, int h, int oc) {
  return make_layer(
      {"conv2d", {{"in_c", c}, {"in_h", h}, {"in_w", h}, {"out_c", oc}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}});
}
std::unique_ptr<Layer> maxpool(int c, int h) {
  return make_layer({"maxpool2d", {{"in_c", c}, {"in_h", h}, {"in_w", h}, {"kernel", 2}, {"stride", 2}}});
}
std::unique_ptr<Layer> dense(int in, int out) { return make_layer({"dense", {{"in", in}, {"out", out}}}); }
}  // namespace

Network make_snn_cnn(int steps) {
  Network n(Shape{1, 28, 28});
  n.add(std::make_unique<SnnEncode>(Shape{1, 28, 28}, steps, "direct"));
  n.add(conv(1, 28, 16));
  n.add(lif(16, 28, 28, steps));
  n.add(maxpool(16, 28));
  n.add(conv(16, 14, 32));
  n.add(lif(32, 14, 14, steps));
  n.add(maxpool(32, 14));
  n.add(make_layer({"flatten", {{"c", 32}, {"h", 7}, {"w", 7}}}));
  n.add(dense(1568, 128));
  n.add(lif(128, 1, 1, steps));
  n.add(dense(128, 10));
  n.add(std::make_unique<SnnReadout>(Shape{10, 1, 1}, steps));
  return n;
}

Network make_snn_mlp(int steps) {
  Network n(Shape{1, 28, 28});
  n.add(std::make_unique<SnnEncode>(Shape{1, 28, 28}, steps, "direct"));
  n.add(make_layer({"flatten", {{"c", 1}, {"h", 28}, {"w", 28}}}));
  n.add(dense(784, 128));
  n.add(lif(128, 1, 1, steps));
  n.add(dense(128, 10));
  n.add(std::make_unique<SnnReadout>(Shape{10, 1, 1}, steps));
  return n;
}

}  // namespace aimc::nets
