#pragma once
/// Mini-batch training and evaluation.
#include <cstdint>
#include <functional>
#include <vector>

#include "data/dataset.hpp"
#include "nets/network.hpp"
#include "nets/optimizer.hpp"

namespace aimc::nets {

struct TrainParams {
  int epochs = 10;
  int batch_size = 128;
  std::string schedule = "cosine";  ///< learning rate: "cosine" (to 0 at the end) or "constant"
  int seed = 1;
  std::string augment = "none";  ///< training-image augmentation: "none" or "shift-flip" (data/augment.hpp)
  int augment_shift = 1;         ///< largest random translation of "shift-flip", pixels per axis
  OptimizerParams optimizer;
  static std::span<const Param<TrainParams>> params();
};

struct EpochLog {
  int epoch;
  double loss;            ///< mean training loss over the epoch (incl. regularizer penalties)
  double train_accuracy;  ///< on the training batches as they were seen
  double test_accuracy;   ///< NaN without a test set
  double lr;
  double seconds;
};

/// Trains `net` in place. Samples are shuffled each epoch by Stream(seed, "shuffle", {epoch}) and, with
/// `augment`, transformed by Stream(seed, "augment", {epoch, sample}) (data::augment); parameters
/// are NOT initialized here (call net.init first). Progress goes to stderr if `progress` is set.
/// `on_epoch` (optional) sees each epoch's log as it completes. `hooks` run around every optimizer
/// step s = epoch * batches_per_epoch + batch (begin_step before the forward, end_step after the step).
std::vector<EpochLog> train(Network& net, const data::Dataset& train_set, const data::Dataset* test_set,
                            const TrainParams& p, const std::vector<Regularizer*>& regularizers = {},
                            bool progress = true, const std::function<void(const EpochLog&)>& on_epoch = {},
                            const std::vector<StepHook*>& hooks = {});

struct EvalResult {
  double accuracy;
  double loss;
  long long correct;
  long long total;
};
/// Top-1 accuracy and mean cross-entropy over a dataset, in batches.
EvalResult evaluate(Network& net, const data::Dataset& d, int batch = 1000);

}  // namespace aimc::nets
