#include "nets/placement.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "core/error.hpp"
#include "core/random.hpp"

namespace aimc::nets {

std::span<const Param<PlacementSearchParams>> PlacementSearchParams::params() {
  using P = PlacementSearchParams;
  static const Param<P> p[] = {
      {"episodes", &P::episodes, "1", "policy updates, at most (early stop: stop_probability)",
       "tests/nets/test_placement.cpp (optimum found on >= 98 % of seeds, S <= 6, M <= 2)", between(1, 1000000)},
      {"batch", &P::batch, "1", "placements sampled per update", "as episodes", between(1, 65536)},
      {"lr", &P::lr, "1", "policy-gradient step on the logits per unit normalized advantage",
       "measured on the synthetic problems of tests/nets/test_placement.cpp", {0.0, 100.0, true, false}},
      {"baseline_decay", &P::baseline_decay, "1",
       "EMA decay of the reward baseline and of the advantage scale (0: baseline = the previous batch's mean)",
       "Williams, Mach. Learn. 8, 229 (1992) (reinforcement baseline)", {0.0, 1.0, false, true}},
      {"stop_probability", &P::stop_probability, "1",
       "stop once every site's most likely action is above this probability (1: never stop early)", "",
       between(0.5, 1.0)},
      {"seed", &P::seed, "1", "master seed of the sampling streams Stream(seed, \"placement.sample\", {episode, k})",
       "", between(0, 2147483647)},
  };
  return p;
}

namespace {

std::size_t blocks(const Placement& a) {
  return static_cast<std::size_t>(std::count_if(a.begin(), a.end(), [](int x) { return x != 0; }));
}

/// True if (a, ra) beats (b, rb): higher reward, then fewer blocks, then lexicographically smaller.
bool better(const Placement& a, double ra, const Placement& b, double rb) {
  if (ra != rb) return ra > rb;
  if (blocks(a) != blocks(b)) return blocks(a) < blocks(b);
  return a < b;
}

std::string text(const Placement& a) {
  std::string s = "[";
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(a[i]);
  }
  return s + "]";
}

void check_shape(int sites, int options) {
  if (sites < 1) fail_param("placement.sites", sites, "must be >= 1 (candidate sites)");
  if (options < 1) fail_param("placement.options", options, "must be >= 1 (block options besides 'none')");
}

/// The reward with a memo: called once per distinct placement; tracks the best placement seen.
class Memo {
 public:
  explicit Memo(const Reward& r) : r_(r) {}
  double operator()(const Placement& a) {
    auto it = seen_.find(a);
    if (it != seen_.end()) return it->second;
    const double v = r_(a);
    if (!std::isfinite(v)) throw Error("placement reward of " + text(a) + " = " + to_str(v) + ": must be a finite number");
    seen_.emplace(a, v);
    if (best_.empty() || better(a, v, best_, best_reward_)) {
      best_ = a;
      best_reward_ = v;
    }
    return v;
  }
  void result(PlacementResult& out) const {
    out.best = best_;
    out.best_reward = best_reward_;
    out.evaluations = seen_.size();
  }

 private:
  const Reward& r_;
  std::map<Placement, double> seen_;
  Placement best_;
  double best_reward_ = 0.0;
};

std::vector<double> softmax(const std::vector<double>& logits) {
  const double m = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double z = 0.0;
  for (std::size_t a = 0; a < p.size(); ++a) z += p[a] = std::exp(logits[a] - m);
  for (double& x : p) x /= z;
  return p;
}

}  // namespace

PlacementResult reinforce(int sites, int options, const Reward& r, const PlacementSearchParams& p) {
  check_shape(sites, options);
  validate(p, "placement");
  const auto S = static_cast<std::size_t>(sites), A = static_cast<std::size_t>(options) + 1;
  const auto K = static_cast<std::size_t>(p.batch);
  const double d = p.baseline_decay;

  Memo reward(r);
  PlacementResult out;
  std::vector<std::vector<double>> logits(S, std::vector<double>(A, 0.0)), pi(S);
  for (std::size_t s = 0; s < S; ++s) pi[s] = softmax(logits[s]);
  std::vector<Placement> batch(K, Placement(S));
  std::vector<double> rk(K);
  double b = 0.0, v = 0.0;

  for (int e = 0; e < p.episodes; ++e) {
    double mean = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
      Stream st(static_cast<std::uint64_t>(p.seed), "placement.sample",
                {static_cast<std::uint64_t>(e), static_cast<std::uint64_t>(k)});
      for (std::size_t s = 0; s < S; ++s) {
        const double u = st.uniform();
        std::size_t a = 0;
        double c = pi[s][0];
        while (!(u < c) && a + 1 < A) c += pi[s][++a];  // the last action takes any round-off excess
        batch[k][s] = static_cast<int>(a);
      }
      rk[k] = reward(batch[k]);
      mean += rk[k];
    }
    mean /= static_cast<double>(K);
    out.mean_reward.push_back(mean);

    double sq = 0.0;
    if (e == 0) b = mean;
    for (double x : rk) sq += (x - b) * (x - b);
    sq /= static_cast<double>(K);
    v = e == 0 ? sq : d * v + (1.0 - d) * sq;
    const double scale = std::max(std::sqrt(v), 1e-9 * std::max(1.0, std::abs(b)));

    const double step = p.lr / static_cast<double>(K);
    for (std::size_t k = 0; k < K; ++k) {
      const double adv = (rk[k] - b) / scale;
      for (std::size_t s = 0; s < S; ++s)
        for (std::size_t a = 0; a < A; ++a)
          logits[s][a] += step * adv * ((static_cast<std::size_t>(batch[k][s]) == a ? 1.0 : 0.0) - pi[s][a]);
    }
    b = d * b + (1.0 - d) * mean;

    bool done = true;
    for (std::size_t s = 0; s < S; ++s) {
      pi[s] = softmax(logits[s]);
      done = done && *std::max_element(pi[s].begin(), pi[s].end()) > p.stop_probability;
    }
    if (done) {
      out.converged = true;
      break;
    }
  }
  reward.result(out);
  out.probabilities = pi;
  return out;
}

PlacementResult exhaustive(int sites, int options, const Reward& r) {
  check_shape(sites, options);
  const auto S = static_cast<std::size_t>(sites), A = static_cast<std::size_t>(options) + 1;
  std::size_t n = 1;
  for (std::size_t s = 0; s < S; ++s) {
    n *= A;
    if (n > kMaxExhaustivePlacements)
      fail_param("placement.sites", sites,
                 "exhaustive search of (options + 1)^sites = " + std::to_string(A) + "^" + std::to_string(sites) +
                     " placements exceeds the limit " + std::to_string(kMaxExhaustivePlacements) +
                     " (use reinforce)");
  }
  Memo reward(r);
  Placement a(S, 0);
  for (std::size_t i = 0; i < n; ++i) {
    reward(a);
    for (std::size_t s = S; s-- > 0;) {  // next in lexicographic order: the last site counts fastest
      if (static_cast<std::size_t>(++a[s]) < A) break;
      a[s] = 0;
    }
  }
  PlacementResult out;
  reward.result(out);
  out.converged = true;
  out.probabilities.assign(S, std::vector<double>(A, 0.0));
  for (std::size_t s = 0; s < S; ++s) out.probabilities[s][static_cast<std::size_t>(out.best[s])] = 1.0;
  return out;
}

}  // namespace aimc::nets
