#pragma once
/// `aimc denoise CONFIG.toml --out FILE`: denoising blocks (Azizi, Sadeghi, Kamal, Pedram, "Efficient
/// Noise Mitigation for Enhancing Inference Accuracy in DNNs on Mixed-Signal Accelerators",
/// arXiv:2409.18553) inserted into a frozen pretrained network, placed by the gradient-norm
/// exploration of the paper, compared with random placement at equal parameter budget and (for few
/// sites) with every placement, and evaluated by Monte Carlo over noise instances and over chips.
///
/// Stages (each a pure function of the config, model and data):
///   1. backbone: [model] path with BatchNorm folded (as the hardware runs it); its sites are
///      nets::block_sites (after each analog layer's feature map, the logits excepted);
///   2. per noise level eta of noise.levels (noise.model on the noise.layers outputs, ranges from the
///      [data] calibration images, nets/actnoise.hpp): the sensitivity of each site, the mean
///      per-image gradient norm of the loss w.r.t. its activations under the noise on
///      denoise.rank_images training images; the sites in decreasing order of it are the exploration
///      order;
///   3. placements, per level, form (denoise.forms) and budget B (denoise.budgets, a fraction of the
///      backbone's parameters): greedy = the sites in exploration order, each taken if the blocks so far
///      plus its block stay within B; random = the same fill in the order of a random permutation
///      (Stream(denoise.seed, "denoise.random", {level, budget, draw}), denoise.random_draws per
///      budget); with at most denoise.exhaustive_limit placements (2^sites), every placement;
///   4. training, per (level, form, placement): blocks inserted (identity), trained with the backbone
///      frozen under the level's noise resampled every mini-batch (training streams: instance
///      kTrainInstance + step, seed denoise.seed) on denoise.train_images training images for
///      denoise.epochs, loss cross-entropy + denoise.mse * MSE to the clean feature map
///      + denoise.nll * the probabilistic block's noise NLL (nets::train_blocks); written to
///      <stem>.blocks/<level>_<form>_<placement bits>.h5 and reused on --resume when it records this config;
///   5. noise evaluation: every variant (the backbone, every trained placement) on [mc] trials noise
///      instances at its level on the [data] test subset; instance t of every variant uses the same
///      streams (common random numbers: Stream(mc.seed, "actnoise", {t, layer, image}));
///   6. analog evaluation: the backbone and, per form, the greedy blocks of the largest budget trained
///      at denoise.analog_level, at every [sweep] point on [mc] trials chips as `aimc mc` runs them
///      (Stream(mc.seed, "mc.program" / "mc.read", {chip})): the activation-noise blocks on the
///      device-level hardware.
/// Jobs of stages 5 and 6 go through the campaign Scheduler (journal, --resume, MPI); every rank runs
/// stages 1-4 (the lead writes the model files). Results schema: docs/results.md ("aimc-denoise").
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/params.hpp"
#include "experiments/mc.hpp"

namespace aimc::experiments {

struct NoiseParams {
  std::string model = "additive";  ///< additive | multiplicative
  std::string levels = "0.1";      ///< comma-separated eta values
  std::string layers = "all";      ///< all | hidden (all Dense/Conv2d outputs but the logits)
  static std::span<const Param<NoiseParams>> params();
};

struct DenoiseParams {
  std::string forms = "residual,probabilistic";  ///< block forms, comma-separated
  int reduction = 4;                             ///< bottleneck reduction r (hidden channels C / r)
  std::string budgets = "0.01,0.02,0.03";        ///< parameter budgets, fractions of the backbone's parameters
  double target_drop = 0.0;   ///< accuracy-drop target (fraction; 0: none): smallest budget meeting it reported
  int epochs = 2;             ///< epochs of block training
  int train_images = 10000;   ///< training images of block training (0: all)
  double lr = 1e-3;           ///< Adam learning rate of the blocks (cosine schedule)
  double mse = 0.0;           ///< weight of the MSE to the clean feature map
  double nll = 1.0;           ///< weight of the probabilistic block's noise NLL
  int batch = 128;            ///< mini-batch size
  int seed = 1;               ///< seed of block initialization, shuffling, training noise and random placement
  int rank_images = 1000;     ///< training images of the gradient-norm ranking
  int random_draws = 2;       ///< random placements per budget
  int exhaustive_limit = 16;  ///< train every placement when 2^sites is at most this
  double analog_level = 0.0;  ///< level whose blocks the analog evaluation runs (0: the largest)
  static std::span<const Param<DenoiseParams>> params();
};

struct DenoiseConfig {
  McConfig mc;  ///< [model], [data], [mc], [sweep] and the hardware sections, as `aimc mc` reads them
  NoiseParams noise;
  DenoiseParams dn;
  std::vector<double> levels, budgets;  ///< parsed
  std::vector<std::string> forms;       ///< parsed
  std::size_t analog_level = 0;         ///< index into levels
};

DenoiseConfig parse_denoise_config(const ConfigFile& f);

struct DenoiseOptions {
  std::string config;
  std::string out = "denoise.h5";
  bool resume = false;
  bool force = false;
  bool progress = true;
  bool quiet = false;
};

int run_denoise(const DenoiseOptions& o);

}  // namespace aimc::experiments
