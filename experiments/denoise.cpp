#include "experiments/denoise.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <numeric>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "experiments/campaign.hpp"
#include "experiments/campaign_inputs.hpp"
#include "experiments/mitigation_run.hpp"
#include "experiments/mpi.hpp"
#include "experiments/results_writer.hpp"
#include "experiments/run_info.hpp"
#include "nets/actnoise.hpp"
#include "nets/analog.hpp"
#include "nets/denoise.hpp"
#include "nets/hwa.hpp"
#include "nets/mitigation.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

using nets::AnalogNetwork;
using nets::Network;

// ---------------------------------------------------------------------------------------------
// Parameter tables

std::span<const Param<NoiseParams>> NoiseParams::params() {
  using P = NoiseParams;
  static const Param<P> t[] = {
      {"model", &P::model, "",
       "activation noise: additive (a + eta R z, R = max |a| of the layer on the calibration images) or "
       "multiplicative (a (1 + eta z)), z ~ N(0, 1) per element and per inference",
       "Azizi et al., arXiv:2409.18553 (variations of mixed-signal computing as noise on the activations)",
       {}, {"additive", "multiplicative"}},
      {"levels", &P::levels, "1", "noise levels eta, comma-separated (each a study of its own)",
       "a level where the drop without blocks is at least 20 points (issue 17's operating point)"},
      {"layers", &P::layers, "",
       "outputs the noise acts on: all Dense/Conv2d layers, or all but the last one (hidden: noise-free logits)",
       "all: every matrix-vector product of the accelerator is analog", {}, {"all", "hidden"}},
  };
  return t;
}

std::span<const Param<DenoiseParams>> DenoiseParams::params() {
  using P = DenoiseParams;
  static const Param<P> t[] = {
      {"forms", &P::forms, "",
       "block forms, comma-separated: residual (y = x + D(x)) and/or probabilistic (D predicts the noise's mean "
       "and log variance, y = x - mean)",
       "Azizi et al., arXiv:2409.18553 (the probabilistic block); the residual form as the plain comparison"},
      {"reduction", &P::reduction, "1", "bottleneck reduction r: a block has C / r hidden channels",
       "squeeze-style bottlenecks (r = 4)", between(1, 1 << 20)},
      {"budgets", &P::budgets, "1",
       "parameter budgets of the inserted blocks, comma-separated fractions of the backbone's parameters",
       "the paper's 2.03 % average overhead; issue 17's <= 3 %"},
      {"target_drop", &P::target_drop, "1",
       "accuracy-drop target (fraction of accuracy); the smallest budget whose greedy blocks meet it is reported "
       "(0: none)", "issue 17: insert until a drop target or a budget is met", between(0.0, 1.0)},
      {"epochs", &P::epochs, "1", "epochs of block training", "a few epochs with the backbone frozen",
       between(1, 10000)},
      {"train_images", &P::train_images, "1", "training images of block training (0: all)", "short runs and tests",
       between(0, 1000000000)},
      {"lr", &P::lr, "1", "Adam learning rate of the blocks (cosine schedule)", "Kingma & Ba 2015 default 1e-3",
       {0.0, 10.0, true, false}},
      {"mse", &P::mse, "1", "weight of the MSE of each block's output to the clean feature map (plus cross-entropy)",
       "issue 17: cross-entropy, optionally plus MSE to the clean activations", nonnegative()},
      {"nll", &P::nll, "1", "weight of the probabilistic block's Gaussian negative log-likelihood of the noise",
       "the probabilistic block's noise model (nets/denoise.hpp)", nonnegative()},
      {"batch", &P::batch, "1", "mini-batch size of block training", "128 as aimc train", between(1, 1 << 20)},
      {"seed", &P::seed, "1",
       "seed of block initialization, shuffling, the training noise and the random placements", "any",
       between(0, 2147483647)},
      {"rank_images", &P::rank_images, "1", "training images the gradient-norm ranking averages over",
       "enough for a stable mean of the per-image norms", between(1, 1000000000)},
      {"random_draws", &P::random_draws, "1", "random placements per budget (the comparison with the exploration)",
       "a few draws", between(0, 1000)},
      {"exhaustive_limit", &P::exhaustive_limit, "1",
       "train and evaluate every placement when there are at most this many (2^sites)",
       "the exhaustive optimum for networks with few candidate locations", between(0, 1 << 20)},
      {"analog_level", &P::analog_level, "1",
       "noise level (one of noise.levels) whose blocks run on the analog hardware of [sweep] (0: the largest)",
       "issue 17: activation-noise blocks on the RRAM analog execution", nonnegative()},
  };
  return t;
}

namespace {

constexpr const char* kOwnSections[] = {"noise", "denoise"};
const double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kRecord = 2;
constexpr std::size_t kMaxSites = 40;
constexpr std::size_t kAnalogBase = std::size_t(1) << 52;  // noise units are below it, all below kMaxJobId

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> r;
  std::size_t i = 0;
  while (i <= s.size()) {
    const std::size_t j = std::min(s.find(',', i), s.size());
    std::string tok = s.substr(i, j - i);
    tok.erase(0, tok.find_first_not_of(" \t"));
    tok.erase(tok.find_last_not_of(" \t") + 1);
    r.push_back(tok);
    i = j + 1;
  }
  return r;
}

}  // namespace

DenoiseConfig parse_denoise_config(const ConfigFile& f) {
  const std::string& file = f.path;
  std::vector<std::string> sections = {"model", "data", "mc", "sweep"};
  sections.insert(sections.end(), std::begin(kOwnSections), std::end(kOwnSections));
  sections.insert(sections.end(), analog_section_names().begin(), analog_section_names().end());
  check_keys(f.root, sections, file, "");
  DenoiseConfig c;
  ConfigFile part = f;  // what `aimc mc` reads, parsed and validated by its own parser
  for (const char* k : kOwnSections) part.root.erase(k);
  c.mc = parse_mc_config(part);
  c.mc.file = f;
  if (const auto* t = subtable(f.root, "noise", file, "")) c.noise = read_params<NoiseParams>(*t, file, "noise");
  if (const auto* t = subtable(f.root, "denoise", file, "")) c.dn = read_params<DenoiseParams>(*t, file, "denoise");
  c.levels = parse_number_list(c.noise.levels, file, "noise.levels", 0.0, 100.0);
  c.budgets = parse_number_list(c.dn.budgets, file, "denoise.budgets", 0.0, 10.0);
  for (std::size_t i = 1; i < c.budgets.size(); ++i)
    if (c.budgets[i] <= c.budgets[i - 1])
      fail_at(file, "denoise.budgets", "\"" + c.dn.budgets + "\": budgets must increase");
  for (std::size_t i = 1; i < c.levels.size(); ++i)
    if (std::find(c.levels.begin(), c.levels.begin() + std::ptrdiff_t(i), c.levels[i]) != c.levels.begin() + std::ptrdiff_t(i))
      fail_at(file, "noise.levels", "\"" + c.noise.levels + "\": a level appears twice");
  c.forms = split_names(c.dn.forms);
  for (std::size_t i = 0; i < c.forms.size(); ++i) {
    const auto& n = c.forms[i];
    if (n != "residual" && n != "probabilistic")
      fail_at(file, "denoise.forms", "\"" + c.dn.forms + "\": '" + n + "' is not a block form (residual | probabilistic)");
    if (std::find(c.forms.begin(), c.forms.begin() + std::ptrdiff_t(i), n) != c.forms.begin() + std::ptrdiff_t(i))
      fail_at(file, "denoise.forms", "\"" + c.dn.forms + "\": '" + n + "' appears twice");
  }
  if (c.dn.analog_level == 0) {
    c.analog_level = std::size_t(std::max_element(c.levels.begin(), c.levels.end()) - c.levels.begin());
  } else {
    const auto it = std::find(c.levels.begin(), c.levels.end(), c.dn.analog_level);
    if (it == c.levels.end())
      fail_at(file, "denoise.analog_level", to_str(c.dn.analog_level) + " is not one of noise.levels (" + c.noise.levels + ")");
    c.analog_level = std::size_t(it - c.levels.begin());
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// The run

namespace {

/// A placement as a bit set over the sites (bit s: a block at site s).
using Code = std::uint64_t;

std::vector<int> placement_of(Code code, std::size_t sites) {
  std::vector<int> p(sites);
  for (std::size_t s = 0; s < sites; ++s) p[s] = int((code >> s) & 1u);
  return p;
}
/// "101": site 0 first; "-" for no block.
std::string bits(Code code, std::size_t sites) {
  std::string s;
  for (std::size_t i = 0; i < sites; ++i) s += ((code >> i) & 1u) ? '1' : '0';
  return s;
}

/// One network evaluated under activation noise: the backbone (form -1) or trained blocks.
struct NoiseVariant {
  std::size_t level = 0;
  int form = -1;
  Code code = 0;
  std::string name, model_file;
  long long extra_params = 0, extra_macs = 0;
  double digital_accuracy = kNaN;
  PointRecords rec;
};

/// The placements of one (level, form, budget): greedy, random draws, and the exhaustive best.
struct BudgetPick {
  Code greedy = 0;
  std::vector<Code> random;
  Code exhaustive = 0;
  bool has_exhaustive = false;
};

struct AnalogVariant {
  std::string name;
  int form = -1;
  Code code = 0;
  std::size_t noise_unit = 0;  ///< the noise variant whose network it runs
  std::vector<PointRecords> points;
};

struct Run : ModelRun<McConfig> {
  Run(const DenoiseConfig& c, const ResultsWriter& f, const nets::ModelMeta& meta, int ranks)
      : ModelRun(c.mc, f, meta, "aimc-denoise", c.mc.mc.seed, ranks), dc(&c) {}
  const DenoiseConfig* dc;
  std::vector<nets::BlockSite> sites;
  long long backbone_params = 0, backbone_macs = 0;
  double clean = kNaN;  ///< the backbone's digital accuracy on the test subset
  std::vector<double> ranges;  ///< activation range per noisy layer (ordinal)
  bool exhaustive = false;
  std::vector<std::vector<double>> grad_norm;      ///< [level][site]
  std::vector<std::vector<std::size_t>> order;     ///< [level]: sites by decreasing gradient norm
  std::map<std::size_t, NoiseVariant> noise;       ///< by unit
  std::vector<std::vector<std::vector<BudgetPick>>> picks;  ///< [level][form][budget]
  std::vector<AnalogVariant> analog;
  TrialKeys keys;

  std::size_t unit(std::size_t level, int form, Code code) const {
    const std::size_t F = dc->forms.size();
    return ((level * (F + 1) + std::size_t(form + 1)) << sites.size()) | std::size_t(code);
  }
  const NoiseVariant& variant(std::size_t level, int form, Code code) const {
    return noise.at(code == 0 ? unit(level, -1, 0) : unit(level, form, code));
  }
  double drop_mean(std::size_t level, int form, Code code) const {
    return clean - summarize(variant(level, form, code).rec, cfg->mc.confidence).mean;
  }
};

std::string level_name(std::size_t l) {
  char b[32];
  std::snprintf(b, sizeof b, "level%03zu", l);
  return b;
}

void write_summary(H5::Group& g, const Summary& s, double clean, double confidence) {
  h5::set_attr(g, "trials_done", std::int64_t(s.n));
  h5::set_attr(g, "accuracy_mean", s.mean);
  h5::set_attr(g, "accuracy_std", s.sd);
  h5::set_attr(g, "accuracy_ci_lo", s.lo);
  h5::set_attr(g, "accuracy_ci_hi", s.hi);
  h5::set_attr(g, "confidence", confidence);
  h5::set_attr(g, "drop_mean", clean - s.mean);
}

void write_results(const Run& r) {
  const DenoiseConfig& dc = *r.dc;
  const McConfig& c = dc.mc;
  const std::size_t S = r.sites.size();
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    r.write_model_attributes(root);
    h5::set_attr(root, "trials", std::int64_t(c.mc.trials));
    h5::set_attr(root, "points", std::int64_t(c.points()));
    h5::set_attr(root, "noise_model", dc.noise.model);
    h5::set_attr(root, "noise_layers", dc.noise.layers);
    h5::set_attr(root, "backbone_parameters", std::int64_t(r.backbone_params));
    h5::set_attr(root, "backbone_macs", std::int64_t(r.backbone_macs));
    h5::set_attr(root, "exhaustive", std::int64_t(r.exhaustive));
    h5::set_attr(root, "noise_stream", "Stream(mc.seed, \"actnoise\", {instance, layer, image}) (core/random.hpp)");
    h5::set_attr(root, "training_streams",
                 "init Stream(denoise.seed, \"denoise.init\", {site}); training noise Stream(denoise.seed, \"actnoise\", "
                 "{2^40 + step, layer, row}); random placement Stream(denoise.seed, \"denoise.random\", {level, budget, "
                 "draw}); shuffle Stream(denoise.seed, \"shuffle\", {epoch})");
    h5::set_attr(root, "program_stream", "Stream(seed, \"mc.program\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "read_stream", "Stream(seed, \"mc.read\", {trial}) (core/random.hpp)");
  };
  content.resolved = [&](H5::Group& res) {
    write_resolved(res, "model", c.model);
    write_resolved(res, "data", c.data);
    write_resolved(res, "mc", c.mc);
    write_resolved(res, "noise", dc.noise);
    write_resolved(res, "denoise", dc.dn);
    write_resolved_analog(res, c.analog);
  };
  content.groups = [&](H5::Group& root) {
    h5::write(root, "levels", dc.levels, "1", "noise levels eta");
    h5::write(root, "budgets", dc.budgets, "1", "parameter budgets (fractions of the backbone's parameters)");
    h5::write_strings(root, "forms", dc.forms, "block forms");
    h5::write(root, "activation_ranges", r.ranges, "1", "max |a| of each noisy layer on the calibration images");
    {
      H5::Group st = h5::group(root, "sites");
      std::vector<std::int64_t> layer, ch, hh, ww;
      std::vector<std::string> after;
      for (const auto& s : r.sites) {
        layer.push_back(std::int64_t(s.layer));
        after.push_back(s.after);
        ch.push_back(s.shape.c);
        hh.push_back(s.shape.h);
        ww.push_back(s.shape.w);
      }
      h5::write(st, "layer", layer, "", "node index of the Dense/Conv2d layer whose output the site follows");
      h5::write_strings(st, "after", after, "node the block is inserted after");
      h5::write(st, "c", ch, "1", "channels of the feature map at the site");
      h5::write(st, "h", hh, "1", "height of the feature map");
      h5::write(st, "w", ww, "1", "width of the feature map");
    }
    H5::Group ng = h5::group(root, "noise");
    for (std::size_t l = 0; l < dc.levels.size(); ++l) {
      H5::Group lg = h5::group(ng, level_name(l));
      h5::set_attr(lg, "eta", dc.levels[l]);
      if (l < r.grad_norm.size()) {
        h5::write(lg, "gradient_norm", r.grad_norm[l], "1",
                  "mean per-image ||dL/d(activations)||_2 at each site under this noise level");
        std::vector<std::int64_t> ord(r.order[l].begin(), r.order[l].end());
        h5::write(lg, "order", ord, "", "sites in exploration order (decreasing gradient norm)");
      }
      H5::Group vg = h5::group(lg, "variants");
      for (const auto& [u, v] : r.noise) {
        if (v.level != l) continue;
        H5::Group g = h5::group(vg, v.name);
        h5::set_attr(g, "unit", std::int64_t(u));
        h5::set_attr(g, "form", v.form < 0 ? std::string("none") : dc.forms[std::size_t(v.form)]);
        const auto pl = placement_of(v.code, S);
        std::vector<std::int64_t> p(pl.begin(), pl.end());
        h5::write(g, "placement", p, "", "1 where a block follows the site");
        h5::set_attr(g, "model_file", v.model_file);
        h5::set_attr(g, "extra_parameters", std::int64_t(v.extra_params));
        h5::set_attr(g, "extra_macs", std::int64_t(v.extra_macs));
        h5::set_attr(g, "digital_accuracy", v.digital_accuracy);
        write_records(g, v.rec, "noise instance");
        write_summary(g, summarize(v.rec, c.mc.confidence), r.clean, c.mc.confidence);
      }
      if (l >= r.picks.size()) continue;
      for (std::size_t f = 0; f < dc.forms.size(); ++f) {
        H5::Group fg = h5::group(lg, dc.forms[f]);
        const std::size_t B = dc.budgets.size(), D = std::size_t(dc.dn.random_draws);
        std::vector<std::string> greedy, exhaustive;
        MatrixD rnd_drop = MatrixD::Constant(Eigen::Index(B), Eigen::Index(D), kNaN);
        std::vector<std::string> rnd_names;
        std::vector<double> g_mean, g_lo, g_hi, g_params, g_macs, e_mean;
        for (std::size_t b = 0; b < B; ++b) {
          const BudgetPick& pk = r.picks[l][f][b];
          const NoiseVariant& gv = r.variant(l, int(f), pk.greedy);
          const Summary s = summarize(gv.rec, c.mc.confidence);
          greedy.push_back(gv.name);
          g_mean.push_back(r.clean - s.mean);
          g_lo.push_back(r.clean - s.hi);
          g_hi.push_back(r.clean - s.lo);
          g_params.push_back(double(gv.extra_params) / double(r.backbone_params));
          g_macs.push_back(double(gv.extra_macs) / double(r.backbone_macs));
          for (std::size_t d = 0; d < D; ++d) {
            const NoiseVariant& rv = r.variant(l, int(f), pk.random[d]);
            rnd_drop(Eigen::Index(b), Eigen::Index(d)) = r.clean - summarize(rv.rec, c.mc.confidence).mean;
            rnd_names.push_back(rv.name);
          }
          if (pk.has_exhaustive) {
            const NoiseVariant& ev = r.variant(l, int(f), pk.exhaustive);
            exhaustive.push_back(ev.name);
            e_mean.push_back(r.clean - summarize(ev.rec, c.mc.confidence).mean);
          }
        }
        h5::write_strings(fg, "greedy", greedy, "variant of the exploration's placement per budget");
        h5::write(fg, "greedy_drop_mean", g_mean, "1", "clean accuracy - mean accuracy under noise, greedy blocks");
        h5::write(fg, "greedy_drop_ci_lo", g_lo, "1", "lower end of the drop's confidence interval");
        h5::write(fg, "greedy_drop_ci_hi", g_hi, "1", "upper end of the drop's confidence interval");
        h5::write(fg, "greedy_extra_parameters", g_params, "1", "block parameters / backbone parameters");
        h5::write(fg, "greedy_extra_macs", g_macs, "1", "block MACs / backbone MACs per sample");
        h5::write_strings(fg, "random", rnd_names, "variants of the random placements (budget-major, draw-minor)");
        h5::write(fg, "random_drop_mean", rnd_drop, "1", "mean drop of each random placement [budget, draw]");
        if (!exhaustive.empty()) {
          h5::write_strings(fg, "exhaustive", exhaustive, "best placement within each budget (by mean accuracy)");
          h5::write(fg, "exhaustive_drop_mean", e_mean, "1", "its mean drop");
        }
        std::int64_t target = -1;
        if (dc.dn.target_drop > 0)
          for (std::size_t b = 0; b < B && target < 0; ++b)
            if (g_mean[b] <= dc.dn.target_drop) target = std::int64_t(b);
        h5::set_attr(fg, "target_budget", target);
      }
    }
    r.keys.write(root, "chip");
    write_sweep_axes(root, c);
    H5::Group ag = h5::group(root, "analog");
    h5::set_attr(ag, "level", dc.levels[dc.analog_level]);
    for (const auto& av : r.analog) {
      H5::Group g = h5::group(ag, av.name);
      h5::set_attr(g, "noise_variant", r.noise.at(av.noise_unit).name);
      write_sweep_points(g, c, av.points);
    }
  };
  r.file->write(r.info, content);
}

void read_results(Run& r) {
  const std::string& out = r.file->path();
  r.file->read("aimc denoise", r.info, [&](const H5::Group& root) {
    H5::Group ng = h5::open_group(root, "noise", out);
    for (auto& [u, v] : r.noise) {
      if (!ng.nameExists(level_name(v.level))) continue;
      H5::Group lg = h5::open_group(ng, level_name(v.level), out);
      if (!lg.nameExists("variants")) continue;
      H5::Group vg = h5::open_group(lg, "variants", out);
      if (!vg.nameExists(v.name)) continue;
      read_records(h5::open_group(vg, v.name, out), v.rec, out, "noise/" + level_name(v.level) + "/" + v.name);
    }
    if (!root.nameExists("analog")) return;
    H5::Group ag = h5::open_group(root, "analog", out);
    for (auto& av : r.analog) {
      if (!ag.nameExists(av.name)) continue;
      read_sweep_points(h5::open_group(ag, av.name, out), av.points, out, "analog/" + av.name);
    }
  });
}

/// The exhaustive optimum per (level, form, budget): the evaluated placement within the budget with the
/// highest mean accuracy (the fewest blocks, then the lowest code, on ties; the backbone included).
void choose_exhaustive(Run& r) {
  if (!r.exhaustive) return;
  const DenoiseConfig& dc = *r.dc;
  for (std::size_t l = 0; l < r.picks.size(); ++l)
    for (std::size_t f = 0; f < r.picks[l].size(); ++f)
      for (std::size_t b = 0; b < r.picks[l][f].size(); ++b) {
        BudgetPick& pk = r.picks[l][f][b];
        double best = -1;
        for (const auto& [u, v] : r.noise) {
          if (v.level != l || !(v.form == int(f) || v.code == 0) ||
              double(v.extra_params) > dc.budgets[b] * double(r.backbone_params))
            continue;
          const double m = summarize(v.rec, dc.mc.mc.confidence).mean;
          const bool fewer = std::popcount(v.code) < std::popcount(pk.exhaustive) ||
                             (std::popcount(v.code) == std::popcount(pk.exhaustive) && v.code < pk.exhaustive);
          if (m > best || (m == best && fewer)) {
            best = m;
            pk.exhaustive = v.code;
          }
        }
        pk.has_exhaustive = best >= 0;
      }
}

/// Greedy fill: the sites in `order`, each taken if the blocks so far plus its block cost at most `cap`.
Code fill(const std::vector<std::size_t>& order, const std::vector<long long>& cost, double cap) {
  Code code = 0;
  long long used = 0;
  for (std::size_t s : order)
    if (double(used + cost[s]) <= cap) {
      used += cost[s];
      code |= Code(1) << s;
    }
  return code;
}

}  // namespace

int run_denoise(const DenoiseOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  const Mpi& mpi = Mpi::world();
  const bool lead = mpi.rank() == 0;
  const ConfigFile cf = load_config(o.config);
  const DenoiseConfig dc = parse_denoise_config(cf);
  const McConfig& c = dc.mc;
  const std::string& file = cf.path;
  const bool talk = o.progress && lead;

  const ResultsWriter out({.command = "denoise", .path = o.out, .resume = o.resume, .force = o.force, .lead = lead});
  const std::string stem = stem_of(o.out), blocks_dir = stem + ".blocks";
  // On the lead only: it creates the directory (after every rank passed this point, at the
  // scheduler's first checkpoint), and an error there ends every rank.
  if (lead && std::filesystem::exists(blocks_dir) && !o.resume && !o.force)
    throw Error(blocks_dir + ": block models of a previous run exist; pass --resume to continue that run or --force "
                             "to overwrite them");

  // Inputs: model, test subset, calibration images, training images.
  CampaignInputs inputs = load_campaign_inputs(file, c.model, c.data);
  const auto& test = inputs.test;
  const auto cal = load_calibration(file, c.data);
  const auto train_all = load_split(file, c.data, "train");
  check_model_fits(file, c.model.path, inputs.model.net, c.data, train_all);
  if (dc.dn.rank_images > train_all.size())
    fail_at(file, "denoise.rank_images",
            std::to_string(dc.dn.rank_images) + " exceeds the " + std::to_string(train_all.size()) + " training images");
  const data::Dataset block_train = dc.dn.train_images > 0 ? train_all.head(dc.dn.train_images) : train_all;
  const data::Dataset rank_set = train_all.head(dc.dn.rank_images);

  Run r(dc, out, inputs.model.meta, mpi.size());
  const Network backbone = hardware_network(inputs.model.net);
  r.sites = nets::block_sites(backbone);
  const std::size_t S = r.sites.size(), F = dc.forms.size(), B = dc.budgets.size(), L = dc.levels.size();
  const std::size_t D = std::size_t(dc.dn.random_draws);
  if (S == 0) fail_at(file, "model.path", "the model has no site for a denoising block (one Dense/Conv2d layer)");
  if (S > kMaxSites)
    fail_at(file, "model.path", "the model has " + std::to_string(S) + " sites; at most " + std::to_string(kMaxSites) +
                                    " are supported");
  if ((double(L) * double(F + 1)) * double(std::uint64_t(1) << S) >= double(kAnalogBase))
    fail_at(file, "noise.levels", std::to_string(L) + " levels x " + std::to_string(F) + " forms on " +
                                      std::to_string(S) + " sites exceed the job numbering (fewer levels or forms)");
  r.backbone_params = nets::parameter_count(backbone);
  r.backbone_macs = nets::mac_count(backbone);
  r.exhaustive = double(std::uint64_t(1) << S) <= double(dc.dn.exhaustive_limit);
  {
    Network probe = backbone.clone();
    r.clean = nets::evaluate(probe, test).accuracy;
    r.digital_accuracy = r.clean;
  }
  const auto noisy_nodes = nets::noise_layers(backbone, dc.noise.layers);
  {
    Network probe = backbone.clone();
    r.ranges = nets::activation_ranges(probe, noisy_nodes, cal.x);
  }
  const nets::NoiseModel model = nets::parse_noise_model(dc.noise.model);
  // The noise on a network with blocks: the backbone's layers (same ordinals, same ranges).
  auto make_noise = [&](Network& net, double eta, std::uint64_t seed) {
    return std::make_unique<nets::ActivationNoise>(net, model, eta, nets::noise_layers(net, dc.noise.layers), r.ranges,
                                                   seed);
  };

  // Stage 2: gradient-norm ranking per level.
  for (std::size_t l = 0; l < L; ++l) {
    Network net = backbone.clone();
    auto noise = make_noise(net, dc.levels[l], std::uint64_t(dc.dn.seed));
    std::vector<std::size_t> nodes;
    for (const auto& s : r.sites) nodes.push_back(net.find(s.after));
    r.grad_norm.push_back(nets::gradient_norms(net, *noise, nodes, rank_set));
    std::vector<std::size_t> ord(S);
    std::iota(ord.begin(), ord.end(), 0);
    const auto& g = r.grad_norm.back();
    std::stable_sort(ord.begin(), ord.end(), [&](std::size_t a, std::size_t b) { return g[a] > g[b]; });
    r.order.push_back(ord);
  }

  // Stage 3: placements.
  auto add_variant = [&](std::size_t l, int f, Code code) {
    const std::size_t u = code == 0 ? r.unit(l, -1, 0) : r.unit(l, f, code);
    if (r.noise.count(u)) return;
    NoiseVariant v;
    v.level = l;
    v.form = code == 0 ? -1 : f;
    v.code = code;
    v.name = code == 0 ? "baseline" : dc.forms[std::size_t(f)] + "_" + bits(code, S);
    v.rec = PointRecords(c.mc.trials);
    if (code != 0) v.model_file = blocks_dir + "/" + level_name(l) + "_" + v.name + ".h5";
    for (std::size_t s = 0; s < S; ++s)
      if ((code >> s) & 1u) {
        v.extra_params += nets::denoise_params(r.sites[s].shape, dc.dn.reduction, dc.forms[std::size_t(f)]);
        v.extra_macs += nets::denoise_macs(r.sites[s].shape, dc.dn.reduction, dc.forms[std::size_t(f)]);
      }
    r.noise.emplace(u, std::move(v));
  };
  r.picks.assign(L, std::vector<std::vector<BudgetPick>>(F, std::vector<BudgetPick>(B)));
  for (std::size_t l = 0; l < L; ++l) {
    add_variant(l, -1, 0);
    for (std::size_t f = 0; f < F; ++f) {
      std::vector<long long> cost(S);
      for (std::size_t s = 0; s < S; ++s) cost[s] = nets::denoise_params(r.sites[s].shape, dc.dn.reduction, dc.forms[f]);
      if (r.exhaustive)
        for (Code code = 1; code < (Code(1) << S); ++code) add_variant(l, int(f), code);
      for (std::size_t b = 0; b < B; ++b) {
        BudgetPick& pk = r.picks[l][f][b];
        const double cap = dc.budgets[b] * double(r.backbone_params);
        pk.greedy = fill(r.order[l], cost, cap);
        add_variant(l, int(f), pk.greedy);
        for (std::size_t d = 0; d < D; ++d) {
          std::vector<std::size_t> perm(S);
          std::iota(perm.begin(), perm.end(), 0);
          Stream st(std::uint64_t(dc.dn.seed), "denoise.random", {std::uint64_t(l), std::uint64_t(b), std::uint64_t(d)});
          st.shuffle(perm.begin(), perm.end());
          pk.random.push_back(fill(perm, cost, cap));
          add_variant(l, int(f), pk.random.back());
        }
      }
    }
  }
  // Analog variants: the backbone and the greedy blocks of the largest budget at the analog level.
  const std::size_t P = c.points();
  {
    AnalogVariant base;
    base.name = "baseline";
    base.noise_unit = r.unit(dc.analog_level, -1, 0);
    base.points.assign(P, PointRecords(c.mc.trials));
    r.analog.push_back(base);
    for (std::size_t f = 0; f < F; ++f) {
      const Code code = r.picks[dc.analog_level][f][B - 1].greedy;
      if (code == 0) continue;
      AnalogVariant av;
      av.form = int(f);
      av.code = code;
      av.noise_unit = r.unit(dc.analog_level, int(f), code);
      av.name = r.noise.at(av.noise_unit).name;
      av.points.assign(P, PointRecords(c.mc.trials));
      r.analog.push_back(av);
    }
  }
  r.keys = TrialKeys(c.mc.seed, c.mc.trials);

  Scheduler sched(
      o.out, kRecord,
      [&](const Job& job, std::span<const double> d) {
        if (job.unit >= kAnalogBase) {
          const std::size_t k = job.unit - kAnalogBase, a = k / std::max<std::size_t>(P, 1), p = k % std::max<std::size_t>(P, 1);
          if (a < r.analog.size()) r.analog[a].points[p].store(job.index, d[0], d[1]);
          return;
        }
        const auto it = r.noise.find(job.unit);
        if (it != r.noise.end()) it->second.rec.store(job.index, d[0], d[1]);
      },
      [&] { write_results(r); });
  if (out.resuming()) {
    read_results(r);
    sched.replay();
  }
  sched.checkpoint();

  // Stage 4: training, per trained variant (in unit order).
  std::map<std::size_t, Network> nets_of;
  if (lead) {
    if (o.force && !o.resume) std::filesystem::remove_all(blocks_dir);  // no stale placements of another config
    std::filesystem::create_directories(blocks_dir);
  }
  std::size_t trained = 0, total_train = 0;
  for (const auto& [u, v] : r.noise) total_train += v.code != 0;
  for (auto& [u, v] : r.noise) {
    if (v.code == 0) {
      nets_of.emplace(u, backbone.clone());
      continue;
    }
    ++trained;
    if (auto m = reuse_stage(v.model_file, cf.text, o.resume)) {
      nets_of.emplace(u, std::move(m->net));
      if (talk) std::fprintf(stderr, "blocks %zu/%zu: reusing %s\n", trained, total_train, v.model_file.c_str());
      continue;
    }
    Network net = backbone.clone();
    const std::string& form = dc.forms[std::size_t(v.form)];
    const auto pl = placement_of(v.code, S);
    const auto blocks = nets::insert_denoise(net, r.sites, pl, dc.dn.reduction, form, std::uint64_t(dc.dn.seed));
    std::vector<std::string> after;
    for (std::size_t s = 0; s < S; ++s)
      if (pl[s]) after.push_back(r.sites[s].after);
    if (talk)
      std::fprintf(stderr, "blocks %zu/%zu: eta %g, %s, placement %s (+%.2f%% parameters), %d epoch(s) on %lld images\n",
                   trained, total_train, dc.levels[v.level], form.c_str(), bits(v.code, S).c_str(),
                   100.0 * double(v.extra_params) / double(r.backbone_params), dc.dn.epochs, block_train.size());
    auto noise = make_noise(net, dc.levels[v.level], std::uint64_t(dc.dn.seed));
    nets::TrainParams tp;
    tp.epochs = dc.dn.epochs;
    tp.batch_size = dc.dn.batch;
    tp.seed = dc.dn.seed;
    tp.optimizer.lr = dc.dn.lr;
    const auto t0 = std::chrono::steady_clock::now();
    nets::train_blocks(net, blocks, backbone, after, block_train, tp, nets::BlockLoss(dc.dn.mse, dc.dn.nll),
                       {noise.get()}, talk);
    noise.reset();
    nets::ModelMeta meta = inputs.model.meta;
    meta.fine_tuned_from = c.model.path;
    meta.fine_tuned_from_accuracy = inputs.model.meta.test_accuracy;
    meta.train_config = cf.text;
    meta.epochs = dc.dn.epochs;
    meta.seed = dc.dn.seed;
    meta.test_accuracy = nets::evaluate(net, test).accuracy;
    meta.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    meta.created.clear();
    if (lead) nets::save_model(v.model_file, net, meta);
    nets_of.emplace(u, net.clone());  // without the training and evaluation workspaces (~0.2 GB for the CNN)
  }
  for (auto& [u, v] : r.noise) {
    Network probe = nets_of.at(u).clone();
    v.digital_accuracy = nets::evaluate(probe, test).accuracy;
  }
  sched.checkpoint();

  // Stage 5: noise instances; stage 6: chips.
  std::vector<std::unique_ptr<AnalogNetwork>> an(r.analog.size() * P);
  std::vector<Network> hw_nets;
  std::vector<Matrix> prefix(r.analog.size() * P);
  for (std::size_t a = 0; a < r.analog.size(); ++a) hw_nets.push_back(hardware_network(nets_of.at(r.analog[a].noise_unit)));
  for (std::size_t a = 0; a < r.analog.size(); ++a)
    for (std::size_t p = 0; p < P; ++p) {
      try {
        an[a * P + p] = std::make_unique<AnalogNetwork>(hw_nets[a], c.analog_at(p), cal.x);
      } catch (const Error& e) {
        throw Error(file + ": " + r.analog[a].name + ": " + e.what());
      }
      prefix[a * P + p] = an[a * P + p]->prefix(test.x);
    }
  std::vector<Job> jobs;
  for (const auto& [u, v] : r.noise)
    for (int t = 0; t < c.mc.trials; ++t)
      if (!v.rec.done[std::size_t(t)]) jobs.push_back({u, std::uint64_t(t)});
  const std::size_t noise_jobs = jobs.size();
  for (std::size_t a = 0; a < r.analog.size(); ++a)
    for (std::size_t p = 0; p < P; ++p)
      for (int t = 0; t < c.mc.trials; ++t)
        if (!r.analog[a].points[p].done[std::size_t(t)]) jobs.push_back({kAnalogBase + a * P + p, std::uint64_t(t)});
  if (talk)
    std::fprintf(stderr, "evaluation: %zu variants x %d noise instances and %zu analog variants x %zu points x %d chips (%zu jobs left)\n",
                 r.noise.size(), c.mc.trials, r.analog.size(), P, c.mc.trials, jobs.size());
  (void)noise_jobs;
  std::vector<std::unique_ptr<nets::AnalogInstance>> instances(std::size_t(omp_get_max_threads()) * r.analog.size() * P);
  Progress progress("evaluation", (long long)jobs.size(), "trials", talk);
  sched.run(jobs, [&](const Job& job, std::span<double> d) {
    if (job.unit >= kAnalogBase) {
      const std::size_t k = job.unit - kAnalogBase;
      auto& inst = instances.at(std::size_t(omp_get_thread_num()) * r.analog.size() * P + k);
      const TrialResult res = run_trial(*an[k], prefix[k], test.y, c.mc, job.index, &inst);
      d[0] = res.accuracy;
      d[1] = res.loss;
      return;
    }
    const NoiseVariant& v = r.noise.at(job.unit);
    Network ex = nets_of.at(job.unit).share();
    auto noise = make_noise(ex, dc.levels[v.level], std::uint64_t(c.mc.seed));
    const auto res = nets::evaluate_noisy(ex, *noise, job.index, test);
    d[0] = res.accuracy;
    d[1] = res.loss;
  }, &progress);
  progress.finish();
  choose_exhaustive(r);
  r.info.status = "complete";
  r.info.end_time = nets::utc_now();
  sched.finish();

  if (lead && !o.quiet) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const double conf = c.mc.confidence;
    std::printf("\nDenoising blocks: %s on %s (%d test images), clean accuracy %.4f, %zu sites, %s noise on %s layers, "
                "%d noise instances per variant, seed %d\n",
                c.model.path.c_str(), c.data.dataset.c_str(), c.data.subset, r.clean, S, dc.noise.model.c_str(),
                dc.noise.layers.c_str(), c.mc.trials, c.mc.seed);
    for (std::size_t l = 0; l < L; ++l) {
      const Summary s0 = summarize(r.variant(l, -1, 0).rec, conf);
      std::printf("\neta %g: drop without blocks %.4f [%.4f, %.4f]; gradient norms", dc.levels[l], r.clean - s0.mean,
                  r.clean - s0.hi, r.clean - s0.lo);
      for (std::size_t s = 0; s < S; ++s) std::printf(" %s %.3g", r.sites[s].after.c_str(), r.grad_norm[l][s]);
      std::printf("\n  %-14s %-7s %-*s %-9s %-9s %-26s %-*s%s\n", "form", "budget", int(std::max<std::size_t>(S, 9)),
                  "placement", "params", "MACs", "drop [CI] (greedy)", int(std::max<std::size_t>(12, 8 * D)), "random",
                  r.exhaustive ? "  exhaustive best" : "");
      for (std::size_t f = 0; f < F; ++f)
        for (std::size_t b = 0; b < B; ++b) {
          const BudgetPick& pk = r.picks[l][f][b];
          const NoiseVariant& gv = r.variant(l, int(f), pk.greedy);
          const Summary s = summarize(gv.rec, conf);
          std::string rnd;
          for (Code code : pk.random) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.4f ", r.drop_mean(l, int(f), code));
            rnd += buf;
          }
          std::printf("  %-14s %-7.3g %-*s +%-7.2f%% +%-7.2f%% %.4f [%.4f, %.4f]   %-*s", dc.forms[f].c_str(),
                      dc.budgets[b], int(std::max<std::size_t>(S, 9)), bits(pk.greedy, S).c_str(),
                      100.0 * double(gv.extra_params) / double(r.backbone_params),
                      100.0 * double(gv.extra_macs) / double(r.backbone_macs), r.clean - s.mean, r.clean - s.hi,
                      r.clean - s.lo, int(std::max<std::size_t>(12, 8 * D)), rnd.c_str());
          if (pk.has_exhaustive)
            std::printf("  %s %.4f", bits(pk.exhaustive, S).c_str(), r.drop_mean(l, int(f), pk.exhaustive));
          std::printf("\n");
        }
    }
    std::printf("\nanalog hardware (blocks of eta %g)", dc.levels[dc.analog_level]);
    std::string head;
    for (const auto& a : c.sweep) head += "  " + a.key;
    std::printf("%s\n", head.empty() ? "" : (":" + head).c_str());
    for (std::size_t p = 0; p < P; ++p) {
      const auto vals = c.values_at(p);
      std::printf(" ");
      for (std::size_t i = 0; i < vals.size(); ++i) std::printf(" %s = %s", c.sweep[i].key.c_str(), to_str(vals[i]).c_str());
      for (const auto& av : r.analog) {
        const Summary s = summarize(av.points[p], conf);
        std::printf("  %s %.4f [%.4f, %.4f]", av.name.c_str(), s.mean, s.lo, s.hi);
      }
      std::printf("\n");
    }
    std::printf("results: %s (%.1f s)\n", o.out.c_str(), seconds);
  }
  return 0;
}

}  // namespace aimc::experiments
