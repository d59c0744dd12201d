#pragma once
/// Optimizers and pluggable regularizers.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/params.hpp"
#include "nets/layer.hpp"

namespace aimc::nets {

class Network;

struct OptimizerParams {
  std::string kind = "adam";
  double lr = 1e-3;
  double momentum = 0.9;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  static std::span<const Param<OptimizerParams>> params();
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// Updates every parameter from its gradient (gradients are left as they are).
  /// One update of every parameter with trainable == true (frozen ones are skipped); pass each tensor
  /// once (Network::parameters() lists shared tensors once).
  virtual void step(const std::vector<Parameter*>& params) = 0;
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }

 protected:
  double lr_ = 1e-3;
};

/// SGD with momentum (v = mu v + g + wd w; w -= lr v) or Adam with decoupled weight decay
/// (Loshchilov & Hutter, ICLR 2019, Alg. 2: w -= lr (m_hat / (sqrt(v_hat) + eps) + wd w)).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerParams& p);

/// A training-loss term on the parameters (weight penalties such as Lipschitz/spectral-norm bounds).
class Regularizer {
 public:
  virtual ~Regularizer() = default;
  virtual std::string name() const = 0;
  /// Adds d(penalty)/d(parameter) to the gradients of `net` and returns the penalty value.
  virtual double apply(Network& net) = 0;
};

/// Called by nets::train around every optimizer step (step counts from 0 over the whole run), e.g.
/// hardware-aware training (nets/hwa.hpp) keys its noise draws by the step and clips weights after it.
class StepHook {
 public:
  virtual ~StepHook() = default;
  virtual void begin_step(std::uint64_t step) = 0;  ///< before the step's forward pass
  virtual void end_step(std::uint64_t step) = 0;    ///< after the optimizer step
  /// Parameters the hook owns and trains along with the network's (e.g. learned input ranges): the
  /// optimizer steps them after the network's; the hook zeroes their gradients in begin_step.
  virtual std::vector<Parameter*> parameters() { return {}; }
};

}  // namespace aimc::nets
