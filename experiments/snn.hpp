#pragma once
/// `aimc snn CONFIG.toml --out FILE`: a spiking neural network (nets/snn.hpp) on ADC-less in-memory
/// computing, after Apolinario, Kosta, Saxena, Roy, "Hardware/Software co-design with ADC-Less
/// In-memory Computing Hardware for Spiking Neural Networks", IEEE TETC 2023 (arXiv:2211.02167): each
/// tile's partial sum of a spiking layer's synaptic current is reduced to one bit by a sense amplifier
/// (devices/sense_amp.hpp) instead of a multi-bit ADC, and hardware-aware training recovers accuracy.
///
/// Five variants of one trained SNN ([model] path, e.g. `aimc train --model snn_cnn`):
///   ideal        the trained model, partial sums read without conversion (mapping.readout = ideal);
///   adc          the trained model behind adc.bits-bit column ADCs (mapping.readout = adc);
///   sense_amp    the trained model behind 1-bit sense amplifiers (no retraining);
///   hwa          fine-tuned with the 1-bit partial sums of every analog layer in the forward pass
///                (nets/hwa.hpp, io = quantized, partial_sums = tile, straight-through gradient), for
///                snn.hwa_epochs epochs, then behind sense amplifiers;
///   progressive  fine-tuned in stages: stage k (k = 1 .. L, L analog layers in forward order) trains with
///                the first k analog layers on the 1-bit read-out and the others on ideal partial sums,
///                snn.stage_epochs epochs each (the same epoch budget as hwa when hwa_epochs = L
///                stage_epochs), then behind sense amplifiers.
/// Stages (each a pure function of the config, model and data):
///   1. the model with BatchNorm folded; its time steps T (its snn_encode);
///   2. per distinct mapping.tile_rows of the sweep points (the partial sums' granularity): the hwa and
///      progressive models (<stem>.hwa.r<rows>.h5, <stem>.progressive.r<rows>.h5; reused on --resume
///      when they record this config), trained on snn.train_images images, shuffled by
///      Stream(snn.seed, "shuffle", {epoch}) per phase, HWA streams keyed by snn.seed (nets/hwa.hpp);
///   3. digital accuracy of every variant's model on the [data] test subset, and each analog layer's
///      input activity (the fraction of nonzero inputs, spikes, on that subset);
///   4. Monte Carlo over chips of every variant at every sweep point, as `aimc mc` runs them
///      (Stream(mc.seed, "mc.program" / "mc.read", {chip}): chip k is the same draw for every variant);
///   5. energy and latency per inference over T steps (devices/snn_cost.hpp) of the ADC design and the
///      sense-amplifier design for every distinct tile_rows, and their ratios.
/// Jobs of stage 4 go through the campaign Scheduler (journal, --resume, MPI). Results schema:
/// docs/results.md ("aimc-snn").
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/params.hpp"
#include "devices/snn_cost.hpp"
#include "experiments/mc.hpp"

namespace aimc::experiments {

struct SnnParams {
  int hwa_epochs = 2;               ///< variant hwa: epochs with every analog layer on the 1-bit read-out
  int stage_epochs = 1;             ///< variant progressive: epochs per stage
  std::string weight_noise = "none";  ///< HWA weight noise during both fine-tunings (nets/hwa.hpp)
  double sigma_w = 0.0;             ///< its spread
  int train_images = 0;             ///< training images (0: all)
  double lr = 5e-4;                 ///< Adam learning rate (cosine schedule per phase)
  int batch = 128;                  ///< mini-batch size
  int seed = 1;                     ///< shuffling and HWA streams
  static std::span<const Param<SnnParams>> params();
};

struct SnnConfig {
  McConfig mc;  ///< [model], [data], [mc], [sweep] and the hardware sections, as `aimc mc` reads them
  SnnParams snn;
  devices::SnnCostParams cost;
};
SnnConfig parse_snn_config(const ConfigFile& f);

struct SnnOptions {
  std::string config;
  std::string out = "snn.h5";
  bool resume = false;
  bool force = false;
  bool progress = true;
  bool quiet = false;
};
int run_snn(const SnnOptions& o);

}  // namespace aimc::experiments
