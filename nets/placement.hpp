#pragma once
/// Placement search: where to put optional blocks (error-compensation layers, denoising blocks) and
/// which variant of each, given an expensive black-box reward.
///
/// There are S candidate sites s = 0..S-1. A placement is one action per site, a_s in {0, 1, ..., M}:
/// 0 = no block at site s, m >= 1 = option m (a block size, a kind). The caller supplies the reward
/// r(a) (in CorrectNet: train the compensation blocks of placement a, measure accuracy under variation,
/// subtract a cost per block; Eldebiky et al., DATE 2023, arXiv:2211.14917). Every search here
/// memoizes r by placement, so the reward function is called once per distinct placement and
/// `PlacementResult::evaluations` (the number of those calls) is the search cost.
///
/// Ties in the reward are broken the same way by both searches, so `best` does not depend on the
/// order placements were evaluated in: the higher reward wins; among equal rewards the placement with
/// fewer blocks (fewer non-zero actions); among those the lexicographically smaller one (site 0 first).
#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "core/params.hpp"

namespace aimc::nets {

using Placement = std::vector<int>;  ///< one action per site: 0 = no block, m = option m (1..M)
using Reward = std::function<double(const Placement&)>;  ///< must return a finite number

/// Largest number of placements (M+1)^S that `exhaustive` enumerates.
inline constexpr std::size_t kMaxExhaustivePlacements = 4096;

struct PlacementSearchParams {
  int episodes = 60;             ///< policy updates (at most; see stop_probability)
  int batch = 4;                 ///< placements sampled per update
  double lr = 0.5;               ///< step on the logits per unit normalized advantage
  double baseline_decay = 0.8;   ///< EMA decay of the reward baseline and of the advantage scale
  double stop_probability = 0.99;  ///< stop once every site's most likely action has a probability above this
  int seed = 1;                  ///< master seed of the sampling streams
  static std::span<const Param<PlacementSearchParams>> params();
};

struct PlacementResult {
  Placement best;                 ///< best placement evaluated (ties: see the file comment)
  double best_reward = 0.0;
  std::size_t evaluations = 0;    ///< distinct placements evaluated = calls of the reward function
  std::vector<double> mean_reward;  ///< per episode run, mean reward of its sampled batch (learning curve)
  /// Final policy: probabilities[s][a] = pi_s(a), S rows of M+1 entries.
  std::vector<std::vector<double>> probabilities;
  bool converged = false;         ///< stopped early because the policy converged (stop_probability)
};

/// REINFORCE (Williams, Machine Learning 8, 229 (1992)) over placements, with a moving-average
/// baseline and a running-scale normalization of the advantage.
///
/// Policy: one independent softmax per site over its M+1 actions, pi_s(a) = exp(theta_sa) / sum_b
/// exp(theta_sb); the logits start at 0 (uniform: every placement equally likely). State: none beyond
/// the site index (the policy is per site; an episode is one step, a bandit problem): a placement is
/// drawn whole, a_s ~ pi_s independently, and gets one scalar reward r(a), shared by all its sites.
///
/// Episode e = 0, 1, ...: draw `batch` placements; placement k uses Stream(seed, "placement.sample",
/// {e, k}), one uniform u per site in site order, a_s = the first a with u < pi_s(0) + ... + pi_s(a).
/// With the rewards r_k (memoized), the batch mean rbar, the baseline b and the scale v:
///   e = 0:  b = rbar,  v = mean_k (r_k - b)^2
///   e > 0:  v <- d v + (1 - d) mean_k (r_k - b)^2           (d = baseline_decay)
///   A_k = (r_k - b) / max(sqrt(v), 1e-9 max(1, |b|))
///   theta_sa <- theta_sa + lr / batch * sum_k A_k ([a_s^k = a] - pi_s(a))
///   b <- d b + (1 - d) rbar
/// where [a_s = a] - pi_s(a) = d log pi_s(a_s) / d theta_sa (Williams' characteristic eligibility of a
/// softmax unit); the baseline of each update is the one from before that batch.
/// The advantage is measured in units of the running RMS of r - b, so lr does not depend on the
/// reward's scale (accuracies in [0, 1] differ by a few 0.01; scaling r by 2^k changes nothing, a
/// test), and |A_k| <= sqrt(batch / (1 - d)) always. The floor 1e-9 max(1, |b|) treats reward
/// differences below it as ties (round-off of b once every sample is the same placement).
/// After each update, if every site's largest pi_s(a) exceeds stop_probability, the search stops
/// (`converged`); otherwise it runs `episodes` episodes. Repeated placements cost nothing (memo), so
/// the evaluations are typically far fewer than episodes * batch. There is no entropy bonus: in a
/// prototype on the test problems (tests/nets/test_placement.cpp) a bonus of 0.1 left the success
/// rate where it was (20/20 seeds) and cost about 10 % more evaluations; exploration is set by lr and
/// stop_probability.
///
/// Measured with the defaults on the four problems of tests/nets/test_placement.cpp, seeds 1..500 (a
/// one-off run; the test uses seeds 1..20): the optimum found on 495/500 seeds for S = 6, M = 2, with
/// at most 109 of the 729 placements evaluated (78 on average), and on 500/500 for the other three
/// (S, M = 4, 1; 5, 2; 6, 1). On random instances of the same family (100 per size, 5 seeds each):
/// 98.6-99.8 % for S = 4..6, 96 % for S = 8, M = 2 (118 of 6561 placements evaluated on average).
///
/// Result: the best placement sampled (not the policy's mode; `probabilities` holds the policy).
/// Deterministic for a given seed: serial, and every draw comes from the keyed streams above.
/// Errors (aimc::Error naming the parameter): sites < 1, options < 1, a parameter outside its range
/// (validate, context "placement"), a non-finite reward.
PlacementResult reinforce(int sites, int options, const Reward& r, const PlacementSearchParams& p);

/// Every placement of (options+1)^sites, in lexicographic order (site 0 most significant: 0...00,
/// 0...01, ...), each evaluated once. Best as in the file comment (highest reward; ties: fewest blocks,
/// then lexicographically first). `mean_reward` stays empty; `probabilities` is the deterministic
/// policy that picks `best` (one-hot rows); `converged` is true (the search is complete).
/// Errors: sites < 1, options < 1, more than kMaxExhaustivePlacements placements (named as
/// 'placement.sites'), a non-finite reward.
PlacementResult exhaustive(int sites, int options, const Reward& r);

}  // namespace aimc::nets
