#pragma once
/// `aimc hardnn`: HarDNN feature-map vulnerability campaigns (Mahmoud et al., "HarDNN: Feature map
/// vulnerability evaluation in CNNs", arXiv:2002.09786, 2020).
///
/// A feature map (fmap) is one output channel of a Conv2d layer or one output neuron of a Dense layer.
/// For every fmap f of the chosen layers the campaign injects n errors, one per inference: injection i
/// of fmap f in network layer L draws from Stream(seed, "hardnn.inject", {L, f, i}) a test sample
/// (uniform over the subset), an output position of the fmap (uniform) and the faulty value
/// (nets/fault.hpp error model), and the network runs on from layer L + 1 (the clean activations of
/// every chosen layer are computed once). Per fmap:
///   - n = min(max_injections, ceil(z^2 p (1-p) / e^2)) with p = 0.5 (statistical fault injection,
///     Leveugle et al., DATE 2009, Eq. 1), e = `margin`, z for `confidence`;
///   - P(mismatch | f): top-1 differs from the fault-free run, with its Clopper-Pearson interval;
///   - mean delta cross-entropy (faulty - clean, per-sample loss capped at `loss_cap`) with its
///     Student-t interval;
///   - vulnerability V_f = P(error in f) P(mismatch | f), P(error in f) = MACs(f) / MACs(all chosen
///     fmaps), and relative vulnerability V_f / sum V.
/// Heuristics (no injection) are ranked against it: mean |activation|, first-order |dLoss/dy| E|delta|,
/// and the gain |d(z_top1 - z_top2)/dy| E|delta| (first-order forms of HarDNN's heuristics), each times the MAC share.
/// Protection: the top-k fmaps (by `rank_by`) are duplicated; coverage(k) = sum of their relative
/// vulnerabilities, overhead(k) = their MACs / all MACs, resilience = 1 / (1 - coverage). A second
/// campaign verifies it: `verify_injections` errors land on fmaps with probability MACs(f) / MACs
/// (Stream(seed, "hardnn.verify", {i})), once without protection and once per `verify_overheads`
/// level with the top-k fmaps of that overhead protected (a protected fmap's duplicate detects and
/// corrects the error, so the inference equals the clean one); the measured mismatch rate is
/// compared with the predicted R0 (1 - coverage).
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/params.hpp"
#include "experiments/mc.hpp"
#include "nets/analog.hpp"

namespace aimc::experiments {

struct HardnnParams {
  std::string error_model = "bitflip_fixed";  ///< bitflip_fp32 | bitflip_fixed | random_value | analog
  int bits = 8;                 ///< fixed-point bits B of bitflip_fixed
  double margin = 0.05;         ///< error margin e of the per-fmap mismatch probability
  double confidence = 0.95;     ///< confidence of the sample size and of the reported intervals
  int max_injections = 1000;    ///< cap on injections per fmap
  int seed = 1;                 ///< master seed of every stream
  int batch = 64;               ///< injections per job (one suffix forward of `batch` rows)
  std::string layers = "all";   ///< "all" or Dense/Conv2d ordinals, e.g. "0,2"
  std::string rank_by = "vulnerability";  ///< protection order: vulnerability | per_mac
  int top_k = 10;               ///< k of the top-k overlap of heuristics with the campaign ranking
  int verify_injections = 2000;  ///< injections of the protection verification campaign (0: none)
  std::string verify_overheads = "0.1,0.3,0.5";  ///< overhead levels of the verification
  double loss_cap = 100.0;      ///< per-sample cross-entropy cap (nats) for non-finite/huge logits
  int snr_samples = 500;        ///< analog: images over which the layers' output noise is measured
  std::string propagation = "incremental";  ///< incremental (nets/delta.hpp) | full (the suffix recomputed)
  static std::span<const Param<HardnnParams>> params();
  void check() const;
};

struct HardnnConfig {
  ConfigFile file;
  McModelParams model;
  McDataParams data;
  nets::AnalogConfig analog;  ///< analog error model only
  HardnnParams hardnn;
  std::vector<double> overheads;  ///< parsed verify_overheads
};

/// Reads and validates a hardnn config ([model], [data], [hardnn] and, for the analog error model, the
/// hardware sections of `aimc mc`). Errors name the file and key.
HardnnConfig parse_hardnn_config(const ConfigFile& f);

struct HardnnOptions {
  std::string config;
  std::string out = "hardnn.h5";
  bool resume = false;
  bool force = false;
  bool progress = true;
  bool quiet = false;
};

/// The whole campaign; returns the process exit code.
int run_hardnn(const HardnnOptions& o);

/// Coverage curve of a protection order: fmaps sorted by `order` (indices into rv/cost), coverage(k) =
/// sum of the first k relative vulnerabilities, overhead(k) = sum of their costs / total cost, k = 0..F.
struct CoverageCurve {
  std::vector<double> coverage, overhead, resilience;  ///< F + 1 points
};
CoverageCurve coverage_curve(std::span<const double> relative_vulnerability, std::span<const double> cost,
                             std::span<const std::size_t> order);
/// Largest k whose overhead does not exceed `budget`.
std::size_t k_for_overhead(const CoverageCurve& c, double budget);

}  // namespace aimc::experiments
