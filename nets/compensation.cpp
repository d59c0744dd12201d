#include "nets/compensation.hpp"

#include <cmath>

#include "nets/detail.hpp"
#include "nets/layer_args.hpp"

namespace aimc::nets {

namespace {
using RowMap = Eigen::Map<Matrix>;
using ConstRowMap = Eigen::Map<const Matrix>;
}  // namespace

Compensation::Compensation(int c, int h, int w, int rank, bool relu)
    : c_(c), h_(h), w_(w), rank_(rank), relu_(relu) {
  detail::check_range("compensation", "c", c, 1, 1 << 20);
  detail::check_range("compensation", "h", h, 1, 1 << 20);
  detail::check_range("compensation", "w", w, 1, 1 << 20);
  detail::check_range("compensation", "rank", rank, 0, 1 << 20);
  if (low_rank()) {
    add_param("a", c, rank, true);
    add_param("b", rank, c, true);
  } else {
    add_param("weight", c, c, true);
  }
  add_param("bias", 1, c, false);
}

std::unique_ptr<Layer> Compensation::make(const LayerSpec& spec) {
  detail::Args a(spec, {"c", "h", "w", "rank", "relu"});
  const int relu = a.opt("relu", 0);
  detail::check_range("compensation", "relu", relu, 0, 1);
  return std::make_unique<Compensation>(a("c"), a("h"), a("w"), a.opt("rank", 0), relu != 0);
}

LayerSpec Compensation::spec() const {
  LayerSpec s{"compensation", {{"c", c_}, {"h", h_}, {"w", w_}, {"rank", rank_}}};
  if (relu_) s.args.emplace_back("relu", 1);
  return s;
}

long long Compensation::macs() const {
  const long long pos = (long long)h_ * w_;
  return low_rank() ? pos * 2 * c_ * rank_ : pos * c_ * c_;
}

void Compensation::init(Stream& stream) {
  if (low_rank()) {
    const float bound = float(std::sqrt(6.0 / c_));
    stream.fill_uniform(params_[0]->value, -bound, bound);
    params_[1]->value.setZero();
  } else {
    params_[0]->value.setZero();
  }
  params_.back()->value.setZero();
  for (auto& p : params_) p->grad.setZero();
}

void Compensation::forward(const Matrix& x, Matrix& y, Mode mode) {
  const int features = c_ * h_ * w_;
  detail::check_features("compensation", "x", x, features);
  const Eigen::Index rows = x.rows() * Eigen::Index(h_) * w_;  // one row per position (HWC: channels last)
  y.resize(x.rows(), features);
  ConstRowMap X(x.data(), rows, c_);
  RowMap Y(y.data(), rows, c_);
  const auto& bias = params_.back()->value;
  if (low_rank()) {
    Matrix xa = X * params_[0]->value;
    Y.noalias() = xa * params_[1]->value;
    if (mode == Mode::train) xa_ = std::move(xa);
  } else {
    Y.noalias() = X * params_[0]->value;
  }
  Y.rowwise() += bias.row(0);
  Y += X;  // x + C(x): with C = 0 exactly x
  if (relu_) Y = Y.cwiseMax(0.f);
  have_x_ = mode == Mode::train;
  if (have_x_) {
    x_ = x;
    if (relu_) y_ = y;
  }
}

void Compensation::backward(const Matrix& dy, Matrix& dx) {
  const int features = c_ * h_ * w_;
  detail::check_backward("compensation", have_x_, x_.rows(), dy, features);
  const Eigen::Index rows = dy.rows() * Eigen::Index(h_) * w_;
  dx.resize(dy.rows(), features);
  Matrix dyr;
  if (relu_) dyr = (y_.array() > 0.f).select(dy, 0.f);  // gradient 0 where the output was clamped
  const Matrix& dyu = relu_ ? dyr : dy;
  ConstRowMap X(x_.data(), rows, c_), DY(dyu.data(), rows, c_);
  RowMap DX(dx.data(), rows, c_);
  if (low_rank()) {
    const Matrix dxa = DY * params_[1]->value.transpose();  // dL/d(xA)
    params_[1]->grad.noalias() += xa_.transpose() * DY;
    params_[0]->grad.noalias() += X.transpose() * dxa;
    DX.noalias() = dxa * params_[0]->value.transpose();
  } else {
    params_[0]->grad.noalias() += X.transpose() * DY;
    DX.noalias() = DY * params_[0]->value.transpose();
  }
  DX += DY;
  params_.back()->grad.row(0) += DY.colwise().sum();
}

}  // namespace aimc::nets
