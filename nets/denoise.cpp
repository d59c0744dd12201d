#include "nets/denoise.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

namespace {
using RowMap = Eigen::Map<Matrix>;
using ConstRowMap = Eigen::Map<const Matrix>;
constexpr double kSMin = -10, kSMax = 10;  ///< clamp of the log variance s in nll()
}  // namespace

Denoise::Form Denoise::parse_form(const std::string& name) {
  if (name == "residual") return Form::residual;
  if (name == "probabilistic") return Form::probabilistic;
  throw Error("denoise: argument 'form' = '" + name + "': expected \"residual\" or \"probabilistic\"");
}

const char* Denoise::form_name(Form f) { return f == Form::residual ? "residual" : "probabilistic"; }

Denoise::Denoise(int c, int h, int w, int r, Form form) : c_(c), h_(h), w_(w), r_(r), m_(0), o_(0), form_(form) {
  detail::check_range("denoise", "c", c, 1, 1 << 20);
  detail::check_range("denoise", "h", h, 1, 1 << 20);
  detail::check_range("denoise", "w", w, 1, 1 << 20);
  detail::check_range("denoise", "r", r, 1, c);
  m_ = c / r;
  o_ = form == Form::residual ? c : 2 * c;
  const bool map = (long long)h * w > 1;
  const int k = map ? 3 : 1;
  map1_ = std::make_unique<Conv2d>(Shape{c, h, w}, m_, 1, 1, 0);
  map2_ = std::make_unique<Conv2d>(Shape{m_, h, w}, m_, k, 1, k / 2);
  map3_ = std::make_unique<Conv2d>(Shape{m_, h, w}, o_, 1, 1, 0);
  add_param("w1", c, m_, true);
  add_param("b1", 1, m_, false);
  add_param("w2", (long long)k * k * m_, m_, true);
  add_param("b2", 1, m_, false);
  add_param("w3", m_, o_, true);
  add_param("b3", 1, o_, false);
  sync();
}

std::unique_ptr<Layer> Denoise::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "r", "form"});
  const int c = a("c"), h = a("h"), w = a("w"), r = a("r");
  return std::make_unique<Denoise>(c, h, w, r, parse_form(spec.get_string("form")));
}

LayerSpec Denoise::spec() const {
  return {"denoise", {{"c", c_}, {"h", h_}, {"w", w_}, {"r", r_}, {"form", std::string(form_name(form_))}}};
}

long long Denoise::macs() const { return map1_->macs() + map2_->macs() + map3_->macs(); }

void Denoise::sync() {
  Conv2d* maps[] = {map1_.get(), map2_.get(), map3_.get()};
  for (std::size_t i = 0; i < 3; ++i) {
    maps[i]->bind(0, params_[2 * i]);
    maps[i]->bind(1, params_[2 * i + 1]);
  }
}

void Denoise::init(Stream& stream) {
  sync();
  map1_->init(stream);  // He-uniform w1, zero b1
  map2_->init(stream);  // He-uniform w2, zero b2
  params_[4]->value.setZero();
  params_[5]->value.setZero();
  for (auto& p : params_) p->grad.setZero();
}

void Denoise::forward(const Matrix& x, Matrix& y, Mode mode) {
  const int features = c_ * h_ * w_;
  detail::check_features("denoise", "x", x, features);
  sync();
  map1_->forward(x, z1_, mode);
  a1_ = z1_.cwiseMax(0.f);
  map2_->forward(a1_, z2_, mode);
  a2_ = z2_.cwiseMax(0.f);
  map3_->forward(a2_, h3_, mode);
  y.resize(x.rows(), features);
  if (form_ == Form::residual) {
    y = x + h3_;  // with h3 = 0 exactly x
  } else {
    const Eigen::Index rows = x.rows() * Eigen::Index(h_) * w_;  // one row per position (HWC)
    ConstRowMap X(x.data(), rows, c_), H(h3_.data(), rows, o_);
    RowMap Y(y.data(), rows, c_);
    Y = X - H.leftCols(c_);  // y = x - mu
  }
  pending_head_.resize(0, 0);
  pending_dx_.resize(0, 0);
  have_x_ = mode == Mode::train;
  if (have_x_) x_ = x;
}

double Denoise::nll(const Matrix& target, Matrix* dy, double weight) {
  if (form_ != Form::probabilistic)
    throw Error("denoise: nll() needs form 'probabilistic', this block has form '" + std::string(form_name(form_)) + "'");
  if (!have_x_) throw Error("denoise: nll() called without a preceding forward() in Mode::train");
  const int features = c_ * h_ * w_;
  detail::check_features("denoise", "target", target, features);
  if (target.rows() != x_.rows())
    throw Error("denoise: target has " + std::to_string(target.rows()) + " rows, the last train forward had " +
                std::to_string(x_.rows()));
  const Eigen::Index rows = x_.rows() * Eigen::Index(h_) * w_;
  ConstRowMap X(x_.data(), rows, c_), T(target.data(), rows, c_), H(h3_.data(), rows, o_);
  const double n = double(rows) * c_;
  const double log2pi = std::log(2 * std::numbers::pi), g = weight / n;
  if (dy) {
    dy->resize(x_.rows(), Eigen::Index(h_) * w_ * o_);
    pending_dx_.resize(x_.rows(), features);
  }
  double sum = 0;
  for (Eigen::Index p = 0; p < rows; ++p)
    for (int j = 0; j < c_; ++j) {
      const double mu = H(p, j), s = H(p, c_ + j);
      const double sc = std::clamp(s, kSMin, kSMax), e = std::exp(-sc);
      const double d = double(X(p, j)) - double(T(p, j)) - mu;  // r - mu
      sum += 0.5 * (log2pi + sc + d * d * e);
      if (dy) {
        RowMap G(dy->data(), rows, o_), DX(pending_dx_.data(), rows, c_);
        G(p, j) = float(-d * e * g);
        G(p, c_ + j) = s < kSMin || s > kSMax ? 0.f : float(0.5 * (1 - d * d * e) * g);
        DX(p, j) = float(d * e * g);
      }
    }
  if (dy) pending_head_ = *dy;
  return sum / n;
}

void Denoise::backward(const Matrix& dy, Matrix& dx) {
  const int features = c_ * h_ * w_;
  detail::check_backward("denoise", have_x_, x_.rows(), dy, features);
  sync();
  const Eigen::Index rows = dy.rows() * Eigen::Index(h_) * w_;
  Matrix dh;
  if (form_ == Form::residual) {
    dh = dy;
  } else {
    dh.resize(dy.rows(), Eigen::Index(h_) * w_ * o_);
    RowMap DH(dh.data(), rows, o_);
    ConstRowMap DY(dy.data(), rows, c_);
    DH.leftCols(c_) = -DY;  // y = x - mu
    DH.rightCols(c_).setZero();
    if (pending_head_.size()) dh += pending_head_;
  }
  Matrix da2, da1, dx1;
  map3_->backward(dh, da2);
  da2 = (z2_.array() > 0.f).select(da2, 0.f);
  map2_->backward(da2, da1);
  da1 = (z1_.array() > 0.f).select(da1, 0.f);
  map1_->backward(da1, dx1);
  dx = dy + dx1;
  if (pending_dx_.size()) dx += pending_dx_;
  pending_head_.resize(0, 0);
  pending_dx_.resize(0, 0);
}

}  // namespace aimc::nets
