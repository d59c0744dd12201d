#include "experiments/hardnn.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "experiments/campaign.hpp"
#include "experiments/hardnn_detail.hpp"
#include "experiments/mpi.hpp"
#include "nets/fault.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

using namespace hardnn_detail;  // the campaign state and steps (hardnn_*.cpp)

int run_hardnn(const HardnnOptions& o) {
  const auto t_start = Clock::now();
  const Mpi& mpi = Mpi::world();
  const bool lead = mpi.rank() == 0;
  const ConfigFile cf = load_config(o.config);
  const HardnnConfig c = parse_hardnn_config(cf);
  const auto& h = c.hardnn;

  // One run per results file: a second run on the same --out fails here, before it reads or writes anything.
  const ResultsWriter file({.command = "hardnn", .path = o.out, .resume = o.resume, .force = o.force, .lead = lead});

  CampaignInputs inputs = load_campaign_inputs(c.file.path, c.model, c.data);  // writes nothing
  auto& model = inputs.model;
  auto& test = inputs.test;
  nets::Network& net = model.net;

  Run r(c, file, model.meta, "aimc-hardnn", h.seed, mpi.size());
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

  // Incremental propagation needs every node's clean output on the subset; above the budget the campaign
  // recomputes suffixes instead (and says so).
  r.classes = int(net.output_shape().size());
  std::shared_ptr<const nets::CleanActivations> all_clean;
  r.propagation = h.propagation;
  if (h.propagation == "incremental") {
    const std::size_t bytes = nets::CleanActivations::bytes(net, test.x.rows());
    if (bytes > kCleanBudgetBytes) {
      r.propagation = "full (the clean activations of every node would take " + to_str(bytes >> 20) + " MiB, over the " +
                      to_str(kCleanBudgetBytes >> 20) + " MiB budget)";
      if (lead && o.progress) std::fprintf(stderr, "hardnn: propagation: %s\n", r.propagation.c_str());
    } else {
      all_clean = std::make_shared<const nets::CleanActivations>(net, test.x);
    }
  }

  // Clean pass: activations of the injected layers, predictions and losses (taken from the clean
  // activations of every node when incremental propagation holds them: one forward, one copy).
  {
    r.pred.resize(std::size_t(test.x.rows()));
    r.loss.resize(std::size_t(test.x.rows()));
    long long correct = 0;
    auto score = [&](Eigen::Index row, const Matrix& z) {
      for (Eigen::Index i = 0; i < z.rows(); ++i) {
        const auto [p, l] = judge(z.row(i).data(), z.cols(), test.y[row + i], h.loss_cap);
        r.pred[std::size_t(row + i)] = p;
        r.loss[std::size_t(row + i)] = l;
        correct += p == test.y[row + i];
      }
    };
    if (all_clean) {
      for (auto& L : r.layers) L.acts = all_clean;
      score(0, all_clean->out.back());
    } else {
      std::vector<int> ids;
      Eigen::Index row = 0, m = 0;
      for (auto& L : r.layers) {
        L.own.resize(test.x.rows(), Eigen::Index(L.positions) * L.channels);
        ids.push_back(net.add_hook(L.index, [&L, &row, &m](std::size_t, Matrix& y) { L.own.middleRows(row, m) = y; }));
      }
      for (row = 0; row < test.x.rows(); row += m) {
        m = std::min<Eigen::Index>(200, test.x.rows() - row);
        score(row, net.forward(test.x.middleRows(row, m)));
      }
      for (int id : ids) net.remove_hook(id);
    }
    r.clean_accuracy = double(correct) / double(test.x.rows());
  }
  for (auto& L : r.layers) {
    L.spec.lo = L.clean().minCoeff();
    L.spec.hi = L.clean().maxCoeff();
    L.spec.fixed.bits = h.bits;
    L.spec.fixed.full_scale = std::max(std::fabs(double(L.spec.lo)), std::fabs(double(L.spec.hi)));
    if (!(L.spec.fixed.full_scale > 0)) L.spec.fixed.full_scale = 1.0;  // a dead layer: any scale
  }

  // Analog error model: output-referred noise of each layer, measured on one programmed instance.
  if (r.model == fault::ErrorModel::analog) {
    auto cal = load_calibration(c.file.path, c.data);
    nets::AnalogConfig a = c.analog;
    a.input_ranges = model.meta.hwa.input_ranges;  // used with mapping.input_range = "model"
    nets::AnalogNetwork an(net, a, cal.x);
    auto inst = an.program(Stream(std::uint64_t(h.seed), "hardnn.analog.program"));
    const auto st = inst->evaluate(an.prefix(test.x), test.y, Stream(std::uint64_t(h.seed), "hardnn.analog.read"), 100,
                                   h.snr_samples);
    const auto& al = an.analog_layers();
    for (auto& L : r.layers) {
      const auto it = std::find(al.begin(), al.end(), L.index);
      if (it == al.end()) continue;  // a digital layer: no analog error
      const std::size_t a = std::size_t(it - al.begin());
      const double count = double(st.snr_samples) * double(L.clean().cols());
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
  if (file.resuming()) {
    read_results(r);
    sched.replay();
  }
  sched.checkpoint();

  std::vector<Worker> workers(static_cast<std::size_t>(omp_get_max_threads()));
  for (auto& w : workers) {
    w.net = net.clone();
    if (all_clean) w.inc = std::make_unique<nets::IncrementalSuffix>(w.net, *all_clean);
  }
  auto worker = [&]() -> Worker& { return workers[std::size_t(omp_get_thread_num())]; };

  // Phase 1: the injection campaign.
  {
    std::vector<Job> jobs;
    for (std::size_t f = 0; f < F; ++f)
      for (std::size_t b = 0; b < per_fmap; ++b)
        if (!r.campaign.done[r.campaign.row(f, b)]) jobs.push_back({f, b});
    Progress progress("hardnn campaign", (long long)jobs.size(), "batches", o.progress && lead);
    const auto t0 = Clock::now();
    sched.run(
        jobs, [&](const Job& job, std::span<double> rec) { campaign_job(r, worker(), job, rec); },
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
          verify_job(r, cum, lv, worker(), job, rec);
        },
        &progress);
    progress.finish();
    r.verify_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  }

  for (const auto& w : workers) r.propagation_stats += w.stats;
  r.info.status = "complete";
  r.info.end_time = nets::utc_now();
  sched.finish();
  const double seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  if (lead && !o.quiet) print_summary(r, seconds);
  return 0;
}

}  // namespace aimc::experiments
