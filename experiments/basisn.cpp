#include "experiments/basisn.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>

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
#include "nets/basisn.hpp"
#include "nets/mitigation.hpp"
#include "nets/model_io.hpp"
#include "nets/train.hpp"

namespace aimc::experiments {

using nets::AnalogConfig;
using nets::Network;

std::span<const Param<BasisnParams>> BasisnParams::params() {
  using P = BasisnParams;
  static const Param<P> t[] = {
      {"length", &P::length, "1",
       "L, length of a basis vector: 9 g for 3x3 kernels over g input channels (a dense layer's inputs are cut into "
       "vectors of this length)",
       "BasisN (Eldebiky et al., arXiv:2407.03738): kernels over input-channel groups; 72 = 3x3 x 8 channels fits a "
       "128-row crossbar",
       between(1, 65536)},
      {"size", &P::size, "1", "M, number of global basis vectors (crossbar columns of the basis), at most length",
       "BasisN: a basis of a few tens of vectors; 64 of 72 keeps the fit error of the reference CNN small",
       between(1, 65536)},
      {"layers", &P::layers, "",
       "Dense/Conv2d layers re-expressed through the basis: all, inner (first and last stay standard) or a list of "
       "ordinals \"0,2\"",
       "BasisN converts every layer so that no crossbar is ever reprogrammed"},
      {"init", &P::init, "",
       "pretrained: basis from a truncated SVD of the model's kernels, then fine-tuning; scratch: the same from a "
       "random re-initialization of the architecture",
       "the issue's two training paths"},
      {"rounds", &P::rounds, "1", "alternating rounds: coefficients with the basis frozen, then the basis",
       "BasisN's alternating optimization of basis and coefficients", between(0, 1000)},
      {"coeff_epochs", &P::coeff_epochs, "1", "epochs per round that train the coefficients (and biases)", "short fine-tuning",
       between(0, 10000)},
      {"basis_epochs", &P::basis_epochs, "1", "epochs per round that train the shared basis", "short fine-tuning",
       between(0, 10000)},
      {"qat_epochs", &P::qat_epochs, "1",
       "epochs of quantization-aware fine-tuning of the coefficients (straight-through estimator)",
       "Bengio et al. 2013 (STE); BasisN's quantized coefficients", between(0, 10000)},
      {"coeff_bits", &P::coeff_bits, "1", "coefficient bits (0: float; else 2..16, sign included)",
       "BasisN: few-bit coefficients so the combination is shifts and adds", between(0, 16)},
      {"coeff_mode", &P::coeff_mode, "",
       "coefficient quantizer: pow2 (sign and a power of two: shift-and-add) or uniform",
       "BasisN: power-of-two coefficients"},
      {"train_images", &P::train_images, "1", "training images of every phase (0: all)", "short runs and tests",
       between(0, 1000000000)},
      {"lr", &P::lr, "1", "Adam learning rate (cosine schedule within each phase)", "Kingma & Ba 2015 default 1e-3",
       {0.0, 10.0, true, false}},
      {"batch", &P::batch, "1", "mini-batch size", "128 as aimc train", between(1, 1 << 20)},
      {"seed", &P::seed, "1",
       "seed of shuffling (Stream(seed, \"shuffle\", {epoch})) and of the scratch initialization "
       "(Stream(seed, \"basisn.init\"))",
       "any", between(0, 2147483647)},
      {"n_xbar", &P::n_xbar, "1", "numbers of available crossbars of the cost comparison, comma-separated",
       "a sweep from one crossbar to more than the standard mapping needs"},
  };
  return t;
}

namespace {

constexpr const char* kOwnSections[] = {"basisn", "xbar_cost"};
constexpr std::size_t kVariants = 2;
constexpr const char* kVariantNames[kVariants] = {"standard", "basisn"};
constexpr std::size_t kRecord = 2;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

BasisnConfig parse_basisn_config(const ConfigFile& f) {
  const std::string& file = f.path;
  std::vector<std::string> sections = {"model", "data", "mc", "sweep"};
  sections.insert(sections.end(), std::begin(kOwnSections), std::end(kOwnSections));
  sections.insert(sections.end(), analog_section_names().begin(), analog_section_names().end());
  check_keys(f.root, sections, file, "");
  BasisnConfig c;
  ConfigFile part = f;
  for (const char* k : kOwnSections) part.root.erase(k);
  c.mc = parse_mc_config(part);
  c.mc.file = f;
  if (const auto* t = subtable(f.root, "basisn", file, "")) c.bn = read_params<BasisnParams>(*t, file, "basisn");
  if (const auto* t = subtable(f.root, "xbar_cost", file, "")) {
    c.cost = read_params<devices::XbarCostParams>(*t, file, "xbar_cost");
    for (const auto& [key, from] : {std::pair{"xbar_rows", "mapping.tile_rows"}, {"xbar_cols", "mapping.tile_cols"},
                                    {"coefficients", "basisn.coeff_mode"}})
      if (t->contains(key)) fail_at(file, std::string("xbar_cost.") + key, std::string("is set by ") + from + " in this study");
  }
  if (c.bn.size > c.bn.length)
    fail_at(file, "basisn.size", std::to_string(c.bn.size) + " exceeds basisn.length = " + std::to_string(c.bn.length));
  if (c.bn.init != "pretrained" && c.bn.init != "scratch")
    fail_at(file, "basisn.init", "\"" + c.bn.init + "\": must be pretrained or scratch");
  if (c.bn.coeff_mode != "pow2" && c.bn.coeff_mode != "uniform")
    fail_at(file, "basisn.coeff_mode", "\"" + c.bn.coeff_mode + "\": must be pow2 or uniform");
  if (c.bn.coeff_bits == 1) fail_at(file, "basisn.coeff_bits", "1: must be 0 (float) or 2..16 (the sign takes a bit)");
  for (double v : parse_number_list(c.bn.n_xbar, file, "basisn.n_xbar", 1, 1e12)) {
    if (v != std::floor(v)) fail_at(file, "basisn.n_xbar", "\"" + c.bn.n_xbar + "\": crossbar counts must be integers");
    c.n_xbar.push_back((long long)v);
  }
  // The cost model's crossbar is the mapping's tile, and its coefficient arithmetic the model's.
  c.cost.xbar_rows = c.mc.analog.mapping.tile_rows;
  c.cost.xbar_cols = c.mc.analog.mapping.tile_cols;
  c.cost.coefficients = c.bn.coeff_mode;
  try {
    validate(c.cost, "xbar_cost");
  } catch (const Error& e) {
    throw Error(file + ": " + e.what());
  }
  return c;
}

namespace {

struct VariantInfo {
  std::string model_file;
  long long params = 0, macs = 0;
  long long analog_macs = 0, digital_macs = 0;  ///< per inference: crossbar MACs, digital (coefficient) MACs
  double digital_accuracy = kNaN;
  std::vector<PointRecords> points;  ///< per sweep point
};

struct CostRow {
  long long n_xbar = 0;
  devices::CostResult standard, basisn;
};

struct Run : ModelRun<McConfig> {
  Run(const BasisnConfig& c, const ResultsWriter& f, const nets::ModelMeta& meta, int ranks)
      : ModelRun(c.mc, f, meta, "aimc-basisn", c.mc.mc.seed, ranks), bc(&c) {}
  const BasisnConfig* bc;
  std::array<VariantInfo, kVariants> variants;
  std::vector<nets::BasisLayerInfo> layers;
  Matrix basis;
  std::vector<devices::LayerWork> work;
  long long standard_xbars = 0, basis_xbars = 0;
  std::vector<CostRow> cost;
  long long crossover = -1;  ///< smallest n_xbar at which the standard mapping's EDP is below BasisN's (-1: none)
  TrialKeys keys;
  std::vector<nets::EpochLog> log;
  std::vector<std::string> log_phase;
};

void write_cost(H5::Group& g, const std::vector<CostRow>& rows, bool basisn) {
  std::vector<std::int64_t> feasible, used;
  std::vector<double> cycles, latency, energy, edp, write_energy, write_time, analog, digital, once;
  std::vector<std::string> mapping;
  for (const auto& row : rows) {
    const devices::CostResult& c = basisn ? row.basisn : row.standard;
    mapping.push_back(c.mapping);
    feasible.push_back(c.feasible);
    used.push_back(c.crossbars_used);
    cycles.push_back(c.cycles);
    latency.push_back(c.latency_s);
    energy.push_back(c.energy_J);
    edp.push_back(c.edp_Js);
    write_energy.push_back(c.write_energy_J);
    write_time.push_back(c.write_time_s);
    analog.push_back(c.analog_energy_J);
    digital.push_back(c.digital_energy_J);
    once.push_back(c.one_time_write_energy_J);
  }
  h5::write_strings(g, "mapping", mapping, "standard (fits), reprogram (does not fit) or basisn, per n_xbar");
  h5::write(g, "feasible", feasible, "", "1 if the mapping can run on n_xbar crossbars");
  h5::write(g, "crossbars_used", used, "1", "crossbars the mapping occupies");
  h5::write(g, "cycles", cycles, "1", "crossbar read cycles per inference");
  h5::write(g, "latency", latency, "s", "time per inference");
  h5::write(g, "energy", energy, "J", "energy per inference");
  h5::write(g, "edp", edp, "J s", "energy-delay product per inference");
  h5::write(g, "write_energy", write_energy, "J", "write-and-verify energy per inference (reprogramming)");
  h5::write(g, "write_time", write_time, "s", "write-and-verify time per inference (reprogramming)");
  h5::write(g, "analog_energy", analog, "J", "crossbar read energy per inference (cells, DAC, ADC)");
  h5::write(g, "digital_energy", digital, "J", "digital combination energy per inference");
  h5::write(g, "one_time_write_energy", once, "J", "energy of writing the resident weights once (not per inference)");
}

void write_results(const Run& r) {
  const BasisnConfig& bc = *r.bc;
  const McConfig& c = bc.mc;
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    r.write_model_attributes(root);
    h5::set_attr(root, "trials", std::int64_t(c.mc.trials));
    h5::set_attr(root, "points", std::int64_t(c.points()));
    h5::set_attr(root, "program_stream", "Stream(seed, \"mc.program\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "read_stream", "Stream(seed, \"mc.read\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "training_streams",
                 "shuffle Stream(basisn.seed, \"shuffle\", {epoch}); scratch init Stream(basisn.seed, \"basisn.init\")");
    h5::set_attr(root, "standard_crossbars", std::int64_t(r.standard_xbars));
    h5::set_attr(root, "basis_crossbars", std::int64_t(r.basis_xbars));
    h5::set_attr(root, "crossover_n_xbar", std::int64_t(r.crossover));
  };
  content.resolved = [&](H5::Group& res) {
    write_resolved(res, "model", c.model);
    write_resolved(res, "data", c.data);
    write_resolved(res, "mc", c.mc);
    write_resolved(res, "basisn", bc.bn);
    write_resolved(res, "xbar_cost", bc.cost);
    write_resolved_analog(res, c.analog);
  };
  content.groups = [&](H5::Group& root) {
    r.keys.write(root, "chip");
    write_sweep_axes(root, c);
    {
      H5::Group lg = h5::group(root, "layers");
      std::vector<std::string> names;
      std::vector<std::int64_t> rows, cols, pos, seg;
      std::vector<double> err;
      for (const auto& l : r.layers) {
        names.push_back(l.name);
        rows.push_back(l.rows);
        cols.push_back(l.cols);
        pos.push_back(l.positions);
        seg.push_back(l.segments);
        err.push_back(l.fit_error);
      }
      h5::write_strings(lg, "name", names, "converted layers (node names of the standard model)");
      h5::write(lg, "rows", rows, "1", "K, crossbar input rows of the standard layer");
      h5::write(lg, "cols", cols, "1", "N, outputs");
      h5::write(lg, "positions", pos, "1", "output positions per inference (input vectors)");
      h5::write(lg, "segments", seg, "1", "S, basis vectors of length L per input vector");
      h5::write(lg, "fit_error", err, "1", "||W - B C||_F / ||W||_F of the initial basis fit (init = pretrained)");
      MatrixD b = r.basis.cast<double>();
      h5::write(lg, "basis", b, "", "the trained global basis B (L x M), as written to the crossbars");
    }
    {
      H5::Group tg = h5::group(root, "training");
      std::vector<std::int64_t> epoch;
      std::vector<double> loss, acc, lr;
      for (const auto& e : r.log) {
        epoch.push_back(e.epoch);
        loss.push_back(e.loss);
        acc.push_back(e.train_accuracy);
        lr.push_back(e.lr);
      }
      h5::write_strings(tg, "phase", r.log_phase, "coefficients | basis | qat, per epoch");
      h5::write(tg, "epoch", epoch, "1", "epoch within its phase");
      h5::write(tg, "loss", loss, "nat", "mean training cross-entropy of the epoch");
      h5::write(tg, "train_accuracy", acc, "1", "accuracy on the training batches as seen");
      h5::write(tg, "lr", lr, "1", "learning rate at the end of the epoch");
    }
    H5::Group vg = h5::group(root, "variants");
    for (std::size_t v = 0; v < kVariants; ++v) {
      const VariantInfo& vi = r.variants[v];
      H5::Group g = h5::group(vg, kVariantNames[v]);
      h5::set_attr(g, "model_file", vi.model_file);
      h5::set_attr(g, "parameters", std::int64_t(vi.params));
      h5::set_attr(g, "macs", std::int64_t(vi.macs));
      h5::set_attr(g, "analog_macs", std::int64_t(vi.analog_macs));
      h5::set_attr(g, "digital_macs", std::int64_t(vi.digital_macs));
      h5::set_attr(g, "digital_accuracy", vi.digital_accuracy);
      if (!vi.points.empty()) write_sweep_points(g, c, vi.points);
    }
    H5::Group cg = h5::group(root, "cost");
    std::vector<std::int64_t> nx;
    for (const auto& row : r.cost) nx.push_back(row.n_xbar);
    h5::write(cg, "n_xbar", nx, "1", "available crossbars");
    H5::Group cs = h5::group(cg, "standard");
    write_cost(cs, r.cost, false);
    H5::Group cb = h5::group(cg, "basisn");
    write_cost(cb, r.cost, true);
  };
  r.file->write(r.info, content);
}

void read_results(Run& r) {
  const std::string& out = r.file->path();
  r.file->read("aimc basisn", r.info, [&](const H5::Group& root) {
    H5::Group vg = h5::open_group(root, "variants", out);
    for (std::size_t v = 0; v < kVariants; ++v)
      read_sweep_points(h5::open_group(vg, kVariantNames[v], out), r.variants[v].points, out,
                        std::string("variants/") + kVariantNames[v]);
  });
}

/// The training schedule of stage 2 on `net` (a BasisN network): alternating rounds, then QAT.
void train_basisn(Network& net, const data::Dataset& train, const BasisnParams& p, bool progress,
                  std::vector<nets::EpochLog>& log, std::vector<std::string>& phase) {
  nets::TrainParams tp;
  tp.batch_size = p.batch;
  tp.seed = p.seed;
  tp.optimizer.lr = p.lr;
  auto run = [&](const char* name, int epochs, bool basis, bool coeff) {
    if (epochs <= 0) return;
    nets::set_basis_trainable(net, basis, coeff, coeff);
    tp.epochs = epochs;
    if (progress) std::fprintf(stderr, "basisn: %s, %d epoch(s) on %lld images\n", name, epochs, train.size());
    for (const auto& e : nets::train(net, train, nullptr, tp, {}, progress)) {
      log.push_back(e);
      phase.emplace_back(name);
    }
  };
  nets::set_coefficient_quantization(net, 0, p.coeff_mode);
  for (int k = 0; k < p.rounds; ++k) {
    run("coefficients", p.coeff_epochs, false, true);
    run("basis", p.basis_epochs, true, false);
  }
  nets::set_coefficient_quantization(net, p.coeff_bits, p.coeff_mode);
  run("qat", p.qat_epochs, false, true);
  nets::set_basis_trainable(net, true, true, true);
}

/// Work per inference of every Dense/Conv2d layer of the standard network (and, for converted layers,
/// their BasisN form from the converted network).
std::vector<devices::LayerWork> layer_work(const Network& standard, const Network& basisn, int size) {
  std::vector<devices::LayerWork> w;
  for (std::size_t i = 0; i < standard.size(); ++i) {
    const auto* ml = dynamic_cast<const nets::MatmulLayer*>(&standard.layer(i));
    if (!ml) continue;
    devices::LayerWork lw;
    lw.name = standard.name(i);
    lw.rows = ml->weight().rows();
    lw.cols = ml->weight().cols();
    lw.mvms = ml->positions();
    std::size_t j = 0;
    for (; j < basisn.size(); ++j)
      if (basisn.name(j) == lw.name + ".basis") break;
    if (j < basisn.size())
      if (const auto* bp = dynamic_cast<const nets::BasisProduct*>(&basisn.layer(j))) {
        lw.segments = bp->segments();
        lw.coeff_macs = (long long)lw.mvms * bp->segments() * size * lw.cols;
      }
    w.push_back(lw);
  }
  return w;
}

}  // namespace

int run_basisn(const BasisnOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  const Mpi& mpi = Mpi::world();
  const bool lead = mpi.rank() == 0;
  const ConfigFile cf = load_config(o.config);
  const BasisnConfig bc = parse_basisn_config(cf);
  const McConfig& c = bc.mc;
  const std::string& file = cf.path;
  const bool talk = o.progress && lead;

  const ResultsWriter out({.command = "basisn", .path = o.out, .resume = o.resume, .force = o.force, .lead = lead});
  const std::string stage_file = stem_of(o.out) + ".basisn.h5";
  if (lead && std::filesystem::exists(stage_file) && !o.resume && !o.force)
    throw Error(stage_file + ": model file of a previous run exists; pass --resume to continue that run or --force to "
                             "overwrite it");

  CampaignInputs inputs = load_campaign_inputs(file, c.model, c.data);
  const auto& test = inputs.test;
  const auto cal = load_calibration(file, c.data);
  const auto train_all = load_split(file, c.data, "train");
  check_model_fits(file, c.model.path, inputs.model.net, c.data, train_all);
  if (bc.bn.train_images > train_all.size())
    fail_at(file, "basisn.train_images",
            std::to_string(bc.bn.train_images) + " exceeds the " + std::to_string(train_all.size()) + " training images");
  const data::Dataset train = bc.bn.train_images > 0 ? train_all.head(bc.bn.train_images) : train_all;

  Run r(bc, out, inputs.model.meta, mpi.size());
  std::array<Network, kVariants> nets;
  nets[0] = hardware_network(inputs.model.net);

  // Stage 2: the BasisN model.
  nets::BasisOptions bo;
  bo.length = bc.bn.length;
  bo.size = bc.bn.size;
  bo.layers = bc.bn.layers;
  bo.coeff_mode = bc.bn.coeff_mode;
  try {
    Network probe = nets::to_basisn(nets[0], bo, &r.layers);  // the fit of the pretrained kernels (reported)
    if (bc.bn.init == "pretrained") nets[1] = std::move(probe);
  } catch (const Error& e) {
    throw Error(file + ": " + e.what());
  }
  if (auto m = reuse_stage(stage_file, cf.text, o.resume)) {
    nets[1] = std::move(m->net);
    if (lead) std::fprintf(stderr, "basisn: reusing %s\n", stage_file.c_str());
  } else {
    if (bc.bn.init == "scratch") {
      Network fresh = nets[0].clone();
      Stream init(std::uint64_t(bc.bn.seed), "basisn.init");
      fresh.init(init);
      nets[1] = nets::to_basisn(fresh, bo);
    }
    const auto t0 = std::chrono::steady_clock::now();
    train_basisn(nets[1], train, bc.bn, talk, r.log, r.log_phase);
    nets::ModelMeta meta = inputs.model.meta;
    meta.fine_tuned_from = c.model.path;
    meta.fine_tuned_from_accuracy = inputs.model.meta.test_accuracy;
    meta.epochs = int(r.log.size());
    meta.seed = bc.bn.seed;
    meta.train_config = cf.text;
    meta.test_accuracy = nets::evaluate(nets[1], test).accuracy;
    meta.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    meta.created.clear();
    if (lead) nets::save_model(stage_file, nets[1], meta);
  }
  if (auto b = nets::shared_basis(nets[1])) r.basis = b->value;

  // Stage 3: digital accuracy, sizes and work.
  r.variants[0].model_file = c.model.path;
  r.variants[1].model_file = stage_file;
  for (std::size_t v = 0; v < kVariants; ++v) {
    VariantInfo& vi = r.variants[v];
    vi.params = nets::parameter_count(nets[v]);
    vi.macs = nets::mac_count(nets[v]);
    for (std::size_t i = 0; i < nets[v].size(); ++i) {
      const nets::Layer& l = nets[v].layer(i);
      if (dynamic_cast<const nets::MatmulLayer*>(&l)) vi.analog_macs += l.macs();
      else if (dynamic_cast<const nets::BasisCombine*>(&l)) vi.digital_macs += l.macs();
    }
    vi.digital_accuracy = nets::evaluate(nets[v], test).accuracy;
  }
  r.digital_accuracy = r.variants[0].digital_accuracy;

  // Stage 5 (cheap, before the Monte Carlo so a partial file already has it): cost over n_xbar.
  r.work = layer_work(nets[0], nets[1], bc.bn.size);
  r.standard_xbars = devices::standard_crossbars(r.work, bc.cost);
  r.basis_xbars = devices::crossbars_for(bc.bn.length, bc.bn.size, bc.cost);
  const devices::BasisShape shape{bc.bn.length, bc.bn.size};
  for (long long n : bc.n_xbar) {
    CostRow row;
    row.n_xbar = n;
    row.standard = devices::standard_cost(r.work, bc.cost, n);
    row.basisn = devices::basisn_cost(r.work, shape, bc.cost, n);
    r.cost.push_back(row);
  }
  for (const auto& row : r.cost)
    if (row.standard.feasible && (!row.basisn.feasible || row.standard.edp_Js < row.basisn.edp_Js)) {
      r.crossover = row.n_xbar;
      break;
    }

  // Stage 4: Monte Carlo over chips.
  const std::size_t P = c.points();
  for (auto& vi : r.variants) vi.points.assign(P, PointRecords(c.mc.trials));
  r.keys = TrialKeys(c.mc.seed, c.mc.trials);
  Scheduler sched(
      o.out, kRecord,
      [&](const Job& job, std::span<const double> d) {
        const std::size_t v = job.unit / std::max<std::size_t>(P, 1), p = job.unit % std::max<std::size_t>(P, 1);
        if (v >= kVariants || job.index >= std::uint64_t(c.mc.trials)) return;
        r.variants[v].points[p].store(job.index, d[0], d[1]);
      },
      [&] { write_results(r); });
  if (out.resuming()) {
    read_results(r);
    sched.replay();
  }
  sched.checkpoint();

  std::vector<ChipRunner::Unit> units;
  for (std::size_t v = 0; v < kVariants; ++v)
    for (std::size_t p = 0; p < P; ++p) units.push_back({&nets[v], c.analog_at(p), kVariantNames[v]});
  ChipRunner chips(units, cal.x, test.x, file);
  std::vector<Job> jobs;
  for (std::size_t v = 0; v < kVariants; ++v)
    for (std::size_t p = 0; p < P; ++p)
      for (int t = 0; t < c.mc.trials; ++t)
        if (!r.variants[v].points[p].done[std::size_t(t)]) jobs.push_back({v * P + p, std::uint64_t(t)});
  Progress progress("mc", (long long)jobs.size(), "chips", talk);
  sched.run(jobs, [&](const Job& job, std::span<double> d) {
    const TrialResult res = chips.trial(job.unit, job.index, test.y, c.mc);
    d[0] = res.accuracy;
    d[1] = res.loss;
  }, &progress);
  progress.finish();
  r.info.status = "complete";
  r.info.end_time = nets::utc_now();
  sched.finish();

  if (lead && !o.quiet) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf("\nBasisN: %s on %s (%d test images), basis %d x %d (%lld crossbar(s)), coefficients %d-bit %s\n",
                c.model.path.c_str(), c.data.dataset.c_str(), c.data.subset, bc.bn.length, bc.bn.size, r.basis_xbars,
                bc.bn.coeff_bits, bc.bn.coeff_bits ? bc.bn.coeff_mode.c_str() : "(float)");
    for (std::size_t v = 0; v < kVariants; ++v) {
      const auto& vi = r.variants[v];
      std::printf("  %-8s clean %.4f  params %lld  crossbar MACs %lld  digital MACs %lld\n", kVariantNames[v],
                  vi.digital_accuracy, vi.params, vi.analog_macs, vi.digital_macs);
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
        const Summary s = summarize(r.variants[v].points[p], c.mc.confidence);
        std::printf("  %.4f [%.4f, %.4f]  ", s.mean, s.lo, s.hi);
      }
      std::printf("\n");
    }
    std::printf("cost per inference (standard mapping needs %lld crossbars of %dx%d):\n", r.standard_xbars,
                bc.cost.xbar_rows, bc.cost.xbar_cols);
    std::printf("  (cycles: latency in crossbar read cycles of %g s, write-and-verify included)\n", bc.cost.t_read_s);
    std::printf("  %8s  %-9s %12s %12s %12s   %12s %12s %12s   %9s %9s\n", "n_xbar", "standard", "cycles", "energy/J",
                "EDP/Js", "BasisN cyc", "energy/J", "EDP/Js", "cyc ratio", "EDP ratio");
    for (const auto& row : r.cost) {
      const auto& s = row.standard;
      const auto& b = row.basisn;
      const double cs = s.latency_s / bc.cost.t_read_s, cb = b.latency_s / bc.cost.t_read_s;
      std::printf("  %8lld  %-9s %12.4g %12.4g %12.4g   %12.4g %12.4g %12.4g   %9.3g %9.3g\n", row.n_xbar,
                  s.mapping.c_str(), cs, s.energy_J, s.edp_Js, b.feasible ? cb : kNaN, b.feasible ? b.energy_J : kNaN,
                  b.feasible ? b.edp_Js : kNaN, b.feasible && cs > 0 ? cb / cs : kNaN,
                  b.feasible && s.edp_Js > 0 ? b.edp_Js / s.edp_Js : kNaN);
    }
    if (r.crossover >= 0) std::printf("standard mapping's EDP below BasisN's from n_xbar = %lld on\n", r.crossover);
    else std::printf("BasisN's EDP is below the standard mapping's at every n_xbar of the sweep\n");
    std::printf("results: %s (%.1f s)\n", o.out.c_str(), seconds);
  }
  return 0;
}

}  // namespace aimc::experiments
