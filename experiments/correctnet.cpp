#include "experiments/correctnet.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/progress.hpp"
#include "core/stats.hpp"
#include "experiments/campaign.hpp"
#include "experiments/campaign_inputs.hpp"
#include "experiments/mitigation_run.hpp"
#include "experiments/mpi.hpp"
#include "experiments/results_writer.hpp"
#include "experiments/run_info.hpp"
#include "experiments/train_config.hpp"
#include "nets/analog.hpp"
#include "nets/hwa.hpp"
#include "nets/mitigation.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

using nets::AnalogConfig;
using nets::AnalogNetwork;
using nets::Network;

// ---------------------------------------------------------------------------------------------
// Parameter tables

std::span<const Param<CompensationParams>> CompensationParams::params() {
  using P = CompensationParams;
  static const Param<P> t[] = {
      {"ranks", &P::ranks, "",
       "block sizes the placement agent chooses from at each site, comma-separated ranks of C (0 or >= channels: a "
       "full c x c map, the 1x1 convolution of the paper)",
       "Eldebiky et al., DATE 2023, Sec. III-B (compensation layers); low rank to bound the overhead"},
      {"variation_key", &P::variation_key, "",
       "hardware parameter (section.name) that holds the variation level of the search and the block training",
       "the lognormal RRAM programming variation w' = w exp(theta), theta ~ N(0, sigma^2) of the paper"},
      {"sigma", &P::sigma, "1", "variation level (value of variation_key) the blocks are searched and trained at",
       "a level where the baseline loses at least half of its accuracy (the paper's operating point)",
       nonnegative()},
      {"epochs", &P::epochs, "1", "epochs of the final training of the chosen blocks", "CorrectNet: a few epochs",
       between(1, 10000)},
      {"train_images", &P::train_images, "1", "training images of the final block training (0: all)",
       "short runs and tests", between(0, 1000000000)},
      {"lr", &P::lr, "1", "Adam learning rate of the blocks (cosine schedule)", "Kingma & Ba 2015 default 1e-3",
       {0.0, 10.0, true, false}},
      {"mse", &P::mse, "1",
       "weight of the MSE of each block's output to the clean feature map there, added to the cross-entropy",
       "the issue's optional feature-map target; keeps the blocks from trading accuracy for a flat output under "
       "heavy-tailed lognormal variation", nonnegative()},
      {"batch", &P::batch, "1", "mini-batch size of the block training", "128 as aimc train", between(1, 1 << 20)},
      {"seed", &P::seed, "1",
       "seed of block initialization, shuffling and of the variation drawn every mini-batch (HWA streams)", "any",
       between(0, 2147483647)},
  };
  return t;
}

std::span<const Param<SearchParams>> SearchParams::params() {
  using P = SearchParams;
  static const Param<P> t[] = {
      {"chips", &P::chips, "1", "chips (device instances) per placement evaluation",
       "10 chips: a CI half-width of about 0.7 sd of the chip-to-chip spread", between(1, 100000)},
      {"train_images", &P::train_images, "1",
       "training images the blocks of each candidate placement are trained on (one epoch)",
       "a short proxy training, as RL placement searches do", between(1, 1000000000)},
      {"val_images", &P::val_images, "1",
       "held-out training images (after train_images) on which the reward is measured", "never test images",
       between(1, 1000000000)},
      {"penalty", &P::penalty, "1",
       "reward = accuracy - penalty * (block parameters / backbone parameters)",
       "CorrectNet's reward trades accuracy against overhead (Sec. III-C)", nonnegative()},
      {"exhaustive_limit", &P::exhaustive_limit, "1",
       "evaluate every placement (the exhaustive optimum) when there are at most this many", "search cost",
       between(0, 4096)},
      {"seed", &P::seed, "1", "seed of the chips of the search (Stream(seed, \"mc.program\" / \"mc.read\", {chip}))",
       "any", between(0, 2147483647)},
  };
  return t;
}

namespace {

constexpr const char* kOwnSections[] = {"train", "lipschitz", "compensation", "search", "agent"};
constexpr std::size_t kVariants = 4;
constexpr const char* kVariantNames[kVariants] = {"baseline", "lipschitz", "compensated", "both"};
constexpr std::size_t kBackbones = 2;  // search units: 0 baseline, 1 lipschitz
constexpr std::size_t kRecord = 4;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<int> parse_ranks(const std::string& s, const std::string& file) {
  std::vector<int> r;
  for (double v : parse_number_list(s, file, "compensation.ranks", 0, double(1 << 20))) {
    if (v != std::floor(v))
      fail_at(file, "compensation.ranks", "\"" + s + "\": expected comma-separated ranks >= 0 (0: full rank), e.g. \"8\" or \"4,16\"");
    r.push_back(int(v));
  }
  return r;
}

}  // namespace

nets::TrainParams CorrectnetConfig::train_params(const nets::TrainParams& defaults) const {
  const auto& file = mc.file;
  const auto* t = subtable(file.root, "train", file.path, "");
  if (!t) return defaults;
  nets::TrainParams p =
      read_params<nets::TrainParams>(*t, file.path, "train", defaults, param_names<nets::OptimizerParams>());
  p.optimizer =
      read_params<nets::OptimizerParams>(*t, file.path, "train", defaults.optimizer, param_names<nets::TrainParams>());
  return p;
}

CorrectnetConfig parse_correctnet_config(const ConfigFile& f) {
  const std::string& file = f.path;
  std::vector<std::string> sections = {"model", "data", "mc", "sweep"};
  sections.insert(sections.end(), std::begin(kOwnSections), std::end(kOwnSections));
  sections.insert(sections.end(), analog_section_names().begin(), analog_section_names().end());
  check_keys(f.root, sections, file, "");
  CorrectnetConfig c;
  ConfigFile part = f;  // what `aimc mc` reads, parsed and validated by its own parser
  for (const char* k : kOwnSections) part.root.erase(k);
  c.mc = parse_mc_config(part);
  c.mc.file = f;
  auto sub = [&](const char* name) { return subtable(f.root, name, file, ""); };
  if (const auto* t = sub("lipschitz")) c.lipschitz = read_params<nets::LipschitzParams>(*t, file, "lipschitz");
  if (const auto* t = sub("compensation")) c.comp = read_params<CompensationParams>(*t, file, "compensation");
  if (const auto* t = sub("search")) c.search = read_params<SearchParams>(*t, file, "search");
  if (const auto* t = sub("agent")) c.agent = read_params<nets::PlacementSearchParams>(*t, file, "agent");
  c.ranks = parse_ranks(c.comp.ranks, file);
  c.train_params(nets::TrainParams{});  // the keys and types of [train], before any file is read
  AnalogConfig probe = c.mc.analog;
  bool ok = false;
  try {
    ok = probe.set(c.comp.variation_key, c.comp.sigma);
    if (ok) probe.validate();
  } catch (const Error& e) {
    fail_at(file, "compensation.sigma", e.what());
  }
  if (!ok)
    fail_at(file, "compensation.variation_key",
            "\"" + c.comp.variation_key + "\" is not a numeric hardware parameter (e.g. \"rram.sigma_prog\")");
  return c;
}

// ---------------------------------------------------------------------------------------------
// The run

namespace {

/// Placement <-> job index: mixed radix (options + 1), site 0 most significant (lexicographic order).
std::vector<int> decode(std::uint64_t code, std::size_t sites, int options) {
  std::vector<int> p(sites);
  for (std::size_t s = sites; s-- > 0;) {
    p[s] = int(code % std::uint64_t(options + 1));
    code /= std::uint64_t(options + 1);
  }
  return p;
}
std::uint64_t encode(const std::vector<int>& p, int options) {
  std::uint64_t c = 0;
  for (int a : p) c = c * std::uint64_t(options + 1) + std::uint64_t(a);
  return c;
}

struct SearchTable {
  std::vector<std::int64_t> done;
  std::vector<double> reward, accuracy, params, macs;  // per placement code
  void resize(std::size_t n) {
    done.assign(n, 0);
    reward.assign(n, kNaN);
    accuracy.assign(n, kNaN);
    params.assign(n, kNaN);
    macs.assign(n, kNaN);
  }
  bool complete() const { return std::all_of(done.begin(), done.end(), [](auto d) { return d != 0; }); }
};

struct SearchOutcome {
  bool exhaustive = false;
  std::vector<int> ex_best;
  double ex_reward = kNaN;
  std::size_t ex_evaluations = 0;
  nets::PlacementResult rl;
  bool rl_done = false;
};

struct VariantInfo {
  std::string model_file;
  std::vector<int> placement;  // empty for baseline / lipschitz
  long long params = 0, macs = 0, extra_params = 0, extra_macs = 0;
  double digital_accuracy = kNaN;
};

struct Run : ModelRun<McConfig> {
  Run(const CorrectnetConfig& c, const ResultsWriter& f, const nets::ModelMeta& meta, int ranks)
      : ModelRun(c.mc, f, meta, "aimc-correctnet", c.mc.mc.seed, ranks), cc(&c) {}
  const CorrectnetConfig* cc;
  std::vector<nets::BlockSite> sites;
  std::size_t placements = 0;  // (options + 1)^sites, 0 when above the exhaustive limit
  double lambda = kNaN;
  std::array<long long, kBackbones> backbone_params{}, backbone_macs{};
  std::array<SearchTable, kBackbones> search;
  std::array<SearchOutcome, kBackbones> outcome;
  std::array<VariantInfo, kVariants> variants;
  std::vector<std::vector<PointRecords>> points;  // [variant][point]
  TrialKeys keys;
  int half_point = -1;  // first sweep point where the baseline's mean accuracy < half its clean accuracy
};

std::string placement_text(const std::vector<int>& p, const std::vector<int>& ranks) {
  std::string s = "[";
  for (std::size_t i = 0; i < p.size(); ++i)
    s += (i ? " " : "") + (p[i] == 0 ? std::string("-") : "r" + std::to_string(ranks[std::size_t(p[i] - 1)]));
  return s + "]";
}

void write_results(const Run& r) {
  const CorrectnetConfig& cc = *r.cc;
  const McConfig& c = cc.mc;
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    r.write_model_attributes(root);
    h5::set_attr(root, "trials", std::int64_t(c.mc.trials));
    h5::set_attr(root, "points", std::int64_t(c.points()));
    h5::set_attr(root, "lipschitz_lambda", r.lambda);
    h5::set_attr(root, "variation_key", cc.comp.variation_key);
    h5::set_attr(root, "half_accuracy_point", std::int64_t(r.half_point));
    h5::set_attr(root, "program_stream", "Stream(seed, \"mc.program\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "read_stream", "Stream(seed, \"mc.read\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "compensation_streams",
                 "init Stream(compensation.seed, \"compensation.init\", {site}); training variation "
                 "Stream(compensation.seed, \"hwa.weights\", {step, layer}); search chips Stream(search.seed, "
                 "\"mc.program\" / \"mc.read\", {chip})");
  };
  content.resolved = [&](H5::Group& res) {
    write_resolved(res, "model", c.model);
    write_resolved(res, "data", c.data);
    write_resolved(res, "mc", c.mc);
    write_resolved(res, "lipschitz", cc.lipschitz);
    write_resolved(res, "compensation", cc.comp);
    write_resolved(res, "search", cc.search);
    write_resolved(res, "agent", cc.agent);
    write_resolved_analog(res, c.analog);
  };
  content.groups = [&](H5::Group& root) {
    r.keys.write(root, "trial");
    write_sweep_axes(root, c);
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
      std::vector<std::int64_t> rk(cc.ranks.begin(), cc.ranks.end());
      h5::write(st, "ranks", rk, "1", "block rank of action m (entry m - 1; 0: full rank)");
    }
    H5::Group sg = h5::group(root, "search");
    for (std::size_t b = 0; b < kBackbones; ++b) {
      H5::Group g = h5::group(sg, kVariantNames[b]);
      const SearchTable& t = r.search[b];
      const SearchOutcome& o = r.outcome[b];
      h5::set_attr(g, "backbone_parameters", std::int64_t(r.backbone_params[b]));
      h5::write(g, "done", t.done, "", "1 if placement (row of `placement`) was evaluated");
      MatrixD pl(Eigen::Index(t.done.size()), Eigen::Index(r.sites.size()));
      for (std::size_t k = 0; k < t.done.size(); ++k) {
        const auto p = decode(k, r.sites.size(), int(cc.ranks.size()));
        for (std::size_t s = 0; s < p.size(); ++s) pl(Eigen::Index(k), Eigen::Index(s)) = p[s];
      }
      h5::write(g, "placement", pl, "", "action per site of each placement (0: none, m: rank ranks[m - 1])");
      h5::write(g, "reward", t.reward, "1", "accuracy - penalty * extra parameter fraction");
      h5::write(g, "accuracy", t.accuracy, "1", "mean accuracy over the search chips on the held-out images");
      h5::write(g, "extra_parameters", t.params, "1", "parameters of the inserted blocks");
      h5::write(g, "extra_macs", t.macs, "1", "MACs per sample of the inserted blocks");
      h5::set_attr(g, "exhaustive", std::int64_t(o.exhaustive));
      if (o.exhaustive) {
        std::vector<std::int64_t> eb(o.ex_best.begin(), o.ex_best.end());
        h5::write(g, "exhaustive_best", eb, "", "best placement of all");
        h5::set_attr(g, "exhaustive_best_reward", o.ex_reward);
        h5::set_attr(g, "exhaustive_evaluations", std::int64_t(o.ex_evaluations));
      }
      if (o.rl_done) {
        std::vector<std::int64_t> rb(o.rl.best.begin(), o.rl.best.end());
        h5::write(g, "rl_best", rb, "", "best placement the REINFORCE agent evaluated (used)");
        h5::set_attr(g, "rl_best_reward", o.rl.best_reward);
        h5::set_attr(g, "rl_evaluations", std::int64_t(o.rl.evaluations));
        h5::write(g, "rl_mean_reward", o.rl.mean_reward, "1", "mean reward of the sampled placements per episode");
      }
    }
    H5::Group vg = h5::group(root, "variants");
    for (std::size_t v = 0; v < kVariants; ++v) {
      const VariantInfo& vi = r.variants[v];
      H5::Group g = h5::group(vg, kVariantNames[v]);
      h5::set_attr(g, "model_file", vi.model_file);
      h5::set_attr(g, "parameters", std::int64_t(vi.params));
      h5::set_attr(g, "macs", std::int64_t(vi.macs));
      h5::set_attr(g, "extra_parameters", std::int64_t(vi.extra_params));
      h5::set_attr(g, "extra_macs", std::int64_t(vi.extra_macs));
      h5::set_attr(g, "digital_accuracy", vi.digital_accuracy);
      std::vector<std::int64_t> pl(vi.placement.begin(), vi.placement.end());
      h5::write(g, "placement", pl, "", "compensation action per site (empty: no blocks)");
      if (!r.points.empty()) write_sweep_points(g, c, r.points[v]);
    }
  };
  r.file->write(r.info, content);
}

void read_results(Run& r) {
  const std::string& out = r.file->path();
  r.file->read("aimc CorrectNet", r.info, [&](const H5::Group& root) {
    H5::Group sg = h5::open_group(root, "search", out);
    for (std::size_t b = 0; b < kBackbones; ++b) {
      H5::Group g = h5::open_group(sg, kVariantNames[b], out);
      SearchTable& t = r.search[b];
      const auto done = h5::read_ints(g, "done", out);
      const auto rw = h5::read_doubles(g, "reward", out), ac = h5::read_doubles(g, "accuracy", out),
                 pa = h5::read_doubles(g, "extra_parameters", out), ma = h5::read_doubles(g, "extra_macs", out);
      if (done.size() != t.done.size() || rw.size() != done.size() || ac.size() != done.size() ||
          pa.size() != done.size() || ma.size() != done.size())
        throw Error(out + ": --resume: search/" + kVariantNames[b] + " has unexpected dataset sizes");
      for (std::size_t k = 0; k < done.size(); ++k)
        if (done[k]) {
          t.done[k] = 1;
          t.reward[k] = rw[k];
          t.accuracy[k] = ac[k];
          t.params[k] = pa[k];
          t.macs[k] = ma[k];
        }
    }
    H5::Group vg = h5::open_group(root, "variants", out);
    for (std::size_t v = 0; v < kVariants; ++v) {
      read_sweep_points(h5::open_group(vg, kVariantNames[v], out), r.points[v], out,
                        std::string("variants/") + kVariantNames[v]);
    }
  });
}

/// Mean accuracy of `net` over `chips` chips at hardware `a` on the images `val` (streams keyed by
/// `seed` and the chip index: the same chips for every placement).
double chip_accuracy(const Network& net, const AnalogConfig& a, const Matrix& cal, const data::Dataset& val,
                     int chips, int seed) {
  const AnalogNetwork an(net, a, cal);
  const Matrix prefix = an.prefix(val.x);
  McParams mc;
  mc.seed = seed;
  mc.snr_samples = 0;
  std::unique_ptr<nets::AnalogInstance> inst;
  double sum = 0;
  for (int k = 0; k < chips; ++k) sum += run_trial(an, prefix, val.y, mc, std::uint64_t(k), &inst).accuracy;
  return sum / chips;
}

/// Trains the blocks `blocks` of `net` (everything else frozen) under the variation of hardware `a`,
/// drawn every mini-batch by hardware-aware training in `device` mode (the evaluation's device model)
/// with its DAC and read-out (io = "quantized"): nets::train_blocks with cross-entropy plus
/// compensation.mse times the MSE of each block's output to the clean backbone's feature map there.
/// The DAC full scales are calibrated once, on the network with its blocks at the identity (= the
/// backbone's), and stay fixed while the blocks train: the blocks learn for those converter ranges
/// (and may use their clipping), so the chip is evaluated with the same ranges (mapping.input_range
/// = "model"): a chip recalibrated on the trained blocks' activations lost 11 points in the CNN study
/// (0.53 -> 0.41 at sigma 0.8, a block before the 3136-input layer). Returns the HWA record with those
/// ranges by node name (empty without blocks).
nets::ModelMeta::Hwa train_compensation(Network& net, const std::vector<std::size_t>& blocks, const Network& backbone,
                                        const std::vector<std::string>& after, const AnalogConfig& a, const Matrix& cal,
                                        const data::Dataset& train, const data::Dataset* val,
                                        const CompensationParams& cp, int epochs, bool progress) {
  if (blocks.empty()) return {};
  nets::HwaParams hp;
  hp.weight_noise = "device";
  hp.io = "quantized";  // the DAC and the read-out of [mapping] (none with readout = "ideal"), as evaluated
  const auto layers = nets::analog_layer_indices(net, a.mapping);
  nets::HwaTraining hwa(net, hp, a, layers, std::uint64_t(cp.seed));
  hwa.calibrate(cal);
  nets::TrainParams tp;
  tp.epochs = epochs;
  tp.batch_size = cp.batch;
  tp.seed = cp.seed;
  tp.optimizer.lr = cp.lr;
  // Early stopping on accuracy (val given): after each epoch, the accuracy under the same variation
  // (HWA steps 2^40 + k, fixed: the same draws after every epoch) on the held-out images; the blocks of
  // the best epoch are kept. The loss is not the target: under heavy-tailed lognormal variation the
  // cross-entropy falls while accuracy does (CNN, sigma 0.8: HWA accuracy 0.33 at loss 2.6 after 2
  // epochs vs 0.38 at loss 19.9 without blocks), as shrinking the logits bounds the outliers' loss.
  std::vector<Matrix> best;
  double best_acc = -1;
  auto snapshot = [&] {
    best.clear();
    for (std::size_t i : blocks)
      for (auto* q : net.layer(i).parameters()) best.push_back(q->value);
  };
  auto val_accuracy = [&] {
    long long correct = 0;
    const long long n = val->size(), bs = 500;
    for (long long b0 = 0, k = 0; b0 < n; b0 += bs, ++k) {
      const long long m = std::min(bs, n - b0);
      hwa.begin_step((std::uint64_t(1) << 40) + std::uint64_t(k));
      const Matrix logits = net.forward(val->x.middleRows(b0, m), nets::Mode::train);
      correct += nets::count_correct(logits, val->y.segment(b0, m));
    }
    return double(correct) / double(n);
  };
  std::function<void(const nets::EpochLog&)> on_epoch;
  if (val) {
    on_epoch = [&](const nets::EpochLog& log) {
      const double acc = val_accuracy();
      if (progress) std::fprintf(stderr, "blocks epoch %d: held-out accuracy under the variation %.4f\n", log.epoch, acc);
      if (acc > best_acc) {
        best_acc = acc;
        snapshot();
      }
    };
  }
  nets::train_blocks(net, blocks, backbone, after, train, tp, cp.mse, {&hwa}, progress, on_epoch);
  if (val) {
    std::size_t j = 0;
    for (std::size_t i : blocks)
      for (auto* q : net.layer(i).parameters()) q->value = best[j++];
  }
  std::string names;
  for (std::size_t i : layers) names += (names.empty() ? "" : ", ") + net.name(i);
  nets::ModelMeta::Hwa rec = hwa_record(hp, std::uint64_t(cp.seed), names);
  for (std::size_t l = 0; l < layers.size(); ++l) rec.input_ranges.emplace_back(net.name(layers[l]), hwa.x_max(l));
  return rec;
}

/// `a` with the DAC full scales of `rec` (mapping.input_range = "model"), or `a` without a record.
AnalogConfig with_ranges(AnalogConfig a, const nets::ModelMeta::Hwa& rec) {
  if (rec.input_ranges.empty()) return a;
  a.input_ranges = rec.input_ranges;
  a.mapping.input_range = "model";
  return a;
}

/// The node names the blocks of placement `pl` follow, in site order.
std::vector<std::string> block_targets(const std::vector<nets::BlockSite>& sites, const std::vector<int>& pl) {
  std::vector<std::string> a;
  for (std::size_t s = 0; s < sites.size(); ++s)
    if (pl[s] > 0) a.push_back(sites[s].after);
  return a;
}

}  // namespace

int run_correctnet(const CorrectnetOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  const Mpi& mpi = Mpi::world();
  const bool lead = mpi.rank() == 0;
  const ConfigFile cf = load_config(o.config);
  const CorrectnetConfig cc = parse_correctnet_config(cf);
  const McConfig& c = cc.mc;
  const std::string& file = cf.path;

  const ResultsWriter out({.command = "correctnet", .path = o.out, .resume = o.resume, .force = o.force, .lead = lead});
  const std::string stem = stem_of(o.out);
  const std::array<std::string, kVariants> stage_files = {c.model.path, stem + ".lipschitz.h5",
                                                           stem + ".compensated.h5", stem + ".both.h5"};
  for (std::size_t v = 1; v < kVariants; ++v)
    if (std::filesystem::exists(stage_files[v]) && !o.resume && !o.force)
      throw Error(stage_files[v] + ": model file of a previous run exists; pass --resume to continue that run or "
                                   "--force to overwrite it");

  // Inputs: model, test subset, calibration images, training images.
  CampaignInputs inputs = load_campaign_inputs(file, c.model, c.data);
  const auto& test = inputs.test;
  const auto cal = load_calibration(file, c.data);
  const auto train_all = load_split(file, c.data, "train");
  const long long need = (long long)cc.search.train_images + cc.search.val_images;
  if (need > train_all.size())
    fail_at(file, "search.val_images",
            "search.train_images + search.val_images = " + std::to_string(need) + " exceeds the " +
                std::to_string(train_all.size()) + " training images");
  check_model_fits(file, c.model.path, inputs.model.net, c.data, train_all);
  const data::Dataset search_train = train_all.head(cc.search.train_images);
  data::Dataset search_val;
  search_val.name = train_all.name + "[held out]";
  search_val.shape = train_all.shape;
  search_val.classes = train_all.classes;
  search_val.x = train_all.x.middleRows(cc.search.train_images, cc.search.val_images);
  search_val.y = train_all.y.segment(cc.search.train_images, cc.search.val_images);
  const data::Dataset comp_train =
      cc.comp.train_images > 0 ? train_all.head(cc.comp.train_images) : train_all;

  Run r(cc, out, inputs.model.meta, mpi.size());
  AnalogConfig search_hw = c.analog;
  search_hw.set(cc.comp.variation_key, cc.comp.sigma);
  const int options = int(cc.ranks.size());

  // Stage 2: the Lipschitz-regularized model.
  std::array<Network, kVariants> nets;
  nets[0] = inputs.model.net.clone();
  nets::ModelMeta lipschitz_meta;
  {
    nets::LipschitzRegularizer probe(cc.lipschitz, nets::matmul_layers(nets[0]));
    r.lambda = probe.lambda();
  }
  if (auto m = reuse_stage(stage_files[1], cf.text, o.resume)) {
    nets[1] = std::move(m->net);
    lipschitz_meta = m->meta;
    if (lead) std::fprintf(stderr, "lipschitz: reusing %s\n", stage_files[1].c_str());
  } else {
    Network net = inputs.model.net.clone();
    const nets::TrainParams tp = cc.train_params(fine_tune_defaults(inputs.model.meta));
    nets::LipschitzRegularizer reg(cc.lipschitz, nets::matmul_layers(net));
    if (lead)
      std::fprintf(stderr, "lipschitz: fine-tuning %s %d epochs (lr %g) with beta %g, lambda %g on %lld images\n",
                   c.model.path.c_str(), tp.epochs, tp.optimizer.lr, cc.lipschitz.beta, reg.lambda(),
                   train_all.size());
    const auto t0 = std::chrono::steady_clock::now();
    nets::train(net, train_all, nullptr, tp, {&reg}, o.progress && lead);
    nets::ModelMeta meta = inputs.model.meta;
    meta.fine_tuned_from = c.model.path;
    meta.fine_tuned_from_accuracy = inputs.model.meta.test_accuracy;
    meta.epochs = tp.epochs;
    meta.seed = tp.seed;
    meta.train_config = cf.text;
    meta.test_accuracy = nets::evaluate(net, test).accuracy;
    meta.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    meta.created.clear();
    if (lead) nets::save_model(stage_files[1], net, meta);
    lipschitz_meta = meta;
    nets[1] = std::move(net);
  }

  // Stage 3: the placement search on both backbones (BatchNorm folded, as the hardware runs them).
  std::array<Network, kBackbones> backbone = {hardware_network(nets[0]), hardware_network(nets[1])};
  r.sites = nets::block_sites(backbone[0]);
  if (r.sites.empty()) fail_at(file, "model.path", "the model has no site for a compensation block (one Dense/Conv2d layer)");
  double count = 1;
  for (std::size_t s = 0; s < r.sites.size(); ++s) count *= options + 1;
  const bool exhaustive = count <= cc.search.exhaustive_limit;
  r.placements = exhaustive ? std::size_t(count) : 0;
  for (std::size_t b = 0; b < kBackbones; ++b) {
    r.backbone_params[b] = nets::parameter_count(backbone[b]);
    r.backbone_macs[b] = nets::mac_count(backbone[b]);
    r.search[b].resize(r.placements);
    r.outcome[b].exhaustive = exhaustive;
  }
  // Evaluation state.
  const std::size_t P = c.points();
  for (std::size_t v = 0; v < kVariants; ++v) r.points.emplace_back(P, PointRecords(c.mc.trials));
  r.keys = TrialKeys(c.mc.seed, c.mc.trials);
  for (std::size_t v = 0; v < kVariants; ++v) r.variants[v].model_file = stage_files[v];

  // Search records: reward, accuracy, extra parameters, extra MACs. Evaluation records: accuracy, loss.
  Scheduler sched(
      o.out, kRecord,
      [&](const Job& job, std::span<const double> d) {
        if (job.unit < kBackbones) {
          SearchTable& t = r.search[job.unit];
          if (job.index >= t.done.size()) return;
          t.done[job.index] = 1;
          t.reward[job.index] = d[0];
          t.accuracy[job.index] = d[1];
          t.params[job.index] = d[2];
          t.macs[job.index] = d[3];
          return;
        }
        const std::size_t u = job.unit - kBackbones, v = u / std::max<std::size_t>(P, 1), p = u % std::max<std::size_t>(P, 1);
        if (v >= kVariants || job.index >= std::uint64_t(c.mc.trials)) return;
        r.points[v][p].store(job.index, d[0], d[1]);
      },
      [&] { write_results(r); });
  if (out.resuming()) {
    read_results(r);
    sched.replay();
  }
  sched.checkpoint();

  // One placement's reward on backbone b: blocks inserted, trained (one epoch on the search images),
  // evaluated on the search chips.
  auto evaluate_placement = [&](std::size_t b, const std::vector<int>& pl, std::span<double> d) {
    Network net = backbone[b].clone();
    const auto blocks = nets::insert_compensation(net, r.sites, pl, cc.ranks, std::uint64_t(cc.comp.seed));
    const auto rec = train_compensation(net, blocks, backbone[b], block_targets(r.sites, pl), search_hw, cal.x,
                                        search_train, nullptr, cc.comp, 1, false);
    long long extra = 0, extra_macs = 0;
    for (std::size_t i : blocks) {
      for (const auto& p : net.layer(i).params()) extra += p->value.size();
      extra_macs += net.layer(i).macs();
    }
    const double acc =
        chip_accuracy(net, with_ranges(search_hw, rec), cal.x, search_val, cc.search.chips, cc.search.seed);
    d[0] = acc - cc.search.penalty * double(extra) / double(r.backbone_params[b]);
    d[1] = acc;
    d[2] = double(extra);
    d[3] = double(extra_macs);
  };
  if (exhaustive) {
    std::vector<Job> jobs;
    for (std::size_t b = 0; b < kBackbones; ++b)
      for (std::size_t k = 0; k < r.placements; ++k)
        if (!r.search[b].done[k]) jobs.push_back({b, k});
    if (lead && !jobs.empty())
      std::fprintf(stderr,
                   "search: %zu placements x %zu backbones (%zu sites, %d block size(s)), each trained on %d images "
                   "at %s = %g and evaluated on %d chips x %d held-out images\n",
                   r.placements, kBackbones, r.sites.size(), options, cc.search.train_images,
                   cc.comp.variation_key.c_str(), cc.comp.sigma, cc.search.chips, cc.search.val_images);
    Progress progress("search", (long long)jobs.size(), "placements", o.progress && lead);
    sched.run(jobs, [&](const Job& job, std::span<double> d) {
      evaluate_placement(job.unit, decode(job.index, r.sites.size(), options), d);
    }, &progress);
    progress.finish();
  }
  for (std::size_t b = 0; b < kBackbones; ++b) {
    SearchOutcome& so = r.outcome[b];
    nets::Reward reward = [&](const std::vector<int>& pl) {
      if (exhaustive) return r.search[b].reward[encode(pl, options)];
      std::array<double, kRecord> d{};
      evaluate_placement(b, pl, d);
      return d[0];
    };
    if (exhaustive) {  // the same tie rule as the agent's (nets/placement.hpp): fewest blocks, then first
      const auto ex = nets::exhaustive(int(r.sites.size()), options, reward);
      so.ex_evaluations = ex.evaluations;
      so.ex_best = ex.best;
      so.ex_reward = ex.best_reward;
    }
    so.rl = nets::reinforce(int(r.sites.size()), options, reward, cc.agent);
    so.rl_done = true;
  }

  // Stage 4: the chosen blocks, trained on the compensation images.
  std::array<nets::ModelMeta::Hwa, kVariants> hwa_rec;  // the DAC full scales the blocks were trained with
  for (std::size_t b = 0; b < kBackbones; ++b) {
    const std::size_t v = 2 + b;
    const auto& pl = r.outcome[b].rl.best;
    r.variants[v].placement = pl;
    if (auto m = reuse_stage(stage_files[v], cf.text, o.resume)) {
      nets[v] = std::move(m->net);
      hwa_rec[v] = m->meta.hwa;
      if (lead) std::fprintf(stderr, "%s: reusing %s\n", kVariantNames[v], stage_files[v].c_str());
      continue;
    }
    Network net = backbone[b].clone();
    const auto blocks = nets::insert_compensation(net, r.sites, pl, cc.ranks, std::uint64_t(cc.comp.seed));
    if (lead)
      std::fprintf(stderr, "%s: training blocks %s on %lld images, %d epoch(s)\n", kVariantNames[v],
                   placement_text(pl, cc.ranks).c_str(), comp_train.size(), cc.comp.epochs);
    const auto t0 = std::chrono::steady_clock::now();
    const auto rec = train_compensation(net, blocks, backbone[b], block_targets(r.sites, pl), search_hw, cal.x,
                                        comp_train, &search_val, cc.comp, cc.comp.epochs, o.progress && lead);
    nets::ModelMeta meta = b == 0 ? inputs.model.meta : lipschitz_meta;
    meta.fine_tuned_from = stage_files[b];
    meta.fine_tuned_from_accuracy = meta.test_accuracy;
    meta.train_config = cf.text;
    meta.epochs = cc.comp.epochs;
    meta.seed = cc.comp.seed;
    meta.test_accuracy = nets::evaluate(net, test).accuracy;
    meta.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    meta.created.clear();
    meta.hwa = rec;  // the blocks' training: HWA device mode, and the DAC full scales it used
    if (lead) nets::save_model(stage_files[v], net, meta);
    hwa_rec[v] = rec;
    nets[v] = std::move(net);
  }
  for (std::size_t v = 0; v < kVariants; ++v) {
    VariantInfo& vi = r.variants[v];
    const Network hw = hardware_network(nets[v]);
    vi.params = nets::parameter_count(hw);
    vi.macs = nets::mac_count(hw);
    vi.extra_params = vi.params - r.backbone_params[v % 2];
    vi.extra_macs = vi.macs - r.backbone_macs[v % 2];
    vi.digital_accuracy = nets::evaluate(nets[v], test).accuracy;
  }
  r.digital_accuracy = r.variants[0].digital_accuracy;
  sched.checkpoint();

  // Stage 5: Monte Carlo evaluation of the four variants at every sweep point.
  std::vector<std::unique_ptr<AnalogNetwork>> an(kVariants * P);
  std::vector<Network> hw_nets;
  for (std::size_t v = 0; v < kVariants; ++v) hw_nets.push_back(hardware_network(nets[v]));
  std::map<std::pair<std::size_t, std::size_t>, Matrix> prefix;  // (variant, first analog node)
  for (std::size_t v = 0; v < kVariants; ++v)
    for (std::size_t p = 0; p < P; ++p) {
      try {
        an[v * P + p] = std::make_unique<AnalogNetwork>(hw_nets[v], with_ranges(c.analog_at(p), hwa_rec[v]), cal.x);
      } catch (const Error& e) {
        throw Error(file + ": " + kVariantNames[v] + ": " + e.what());
      }
      const auto key = std::make_pair(v, an[v * P + p]->first_analog());
      if (!prefix.count(key)) prefix[key] = an[v * P + p]->prefix(test.x);
    }
  std::vector<Job> jobs;
  for (std::size_t v = 0; v < kVariants; ++v)
    for (std::size_t p = 0; p < P; ++p)
      for (int t = 0; t < c.mc.trials; ++t)
        if (!r.points[v][p].done[std::size_t(t)]) jobs.push_back({kBackbones + v * P + p, std::uint64_t(t)});
  std::vector<std::unique_ptr<nets::AnalogInstance>> instances(std::size_t(omp_get_max_threads()) * kVariants * P);
  Progress progress("mc", (long long)jobs.size(), "trials", o.progress && lead);
  sched.run(jobs, [&](const Job& job, std::span<double> d) {
    const std::size_t u = job.unit - kBackbones, v = u / P;
    auto& inst = instances.at(std::size_t(omp_get_thread_num()) * kVariants * P + u);
    const TrialResult res =
        run_trial(*an[u], prefix.at({v, an[u]->first_analog()}), test.y, c.mc, job.index, &inst);
    d[0] = res.accuracy;
    d[1] = res.loss;
    d[2] = d[3] = 0;
  }, &progress);
  progress.finish();
  for (std::size_t p = 0; p < P && r.half_point < 0; ++p)
    if (summarize(r.points[0][p], c.mc.confidence).mean < 0.5 * r.variants[0].digital_accuracy) r.half_point = int(p);
  r.info.status = "complete";
  r.info.end_time = nets::utc_now();
  sched.finish();

  if (lead && !o.quiet) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf("\nCorrectNet: %s on %s (%d test images), lambda %.4f, %zu sites, seed %d\n", c.model.path.c_str(),
                c.data.dataset.c_str(), c.data.subset, r.lambda, r.sites.size(), c.mc.seed);
    for (std::size_t v = 0; v < kVariants; ++v) {
      const auto& vi = r.variants[v];
      std::printf("  %-11s clean %.4f  params %lld (+%.2f%%)  MACs %lld (+%.2f%%)%s%s\n", kVariantNames[v],
                  vi.digital_accuracy, vi.params, 100.0 * double(vi.extra_params) / double(r.backbone_params[v % 2]),
                  vi.macs, 100.0 * double(vi.extra_macs) / double(r.backbone_macs[v % 2]),
                  vi.placement.empty() ? "" : "  blocks ", vi.placement.empty() ? "" : placement_text(vi.placement, cc.ranks).c_str());
    }
    for (std::size_t b = 0; b < kBackbones; ++b) {
      const auto& so = r.outcome[b];
      std::printf("  search on %-9s RL best %s reward %.4f after %zu evaluations", kVariantNames[b],
                  placement_text(so.rl.best, cc.ranks).c_str(), so.rl.best_reward, so.rl.evaluations);
      if (so.exhaustive)
        std::printf("; exhaustive best %s reward %.4f (%zu evaluations)", placement_text(so.ex_best, cc.ranks).c_str(),
                    so.ex_reward, so.ex_evaluations);
      std::printf("\n");
    }
    std::string head;
    for (const auto& a : c.sweep) head += a.key + "  ";
    std::printf("%s", head.c_str());
    for (const char* n : kVariantNames) std::printf("  %-26s", n);
    std::printf("   (mean accuracy [%.0f%% CI], %d chips)\n", c.mc.confidence * 100, c.mc.trials);
    for (std::size_t p = 0; p < P; ++p) {
      const auto vals = c.values_at(p);
      for (std::size_t i = 0; i < vals.size(); ++i) std::printf("%*s  ", int(c.sweep[i].key.size()), to_str(vals[i]).c_str());
      for (std::size_t v = 0; v < kVariants; ++v) {
        const Summary s = summarize(r.points[v][p], c.mc.confidence);
        std::printf("  %.4f [%.4f, %.4f]  ", s.mean, s.lo, s.hi);
      }
      std::printf("\n");
    }
    if (r.half_point >= 0)
      std::printf("baseline below half its clean accuracy from point %d on\n", r.half_point);
    std::printf("results: %s (%.1f s)\n", o.out.c_str(), seconds);
  }
  return 0;
}

}  // namespace aimc::experiments
