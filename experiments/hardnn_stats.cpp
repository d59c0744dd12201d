// `aimc hardnn` statistics: per-fmap intervals, vulnerabilities, rankings, coverage curves, heuristic
// agreement and the protection levels of the verification.
#include "experiments/hardnn.hpp"

#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.hpp"
#include "core/stats.hpp"
#include "experiments/hardnn_detail.hpp"

namespace aimc::experiments {

CoverageCurve coverage_curve(std::span<const double> rv, std::span<const double> cost,
                             std::span<const std::size_t> order) {
  require(rv.size() == cost.size() && order.size() == rv.size(), "coverage_curve: sizes differ");
  const double total = std::accumulate(cost.begin(), cost.end(), 0.0);
  CoverageCurve c;
  c.coverage.push_back(0.0);
  c.overhead.push_back(0.0);
  double cv = 0, oh = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    cv += rv[order[k]];
    oh += cost[order[k]];
    // (a partial sum may pass 1 by rounding before the last fmap; capped, the curve stays monotone)
    c.coverage.push_back(std::min(cv, 1.0));
    c.overhead.push_back(total > 0 ? std::min(oh / total, 1.0) : 0.0);
  }
  // The sums reach 1 up to rounding; the curve ends exactly at (1, 1) when everything is protected.
  if (!order.empty()) {
    c.overhead.back() = 1.0;
    if (cv > 0) c.coverage.back() = 1.0;
  }
  for (double v : c.coverage) c.resilience.push_back(v < 1.0 ? 1.0 / (1.0 - v) : std::numeric_limits<double>::infinity());
  return c;
}

std::size_t k_for_overhead(const CoverageCurve& c, double budget) {
  std::size_t k = 0;
  for (std::size_t i = 0; i < c.overhead.size(); ++i)
    if (c.overhead[i] <= budget + 1e-12) k = i;
  return k;
}

namespace hardnn_detail {

FmapStats fmap_stats(const std::array<double, kRecord>& s, double confidence) {
  FmapStats f;
  f.n = s[0];
  f.k = s[1];
  if (f.n < 1) return f;
  const auto n = std::uint64_t(f.n), k = std::uint64_t(f.k);
  f.p = f.k / f.n;
  const auto ci = stats::binomial_ci(k, n, confidence);
  f.p_lo = ci.lo;
  f.p_hi = ci.hi;
  f.dloss = s[2] / f.n;
  if (n > 1) {
    const double var = std::max(0.0, (s[3] - f.n * f.dloss * f.dloss) / (f.n - 1));
    boost::math::students_t_distribution<double> t(f.n - 1);
    const double h = boost::math::quantile(t, 0.5 + confidence / 2) * std::sqrt(var / f.n);
    f.dloss_lo = f.dloss - h;
    f.dloss_hi = f.dloss + h;
  }
  return f;
}

Summary summarize(const Run& r) {
  const auto& h = r.cfg->hardnn;
  const std::size_t F = r.fmaps.size();
  Summary s;
  const double total = std::accumulate(r.macs.begin(), r.macs.end(), 0.0);
  double vsum = 0;
  for (std::size_t f = 0; f < F; ++f) {
    s.fmap.push_back(fmap_stats(r.campaign.sum(f), h.confidence));
    const double share = r.macs[f] / total;
    s.share.push_back(share);
    s.v.push_back(share * s.fmap[f].p);
    s.v_lo.push_back(share * s.fmap[f].p_lo);
    s.v_hi.push_back(share * s.fmap[f].p_hi);
    if (std::isfinite(s.v.back())) vsum += s.v.back();
  }
  s.r0 = vsum;
  for (std::size_t f = 0; f < F; ++f)
    s.rv.push_back(!std::isfinite(s.v[f]) ? kNaN : vsum > 0 ? s.v[f] / vsum : s.share[f]);
  // Campaign rank (by V) and protection order (by rank_by); ties keep fmap order.
  auto sorted_by = [&](const std::vector<double>& key) {
    std::vector<std::size_t> o(F);
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](std::size_t a, std::size_t b) {
      const double ka = std::isfinite(key[a]) ? key[a] : -1, kb = std::isfinite(key[b]) ? key[b] : -1;
      return ka > kb;
    });
    return o;
  };
  const auto by_v = sorted_by(s.v);
  s.rank.assign(F, 0);
  for (std::size_t i = 0; i < F; ++i) s.rank[by_v[i]] = std::int64_t(i + 1);
  if (h.rank_by == "per_mac") {
    std::vector<double> p(F);
    for (std::size_t f = 0; f < F; ++f) p[f] = s.fmap[f].p;
    s.order = sorted_by(p);
  } else {
    s.order = by_v;
  }
  std::vector<double> rv0(F);
  for (std::size_t f = 0; f < F; ++f) rv0[f] = std::isfinite(s.rv[f]) ? s.rv[f] : 0.0;
  s.curve = coverage_curve(rv0, r.macs, s.order);
  return s;
}

/// Heuristic vs campaign: Spearman of share x score with V, of score with P(mismatch | f), top-k overlap.
void compare(Heuristic& hs, const Summary& s, int top_k) {
  const std::size_t F = s.v.size();
  if (F < 2) return;
  std::vector<double> est(F), p(F);
  for (std::size_t f = 0; f < F; ++f) {
    est[f] = s.share[f] * hs.score[f];
    p[f] = s.fmap[f].p;
  }
  hs.spearman = stats::spearman(est, s.v);
  hs.spearman_conditional = stats::spearman(hs.score, p);
  const std::size_t k = std::min<std::size_t>(std::size_t(top_k), F);
  std::vector<std::size_t> oe(F), ov(F);
  std::iota(oe.begin(), oe.end(), 0);
  std::iota(ov.begin(), ov.end(), 0);
  std::stable_sort(oe.begin(), oe.end(), [&](auto a, auto b) { return est[a] > est[b]; });
  std::stable_sort(ov.begin(), ov.end(), [&](auto a, auto b) { return s.v[a] > s.v[b]; });
  std::size_t both = 0;
  for (std::size_t i = 0; i < k; ++i)
    if (std::find(ov.begin(), ov.begin() + long(k), oe[i]) != ov.begin() + long(k)) ++both;
  hs.topk_overlap = double(both) / double(k);
}

std::vector<Level> levels(const Run& r, const Summary& s) {
  std::vector<Level> out;
  std::vector<double> budgets{0.0};
  budgets.insert(budgets.end(), r.cfg->overheads.begin(), r.cfg->overheads.end());
  for (double b : budgets) {
    Level l;
    l.budget = b;
    l.k = k_for_overhead(s.curve, b);
    l.coverage = s.curve.coverage[l.k];
    l.overhead = s.curve.overhead[l.k];
    l.predicted = s.r0 * (1.0 - l.coverage);
    l.protect.assign(r.fmaps.size(), 0);
    for (std::size_t i = 0; i < l.k; ++i) l.protect[s.order[i]] = 1;
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace hardnn_detail
}  // namespace aimc::experiments
