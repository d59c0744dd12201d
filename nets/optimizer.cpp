#include "nets/optimizer.hpp"

#include <cmath>

namespace aimc::nets {

std::span<const Param<OptimizerParams>> OptimizerParams::params() {
  using P = OptimizerParams;
  static const Param<P> p[] = {
      {"kind", &P::kind, "", "optimizer", "", {}, {"adam", "sgd"}},
      {"lr", &P::lr, "1", "initial learning rate", "Kingma & Ba 2015 (Adam default 1e-3)", positive()},
      {"momentum", &P::momentum, "1", "SGD momentum", "common default", {0.0, 1.0, false, true}},
      {"beta1", &P::beta1, "1", "Adam first-moment decay", "Kingma & Ba 2015, Alg. 1", {0.0, 1.0, false, true}},
      {"beta2", &P::beta2, "1", "Adam second-moment decay", "Kingma & Ba 2015, Alg. 1", {0.0, 1.0, false, true}},
      {"eps", &P::eps, "1", "Adam denominator offset", "Kingma & Ba 2015, Alg. 1", positive()},
      {"weight_decay", &P::weight_decay, "1", "weight decay coefficient (decoupled for Adam)",
       "Loshchilov & Hutter 2019", nonnegative()},
  };
  return p;
}

namespace {

class Sgd : public Optimizer {
 public:
  explicit Sgd(const OptimizerParams& p) : p_(p) { lr_ = p.lr; }
  void step(const std::vector<Parameter*>& params) override {
    for (auto* q : params) {
      if (!q->trainable) continue;
      auto& v = velocity_[q];
      if (v.size() == 0) v = Matrix::Zero(q->value.rows(), q->value.cols());
      const float wd = q->decay ? float(p_.weight_decay) : 0.f;
      v = float(p_.momentum) * v + q->grad + wd * q->value;
      q->value -= float(lr_) * v;
    }
  }

 private:
  OptimizerParams p_;
  std::unordered_map<Parameter*, Matrix> velocity_;
};

class Adam : public Optimizer {
 public:
  explicit Adam(const OptimizerParams& p) : p_(p) { lr_ = p.lr; }
  void step(const std::vector<Parameter*>& params) override {
    ++t_;
    const double c1 = 1.0 / (1.0 - std::pow(p_.beta1, double(t_)));
    const double c2 = 1.0 / (1.0 - std::pow(p_.beta2, double(t_)));
    const float b1 = float(p_.beta1), b2 = float(p_.beta2);
    for (auto* q : params) {
      if (!q->trainable) continue;
      auto& s = state_[q];
      if (s.m.size() == 0) {
        s.m = Matrix::Zero(q->value.rows(), q->value.cols());
        s.v = Matrix::Zero(q->value.rows(), q->value.cols());
      }
      s.m = b1 * s.m + (1 - b1) * q->grad;
      s.v = b2 * s.v + (1 - b2) * q->grad.cwiseAbs2();
      const float wd = q->decay ? float(p_.weight_decay) : 0.f;
      q->value.array() -= float(lr_) * ((float(c1) * s.m.array()) / ((float(c2) * s.v.array()).sqrt() + float(p_.eps)) +
                                        wd * q->value.array());
    }
  }

 private:
  struct State {
    Matrix m, v;
  };
  OptimizerParams p_;
  long long t_ = 0;
  std::unordered_map<Parameter*, State> state_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerParams& p) {
  validate(p, "optimizer");
  if (p.kind == "sgd") return std::make_unique<Sgd>(p);
  return std::make_unique<Adam>(p);
}

}  // namespace aimc::nets
