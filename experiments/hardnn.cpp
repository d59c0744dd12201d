#include "experiments/hardnn.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <boost/math/distributions/students_t.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <numeric>
#include <optional>

#include "core/durable.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "experiments/campaign.hpp"
#include "experiments/mpi.hpp"
#include "experiments/run_info.hpp"
#include "nets/fault.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

namespace fs = std::filesystem;
namespace fault = nets::fault;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Parameters and config

std::span<const Param<HardnnParams>> HardnnParams::params() {
  using P = HardnnParams;
  static const Param<P> t[] = {
      {"error_model", &P::error_model, "",
       "error in one fmap element per inference: bit flip of the fp32 value, bit flip of its B-bit fixed-point "
       "code (scaled to the layer's observed maximum magnitude), a random value in the layer's observed range, or "
       "output-referred analog noise of the configured hardware",
       "HarDNN (Mahmoud et al., arXiv:2002.09786) error models; nets/fault.hpp",
       {},
       {"bitflip_fixed", "bitflip_fp32", "random_value", "analog"}},
      {"bits", &P::bits, "1", "fixed-point bits B of bitflip_fixed (two's complement, sign included)",
       "8-bit activations of integer inference", between(2, 32)},
      {"margin", &P::margin, "1", "error margin e of each fmap's mismatch probability",
       "n = z^2 p(1-p)/e^2, p = 0.5 (Leveugle et al., DATE 2009, Eq. 1)", {0.0, 0.5, true, false}},
      {"confidence", &P::confidence, "1", "confidence level of the sample size and of the reported intervals", "95%",
       {0.0, 1.0, true, true}},
      {"max_injections", &P::max_injections, "1", "cap on the injections per fmap", "campaign cost bound",
       between(1, 10000000)},
      {"seed", &P::seed, "1", "master seed of every random stream", "any", between(0, 2147483647)},
      {"batch", &P::batch, "1", "injections per job (rows of one suffix forward); also the journal granularity",
       "speed/resume granularity trade-off", between(1, 100000)},
      {"layers", &P::layers, "", "layers injected: \"all\" or Dense/Conv2d ordinals (0 = first), e.g. \"0,2\"",
       "HarDNN evaluates every conv layer's fmaps"},
      {"rank_by", &P::rank_by, "",
       "protection order: vulnerability V_f (HarDNN) or V_f per MAC (the fmap's mismatch probability: greedy coverage per cost)",
       "HarDNN: selective protection by relative vulnerability", {}, {"vulnerability", "per_mac"}},
      {"top_k", &P::top_k, "1", "k of the top-k overlap between a heuristic's and the campaign's ranking",
       "top-k agreement of rankings", between(1, 1000000)},
      {"verify_injections", &P::verify_injections, "1",
       "injections of the protection verification campaign, per protection level (0: no verification)",
       "binomial CI half-width ~ sqrt(R(1-R)/n)", between(0, 100000000)},
      {"verify_overheads", &P::verify_overheads, "",
       "protection levels verified: comma-separated MAC overhead budgets in (0, 1]", "HarDNN reports coverage at 10-50% added computation"},
      {"loss_cap", &P::loss_cap, "nat",
       "per-sample cross-entropy cap: logits that are not finite (an fp32 exponent flip) count as this loss",
       "keeps mean delta-loss finite; e^-100 is below any float probability", positive()},
      {"snr_samples", &P::snr_samples, "1",
       "analog error model: images over which each layer's output-referred noise is measured", "as mc.snr_samples",
       between(1, 10000)},
  };
  return t;
}

namespace {
std::vector<double> parse_overheads(const std::string& s) {
  std::vector<double> v;
  std::size_t i = 0;
  while (i <= s.size()) {
    const std::size_t j = std::min(s.find(',', i), s.size());
    const std::string tok = s.substr(i, j - i);
    char* end = nullptr;
    const double x = std::strtod(tok.c_str(), &end);
    if (tok.empty() || end == tok.c_str() || *end != '\0' || !(x > 0 && x <= 1))
      throw Error("parameter 'hardnn.verify_overheads' = \"" + s +
                  "\": expected comma-separated overheads in (0, 1], e.g. \"0.1,0.3,0.5\"");
    v.push_back(x);
    i = j + 1;
  }
  return v;
}

/// "all" or a list of non-negative integers.
std::vector<int> parse_ordinals(const std::string& s) {
  std::vector<int> v;
  if (s == "all") return v;
  std::size_t i = 0;
  while (i <= s.size()) {
    const std::size_t j = std::min(s.find(',', i), s.size());
    const std::string tok = s.substr(i, j - i);
    char* end = nullptr;
    const long x = std::strtol(tok.c_str(), &end, 10);
    if (tok.empty() || *end != '\0' || x < 0 || x > 100000)
      throw Error("parameter 'hardnn.layers' = \"" + s + "\": expected \"all\" or Dense/Conv2d ordinals, e.g. \"0,2\"");
    if (std::find(v.begin(), v.end(), int(x)) != v.end())
      throw Error("parameter 'hardnn.layers' = \"" + s + "\": ordinal " + tok + " listed twice");
    v.push_back(int(x));
    i = j + 1;
  }
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

void HardnnParams::check() const {
  parse_overheads(verify_overheads);
  parse_ordinals(layers);
}

HardnnConfig parse_hardnn_config(const ConfigFile& f) {
  HardnnConfig c;
  c.file = f;
  const std::string& file = f.path;
  const auto& root = f.root;
  check_keys(root,
             {"model", "data", "hardnn", "mapping", "rram", "dac", "adc", "sense_amp", "sram_qs", "sram_is", "sram_qr",
              "mosfet", "layer"},
             file, "");
  auto sub = [&](const char* name) { return subtable(root, name, file, ""); };
  const auto* tm = sub("model");
  if (!tm) fail_at(file, "model.path", "missing: the [model] table must name the model file (path = \"...\")");
  c.model = read_params<McModelParams>(*tm, file, "model");
  if (c.model.path.empty()) fail_at(file, "model.path", "missing: the model file to inject into");
  if (const auto* t = sub("data")) c.data = read_params<McDataParams>(*t, file, "data");
  if (const auto* t = sub("hardnn")) c.hardnn = read_params<HardnnParams>(*t, file, "hardnn");
  c.overheads = parse_overheads(c.hardnn.verify_overheads);
  read_analog_sections(root, file, c.analog);
  if (c.hardnn.error_model == "analog") {
    try {
      c.analog.validate();
    } catch (const Error& e) {
      throw Error(file + ": " + e.what());
    }
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Coverage

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
    c.coverage.push_back(cv);
    c.overhead.push_back(total > 0 ? oh / total : 0.0);
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

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kRecord = 4;  // injections, mismatches, sum delta-loss, sum delta-loss^2

/// One injected layer.
struct LayerInfo {
  std::size_t index = 0;  // in the network
  int ordinal = 0;        // among Dense/Conv2d layers
  std::string kind;
  int channels = 0, positions = 0;
  double macs_per_fmap = 0;
  fault::LayerErrorSpec spec;
  double snr_db = kNaN;  // analog model: measured output SNR
  Matrix clean;          // clean outputs on the subset (subset x positions * channels)
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

struct Run {
  const HardnnConfig* cfg = nullptr;
  std::string out, model_name;
  RunInfo info;  ///< status, times, threads, ranks, resumes, config, seed
  double model_accuracy = kNaN;
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
};

/// Top-1 and capped cross-entropy of one logits row; non-finite logits: prediction -1, loss = cap.
std::pair<int, double> judge(const float* z, Eigen::Index n, int label, double cap) {
  for (Eigen::Index i = 0; i < n; ++i)
    if (!std::isfinite(z[i])) return {-1, cap};
  Eigen::Index best = 0;
  for (Eigen::Index i = 1; i < n; ++i)
    if (z[i] > z[best]) best = i;
  double m = z[best], s = 0;
  for (Eigen::Index i = 0; i < n; ++i) s += std::exp(double(z[i]) - m);
  const double ce = m + std::log(s) - double(z[label]);
  return {int(best), std::min(ce, cap)};
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

/// Verification levels: 0 = no protection, then one per configured overhead.
struct Level {
  double budget = 0;
  std::size_t k = 0;
  double coverage = 0, overhead = 0, predicted = kNaN;
  std::vector<char> protect;  // per fmap
};

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

// ---------------------------------------------------------------------------------------------
// Injections

Stream inject_stream(int seed, std::size_t layer, int fmap, std::uint64_t i) {
  return Stream(std::uint64_t(seed), "hardnn.inject", {std::uint64_t(layer), std::uint64_t(fmap), i});
}
Stream verify_stream(int seed, std::uint64_t i) { return Stream(std::uint64_t(seed), "hardnn.verify", {i}); }

struct Site {
  std::size_t fmap = 0;  // global fmap id
  int sample = 0;
  fault::Injection inj;  // row = position in the layer's batch
};

/// Draws where injection lands inside fmap `f` and its faulty value (continuing stream s).
Site draw_site(const Run& r, std::size_t f, Stream& s) {
  const FmapId& id = r.fmaps[f];
  const LayerInfo& L = r.layers[id.layer];
  Site site;
  site.fmap = f;
  site.sample = int(s.below(std::uint64_t(L.clean.rows())));
  const int pos = int(s.below(std::uint64_t(L.positions)));
  site.inj.element = Eigen::Index(pos) * L.channels + id.fmap;
  const float clean = L.clean(site.sample, site.inj.element);
  site.inj.value = fault::faulty_value(r.model, clean, L.spec, s);
  return site;
}

/// Runs the sites of one layer (rows of one batch) from the layer's clean outputs and adds their
/// outcomes to rec.
void run_sites(const Run& r, nets::Network& net, std::size_t layer, std::vector<Site>& sites, std::span<double> rec) {
  if (sites.empty()) return;
  const LayerInfo& L = r.layers[layer];
  Matrix x(Eigen::Index(sites.size()), L.clean.cols());
  for (std::size_t i = 0; i < sites.size(); ++i) {
    x.row(Eigen::Index(i)) = L.clean.row(sites[i].sample);
    sites[i].inj.row = Eigen::Index(i);
  }
  std::vector<fault::Injection> inj;
  for (const auto& s : sites) inj.push_back(s.inj);
  Matrix z;
  if (net.is_cut(L.index + 1)) {
    // The layer's output carries everything later nodes read: propagate from the faulty copy only.
    fault::apply_injections(x, inj);
    z = net.forward_range(x, L.index + 1, net.size());
  } else {
    // A graph in which later nodes also read earlier ones (residual connections): run the samples from
    // the input with the faulty values put into the layer's output by a hook. Only the same clean
    // inputs are recomputed (products may differ from the cached ones in the last float bit, as the batch
    // is another).
    Matrix x0(x.rows(), r.inputs->cols());
    for (std::size_t i = 0; i < sites.size(); ++i) x0.row(Eigen::Index(i)) = r.inputs->row(sites[i].sample);
    const int hook = net.add_hook(L.index, [&](std::size_t, Matrix& y) { fault::apply_injections(y, inj); });
    z = net.forward(x0);
    net.remove_hook(hook);
  }
  const double cap = r.cfg->hardnn.loss_cap;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const int smp = sites[i].sample;
    const auto [pred, loss] = judge(z.row(Eigen::Index(i)).data(), z.cols(), r.labels[smp], cap);
    const double d = loss - r.loss[std::size_t(smp)];
    rec[0] += 1;
    rec[1] += pred != r.pred[std::size_t(smp)] ? 1 : 0;
    rec[2] += d;
    rec[3] += d * d;
  }
}

void campaign_job(const Run& r, nets::Network& net, const Job& job, std::span<double> rec) {
  std::fill(rec.begin(), rec.end(), 0.0);
  const FmapId& id = r.fmaps[job.unit];
  const std::uint64_t b = std::uint64_t(r.cfg->hardnn.batch);
  const std::uint64_t i0 = job.index * b, i1 = std::min(r.injections, i0 + b);
  std::vector<Site> sites;
  for (std::uint64_t i = i0; i < i1; ++i) {
    Stream s = inject_stream(r.cfg->hardnn.seed, r.layers[id.layer].index, id.fmap, i);
    sites.push_back(draw_site(r, job.unit, s));
  }
  run_sites(r, net, id.layer, sites, rec);
}

/// Cumulative MAC shares of the fmaps, for drawing the fmap an error lands in.
std::vector<double> cumulative_shares(const Run& r) {
  std::vector<double> c(r.macs.size());
  std::partial_sum(r.macs.begin(), r.macs.end(), c.begin());
  for (auto& v : c) v /= c.back();
  return c;
}

void verify_job(const Run& r, const std::vector<double>& cum, const std::vector<Level>& lv, nets::Network& net,
                const Job& job, std::span<double> rec) {
  std::fill(rec.begin(), rec.end(), 0.0);
  const Level& level = lv[job.unit - r.fmaps.size()];
  const std::uint64_t b = std::uint64_t(r.cfg->hardnn.batch), n = std::uint64_t(r.cfg->hardnn.verify_injections);
  const std::uint64_t i0 = job.index * b, i1 = std::min(n, i0 + b);
  std::vector<std::vector<Site>> by_layer(r.layers.size());
  for (std::uint64_t i = i0; i < i1; ++i) {
    Stream s = verify_stream(r.cfg->hardnn.seed, i);
    const double u = s.uniform();
    const std::size_t f = std::min<std::size_t>(std::size_t(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin()),
                                                cum.size() - 1);
    Site site = draw_site(r, f, s);
    if (level.protect[f]) {
      rec[0] += 1;  // the duplicate detects and corrects the error: the clean inference
      continue;
    }
    by_layer[r.fmaps[f].layer].push_back(site);
  }
  for (std::size_t l = 0; l < by_layer.size(); ++l) run_sites(r, net, l, by_layer[l], rec);
}

// ---------------------------------------------------------------------------------------------
// Heuristics

/// Mean |y| per fmap over the subset and the fmap's positions.
Heuristic activation_heuristic(Run& r, nets::Network& net, const Matrix& x) {
  Heuristic h{"activation", "mean |y| of the fmap over the subset and its positions (clean forward)", {}, 0};
  const auto t0 = Clock::now();
  std::vector<std::vector<double>> sum(r.layers.size());
  std::vector<int> ids;
  for (std::size_t l = 0; l < r.layers.size(); ++l) {
    sum[l].assign(std::size_t(r.layers[l].channels), 0.0);
    ids.push_back(net.add_hook(r.layers[l].index, [&, l](std::size_t, Matrix& y) {
      const int C = r.layers[l].channels;
      for (Eigen::Index i = 0; i < y.rows(); ++i)
        for (Eigen::Index e = 0; e < y.cols(); ++e) sum[l][std::size_t(e % C)] += std::fabs(double(y(i, e)));
    }));
  }
  for (Eigen::Index b = 0; b < x.rows(); b += 200) net.forward(x.middleRows(b, std::min<Eigen::Index>(200, x.rows() - b)));
  for (int id : ids) net.remove_hook(id);
  for (const auto& f : r.fmaps) {
    const auto& L = r.layers[f.layer];
    h.score.push_back(sum[f.layer][std::size_t(f.fmap)] / (double(x.rows()) * L.positions));
  }
  h.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return h;
}

/// Mean |d g / d y| E|delta| per fmap, g = per-sample loss ("gradient") or logit margin z_top1 - z_top2
/// ("gain"), by back-propagation of the clean forward.
Heuristic gradient_heuristic(Run& r, nets::Network& net, const Matrix& x, bool margin) {
  Heuristic h;
  h.name = margin ? "gain" : "gradient";
  h.description = margin ? "mean |d(z_top1 - z_top2)/dy| x E|delta| (first-order change of the logit margin)"
                         : "mean |dL/dy| x E|delta| (first-order change of the cross-entropy)";
  const auto t0 = Clock::now();
  std::vector<std::vector<double>> sum(r.layers.size());
  for (std::size_t l = 0; l < r.layers.size(); ++l) sum[l].assign(std::size_t(r.layers[l].channels), 0.0);
  for (Eigen::Index b = 0; b < x.rows(); b += 200) {
    const Eigen::Index m = std::min<Eigen::Index>(200, x.rows() - b);
    const Matrix z = net.forward_range(x.middleRows(b, m), 0, net.size(), nets::Mode::train);
    Matrix d = Matrix::Zero(z.rows(), z.cols());
    for (Eigen::Index i = 0; i < m; ++i) {
      if (margin) {
        Eigen::Index t1 = 0, t2 = -1;
        for (Eigen::Index j = 1; j < z.cols(); ++j)
          if (z(i, j) > z(i, t1)) t1 = j;
        for (Eigen::Index j = 0; j < z.cols(); ++j)
          if (j != t1 && (t2 < 0 || z(i, j) > z(i, t2))) t2 = j;
        d(i, t1) = 1;
        if (t2 >= 0) d(i, t2) = -1;
      } else {  // per-sample softmax - onehot
        const float mx = z.row(i).maxCoeff();
        double s = 0;
        for (Eigen::Index j = 0; j < z.cols(); ++j) s += std::exp(double(z(i, j) - mx));
        for (Eigen::Index j = 0; j < z.cols(); ++j) d(i, j) = float(std::exp(double(z(i, j) - mx)) / s);
        d(i, r.labels[b + i]) -= 1;
      }
    }
    net.backward(d);  // dL/dy of every node, summed over the readers of each output (graphs)
    for (std::size_t l = 0; l < r.layers.size(); ++l) {
      const Matrix& g = net.output_grad(r.layers[l].index);
      const int C = r.layers[l].channels;
      for (Eigen::Index a = 0; a < g.rows(); ++a)
        for (Eigen::Index e = 0; e < g.cols(); ++e) sum[l][std::size_t(e % C)] += std::fabs(double(g(a, e)));
    }
  }
  for (const auto& f : r.fmaps) {
    const auto& L = r.layers[f.layer];
    h.score.push_back(sum[f.layer][std::size_t(f.fmap)] / (double(x.rows()) * L.positions) *
                      fault::error_scale(r.model, L.spec));
  }
  net.zero_grad();
  h.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return h;
}

// ---------------------------------------------------------------------------------------------
// Results file

void write_records(H5::Group& g, const Records& rc, const std::string& what) {
  h5::write(g, "records", rc.rec, "",
            "per job (unit-major, batch index fastest): injections, mismatches, sum of delta loss (nat), sum of "
            "delta loss^2 (nat^2) of " + what + " (NaN: not run)");
  h5::write(g, "done", rc.done, "", "1 if the job completed");
  h5::set_attr(g, "jobs_per_unit", std::int64_t(rc.per_unit));
}

void read_records(const H5::Group& g, Records& rc, const std::string& file) {
  const MatrixD rec = h5::read_matrixd(g, "records", file);
  const auto done = h5::read_ints(g, "done", file);
  if (rec.rows() != rc.rec.rows() || rec.cols() != rc.rec.cols() || done.size() != rc.done.size())
    throw Error(file + ": --resume: job tables have unexpected sizes");
  for (std::size_t j = 0; j < done.size(); ++j) {
    if (!done[j]) continue;
    rc.done[j] = 1;
    rc.rec.row(Eigen::Index(j)) = rec.row(Eigen::Index(j));
  }
}

void write_results(const Run& r) {
  const HardnnConfig& c = *r.cfg;
  const auto& h = c.hardnn;
  const Summary s = summarize(r);
  const bool complete = r.campaign.complete();
  replace_h5(r.out, [&](H5::H5File& f) {
    H5::Group root = f.openGroup("/");
    write_run_info(root, r.info);
    h5::set_attr(root, "model_path", c.model.path);
    h5::set_attr(root, "model_name", r.model_name);
    h5::set_attr(root, "model_test_accuracy", r.model_accuracy);
    h5::set_attr(root, "dataset", c.data.dataset);
    h5::set_attr(root, "subset", std::int64_t(c.data.subset));
    h5::set_attr(root, "clean_accuracy", r.clean_accuracy);
    h5::set_attr(root, "error_model", h.error_model);
    h5::set_attr(root, "fmaps", std::int64_t(r.fmaps.size()));
    h5::set_attr(root, "injections_per_fmap", std::int64_t(r.injections));
    h5::set_attr(root, "inject_stream",
                 "Stream(seed, \"hardnn.inject\", {layer, fmap, injection}) (core/random.hpp); layer = network index");
    h5::set_attr(root, "verify_stream", "Stream(seed, \"hardnn.verify\", {injection}) (core/random.hpp)");
    if (r.model == fault::ErrorModel::analog) {
      h5::set_attr(root, "analog_program_stream", "Stream(seed, \"hardnn.analog.program\")");
      h5::set_attr(root, "analog_read_stream", "Stream(seed, \"hardnn.analog.read\")");
    }

    H5::Group res = h5::group(root, "resolved");
    write_resolved(res, "model", c.model);
    write_resolved(res, "data", c.data);
    write_resolved(res, "hardnn", h);
    write_resolved_analog(res, c.analog);

    {
      H5::Group g = h5::group(root, "layers");
      std::vector<std::int64_t> idx, ord, ch, pos;
      std::vector<double> macs, lo, hi, fs, sigma, snr, escale;
      std::vector<std::string> kind;
      for (const auto& L : r.layers) {
        idx.push_back(std::int64_t(L.index));
        ord.push_back(L.ordinal);
        kind.push_back(L.kind);
        ch.push_back(L.channels);
        pos.push_back(L.positions);
        macs.push_back(L.macs_per_fmap);
        lo.push_back(L.spec.lo);
        hi.push_back(L.spec.hi);
        fs.push_back(L.spec.fixed.full_scale);
        sigma.push_back(L.spec.sigma);
        snr.push_back(L.snr_db);
        escale.push_back(fault::error_scale(r.model, L.spec));
      }
      h5::write(g, "index", idx, "", "network layer index of each injected layer");
      h5::write(g, "ordinal", ord, "", "ordinal among the network's Dense/Conv2d layers");
      h5::write_strings(g, "kind", kind, "layer kind (dense, conv2d)");
      h5::write(g, "fmaps", ch, "1", "fmaps (output channels / neurons) of the layer");
      h5::write(g, "positions", pos, "1", "output positions per fmap (H_out W_out for conv2d, 1 for dense)");
      h5::write(g, "macs_per_fmap", macs, "1", "multiply-accumulates per sample of one fmap");
      h5::write(g, "range_lo", lo, "1", "smallest clean output on the subset (random_value range)");
      h5::write(g, "range_hi", hi, "1", "largest clean output on the subset");
      h5::write(g, "full_scale", fs, "1", "max |clean output| on the subset (fixed-point full scale)");
      h5::write(g, "sigma", sigma, "1", "analog error model: output-referred noise sd per element (0 otherwise)");
      h5::write(g, "snr_db", snr, "dB", "analog error model: measured output SNR of the layer (NaN otherwise)");
      h5::write(g, "error_scale", escale, "1", "E|delta| of the error model in this layer (first-order heuristics)");
    }

    {
      H5::Group g = h5::group(root, "fmaps");
      const std::size_t F = r.fmaps.size();
      std::vector<std::int64_t> layer(F), fmap(F), n(F), k(F);
      std::vector<double> p(F), plo(F), phi(F), dl(F), dlo(F), dhi(F);
      for (std::size_t i = 0; i < F; ++i) {
        layer[i] = std::int64_t(r.layers[r.fmaps[i].layer].index);
        fmap[i] = r.fmaps[i].fmap;
        n[i] = std::int64_t(s.fmap[i].n);
        k[i] = std::int64_t(s.fmap[i].k);
        p[i] = s.fmap[i].p;
        plo[i] = s.fmap[i].p_lo;
        phi[i] = s.fmap[i].p_hi;
        dl[i] = s.fmap[i].dloss;
        dlo[i] = s.fmap[i].dloss_lo;
        dhi[i] = s.fmap[i].dloss_hi;
      }
      h5::set_attr(g, "confidence", h.confidence);
      h5::write(g, "layer", layer, "", "network layer index of the fmap");
      h5::write(g, "fmap", fmap, "", "channel (conv2d) or neuron (dense) index within its layer");
      h5::write(g, "macs", r.macs, "1", "multiply-accumulates per sample computing the fmap");
      h5::write(g, "share", s.share, "1", "P(error lands in f) = macs / sum of macs over all fmaps");
      h5::write(g, "injections", n, "1", "completed injections");
      h5::write(g, "mismatches", k, "1", "injections whose top-1 differed from the fault-free run");
      h5::write(g, "mismatch_p", p, "1", "P(mismatch | error in f) = mismatches / injections");
      h5::write(g, "mismatch_ci_lo", plo, "1", "Clopper-Pearson interval of mismatch_p, lower end");
      h5::write(g, "mismatch_ci_hi", phi, "1", "Clopper-Pearson interval of mismatch_p, upper end");
      h5::write(g, "dloss_mean", dl, "nat", "mean delta cross-entropy (faulty - clean, capped at hardnn.loss_cap)");
      h5::write(g, "dloss_ci_lo", dlo, "nat", "Student-t interval of dloss_mean, lower end");
      h5::write(g, "dloss_ci_hi", dhi, "nat", "Student-t interval of dloss_mean, upper end");
      h5::write(g, "vulnerability", s.v, "1", "V_f = share x mismatch_p");
      h5::write(g, "vulnerability_ci_lo", s.v_lo, "1", "share x mismatch_ci_lo");
      h5::write(g, "vulnerability_ci_hi", s.v_hi, "1", "share x mismatch_ci_hi");
      h5::write(g, "relative_vulnerability", s.rv, "1", "V_f / sum of V (sums to 1)");
      h5::write(g, "rank", s.rank, "", "1-based rank by vulnerability (1 = most vulnerable)");
    }

    if (complete) {
      H5::Group g = h5::group(root, "heuristics");
      std::vector<std::string> names;
      std::vector<double> sp, spc, ov;
      for (const auto& hs : r.heuristics) {
        Heuristic cmp = hs;
        compare(cmp, s, h.top_k);
        names.push_back(hs.name);
        sp.push_back(cmp.spearman);
        spc.push_back(cmp.spearman_conditional);
        ov.push_back(cmp.topk_overlap);
        h5::write(g, hs.name, hs.score, "", hs.description + "; per fmap");
      }
      h5::set_attr(g, "top_k", std::int64_t(h.top_k));
      h5::write_strings(g, "names", names, "heuristics, in the order of the tables below");
      h5::write(g, "spearman", sp, "1", "Spearman rank correlation of share x score with the vulnerability V_f");
      h5::write(g, "spearman_conditional", spc, "1", "Spearman rank correlation of score with mismatch_p");
      h5::write(g, "topk_overlap", ov, "1", "|top-k by share x score  and  top-k by V_f| / k");

      H5::Group pr = h5::group(root, "protection");
      h5::set_attr(pr, "rank_by", h.rank_by);
      std::vector<std::int64_t> order, kk;
      for (auto o : s.order) order.push_back(std::int64_t(o));
      for (std::size_t k = 0; k <= s.order.size(); ++k) kk.push_back(std::int64_t(k));
      h5::write(pr, "order", order, "", "fmap ids (rows of /fmaps) in protection order");
      h5::write(pr, "k", kk, "1", "number of protected fmaps");
      h5::write(pr, "coverage", s.curve.coverage, "1", "sum of the relative vulnerability of the first k fmaps");
      h5::write(pr, "overhead", s.curve.overhead, "1", "MACs of the first k fmaps / all MACs (duplication cost)");
      h5::write(pr, "resilience", s.curve.resilience, "1", "1 / (1 - coverage): factor by which mismatches fall");
      h5::set_attr(pr, "mismatch_rate_unprotected", s.r0);

      if (h.verify_injections > 0) {
        const auto lv = levels(r, s);
        H5::Group vg = h5::group(root, "verification");
        std::vector<double> budget, cov, oh, pred, meas, lo, hi;
        std::vector<std::int64_t> k, n, m, within;
        for (std::size_t i = 0; i < lv.size(); ++i) {
          budget.push_back(lv[i].budget);
          k.push_back(std::int64_t(lv[i].k));
          cov.push_back(lv[i].coverage);
          oh.push_back(lv[i].overhead);
          pred.push_back(lv[i].predicted);
          const auto sum = r.verify.sum(i);
          n.push_back(std::int64_t(sum[0]));
          m.push_back(std::int64_t(sum[1]));
          if (sum[0] >= 1) {
            const auto ci = stats::binomial_ci(std::uint64_t(sum[1]), std::uint64_t(sum[0]), h.confidence);
            meas.push_back(sum[1] / sum[0]);
            lo.push_back(ci.lo);
            hi.push_back(ci.hi);
            within.push_back(lv[i].predicted >= ci.lo && lv[i].predicted <= ci.hi);
          } else {
            meas.push_back(kNaN);
            lo.push_back(kNaN);
            hi.push_back(kNaN);
            within.push_back(0);
          }
        }
        h5::set_attr(vg, "confidence", h.confidence);
        h5::write(vg, "overhead_budget", budget, "1", "overhead budget of the level (0: no protection)");
        h5::write(vg, "k", k, "1", "protected fmaps: the largest k with overhead <= budget");
        h5::write(vg, "coverage", cov, "1", "predicted coverage of the level");
        h5::write(vg, "overhead", oh, "1", "actual overhead of the level");
        h5::write(vg, "predicted_rate", pred, "1", "mismatch_rate_unprotected x (1 - coverage)");
        h5::write(vg, "injections", n, "1", "completed verification injections");
        h5::write(vg, "mismatches", m, "1", "of which changed the top-1");
        h5::write(vg, "measured_rate", meas, "1", "mismatches / injections");
        h5::write(vg, "measured_ci_lo", lo, "1", "Clopper-Pearson interval of measured_rate, lower end");
        h5::write(vg, "measured_ci_hi", hi, "1", "Clopper-Pearson interval of measured_rate, upper end");
        h5::write(vg, "within_ci", within, "", "1 if predicted_rate lies in the measured interval");
      }
    }

    {
      H5::Group j = h5::group(root, "jobs");
      H5::Group jc = h5::group(j, "campaign"), jv = h5::group(j, "verify");
      write_records(jc, r.campaign, "injection batch `index` of fmap `unit`");
      write_records(jv, r.verify, "verification batch `index` of protection level `unit`");
    }
    {
      H5::Group t = h5::group(root, "timing");
      std::vector<std::string> names;
      std::vector<double> secs;
      for (const auto& hs : r.heuristics) {
        names.push_back(hs.name);
        secs.push_back(hs.seconds);
      }
      h5::write_strings(t, "heuristics", names, "heuristic names");
      h5::write(t, "heuristic_seconds", secs, "s", "wall time of each heuristic over the subset (latest run)");
      h5::write(t, "campaign_seconds", std::vector<double>{r.campaign_seconds}, "s",
                "wall time of the injection campaign jobs run by the latest process (excludes earlier runs)");
      h5::write(t, "verify_seconds", std::vector<double>{r.verify_seconds}, "s",
                "wall time of the verification jobs run by the latest process");
    }
  });
}

void read_results(Run& r) {
  H5::H5File f = h5::open_read(r.out);
  H5::Group root = f.openGroup("/");
  resume_run(root, r.out, "aimc hardnn", r.info);
  H5::Group j = h5::open_group(root, "jobs", r.out);
  read_records(h5::open_group(j, "campaign", r.out), r.campaign, r.out);
  read_records(h5::open_group(j, "verify", r.out), r.verify, r.out);
}

void print_summary(const Run& r, double seconds) {
  const auto& h = r.cfg->hardnn;
  const Summary s = summarize(r);
  std::printf("\n%s, %s, %zu fmaps x %llu injections on %d test images (clean accuracy %.4f), seed %d\n",
              r.cfg->model.path.c_str(), h.error_model.c_str(), r.fmaps.size(), (unsigned long long)r.injections,
              r.cfg->data.subset, r.clean_accuracy, h.seed);
  std::printf("layer  kind     fmaps  MAC share  mean P(mismatch|f)  sum rel. vulnerability\n");
  for (std::size_t l = 0; l < r.layers.size(); ++l) {
    double share = 0, p = 0, rv = 0;
    int n = 0;
    for (std::size_t f = 0; f < r.fmaps.size(); ++f) {
      if (r.fmaps[f].layer != l) continue;
      share += s.share[f];
      p += s.fmap[f].p;
      rv += s.rv[f];
      ++n;
    }
    std::printf("%5zu  %-7s  %5d  %9.4f  %18.4f  %22.4f\n", r.layers[l].index, r.layers[l].kind.c_str(), n, share,
                n ? p / n : kNaN, rv);
  }
  std::printf("mismatch rate of an error landing by MAC share: %.4f\n", s.r0);
  std::printf("most vulnerable fmaps (layer:fmap relative vulnerability):");
  std::vector<std::size_t> by_rank(s.rank.size());
  for (std::size_t f = 0; f < s.rank.size(); ++f) by_rank[std::size_t(s.rank[f] - 1)] = f;
  for (std::size_t i = 0; i < std::min<std::size_t>(5, by_rank.size()); ++i) {
    const std::size_t f = by_rank[i];
    std::printf(" %zu:%d %.4f", r.layers[r.fmaps[f].layer].index, r.fmaps[f].fmap, s.rv[f]);
  }
  std::printf("\nheuristic     Spearman(V)  Spearman(P|f)  top-%d overlap  seconds\n", h.top_k);
  for (const auto& hs : r.heuristics) {
    Heuristic cmp = hs;
    compare(cmp, s, h.top_k);
    std::printf("%-12s  %11.3f  %13.3f  %13.2f  %7.3f\n", hs.name.c_str(), cmp.spearman, cmp.spearman_conditional,
                cmp.topk_overlap, hs.seconds);
  }
  std::printf("protection (%s order): overhead budget -> k, overhead, coverage, resilience\n", h.rank_by.c_str());
  for (double b : {0.1, 0.3, 0.5}) {
    const std::size_t k = k_for_overhead(s.curve, b);
    std::printf("  %.2f -> %zu, %.4f, %.4f, %.3f\n", b, k, s.curve.overhead[k], s.curve.coverage[k], s.curve.resilience[k]);
  }
  if (h.verify_injections > 0) {
    const auto lv = levels(r, s);
    std::printf("verification (%d injections per level): budget  k  predicted  measured [%2.0f%% CI]\n",
                h.verify_injections, h.confidence * 100);
    for (std::size_t i = 0; i < lv.size(); ++i) {
      const auto sum = r.verify.sum(i);
      const auto ci = stats::binomial_ci(std::uint64_t(sum[1]), std::uint64_t(std::max(1.0, sum[0])), h.confidence);
      std::printf("  %.2f  %zu  %.4f  %.4f [%.4f, %.4f]%s\n", lv[i].budget, lv[i].k, lv[i].predicted,
                  sum[0] > 0 ? sum[1] / sum[0] : kNaN, ci.lo, ci.hi,
                  lv[i].predicted >= ci.lo && lv[i].predicted <= ci.hi ? "" : "  (outside)");
    }
  }
  std::printf("campaign %.1f s, verification %.1f s; results: %s (%.1f s)\n", r.campaign_seconds, r.verify_seconds,
              r.out.c_str(), seconds);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The campaign

int run_hardnn(const HardnnOptions& o) {
  const auto t_start = Clock::now();
  const Mpi& mpi = Mpi::world();
  const bool lead = mpi.rank() == 0;
  const ConfigFile cf = load_config(o.config);
  const HardnnConfig c = parse_hardnn_config(cf);
  const auto& h = c.hardnn;

  if (o.out.empty()) throw Error("hardnn: --out must name the results file");
  // One run per results file: a second run on the same --out fails here, before it reads or writes anything.
  std::optional<FileLock> lock;
  if (Mpi::world().rank() == 0) lock.emplace(o.out, "results file");
  const bool exists = fs::exists(o.out);
  if (exists && !o.resume && !o.force)
    throw Error(o.out + ": results file exists; pass --resume to continue it or --force to overwrite it");

  CampaignInputs inputs = load_campaign_inputs(c.file.path, c.model, c.data);  // writes nothing
  auto& model = inputs.model;
  auto& test = inputs.test;
  nets::Network& net = model.net;

  Run r;
  r.cfg = &c;
  r.out = o.out;
  r.model_name = model.meta.name;
  r.model_accuracy = model.meta.test_accuracy;
  r.info = begin_run("aimc-hardnn", c.file, h.seed, mpi.size());
  r.model = fault::parse_error_model(h.error_model);
  r.labels = test.y;
  r.inputs = &test.x;

  // Injected layers.
  std::vector<std::size_t> matmul;
  for (std::size_t i = 0; i < net.size(); ++i)
    if (dynamic_cast<const nets::MatmulLayer*>(&net.layer(i))) matmul.push_back(i);
  std::vector<int> chosen = parse_ordinals(h.layers);
  if (chosen.empty())
    for (std::size_t i = 0; i < matmul.size(); ++i) chosen.push_back(int(i));
  for (int o2 : chosen)
    if (o2 >= int(matmul.size()))
      fail_at(c.file.path, "hardnn.layers",
              "ordinal " + to_str(o2) + " but model " + c.model.path + " has " + to_str(matmul.size()) + " Dense/Conv2d layers");
  for (int ord : chosen) {
    LayerInfo L;
    L.index = matmul[std::size_t(ord)];
    L.ordinal = ord;
    const auto& ml = dynamic_cast<const nets::MatmulLayer&>(net.layer(L.index));
    L.kind = net.layer(L.index).spec().kind;
    L.channels = int(ml.weight().cols());
    L.positions = ml.positions();
    L.macs_per_fmap = double(ml.macs()) / double(L.channels);
    r.layers.push_back(std::move(L));
  }

  // Clean pass: activations of the injected layers, predictions and losses.
  {
    std::vector<int> ids;
    Eigen::Index row = 0, m = 0;
    for (auto& L : r.layers) {
      L.clean.resize(test.x.rows(), Eigen::Index(L.positions) * L.channels);
      ids.push_back(net.add_hook(L.index, [&L, &row, &m](std::size_t, Matrix& y) { L.clean.middleRows(row, m) = y; }));
    }
    r.pred.resize(std::size_t(test.x.rows()));
    r.loss.resize(std::size_t(test.x.rows()));
    long long correct = 0;
    for (row = 0; row < test.x.rows(); row += m) {
      m = std::min<Eigen::Index>(200, test.x.rows() - row);
      const Matrix z = net.forward(test.x.middleRows(row, m));
      for (Eigen::Index i = 0; i < m; ++i) {
        const auto [p, l] = judge(z.row(i).data(), z.cols(), test.y[row + i], h.loss_cap);
        r.pred[std::size_t(row + i)] = p;
        r.loss[std::size_t(row + i)] = l;
        correct += p == test.y[row + i];
      }
    }
    for (int id : ids) net.remove_hook(id);
    r.clean_accuracy = double(correct) / double(test.x.rows());
  }
  for (auto& L : r.layers) {
    L.spec.lo = L.clean.minCoeff();
    L.spec.hi = L.clean.maxCoeff();
    L.spec.fixed.bits = h.bits;
    L.spec.fixed.full_scale = std::max(std::fabs(double(L.spec.lo)), std::fabs(double(L.spec.hi)));
    if (!(L.spec.fixed.full_scale > 0)) L.spec.fixed.full_scale = 1.0;  // a dead layer: any scale
  }

  // Analog error model: output-referred noise of each layer, measured on one programmed instance.
  if (r.model == fault::ErrorModel::analog) {
    auto cal = load_calibration(c.file.path, c.data);
    nets::AnalogNetwork an(net, c.analog, cal.x);
    auto inst = an.program(Stream(std::uint64_t(h.seed), "hardnn.analog.program"));
    const auto st = inst->evaluate(an.prefix(test.x), test.y, Stream(std::uint64_t(h.seed), "hardnn.analog.read"), 100,
                                   h.snr_samples);
    const auto& al = an.analog_layers();
    for (auto& L : r.layers) {
      const auto it = std::find(al.begin(), al.end(), L.index);
      if (it == al.end()) continue;  // a digital layer: no analog error
      const std::size_t a = std::size_t(it - al.begin());
      const double count = double(st.snr_samples) * double(L.clean.cols());
      L.spec.sigma = std::sqrt(st.noise[a] / count);
      L.snr_db = st.noise[a] > 0 ? stats::db(st.signal[a] / st.noise[a]) : std::numeric_limits<double>::infinity();
    }
  }

  for (std::size_t l = 0; l < r.layers.size(); ++l)
    for (int f = 0; f < r.layers[l].channels; ++f) {
      r.fmaps.push_back({l, f});
      r.macs.push_back(r.layers[l].macs_per_fmap);
    }
  const std::size_t F = r.fmaps.size();
  r.injections = std::min<std::uint64_t>(std::uint64_t(h.max_injections), stats::sample_size(h.margin, h.confidence, 0.5));
  const std::size_t per_fmap = std::size_t((r.injections + std::uint64_t(h.batch) - 1) / std::uint64_t(h.batch));
  const std::size_t per_level = std::size_t((std::uint64_t(h.verify_injections) + std::uint64_t(h.batch) - 1) /
                                            std::uint64_t(h.batch));
  const std::size_t V = 1 + c.overheads.size();
  r.campaign.init(F, per_fmap);
  r.verify.init(V, per_level);

  // Heuristics (deterministic, recomputed on resume; only their timings differ between runs).
  {
    nets::Network hn = net.clone();
    r.heuristics.push_back(activation_heuristic(r, hn, test.x));
    r.heuristics.push_back(gradient_heuristic(r, hn, test.x, false));
    r.heuristics.push_back(gradient_heuristic(r, hn, test.x, true));
  }

  Scheduler sched(
      o.out, kRecord,
      [&](const Job& job, std::span<const double> d) {
        Records* rc = job.unit < F ? &r.campaign : &r.verify;
        const std::size_t unit = job.unit < F ? job.unit : job.unit - F;
        if (unit >= rc->units || job.index >= rc->per_unit) return;
        const std::size_t row = rc->row(unit, job.index);
        for (std::size_t k = 0; k < kRecord; ++k) rc->rec(Eigen::Index(row), Eigen::Index(k)) = d[k];
        rc->done[row] = 1;
      },
      [&] { write_results(r); });
  if (exists && o.resume) {
    read_results(r);
    sched.replay();
  }
  sched.checkpoint();

  std::vector<nets::Network> nets_;
  for (int t = 0; t < omp_get_max_threads(); ++t) nets_.push_back(net.clone());

  // Phase 1: the injection campaign.
  {
    std::vector<Job> jobs;
    for (std::size_t f = 0; f < F; ++f)
      for (std::size_t b = 0; b < per_fmap; ++b)
        if (!r.campaign.done[r.campaign.row(f, b)]) jobs.push_back({f, b});
    Progress progress("hardnn campaign", (long long)jobs.size(), "batches", o.progress && lead);
    const auto t0 = Clock::now();
    sched.run(
        jobs, [&](const Job& job, std::span<double> rec) { campaign_job(r, nets_[std::size_t(omp_get_thread_num())], job, rec); },
        &progress);
    progress.finish();
    r.campaign_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  }

  // Phase 2: verification with protection (levels fixed by the complete campaign).
  if (h.verify_injections > 0) {
    const Summary s = summarize(r);
    const auto lv = levels(r, s);
    const auto cum = cumulative_shares(r);
    std::vector<Job> jobs;
    for (std::size_t v = 0; v < V; ++v)
      for (std::size_t b = 0; b < per_level; ++b)
        if (!r.verify.done[r.verify.row(v, b)]) jobs.push_back({F + v, b});
    Progress progress("hardnn verification", (long long)jobs.size(), "batches", o.progress && lead);
    const auto t0 = Clock::now();
    sched.run(
        jobs,
        [&](const Job& job, std::span<double> rec) {
          verify_job(r, cum, lv, nets_[std::size_t(omp_get_thread_num())], job, rec);
        },
        &progress);
    progress.finish();
    r.verify_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  }

  r.info.status = "complete";
  r.info.end_time = nets::utc_now();
  sched.finish();
  const double seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  if (lead && !o.quiet) print_summary(r, seconds);
  return 0;
}

}  // namespace aimc::experiments
