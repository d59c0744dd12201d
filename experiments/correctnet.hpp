#pragma once
/// `aimc correctnet CONFIG.toml --out FILE`: CorrectNet (Eldebiky, Zhang, Boecherer, Li, Schlichtmann,
/// DATE 2023, arXiv:2211.14917) on aimc's analog executor: error suppression by a modified Lipschitz
/// regularization (nets/lipschitz.hpp) and error compensation by small digital layers
/// (nets/compensation.hpp) placed by reinforcement learning (nets/placement.hpp), each evaluated by a
/// Monte Carlo campaign over chips.
///
/// Stages, in order (each a pure function of the config, model and data):
///   1. baseline: [model] path, a trained model file (aimc train);
///   2. lipschitz: the baseline fine-tuned with the regularizer on every Dense/Conv2d layer ([train]
///      recipe, defaults of aimc train's fine-tuning; [lipschitz] beta, sigma or lambda); written to
///      <stem>.lipschitz.h5 (stem = --out without .h5);
///   3. search, per backbone (baseline and lipschitz, BatchNorm folded as for the hardware): the sites
///      of nets::block_sites; every placement (an action per site: 0 none, m = the m-th of
///      compensation.ranks) is one job: blocks inserted, trained with the backbone frozen under
///      variation drawn every mini-batch (HWA `device` mode at search.sigma: the same device model as
///      the evaluation) on search.train_images training images, then evaluated on search.chips chips
///      at search.sigma on search.val_images held-out training images (never test images):
///        reward = mean accuracy - search.penalty * (block parameters / backbone parameters).
///      With at most search.exhaustive_limit placements every one is evaluated (the exhaustive optimum,
///      journaled like Monte Carlo trials), and the REINFORCE agent then reads the same rewards (its
///      search cost is the number of distinct placements it asked for); beyond the limit the agent
///      evaluates its placements itself;
///   4. compensation: the agent's best placement on each backbone, trained on compensation.train_images
///      for compensation.epochs, keeping the blocks of the epoch with the best accuracy under the
///      variation (fixed HWA draws) on the search's held-out images, and recording the DAC full scales
///      they were trained with (the evaluation uses them: mapping.input_range = "model"):
///      <stem>.compensated.h5 (baseline + blocks), <stem>.both.h5 (CorrectNet);
///   5. evaluation: the four variants (baseline, lipschitz, compensated, both) at every [sweep] point,
///      [mc] trials chips each on the [data] subset of test images, as `aimc mc` runs them (the same
///      config sections, streams Stream(seed, "mc.program" / "mc.read", {trial}): common random
///      numbers across variants and points).
/// Stages 2 and 4 write model files; with --resume a stage file whose recorded config equals this
/// config is loaded instead of retrained. Search and evaluation jobs go through the campaign
/// Scheduler (journal, resume, MPI). Results schema: docs/results.md ("aimc-correctnet").
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/params.hpp"
#include "experiments/mc.hpp"
#include "nets/lipschitz.hpp"
#include "nets/placement.hpp"
#include "nets/train.hpp"

namespace aimc::experiments {

struct CompensationParams {
  std::string ranks = "8";            ///< block sizes the agent chooses from: ranks, comma-separated (0: full)
  std::string variation_key = "rram.sigma_prog";  ///< hardware key of the variation level
  double sigma = 0.5;                 ///< variation level (variation_key) the blocks are searched and trained at
  int epochs = 2;                     ///< epochs of the final compensation training
  int train_images = 0;               ///< training images of the final compensation training (0: all)
  double lr = 1e-3;                   ///< Adam learning rate of the blocks (cosine schedule)
  double mse = 1.0;                   ///< weight of the MSE to the clean feature map (plus cross-entropy)
  int batch = 128;                    ///< mini-batch size
  int seed = 1;                       ///< seed of block initialization, shuffling and training variation
  static std::span<const Param<CompensationParams>> params();
};

struct SearchParams {
  int chips = 10;               ///< chips per placement evaluation
  int train_images = 5000;      ///< training images the blocks of a candidate placement are trained on (1 epoch)
  int val_images = 1000;        ///< held-out training images (after train_images) the reward is measured on
  double penalty = 1.0;         ///< reward cost per unit of relative extra parameters
  int exhaustive_limit = 64;    ///< evaluate every placement when there are at most this many
  int seed = 1;                 ///< seed of the evaluation chips of the search
  static std::span<const Param<SearchParams>> params();
};

struct CorrectnetConfig {
  McConfig mc;  ///< [model], [data], [mc], [sweep] and the hardware sections, as `aimc mc` reads them
  const toml::table* train = nullptr;  ///< [train] of the Lipschitz fine-tuning (applied over the defaults)
  nets::LipschitzParams lipschitz;
  CompensationParams comp;
  std::vector<int> ranks;  ///< parsed comp.ranks
  SearchParams search;
  nets::PlacementSearchParams agent;  ///< [agent]: the REINFORCE agent
  nets::TrainParams train_params(const nets::TrainParams& defaults) const;
};

CorrectnetConfig parse_correctnet_config(const ConfigFile& f);

struct CorrectnetOptions {
  std::string config;
  std::string out = "correctnet.h5";
  bool resume = false;
  bool force = false;
  bool progress = true;
  bool quiet = false;
};

int run_correctnet(const CorrectnetOptions& o);

}  // namespace aimc::experiments
