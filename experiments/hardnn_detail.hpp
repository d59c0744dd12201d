#pragma once
/// Internal to `aimc hardnn` (experiments/hardnn*.cpp): the campaign state its files share. hardnn.hpp
/// is the public face; nothing outside the hardnn files includes this header.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "experiments/campaign.hpp"
#include "experiments/hardnn.hpp"
#include "experiments/results_writer.hpp"
#include "experiments/run_info.hpp"
#include "nets/delta.hpp"
#include "nets/fault.hpp"
#include "nets/network.hpp"

namespace aimc::experiments::hardnn_detail {

namespace fault = nets::fault;
using Clock = std::chrono::steady_clock;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kRecord = 4;  // injections, mismatches, sum delta-loss, sum delta-loss^2
/// Most memory the clean activations of every node may take for incremental propagation (2 GiB).
inline constexpr std::size_t kCleanBudgetBytes = std::size_t(2) << 30;

/// One injected layer.
struct LayerInfo {
  std::size_t index = 0;  // in the network
  int ordinal = 0;        // among Dense/Conv2d layers
  std::string kind;
  int channels = 0, positions = 0;
  double macs_per_fmap = 0;
  fault::LayerErrorSpec spec;
  double snr_db = kNaN;  // analog model: measured output SNR
  /// Clean outputs on the subset (subset x positions * channels): the layer's row block of the clean
  /// activations of every node when incremental propagation holds them, else a copy of its own.
  const Matrix& clean() const { return acts ? acts->out[index] : own; }
  std::shared_ptr<const nets::CleanActivations> acts;
  Matrix own;
};

struct FmapId {
  std::size_t layer = 0;  // into Run::layers
  int fmap = 0;
};

/// Per-fmap (or per-level) job records in job-index order.
struct Records {
  std::size_t units = 0, per_unit = 0;
  MatrixD rec;                     // (units * per_unit) x kRecord
  std::vector<std::int64_t> done;  // per job
  void init(std::size_t u, std::size_t p) {
    units = u;
    per_unit = p;
    rec = MatrixD::Constant(Eigen::Index(u * p), Eigen::Index(kRecord), kNaN);
    done.assign(u * p, 0);
  }
  std::size_t row(std::size_t unit, std::uint64_t index) const { return unit * per_unit + std::size_t(index); }
  bool complete() const { return std::all_of(done.begin(), done.end(), [](auto d) { return d != 0; }); }
  std::size_t remaining() const { return std::size_t(std::count(done.begin(), done.end(), 0)); }
  /// Sums of the unit's done records, in index order.
  std::array<double, kRecord> sum(std::size_t unit) const {
    std::array<double, kRecord> s{0, 0, 0, 0};
    for (std::size_t i = 0; i < per_unit; ++i) {
      const std::size_t r = row(unit, i);
      if (!done[r]) continue;
      for (std::size_t k = 0; k < kRecord; ++k) s[k] += rec(Eigen::Index(r), Eigen::Index(k));
    }
    return s;
  }
};

struct FmapStats {
  double n = 0, k = 0, p = kNaN, p_lo = kNaN, p_hi = kNaN, dloss = kNaN, dloss_lo = kNaN, dloss_hi = kNaN;
};

/// Binomial (Clopper-Pearson) interval of P(mismatch) and Student-t interval of the mean delta-loss
/// from the sums of one fmap's records.
FmapStats fmap_stats(const std::array<double, kRecord>& s, double confidence);

struct Heuristic {
  std::string name, description;
  std::vector<double> score;  // per fmap
  double seconds = 0;
  // comparison with the campaign (filled once the campaign is complete)
  double spearman = kNaN, spearman_conditional = kNaN, topk_overlap = kNaN;
};

struct Summary {
  std::vector<FmapStats> fmap;
  std::vector<double> share, v, v_lo, v_hi, rv;
  std::vector<std::size_t> order;  // protection order
  std::vector<std::int64_t> rank;  // 1-based campaign rank by V
  CoverageCurve curve;
  double r0 = kNaN;                // sum V: mismatch rate of an error landing by MAC share
};

struct Run : ModelRun<HardnnConfig> {
  using ModelRun::ModelRun;
  fault::ErrorModel model = fault::ErrorModel::bitflip_fixed;
  std::vector<LayerInfo> layers;
  std::vector<FmapId> fmaps;
  std::vector<double> macs;  // per fmap
  std::vector<int> pred;     // clean top-1 per sample
  std::vector<double> loss;  // clean capped cross-entropy per sample
  VectorI labels;
  const Matrix* inputs = nullptr;  // the test subset (network inputs), for graphs without a cut after a layer
  std::uint64_t injections = 0;  // per fmap
  Records campaign, verify;
  std::vector<Heuristic> heuristics;
  double clean_accuracy = kNaN, campaign_seconds = 0, verify_seconds = 0;
  int classes = 0;                   // logits per sample
  std::string propagation;           // what ran: "incremental" or "full" (and why, when it fell back)
  nets::DeltaStats propagation_stats;  // this process's injections (summed over threads)
};

/// What one thread runs injections with: its network copy and, for incremental propagation, its
/// IncrementalSuffix over the run's clean activations of every node, and its counters.
struct Worker {
  nets::Network net;
  std::unique_ptr<nets::IncrementalSuffix> inc;  // null: full recomputation
  nets::DeltaStats stats;
};

/// Verification levels: 0 = no protection, then one per configured overhead.
struct Level {
  double budget = 0;
  std::size_t k = 0;
  double coverage = 0, overhead = 0, predicted = kNaN;
  std::vector<char> protect;  // per fmap
};

// hardnn_config.cpp
/// "all" (empty) or a sorted list of distinct non-negative layer ordinals; Error naming hardnn.layers.
std::vector<int> parse_ordinals(const std::string& s);

// hardnn_stats.cpp
/// Per-fmap statistics, vulnerabilities, campaign ranks and the protection order of the records so far.
Summary summarize(const Run& r);
/// Heuristic vs campaign: Spearman of share x score with V, of score with P(mismatch | f), top-k overlap.
void compare(Heuristic& hs, const Summary& s, int top_k);
/// Verification levels: 0 = no protection, then one per configured overhead.
std::vector<Level> levels(const Run& r, const Summary& s);

// hardnn_inject.cpp
/// Top-1 and capped cross-entropy of one logits row; non-finite logits: prediction -1, loss = cap.
std::pair<int, double> judge(const float* z, Eigen::Index n, int label, double cap);
/// Injection batch job.index of fmap job.unit: fills rec (kRecord sums).
void campaign_job(const Run& r, Worker& w, const Job& job, std::span<double> rec);
/// Cumulative MAC shares of the fmaps, for drawing the fmap an error lands in.
std::vector<double> cumulative_shares(const Run& r);
/// Verification batch job.index of level job.unit - fmaps: fills rec (kRecord sums).
void verify_job(const Run& r, const std::vector<double>& cum, const std::vector<Level>& lv, Worker& w,
                const Job& job, std::span<double> rec);
/// Mean |y| per fmap over the subset and the fmap's positions.
Heuristic activation_heuristic(Run& r, nets::Network& net, const Matrix& x);
/// Mean |d g / d y| E|delta| per fmap, g = per-sample loss ("gradient") or logit margin z_top1 - z_top2
/// ("gain"), by back-propagation of the clean forward.
Heuristic gradient_heuristic(Run& r, nets::Network& net, const Matrix& x, bool margin);

// hardnn_results.cpp
/// Writes the whole results file from the state (ResultsWriter::write).
void write_results(const Run& r);
/// --resume: the run info and the job records of the existing results file.
void read_results(Run& r);
/// The summary the command prints at the end.
void print_summary(const Run& r, double seconds);

}  // namespace aimc::experiments::hardnn_detail
