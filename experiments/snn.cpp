#include "experiments/snn.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
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
#include "nets/analog.hpp"
#include "nets/hwa.hpp"
#include "nets/model_io.hpp"
#include "nets/snn.hpp"
#include "nets/train.hpp"

namespace aimc::experiments {

using nets::AnalogConfig;
using nets::Network;

std::span<const Param<SnnParams>> SnnParams::params() {
  using P = SnnParams;
  static const Param<P> t[] = {
      {"hwa_epochs", &P::hwa_epochs, "1",
       "variant hwa: fine-tuning epochs with every analog layer's tile partial sums on the 1-bit read-out",
       "Apolinario et al. (arXiv:2211.02167): hardware-aware training with the sense amplifier in the loop; a short "
       "fine-tuning of the trained SNN",
       between(0, 10000)},
      {"stage_epochs", &P::stage_epochs, "1",
       "variant progressive: fine-tuning epochs per stage (stage k: the first k analog layers on the 1-bit read-out)",
       "Apolinario et al.: hardware awareness increased progressively; hwa_epochs = L stage_epochs gives both the "
       "same epoch budget",
       between(0, 10000)},
      {"weight_noise", &P::weight_noise, "",
       "weight noise of both fine-tunings: none | additive | multiplicative | lognormal | device (nets/hwa.hpp)",
       "none: the read-out alone is the hardware the training sees"},
      {"sigma_w", &P::sigma_w, "1", "spread of that weight noise", "0 with weight_noise = none", {0.0, 10.0, false, false}},
      {"train_images", &P::train_images, "1", "training images of every fine-tuning phase (0: all)", "short runs and tests",
       between(0, 1000000000)},
      {"lr", &P::lr, "1", "Adam learning rate (cosine schedule within each phase)",
       "half of aimc train's 1e-3: fine-tuning a trained network", {0.0, 10.0, true, false}},
      {"batch", &P::batch, "1", "mini-batch size", "128 as aimc train", between(1, 1 << 20)},
      {"seed", &P::seed, "1",
       "seed of shuffling (Stream(seed, \"shuffle\", {epoch})) and of the HWA streams (Stream(seed, \"hwa.*\", ...))",
       "any", between(0, 2147483647)},
  };
  return t;
}

namespace {

constexpr const char* kOwnSections[] = {"snn", "snn_cost"};
constexpr std::size_t kVariants = 5;
constexpr const char* kVariantNames[kVariants] = {"ideal", "adc", "sense_amp", "hwa", "progressive"};
constexpr const char* kVariantReadout[kVariants] = {"ideal", "adc", "sense_amp", "sense_amp", "sense_amp"};
constexpr std::size_t kRecord = 2;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

SnnConfig parse_snn_config(const ConfigFile& f) {
  const std::string& file = f.path;
  std::vector<std::string> sections = {"model", "data", "mc", "sweep"};
  sections.insert(sections.end(), std::begin(kOwnSections), std::end(kOwnSections));
  sections.insert(sections.end(), analog_section_names().begin(), analog_section_names().end());
  check_keys(f.root, sections, file, "");
  if (const auto* m = f.root["mapping"].as_table(); m && m->contains("readout"))
    fail_at(file, "mapping.readout", "is set by each variant of this study (ideal, adc, sense_amp); remove it");
  SnnConfig c;
  ConfigFile part = f;
  for (const char* k : kOwnSections) part.root.erase(k);
  c.mc = parse_mc_config(part);
  c.mc.file = f;
  for (const auto& a : c.mc.sweep)
    if (a.key == "mapping.readout") fail_at(file, "sweep.mapping.readout", "the read-out is set by each variant of this study");
  if (const auto* t = subtable(f.root, "snn", file, "")) c.snn = read_params<SnnParams>(*t, file, "snn");
  if (const auto* t = subtable(f.root, "snn_cost", file, "")) c.cost = read_params<devices::SnnCostParams>(*t, file, "snn_cost");
  try {
    validate(c.cost, "snn_cost");
    nets::HwaParams h;
    h.weight_noise = c.snn.weight_noise;
    h.sigma_w = c.snn.sigma_w;
    validate(h, "snn");
  } catch (const Error& e) {
    throw Error(file + ": " + e.what());
  }
  return c;
}

namespace {

/// One trained model of the study and where it applies.
struct Model {
  std::string file;
  int tile_rows = 0;  ///< 0: every point (the trained model)
  double digital_accuracy = kNaN;
  Network net;
};

struct VariantInfo {
  std::vector<PointRecords> points;
  std::vector<double> digital_accuracy;  ///< per sweep point: of the model the variant runs there
};

struct CostRow {
  int tile_rows = 0;
  devices::SnnCostResult adc, sense_amp;
};

struct LayerInfo {
  std::string name;
  long long rows = 0, cols = 0, mvms = 0;
  double activity = 0;
};

struct Run : ModelRun<McConfig> {
  Run(const SnnConfig& c, const ResultsWriter& f, const nets::ModelMeta& meta, int ranks)
      : ModelRun(c.mc, f, meta, "aimc-snn", c.mc.mc.seed, ranks), sc(&c) {}
  const SnnConfig* sc;
  int steps = 0;
  std::array<VariantInfo, kVariants> variants;
  std::vector<LayerInfo> layers;
  std::vector<CostRow> cost;
  TrialKeys keys;
  std::vector<nets::EpochLog> log;
  std::vector<std::string> log_phase;
  std::vector<std::string> model_files;
};

void write_cost(H5::Group& g, const std::vector<CostRow>& rows, bool sa) {
  std::vector<double> energy, latency, array, readout, accumulate, buffer, neuron, readout_latency;
  std::vector<std::int64_t> xbars;
  for (const auto& row : rows) {
    const devices::SnnCostResult& c = sa ? row.sense_amp : row.adc;
    energy.push_back(c.energy_J);
    latency.push_back(c.latency_s);
    array.push_back(c.array_energy_J);
    readout.push_back(c.readout_energy_J);
    accumulate.push_back(c.accumulate_energy_J);
    buffer.push_back(c.buffer_energy_J);
    neuron.push_back(c.neuron_energy_J);
    readout_latency.push_back(c.readout_latency_s);
    xbars.push_back(c.crossbars);
  }
  h5::write(g, "energy", energy, "J", "energy per inference over all time steps");
  h5::write(g, "latency", latency, "s", "latency per inference over all time steps");
  h5::write(g, "array_energy", array, "J", "crossbar cells and row drivers");
  h5::write(g, "readout_energy", readout, "J", "column conversions (ADC or sense amplifier)");
  h5::write(g, "accumulate_energy", accumulate, "J", "digital accumulation of partial sums across tiles");
  h5::write(g, "buffer_energy", buffer, "J", "partial-sum and spike buffers");
  h5::write(g, "neuron_energy", neuron, "J", "LIF neuron updates");
  h5::write(g, "readout_latency", readout_latency, "s", "share of the latency spent converting");
  h5::write(g, "crossbars", xbars, "1", "crossbars holding the analog layers");
}

void write_results(const Run& r) {
  const SnnConfig& sc = *r.sc;
  const McConfig& c = sc.mc;
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    r.write_model_attributes(root);
    h5::set_attr(root, "trials", std::int64_t(c.mc.trials));
    h5::set_attr(root, "points", std::int64_t(c.points()));
    h5::set_attr(root, "time_steps", std::int64_t(r.steps));
    h5::set_attr(root, "program_stream", "Stream(seed, \"mc.program\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "read_stream", "Stream(seed, \"mc.read\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "training_streams",
                 "shuffle Stream(snn.seed, \"shuffle\", {epoch}) per phase; HWA Stream(snn.seed, \"hwa.*\", {step, "
                 "layer}) (nets/hwa.hpp)");
  };
  content.resolved = [&](H5::Group& res) {
    write_resolved(res, "model", c.model);
    write_resolved(res, "data", c.data);
    write_resolved(res, "mc", c.mc);
    write_resolved(res, "snn", sc.snn);
    write_resolved(res, "snn_cost", sc.cost);
    write_resolved_analog(res, c.analog);
  };
  content.groups = [&](H5::Group& root) {
    r.keys.write(root, "chip");
    write_sweep_axes(root, c);
    {
      H5::Group lg = h5::group(root, "layers");
      std::vector<std::string> names;
      std::vector<std::int64_t> rows, cols, mvms;
      std::vector<double> act;
      for (const auto& l : r.layers) {
        names.push_back(l.name);
        rows.push_back(l.rows);
        cols.push_back(l.cols);
        mvms.push_back(l.mvms);
        act.push_back(l.activity);
      }
      h5::write_strings(lg, "name", names, "analog layers (node names)");
      h5::write(lg, "rows", rows, "1", "K, crossbar input rows");
      h5::write(lg, "cols", cols, "1", "N, outputs");
      h5::write(lg, "mvms", mvms, "1", "input vectors per time step (output positions)");
      h5::write(lg, "input_activity", act, "1",
                "fraction of nonzero inputs (spikes) over the test subset and time steps, trained model");
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
      h5::write_strings(tg, "phase", r.log_phase, "\"hwa r<tile_rows>\" | \"progressive r<tile_rows> stage k/L\", per epoch");
      h5::write(tg, "epoch", epoch, "1", "epoch within its phase");
      h5::write(tg, "loss", loss, "nat", "mean training cross-entropy of the epoch");
      h5::write(tg, "train_accuracy", acc, "1", "accuracy on the training batches as seen");
      h5::write(tg, "lr", lr, "1", "learning rate at the end of the epoch");
      h5::write_strings(tg, "model_files", r.model_files, "the fine-tuned models (hwa, progressive per tile_rows)");
    }
    H5::Group vg = h5::group(root, "variants");
    for (std::size_t v = 0; v < kVariants; ++v) {
      const VariantInfo& vi = r.variants[v];
      H5::Group g = h5::group(vg, kVariantNames[v]);
      h5::set_attr(g, "readout", std::string(kVariantReadout[v]));
      h5::write(g, "digital_accuracy", vi.digital_accuracy, "1",
                "clean digital accuracy of the model this variant runs at each sweep point");
      if (!vi.points.empty()) write_sweep_points(g, c, vi.points);
    }
    H5::Group cg = h5::group(root, "cost");
    std::vector<std::int64_t> rows;
    std::vector<double> er, lr;
    for (const auto& row : r.cost) {
      rows.push_back(row.tile_rows);
      er.push_back(row.adc.energy_J / row.sense_amp.energy_J);
      lr.push_back(row.adc.latency_s / row.sense_amp.latency_s);
    }
    h5::set_attr(cg, "adc_bits", std::int64_t(c.analog.adc.bits));
    h5::write(cg, "tile_rows", rows, "1", "crossbar rows of the design (distinct mapping.tile_rows of the sweep)");
    h5::write(cg, "energy_ratio", er, "1", "ADC design energy / sense-amplifier design energy");
    h5::write(cg, "latency_ratio", lr, "1", "ADC design latency / sense-amplifier design latency");
    H5::Group ca = h5::group(cg, "adc");
    write_cost(ca, r.cost, false);
    H5::Group cs = h5::group(cg, "sense_amp");
    write_cost(cs, r.cost, true);
  };
  r.file->write(r.info, content);
}

void read_results(Run& r) {
  const std::string& out = r.file->path();
  r.file->read("aimc snn", r.info, [&](const H5::Group& root) {
    H5::Group vg = h5::open_group(root, "variants", out);
    for (std::size_t v = 0; v < kVariants; ++v)
      read_sweep_points(h5::open_group(vg, kVariantNames[v], out), r.variants[v].points, out,
                        std::string("variants/") + kVariantNames[v]);
  });
}

/// Fine-tunes `net` with the first `binary` of its analog layers on the 1-bit sense-amplifier read-out of
/// their tile partial sums and the rest on ideal partial sums (both behind the DAC), for `epochs`.
void fine_tune(Network& net, const data::Dataset& train, const Matrix& cal, const SnnParams& p, AnalogConfig hw,
               std::size_t binary, int epochs, const std::string& phase, bool progress, Run& r) {
  if (epochs <= 0) return;
  const auto layers = nets::analog_layer_indices(net, hw.mapping);
  const auto matmul = nets::matmul_layers(net);
  hw.mapping.readout = "sense_amp";
  for (std::size_t j = binary; j < layers.size(); ++j) {
    AnalogConfig::LayerOverride o;
    o.ordinal = int(std::find(matmul.begin(), matmul.end(), layers[j]) - matmul.begin());
    o.strings.emplace_back("mapping.readout", "ideal");
    hw.overrides.push_back(o);
  }
  nets::HwaParams hp;
  hp.io = "quantized";
  hp.partial_sums = "tile";
  hp.weight_noise = p.weight_noise;
  hp.sigma_w = p.sigma_w;
  nets::HwaTraining hwa(net, hp, hw, layers, std::uint64_t(p.seed));
  hwa.calibrate(cal);
  nets::TrainParams tp;
  tp.batch_size = p.batch;
  tp.seed = p.seed;
  tp.optimizer.lr = p.lr;
  tp.epochs = epochs;
  if (progress) std::fprintf(stderr, "snn: %s, %d epoch(s) on %lld images\n", phase.c_str(), epochs, train.size());
  for (const auto& e : nets::train(net, train, nullptr, tp, {}, progress, {}, {&hwa})) {
    r.log.push_back(e);
    r.log_phase.push_back(phase);
  }
}

/// Fraction of nonzero entries of each analog layer's input over the inputs x (a digital forward).
std::vector<double> input_activity(Network& net, const std::vector<std::size_t>& layers, const Matrix& x) {
  std::vector<double> nz(layers.size(), 0.0), n(layers.size(), 0.0);
  std::vector<int> ids;
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const int src = net.inputs(layers[k]).at(0);
    if (src == Network::kInput) {
      nz[k] = double((x.array() != 0.f).count());
      n[k] = double(x.size());
      continue;
    }
    ids.push_back(net.add_hook(std::size_t(src), [&, k](std::size_t, Matrix& y) {
      nz[k] += double((y.array() != 0.f).count());
      n[k] += double(y.size());
    }));
  }
  for (Eigen::Index b = 0; b < x.rows(); b += 500) net.forward(x.middleRows(b, std::min<Eigen::Index>(500, x.rows() - b)));
  for (int id : ids) net.remove_hook(id);
  std::vector<double> a(layers.size());
  for (std::size_t k = 0; k < layers.size(); ++k) a[k] = n[k] > 0 ? nz[k] / n[k] : 0.0;
  return a;
}

}  // namespace

int run_snn(const SnnOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  const Mpi& mpi = Mpi::world();
  const bool lead = mpi.rank() == 0;
  const ConfigFile cf = load_config(o.config);
  const SnnConfig sc = parse_snn_config(cf);
  const McConfig& c = sc.mc;
  const std::string& file = cf.path;
  const bool talk = o.progress && lead;

  const ResultsWriter out({.command = "snn", .path = o.out, .resume = o.resume, .force = o.force, .lead = lead});
  CampaignInputs inputs = load_campaign_inputs(file, c.model, c.data);
  const auto& test = inputs.test;
  const auto cal = load_calibration(file, c.data);
  const auto train_all = load_split(file, c.data, "train");
  check_model_fits(file, c.model.path, inputs.model.net, c.data, train_all);
  if (sc.snn.train_images > train_all.size())
    fail_at(file, "snn.train_images",
            std::to_string(sc.snn.train_images) + " exceeds the " + std::to_string(train_all.size()) + " training images");
  const data::Dataset train = sc.snn.train_images > 0 ? train_all.head(sc.snn.train_images) : train_all;

  Run r(sc, out, inputs.model.meta, mpi.size());
  Network base = hardware_network(inputs.model.net);
  r.steps = nets::snn_steps(base);
  if (r.steps == 0)
    fail_at(file, "model.path", "\"" + c.model.path + "\" is not a spiking network (no snn_encode layer; train one with "
                                "aimc train --model snn_cnn)");
  const std::size_t P = c.points();
  std::vector<int> rows_of_point(P);
  std::vector<int> tile_rows;
  for (std::size_t p = 0; p < P; ++p) {
    rows_of_point[p] = c.analog_at(p).mapping.tile_rows;
    if (std::find(tile_rows.begin(), tile_rows.end(), rows_of_point[p]) == tile_rows.end())
      tile_rows.push_back(rows_of_point[p]);
  }
  std::vector<std::size_t> analog;
  try {
    analog = nets::analog_layer_indices(base, c.analog.mapping);
  } catch (const Error& e) {
    throw Error(file + ": " + e.what());
  }

  // Stage 2: the fine-tuned models, per tile_rows.
  std::map<int, Network> hwa_net, prog_net;
  const std::string stem = stem_of(o.out);
  auto model_path = [&](const std::string& kind, int rows) {
    return stem + "." + kind + ".r" + std::to_string(rows) + ".h5";
  };
  // Checked by rank 0 only, before any is written: rank 0 writes each model as it finishes, so a slower
  // rank could find it (an error on rank 0 aborts every rank).
  for (int rows : tile_rows)
    for (const char* kind : {"hwa", "progressive"})
      if (lead && std::filesystem::exists(model_path(kind, rows)) && !o.resume && !o.force)
        throw Error(model_path(kind, rows) + ": model file of a previous run exists; pass --resume to continue that "
                                             "run or --force to overwrite it");
  for (int rows : tile_rows) {
    AnalogConfig hw = c.analog;
    hw.mapping.tile_rows = rows;
    for (const bool progressive : {false, true}) {
      const std::string kind = progressive ? "progressive" : "hwa";
      const std::string path = model_path(kind, rows);
      r.model_files.push_back(path);
      auto& dst = progressive ? prog_net : hwa_net;
      if (auto m = reuse_stage(path, cf.text, o.resume)) {
        dst[rows] = std::move(m->net);
        if (lead) std::fprintf(stderr, "snn: reusing %s\n", path.c_str());
        continue;
      }
      Network net = base.clone();
      const auto t0 = std::chrono::steady_clock::now();
      const std::size_t first_log = r.log.size();
      try {
        if (!progressive) {
          fine_tune(net, train, cal.x, sc.snn, hw, analog.size(), sc.snn.hwa_epochs, "hwa r" + std::to_string(rows), talk, r);
        } else {
          for (std::size_t k = 1; k <= analog.size(); ++k)
            fine_tune(net, train, cal.x, sc.snn, hw, k, sc.snn.stage_epochs,
                      "progressive r" + std::to_string(rows) + " stage " + std::to_string(k) + "/" +
                          std::to_string(analog.size()),
                      talk, r);
        }
      } catch (const Error& e) {
        throw Error(file + ": " + kind + " fine-tuning: " + e.what());
      }
      nets::ModelMeta meta = inputs.model.meta;
      meta.fine_tuned_from = c.model.path;
      meta.fine_tuned_from_accuracy = inputs.model.meta.test_accuracy;
      meta.epochs = int(r.log.size() - first_log);
      meta.seed = sc.snn.seed;
      meta.train_config = cf.text;
      meta.test_accuracy = nets::evaluate(net, test).accuracy;
      meta.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      meta.created.clear();
      if (lead) nets::save_model(path, net, meta);
      dst[rows] = std::move(net);
    }
  }
  auto model_of = [&](std::size_t v, std::size_t p) -> Network& {
    if (v == 3) return hwa_net.at(rows_of_point[p]);
    if (v == 4) return prog_net.at(rows_of_point[p]);
    return base;
  };

  // Stage 3: digital accuracy and activity.
  const double base_acc = nets::evaluate(base, test).accuracy;
  r.digital_accuracy = base_acc;
  std::map<const Network*, double> acc_cache;
  for (std::size_t v = 0; v < kVariants; ++v) {
    r.variants[v].digital_accuracy.assign(P, kNaN);
    for (std::size_t p = 0; p < P; ++p) {
      Network& n = model_of(v, p);
      if (!acc_cache.count(&n)) acc_cache[&n] = v < 3 ? base_acc : nets::evaluate(n, test).accuracy;
      r.variants[v].digital_accuracy[p] = acc_cache[&n];
    }
  }
  const auto activity = input_activity(base, analog, test.x);
  std::vector<devices::SnnLayerWork> work;
  for (std::size_t k = 0; k < analog.size(); ++k) {
    const auto& ml = dynamic_cast<const nets::MatmulLayer&>(base.layer(analog[k]));
    LayerInfo li{base.name(analog[k]), ml.weight().rows(), ml.weight().cols(), ml.positions(), activity[k]};
    r.layers.push_back(li);
    devices::SnnLayerWork w;
    w.name = li.name;
    w.rows = li.rows;
    w.cols = li.cols;
    w.mvms = li.mvms;
    w.input_activity = li.activity;
    work.push_back(w);
  }

  // Stage 5 (cheap, before the Monte Carlo so a partial file already has it).
  for (int rows : tile_rows) {
    CostRow row;
    row.tile_rows = rows;
    const auto& m = c.analog.mapping;
    row.adc = devices::snn_cost(work, sc.cost, "adc", c.analog.adc.bits, rows, m.tile_cols, m.weight_slices, r.steps);
    row.sense_amp = devices::snn_cost(work, sc.cost, "sense_amp", c.analog.adc.bits, rows, m.tile_cols, m.weight_slices, r.steps);
    r.cost.push_back(row);
  }

  // Stage 4: Monte Carlo over chips.
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
    for (std::size_t p = 0; p < P; ++p) {
      AnalogConfig a = c.analog_at(p);
      a.mapping.readout = kVariantReadout[v];
      units.push_back({&model_of(v, p), a, kVariantNames[v]});
    }
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
    std::printf("\nSNN on ADC-less IMC: %s on %s (%d test images), T = %d, %zu analog layer(s), ADC %d bits\n",
                c.model.path.c_str(), c.data.dataset.c_str(), c.data.subset, r.steps, analog.size(), c.analog.adc.bits);
    for (const auto& l : r.layers)
      std::printf("  %-12s K %5lld  N %4lld  vectors/step %4lld  input activity %.3f\n", l.name.c_str(), l.rows, l.cols,
                  l.mvms, l.activity);
    std::string head;
    for (const auto& a : c.sweep) head += a.key + "  ";
    std::printf("%s", head.c_str());
    for (const char* n : kVariantNames) std::printf("  %-24s", n);
    std::printf("   (mean accuracy [%.0f%% CI], %d chips; digital below)\n", c.mc.confidence * 100, c.mc.trials);
    for (std::size_t p = 0; p < P; ++p) {
      const auto vals = c.values_at(p);
      for (std::size_t i = 0; i < vals.size(); ++i) std::printf("%*s  ", int(c.sweep[i].key.size()), to_str(vals[i]).c_str());
      for (std::size_t v = 0; v < kVariants; ++v) {
        const Summary s = summarize(r.variants[v].points[p], c.mc.confidence);
        std::printf("  %.4f [%.4f, %.4f]", s.mean, s.lo, s.hi);
      }
      std::printf("\n");
      for (std::size_t i = 0; i < vals.size(); ++i) std::printf("%*s  ", int(c.sweep[i].key.size()), "");
      for (std::size_t v = 0; v < kVariants; ++v) std::printf("  digital %.4f        ", r.variants[v].digital_accuracy[p]);
      std::printf("\n");
    }
    std::printf("energy and latency per inference (T = %d), %d-bit ADC design vs sense amplifiers:\n", r.steps,
                c.analog.adc.bits);
    std::printf("  %9s  %12s %12s  %12s %12s  %9s %9s\n", "tile_rows", "ADC E/J", "ADC t/s", "SA E/J", "SA t/s",
                "E ratio", "t ratio");
    for (const auto& row : r.cost)
      std::printf("  %9d  %12.4g %12.4g  %12.4g %12.4g  %9.3g %9.3g\n", row.tile_rows, row.adc.energy_J,
                  row.adc.latency_s, row.sense_amp.energy_J, row.sense_amp.latency_s,
                  row.adc.energy_J / row.sense_amp.energy_J, row.adc.latency_s / row.sense_amp.latency_s);
    std::printf("results: %s (%.1f s)\n", o.out.c_str(), seconds);
  }
  return 0;
}

}  // namespace aimc::experiments
