#pragma once
/// Activation noise: the model of analog-computing variation of Azizi, Sadeghi, Kamal and Pedram
/// ("Efficient Noise Mitigation for Enhancing Inference Accuracy in DNNs on Mixed-Signal
/// Accelerators", arXiv:2409.18553): process and aging variations of a mixed-signal accelerator seen
/// as random noise on the outputs of its matrix-vector products. For every selected Dense/Conv2d node
/// l (its pre-activation output a, ordinal l among the selected nodes) and every element:
///   additive:        a' = a + eta R_l z
///   multiplicative:  a' = a (1 + eta z)
/// z ~ N(0, 1) fresh per element and per inference, R_l = max |a| of node l on calibration data (the
/// layer's activation range, as the issue and the paper's "relative to the activation range").
///
/// Streams. Row i of a batch draws its noise at node l from
///   Stream(seed, "actnoise", {instance, l, row0 + i}).fill_normal,
/// so an image's noise depends on (instance, layer, its index row0 + i), never on the batch it is in,
/// the batch size or the thread count. Evaluation sets (instance, row0) per batch with set_batch();
/// training (StepHook) uses instance = kTrainInstance + step and row0 = 0: fresh noise per mini-batch.
///
/// The noise runs as Network hooks (after the node's forward, in eval and train mode). The backward
/// pass does not see it: the gradient through a noisy node is the noise-free one (exact for additive
/// noise, straight-through for the factor (1 + eta z) of multiplicative noise).
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

namespace aimc::nets {

enum class NoiseModel { additive, multiplicative };
/// "additive" / "multiplicative"; Error naming `what` otherwise.
NoiseModel parse_noise_model(const std::string& name, const std::string& what = "noise.model");
const char* noise_model_name(NoiseModel m);

/// Node indices the noise acts on: every Dense/Conv2d node ("all") or all but the last one, the logits
/// ("hidden"); Error naming `what` for any other value.
std::vector<std::size_t> noise_layers(const Network& net, const std::string& which,
                                      const std::string& what = "noise.layers");

/// max |a| of the output of each node in `nodes` over the eval-mode forward of x (0 for an all-zero output).
std::vector<double> activation_ranges(Network& net, const std::vector<std::size_t>& nodes, const Matrix& x);

class ActivationNoise final : public StepHook {
 public:
  static constexpr std::uint64_t kTrainInstance = std::uint64_t(1) << 40;
  /// Installs the hooks on `net` (removed by the destructor). ranges: one per node (additive noise
  /// only reads them). Error if eta < 0 or not finite, or sizes differ.
  ActivationNoise(Network& net, NoiseModel model, double eta, std::vector<std::size_t> nodes,
                  std::vector<double> ranges, std::uint64_t seed);
  ~ActivationNoise() override;
  ActivationNoise(const ActivationNoise&) = delete;
  ActivationNoise& operator=(const ActivationNoise&) = delete;

  /// The next forward passes are batch rows row0, row0 + 1, ... of noise instance `instance`.
  void set_batch(std::uint64_t instance, std::uint64_t row0) {
    instance_ = instance;
    row0_ = row0;
  }
  void begin_step(std::uint64_t step) override { set_batch(kTrainInstance + step, 0); }
  void end_step(std::uint64_t) override {}
  /// Off: the hooks leave the outputs unchanged (eta 0 is the same).
  void set_enabled(bool on) { enabled_ = on; }
  double eta() const { return eta_; }
  const std::vector<std::size_t>& nodes() const { return nodes_; }

 private:
  void apply(std::size_t ordinal, Matrix& y) const;
  Network& net_;
  NoiseModel model_;
  double eta_;
  std::vector<std::size_t> nodes_;
  std::vector<double> ranges_;
  std::uint64_t seed_;
  std::uint64_t instance_ = 0, row0_ = 0;
  bool enabled_ = true;
  std::vector<int> hook_ids_;
};

/// Accuracy and mean cross-entropy of `net` with `noise` installed on it, noise instance `instance`,
/// over `d` in batches of `batch` (rows keyed by their index in d: the same for any batch size).
EvalResult evaluate_noisy(Network& net, ActivationNoise& noise, std::uint64_t instance, const data::Dataset& d,
                          int batch = 500);

/// Sensitivity of each node in `nodes` to the noise, the ranking criterion of Azizi et al.: the mean
/// over images of || dL / d(output of the node) ||_2 (L the softmax cross-entropy of that image), with
/// `noise` active, over the images of d in batches of `batch`, batch b using noise instance
/// kTrainInstance - 1 - b (not a training step's). A train-mode forward and backward of `net` per
/// batch; parameter gradients are zeroed before return (the values never change).
std::vector<double> gradient_norms(Network& net, ActivationNoise& noise, const std::vector<std::size_t>& nodes,
                                   const data::Dataset& d, int batch = 250);

}  // namespace aimc::nets
