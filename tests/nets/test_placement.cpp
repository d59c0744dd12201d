// Placement search (nets/placement.hpp): exhaustive enumeration and its tie-break, REINFORCE's success
// rate over seeds on synthetic problems with a known optimum, the memo (one reward call per distinct
// placement), determinism by seed, the keyed sampling streams, scale invariance, parameter errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "nets/placement.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {

/// A synthetic placement problem on the accuracy scale: base + sum_s gain[s][a_s] - cost * sum_s a_s
/// (option m costs m units: a block of size m) + pairwise terms for sites that both hold a block.
struct Problem {
  std::string name;
  int sites, options;
  double base, cost;
  std::vector<std::vector<double>> gain;  // gain[s][a], gain[s][0] = 0
  struct Pair {
    int s, t;
    double value;
  };
  std::vector<Pair> pairs;

  double operator()(const Placement& a) const {
    double r = base;
    for (int s = 0; s < sites; ++s) r += gain[s][a[s]] - cost * a[s];
    for (const auto& p : pairs)
      if (a[p.s] != 0 && a[p.t] != 0) r += p.value;
    return r;
  }
};

/// Gains mixed in sign and size (some sites hurt, some options beat others only after their cost),
/// and interaction terms that change the per-site optimum: the best placement is not the greedy one.
std::vector<Problem> problems() {
  return {
      {"S4M1", 4, 1, 0.6, 0.01, {{0, 0.08}, {0, -0.03}, {0, 0.05}, {0, 0.015}}, {{0, 2, -0.03}}},
      {"S5M2", 5, 2, 0.7, 0.01, {{0, 0.02, 0.05}, {0, 0.06, 0.01}, {0, -0.04, -0.02}, {0, 0.01, 0.03}, {0, 0.03, 0.03}},
       {{1, 3, -0.02}}},
      {"S6M1", 6, 1, 0.55, 0.01, {{0, 0.03}, {0, 0.012}, {0, -0.05}, {0, 0.04}, {0, 0.007}, {0, 0.02}}, {{1, 5, 0.01}}},
      {"S6M2", 6, 2, 0.5, 0.008,
       {{0, 0.04, 0.06}, {0, -0.02, -0.01}, {0, 0.03, 0.035}, {0, 0.0, 0.02}, {0, 0.05, 0.03}, {0, -0.01, 0.015}},
       {{2, 3, 0.02}, {0, 4, -0.025}}},
  };
}

/// Oracle, independent of nets::exhaustive: nested loops by recursion over the sites, keeping the
/// best and second-best reward.
struct Brute {
  Placement best;
  double best_reward = -std::numeric_limits<double>::infinity();
  double second = -std::numeric_limits<double>::infinity();
  std::size_t count = 0;
};
void brute(const Reward& r, int sites, int options, Placement& a, std::size_t s, Brute& out) {
  if (s == static_cast<std::size_t>(sites)) {
    ++out.count;
    const double v = r(a);
    if (v > out.best_reward) {
      out.second = out.best_reward;
      out.best_reward = v;
      out.best = a;
    } else if (v > out.second) {
      out.second = v;
    }
    return;
  }
  for (int x = 0; x <= options; ++x) {
    a[s] = x;
    brute(r, sites, options, a, s + 1, out);
  }
}
Brute brute(const Reward& r, int sites, int options) {
  Brute out;
  Placement a(static_cast<std::size_t>(sites), 0);
  brute(r, sites, options, a, 0, out);
  return out;
}

std::size_t power(int base, int exp) {
  std::size_t n = 1;
  for (int i = 0; i < exp; ++i) n *= static_cast<std::size_t>(base);
  return n;
}

/// Argmax of each site's final probabilities.
Placement mode(const PlacementResult& res) {
  Placement a;
  for (const auto& row : res.probabilities) {
    std::size_t m = 0;
    for (std::size_t j = 1; j < row.size(); ++j)
      if (row[j] > row[m]) m = j;
    a.push_back(static_cast<int>(m));
  }
  return a;
}

}  // namespace

TEST_CASE("placement: the synthetic problems have a unique optimum with a margin") {
  for (const auto& pr : problems()) {
    CAPTURE(pr.name);
    const Brute o = brute(pr, pr.sites, pr.options);
    CHECK(o.count == power(pr.options + 1, pr.sites));
    // A gap of at least 1e-3 (a tenth of a percent of accuracy) keeps "found the optimum" unambiguous.
    CHECK(o.best_reward - o.second >= 1e-3 - 1e-12);
  }
}

TEST_CASE("placement: exhaustive finds the optimum with exactly (M+1)^S reward calls") {
  for (const auto& pr : problems()) {
    CAPTURE(pr.name);
    std::size_t calls = 0;
    const Reward r = [&](const Placement& a) {
      ++calls;
      return pr(a);
    };
    const PlacementResult res = exhaustive(pr.sites, pr.options, r);
    const Brute o = brute(pr, pr.sites, pr.options);
    CHECK(res.best == o.best);
    CHECK(res.best_reward == o.best_reward);
    CHECK(calls == power(pr.options + 1, pr.sites));
    CHECK(res.evaluations == calls);
    CHECK(res.converged);
    CHECK(res.mean_reward.empty());
    CHECK(mode(res) == o.best);
  }
}

TEST_CASE("placement: exhaustive enumerates in lexicographic order and breaks ties by fewest blocks") {
  std::vector<Placement> order;
  const Reward record = [&](const Placement& a) {
    order.push_back(a);
    return 0.0;
  };
  PlacementResult res = exhaustive(2, 2, record);
  CHECK(order == std::vector<Placement>{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 1}, {2, 2}});
  CHECK(res.best == Placement{0, 0});  // all tied: no block at all

  // Tied at the top: [0 1 1] (lexicographically first, 2 blocks) and [1 0 0] (1 block): fewest blocks wins.
  const Reward two = [](const Placement& a) { return a == Placement{0, 1, 1} || a == Placement{1, 0, 0} ? 1.0 : 0.0; };
  CHECK(exhaustive(3, 1, two).best == Placement{1, 0, 0});
  // Same block count: the lexicographically first.
  const Reward same = [](const Placement& a) { return a == Placement{0, 1, 0} || a == Placement{0, 0, 1} ? 1.0 : 0.0; };
  CHECK(exhaustive(3, 1, same).best == Placement{0, 0, 1});
  // Same block count, different options: [0 2] < [1 0] lexicographically.
  const Reward opt = [](const Placement& a) { return a == Placement{1, 0} || a == Placement{0, 2} ? 1.0 : 0.0; };
  CHECK(exhaustive(2, 2, opt).best == Placement{0, 2});
}

TEST_CASE("placement: REINFORCE finds the known optimum on most seeds, with fewer evaluations than exhaustive") {
  // Default parameters (60 episodes of 4 placements), seeds 1..20. The success criterion is the
  // returned best placement (best sampled) equal to the brute-force optimum.
  for (const auto& pr : problems()) {
    CAPTURE(pr.name);
    const Brute o = brute(pr, pr.sites, pr.options);
    const std::size_t all = power(pr.options + 1, pr.sites);
    int found = 0;
    std::size_t max_evals = 0;
    double first = 0.0, last = 0.0;  // learning curve: mean of the first and of the last 10 episodes
    for (int seed = 1; seed <= 20; ++seed) {
      PlacementSearchParams p;
      p.seed = seed;
      const PlacementResult res = reinforce(pr.sites, pr.options, pr, p);
      found += res.best == o.best;
      max_evals = std::max(max_evals, res.evaluations);
      REQUIRE(res.mean_reward.size() >= 20);
      for (int i = 0; i < 10; ++i) {
        first += res.mean_reward[static_cast<std::size_t>(i)];
        last += res.mean_reward[res.mean_reward.size() - 1 - static_cast<std::size_t>(i)];
      }
      if (pr.sites == 6) CHECK(res.evaluations < all);
    }
    MESSAGE(pr.name << ": optimum found on " << found << "/20 seeds, at most " << max_evals << " of " << all
                    << " placements evaluated; mean reward first 10 episodes " << first / 200 << ", last 10 " << last / 200);
    // Measured: 20/20 on every problem here; over seeds 1..500, 500/500 (S4M1, S5M2, S6M1) and 495/500
    // (S6M2), and 461/480 to 499/500 on random instances of this family (S = 4..8, M = 1..2). The seeds
    // are fixed, so this is deterministic; the margin (17 of 20) lets a change of summation order or of
    // libm's exp move a few seeds without letting a real regression through: at the measured rate of
    // 0.99, P(fewer than 17 of 20) ~ 5e-5, and at 0.95 it is still 1.6 %. Random sampling with the same
    // budget (<= 105 of 729 placements for S6M2) finds the optimum with probability ~0.15 per seed,
    // P(17 or more of 20) < 1e-10: passing needs the policy to learn.
    CHECK(found >= 17);
    CHECK(last > first);
  }
}

TEST_CASE("placement: with more episodes the policy converges to the optimum and stops early") {
  for (const auto& pr : problems()) {
    CAPTURE(pr.name);
    const Brute o = brute(pr, pr.sites, pr.options);
    int converged = 0, mode_ok = 0;
    for (int seed = 1; seed <= 20; ++seed) {
      PlacementSearchParams p;
      p.seed = seed;
      p.episodes = 400;
      const PlacementResult res = reinforce(pr.sites, pr.options, pr, p);
      if (res.converged) {
        ++converged;
        CHECK(res.mean_reward.size() < 400);
        for (const auto& row : res.probabilities) CHECK(*std::max_element(row.begin(), row.end()) > 0.99);
      }
      mode_ok += mode(res) == o.best;
    }
    MESSAGE(pr.name << ": converged on " << converged << "/20 seeds, policy mode = optimum on " << mode_ok << "/20");
    // Measured: converged on 20/20 seeds for every problem, mode = optimum on 20/20 (19/20 for S6M2);
    // the margin as above.
    CHECK(converged >= 17);
    CHECK(mode_ok >= 17);
  }
}

TEST_CASE("placement: the reward is called once per distinct placement") {
  const Problem pr = problems()[3];
  std::map<Placement, int> calls;
  const Reward r = [&](const Placement& a) {
    ++calls[a];
    return pr(a);
  };
  PlacementSearchParams p;
  p.episodes = 300;  // far past convergence of most sites: many repeated placements
  const PlacementResult res = reinforce(pr.sites, pr.options, r, p);
  for (const auto& [a, n] : calls) CHECK(n == 1);
  CHECK(res.evaluations == calls.size());
  CHECK(res.evaluations < res.mean_reward.size() * static_cast<std::size_t>(p.batch));  // repeats were free
  // The best is the best of what was evaluated.
  double top = -1.0;
  for (const auto& [a, n] : calls) top = std::max(top, pr(a));
  CHECK(res.best_reward == top);
  CHECK(pr(res.best) == top);
}

TEST_CASE("placement: same seed gives the identical result, another seed another run") {
  const Problem pr = problems()[3];
  PlacementSearchParams p;
  p.seed = 7;
  const PlacementResult a = reinforce(pr.sites, pr.options, pr, p);
  const PlacementResult b = reinforce(pr.sites, pr.options, pr, p);
  CHECK(a.best == b.best);
  CHECK(a.best_reward == b.best_reward);
  CHECK(a.evaluations == b.evaluations);
  CHECK(a.mean_reward == b.mean_reward);
  CHECK(a.probabilities == b.probabilities);
  CHECK(a.converged == b.converged);
  p.seed = 8;
  const PlacementResult c = reinforce(pr.sites, pr.options, pr, p);
  CHECK(c.mean_reward != a.mean_reward);
}

TEST_CASE("placement: the first batch is drawn from Stream(seed, \"placement.sample\", {0, k})") {
  // Uniform policy at the start: site s of placement k takes action floor(u (M+1)) of its s-th uniform.
  const int sites = 5, options = 2, seed = 3, batch = 6;
  std::vector<Placement> seen;
  const Reward r = [&](const Placement& a) {
    seen.push_back(a);
    return static_cast<double>(a[0]);
  };
  PlacementSearchParams p;
  p.seed = seed;
  p.batch = batch;
  p.episodes = 1;
  reinforce(sites, options, r, p);
  std::vector<Placement> expected;
  std::set<Placement> distinct;
  for (int k = 0; k < batch; ++k) {
    Stream st(seed, "placement.sample", {0, static_cast<std::uint64_t>(k)});
    Placement a;
    for (int s = 0; s < sites; ++s) a.push_back(static_cast<int>(std::floor(st.uniform() * (options + 1))));
    if (distinct.insert(a).second) expected.push_back(a);
  }
  CHECK(seen == expected);
}

TEST_CASE("placement: REINFORCE does not depend on the reward's scale") {
  // The advantage is normalized by its running RMS: a reward multiplied by a power of two (exact in
  // floating point) gives the same placements, policy and evaluation count.
  const Problem pr = problems()[1];
  const Reward scaled = [&](const Placement& a) { return 8.0 * pr(a); };
  PlacementSearchParams p;
  p.seed = 5;
  const PlacementResult a = reinforce(pr.sites, pr.options, pr, p);
  const PlacementResult b = reinforce(pr.sites, pr.options, scaled, p);
  CHECK(a.best == b.best);
  CHECK(b.best_reward == 8.0 * a.best_reward);
  CHECK(a.evaluations == b.evaluations);
  CHECK(a.probabilities == b.probabilities);
}

TEST_CASE("placement: bad parameters are errors naming the parameter") {
  const Reward r = [](const Placement& a) { return static_cast<double>(a[0]); };
  PlacementSearchParams p;
  CHECK_THROWS_WITH_AS(reinforce(0, 1, r, p), doctest::Contains("placement.sites"), Error);
  CHECK_THROWS_WITH_AS(reinforce(3, 0, r, p), doctest::Contains("placement.options"), Error);
  CHECK_THROWS_WITH_AS(exhaustive(0, 1, r), doctest::Contains("placement.sites"), Error);
  CHECK_THROWS_WITH_AS(exhaustive(3, 0, r), doctest::Contains("placement.options"), Error);
  // 2^12 = 4096 placements is the limit; 2^13 and 3^8 = 6561 exceed it.
  CHECK(exhaustive(12, 1, r).evaluations == 4096);
  CHECK_THROWS_WITH_AS(exhaustive(13, 1, r), doctest::Contains("placement.sites"), Error);
  CHECK_THROWS_WITH_AS(exhaustive(8, 2, r), doctest::Contains("4096"), Error);
  CHECK_THROWS_WITH_AS(exhaustive(1000, 1, r), doctest::Contains("placement.sites"), Error);  // no overflow

  auto bad = [&](auto set, const char* name) {
    PlacementSearchParams q;
    set(q);
    CHECK_THROWS_WITH_AS(reinforce(3, 1, r, q), doctest::Contains(name), Error);
  };
  bad([](auto& q) { q.episodes = 0; }, "placement.episodes");
  bad([](auto& q) { q.batch = 0; }, "placement.batch");
  bad([](auto& q) { q.lr = 0.0; }, "placement.lr");
  bad([](auto& q) { q.lr = std::nan(""); }, "placement.lr");
  bad([](auto& q) { q.baseline_decay = 1.0; }, "placement.baseline_decay");
  bad([](auto& q) { q.stop_probability = 0.2; }, "placement.stop_probability");
  bad([](auto& q) { q.seed = -1; }, "placement.seed");

  const Reward nan = [](const Placement& a) { return a[1] == 1 ? std::nan("") : 0.5; };
  CHECK_THROWS_WITH_AS(exhaustive(2, 1, nan), doctest::Contains("finite"), Error);
  CHECK_THROWS_WITH_AS(reinforce(2, 1, nan, PlacementSearchParams{}), doctest::Contains("finite"), Error);
}
