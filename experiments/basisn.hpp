#pragma once
/// `aimc basisn CONFIG.toml --out FILE`: BasisN (Eldebiky et al., arXiv:2407.03738, nets/basisn.hpp) on a
/// pretrained network: every selected Dense/Conv2d layer re-expressed through one global basis written
/// once to the crossbars, trained, and compared with the standard mapping in accuracy (digital, and by
/// Monte Carlo over chips under device variation) and in cost (cycles, energy and energy-delay product
/// per inference over the number of available crossbars, against reprogramming; devices/xbar_cost.hpp).
///
/// Stages (each a pure function of the config, model and data):
///   1. standard model: [model] path with BatchNorm folded (as the hardware runs it);
///   2. BasisN model (written to <stem>.basisn.h5, reused on --resume when it records this config):
///      basisn.init = "pretrained": nets::to_basisn of the standard model (basis = the top basisn.size
///      singular vectors of all kernel segments, coefficients their projections); "scratch": the same
///      conversion of the architecture re-initialized from Stream(basisn.seed, "basisn.init"); then
///      basisn.rounds rounds of alternating training (coefficients and biases with the basis frozen for
///      basisn.coeff_epochs, then the basis with the coefficients frozen for basisn.basis_epochs), then
///      basisn.qat_epochs of quantization-aware fine-tuning of the coefficients (basisn.coeff_bits,
///      basisn.coeff_mode, straight-through), all on basisn.train_images training images;
///   3. digital accuracy of both on the [data] test subset;
///   4. Monte Carlo: both models on [mc] trials chips at every [sweep] point as `aimc mc` runs them
///      (Stream(mc.seed, "mc.program" / "mc.read", {chip}): chip k of both models has the same streams).
///      The BasisN model's basis_product nodes are its analog layers, and they read one physical array
///      per chip (nets/analog.hpp), so a chip's basis carries one draw of the device variation;
///   5. cost: devices::standard_cost and devices::basisn_cost for every basisn.n_xbar, with the
///      crossbar size of [mapping] (tile_rows x tile_cols).
/// Jobs of stage 4 go through the campaign Scheduler (journal, --resume, MPI). Results schema:
/// docs/results.md ("aimc-basisn").
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/params.hpp"
#include "devices/xbar_cost.hpp"
#include "experiments/mc.hpp"

namespace aimc::experiments {

struct BasisnParams {
  int length = 72;                  ///< L
  int size = 64;                    ///< M
  std::string layers = "all";       ///< all | inner | list of Dense/Conv2d ordinals
  std::string init = "pretrained";  ///< pretrained | scratch
  int rounds = 2;                   ///< alternating rounds
  int coeff_epochs = 1;             ///< epochs per round with the basis frozen
  int basis_epochs = 1;             ///< epochs per round with the coefficients frozen
  int qat_epochs = 2;               ///< quantization-aware fine-tuning epochs of the coefficients
  int coeff_bits = 4;               ///< coefficient bits (0: float)
  std::string coeff_mode = "pow2";  ///< uniform | pow2
  int train_images = 0;             ///< training images (0: all)
  double lr = 1e-3;                 ///< Adam learning rate (cosine schedule per phase)
  int batch = 128;                  ///< mini-batch size
  int seed = 1;                     ///< shuffling (and, for init = scratch, initialization)
  std::string n_xbar = "1,2,4,8,16,32,64";  ///< available crossbars of the cost comparison
  static std::span<const Param<BasisnParams>> params();
};

struct BasisnConfig {
  McConfig mc;  ///< [model], [data], [mc], [sweep] and the hardware sections, as `aimc mc` reads them
  BasisnParams bn;
  devices::XbarCostParams cost;
  std::vector<long long> n_xbar;  ///< parsed
};
BasisnConfig parse_basisn_config(const ConfigFile& f);

struct BasisnOptions {
  std::string config;
  std::string out = "basisn.h5";
  bool resume = false;
  bool force = false;
  bool progress = true;
  bool quiet = false;
};
int run_basisn(const BasisnOptions& o);

}  // namespace aimc::experiments
