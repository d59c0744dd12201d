#include "nets/lipschitz.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "nets/conv2d.hpp"
#include "nets/network.hpp"

namespace aimc::nets {

std::span<const Param<LipschitzParams>> LipschitzParams::params() {
  using P = LipschitzParams;
  static const Param<P> p[] = {
      {"beta", &P::beta, "1",
       "strength: beta times the squared Frobenius norm of G - lambda^2 I per layer (G: the smaller Gram matrix of W); "
       "0 = off",
       "Eldebiky et al., DATE 2023 (arXiv:2211.14917), Sec. III-A; form as stated in nets/lipschitz.hpp", nonnegative()},
      {"sigma", &P::sigma, "1", "lognormal weight variation w exp(theta), theta ~ N(0, sigma^2), the target is set for",
       "Eldebiky et al., DATE 2023, Sec. II (variation model)", between(0.0, 10.0)},
      {"lambda", &P::lambda, "1", "target gain: 0 = 1 / (E[e^theta] + 3 SD[e^theta]) from sigma, > 0 = this value",
       "Eldebiky et al., DATE 2023, Sec. III-A; form as stated in nets/lipschitz.hpp", nonnegative()},
  };
  return p;
}

double lipschitz_target(double sigma) {
  if (!std::isfinite(sigma) || sigma < 0) fail_param("lipschitz.sigma", sigma, "must be a finite number >= 0");
  const double s2 = sigma * sigma;
  // 1 / (e^(s2/2) + 3 sqrt((e^s2 - 1) e^s2)) with the common factor e^(s2/2) taken out and e^s2 - 1 by
  // expm1 (no cancellation for small sigma).
  return std::exp(-0.5 * s2) / (1.0 + 3.0 * std::sqrt(std::expm1(s2)));
}

double lipschitz_penalty(const Matrix& W, double lambda, double beta, Matrix* grad) {
  if (!std::isfinite(lambda) || lambda < 0) fail_param("lipschitz.lambda", lambda, "must be a finite number >= 0");
  if (!std::isfinite(beta) || beta < 0) fail_param("lipschitz.beta", beta, "must be a finite number >= 0");
  if (grad && (grad->rows() != W.rows() || grad->cols() != W.cols()))
    throw Error("lipschitz: gradient is " + std::to_string(grad->rows()) + " x " + std::to_string(grad->cols()) +
                ", the weight " + std::to_string(W.rows()) + " x " + std::to_string(W.cols()));
  const MatrixD w = W.cast<double>();
  const bool cols_side = W.cols() <= W.rows();  // N <= K: G = W^T W (N x N)
  MatrixD d = cols_side ? MatrixD(w.transpose() * w) : MatrixD(w * w.transpose());
  d.diagonal().array() -= lambda * lambda;
  const double penalty = beta * d.squaredNorm();
  if (grad) {
    const MatrixD g = cols_side ? MatrixD(4.0 * beta * (w * d)) : MatrixD(4.0 * beta * (d * w));
    *grad += g.cast<float>();
  }
  return penalty;
}

LipschitzRegularizer::LipschitzRegularizer(const LipschitzParams& p, std::vector<std::size_t> layers)
    : p_(p), layers_(std::move(layers)) {
  validate(p_, "lipschitz");
  lambda_ = p_.lambda > 0 ? p_.lambda : lipschitz_target(p_.sigma);
}

namespace {

/// The weight Parameter of node i, i.e. the tensor weight() returns; Error naming the node otherwise.
/// (Layers hold their tensors through shared slots, so a const layer still hands out a writable one.)
Parameter& weight_of(const Network& net, std::size_t i) {
  if (i >= net.size())
    throw Error("lipschitz: layer " + std::to_string(i) + " is not in the network (" + std::to_string(net.size()) +
                " nodes)");
  const auto* m = dynamic_cast<const MatmulLayer*>(&net.layer(i));
  if (!m)
    throw Error("lipschitz: layer " + std::to_string(i) + " ('" + net.name(i) + "', " + net.layer(i).spec().kind +
                ") is not a Dense or Conv2d layer");
  for (const auto& q : m->params())
    if (q->name == "weight" && &q->value == &m->weight()) return *q;
  throw Error("lipschitz: layer " + std::to_string(i) + " ('" + net.name(i) + "') has no weight parameter holding "
              "its crossbar weight");
}

}  // namespace

void LipschitzRegularizer::check(const Network& net) const {
  for (std::size_t i : layers_) weight_of(net, i);
}

double LipschitzRegularizer::apply(Network& net) {
  check(net);
  if (p_.beta == 0) return 0.0;
  double total = 0;
  std::vector<const Parameter*> done;
  for (std::size_t i : layers_) {
    Parameter& w = weight_of(net, i);
    if (std::find(done.begin(), done.end(), &w) != done.end()) continue;
    done.push_back(&w);
    const auto* conv = dynamic_cast<const Conv2d*>(&net.layer(i));
    if (!conv || conv->groups() == 1) {
      total += lipschitz_penalty(w.value, lambda_, p_.beta, &w.grad);
      continue;
    }
    // Grouped conv: the off-group entries are structural zeros; their gradient is dropped so they stay 0.
    Matrix g = Matrix::Zero(w.value.rows(), w.value.cols());
    total += lipschitz_penalty(w.value, lambda_, p_.beta, &g);
    for (Eigen::Index r = 0; r < g.rows(); ++r)
      for (Eigen::Index c = 0; c < g.cols(); ++c)
        if (conv->in_group(int(r), int(c))) w.grad(r, c) += g(r, c);
  }
  return total;
}

}  // namespace aimc::nets
