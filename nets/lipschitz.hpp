#pragma once
/// Modified Lipschitz-constant regularization of CorrectNet (Eldebiky et al., "CorrectNet: Robustness
/// Enhancement of Analog In-Memory Computing for Neural Networks by Error Suppression and
/// Compensation", DATE 2023, arXiv:2211.14917, Sec. III-A "Lipschitz constant regularization for
/// error suppression"): a training-loss term that pulls every selected layer's weight matrix towards
/// lambda times an orthogonal one, so that no layer amplifies the feature errors weight variations
/// cause in the layers before it, with lambda < 1 chosen from the expected variation.
///
/// Source of the exact form: the paper's equations could not be reached from this project (only its
/// abstract and a summary that confirms Sec. III-A and the lognormal variation model of Sec. II), so
/// the form below is the one written down in our issue text; it has not been checked symbol by symbol
/// against the paper.
///
/// Penalty of one layer with crossbar weight W (K inputs x N outputs, nets/layer.hpp: the Dense
/// weight, or the Conv2d weight reshaped to K = kh kw in_c rows, row (i kw + j) in_c + c, by out_c
/// columns, which is what the weight Parameter holds):
///   R(W) = beta ||G - lambda^2 I||_F^2,  G = W^T W (N x N) if N <= K,  G = W W^T (K x K) if K < N,
/// i.e. the SMALLER Gram matrix. The two Grams have the same nonzero eigenvalues (the squared singular
/// values s_i of W); the larger one has |K - N| more eigenvalues, all zero, each contributing
/// (0 - lambda^2)^2. So
///   ||W W^T - lambda^2 I_K||_F^2 = ||W^T W - lambda^2 I_N||_F^2 + (K - N) lambda^4   (K >= N)
/// and likewise with K and N exchanged: the two forms differ by the constant |K - N| lambda^4, have
/// the same gradient, and the value returned here is the smaller-Gram one (it is 0 exactly when W is
/// lambda times a matrix with orthonormal columns, resp. rows, and costs min(K, N)^2 max(K, N)
/// multiply-adds instead of max^2 min). Gradient (D = G - lambda^2 I, symmetric):
///   N <= K: dR/dW = 4 beta W D;   K < N: dR/dW = 4 beta D W.
/// The Gram and D are computed in double from the float weights; the gradient is rounded to float
/// once, when it is added to the weight's Parameter::grad.
///
/// Target lambda for lognormal weight variation w' = w exp(theta), theta ~ N(0, sigma^2) (the
/// "lognormal" weight noise of nets/hwa.hpp with sigma_w = sigma): with m = E[e^theta] = e^(sigma^2/2)
/// and s = SD[e^theta] = sqrt((e^(sigma^2) - 1) e^(sigma^2)),
///   lambda(sigma) = 1 / (m + 3 s) = e^(-sigma^2/2) / (1 + 3 sqrt(e^(sigma^2) - 1)),
/// so a weight scaled by a factor up to its mean + 3 sd keeps the layer's gain near 1; lambda(0) = 1
/// (plain orthogonality), lambda = 1 - 3 sigma + O(sigma^2) for small sigma.
///
/// Grouped and depthwise Conv2d: the crossbar view is block-diagonal with structural zeros
/// (nets/conv2d.hpp). They enter the Gram as zeros, which makes the penalty the sum of the groups'
/// own penalties when N <= K (W^T W is block-diagonal); the gradient of those entries is dropped
/// (masked) as the layer's own backward does, so they stay 0.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "core/tensor.hpp"
#include "nets/optimizer.hpp"

namespace aimc::nets {

/// lambda(sigma) = 1 / (E[e^theta] + 3 SD[e^theta]) for theta ~ N(0, sigma^2) (see the file
/// comment), evaluated as e^(-sigma^2/2) / (1 + 3 sqrt(expm1(sigma^2))) for accuracy at small sigma.
/// lambda(0) = 1; it is 0 (overflow of e^(sigma^2)) for sigma above about 26. Throws Error naming
/// "lipschitz.sigma" unless sigma is finite and >= 0.
double lipschitz_target(double sigma);

/// beta ||G - lambda^2 I||_F^2 with G the smaller Gram matrix of W (W^T W if cols <= rows, else
/// W W^T); if grad != nullptr, adds d(penalty)/dW (4 beta W D, resp. 4 beta D W) to *grad, which must
/// have W's shape. Throws Error for a negative or non-finite lambda or beta, or a grad of another shape.
double lipschitz_penalty(const Matrix& W, double lambda, double beta, Matrix* grad);

/// Parameters of the Lipschitz regularizer (one table: core/params.hpp).
struct LipschitzParams {
  double beta = 0.0;    ///< regularization strength (1); 0 = off
  double sigma = 0.0;   ///< lognormal weight variation the target is set for (1)
  double lambda = 0.0;  ///< 0: lipschitz_target(sigma); > 0: this target (1)
  static std::span<const Param<LipschitzParams>> params();
};

/// The penalty of every listed layer's weight as a training-loss term (nets::train applies it after
/// each backward pass, before the optimizer step). The weights it reads are the clean reference
/// weights also under hardware-aware training (nets/hwa.hpp restores them at the end of backward).
class LipschitzRegularizer final : public Regularizer {
 public:
  /// `layers`: node indices of Dense/Conv2d layers of the network apply() is given (checked there:
  /// Error naming the index if it is not in the network or not a Dense/Conv2d layer). Throws Error
  /// for parameters outside their table's ranges (named "lipschitz.<key>").
  LipschitzRegularizer(const LipschitzParams& p, std::vector<std::size_t> layers);

  std::string name() const override { return "lipschitz"; }
  /// Adds the penalty's gradient to every listed layer's weight gradient and returns the sum of the
  /// penalties. A weight tensor shared by several listed layers (or listed twice) counts once.
  /// Frozen weights (trainable == false) get the gradient too (optimizers skip them) and their penalty
  /// counts in the returned value. With beta == 0 it returns 0 and touches no gradient (training is
  /// bit for bit the unregularized one); the layer list is checked either way.
  double apply(Network& net) override;
  /// Throws the Error apply() would throw for a layer list that does not fit `net`.
  void check(const Network& net) const;

  /// The target in use: p.lambda if > 0, else lipschitz_target(p.sigma).
  double lambda() const { return lambda_; }
  const LipschitzParams& params() const { return p_; }
  const std::vector<std::size_t>& layers() const { return layers_; }

 private:
  LipschitzParams p_;
  std::vector<std::size_t> layers_;
  double lambda_ = 1.0;
};

}  // namespace aimc::nets
