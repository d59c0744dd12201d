// aimc_bench: cost of one Monte Carlo trial against the noiseless digital forward (issue 5,
// "Performance"). Plain std::chrono timing; every timing is repeated and the median reported.
//
//   1. Per model (MLP, CNN), single-threaded: one trial = program the RRAM instance anew and evaluate
//      the test set (experiments::run_trial with one instance redrawn in place, as aimc mc runs it),
//      (a) programming variation only, (b) plus read noise; (a) also with a fresh instance per trial;
//      the digital forward of the same network on the same images in chunks of the same size.
//   2. MLP, (a), batch 100: many trials, each programming its thread's instance anew and evaluating
//      100 images, OpenMP over trials on all threads; wall time per trial amortized over the threads.
//   3. ResNet-20 on 32 x 32 x 3 inputs (randomly initialized, BatchNorm folded), one batch of 100
//      images, single-threaded: the digital forward as a fraction of this machine's Eigen float GEMM
//      peak, and one trial (a) against that forward.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_common.hpp"
#include "core/error.hpp"
#include "core/numerics.hpp"
#include "data/fashion_mnist.hpp"
#include "experiments/campaign_inputs.hpp"
#include "experiments/mc.hpp"
#include "nets/analog.hpp"
#include "nets/model_io.hpp"

namespace {

using namespace aimc;
using bench::Clock, bench::seconds_since, bench::timed, bench::Timing, bench::load_average;

/// Median of `repeats` timings of f (seconds); f gets the repeat index.
double median_time(int repeats, const std::function<void(int)>& f) {
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    f(r);
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  const std::size_t n = t.size();
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

struct Options {
  std::string mlp = "build/mlp.h5", cnn = "build/cnn.h5", data_dir;
  int images = 10000, calibration = 256, chunk = 100, repeats = 5;
  int batch = 100, batch_trials = 400, batch_repeats = 5;
  double sigma_prog = 0.05, sigma_read = 0.01;
  bool skip_cnn = false, no_snr = false;
  int resnet_depth = 20, gemm_size = 1024, gemm_repeats = 15;
  bool skip_resnet = false, resnet_only = false;
  std::string profile;  // run only this case, `repeats` times (for perf/callgrind)
};

nets::AnalogConfig hardware(const Options& o, bool read_noise) {
  nets::AnalogConfig c;
  c.mapping.substrate = "rram";
  c.mapping.readout = "adc";
  c.mapping.analog_layers = "all";
  c.mapping.tile_rows = 128;
  c.mapping.tile_cols = 128;
  c.rram.prog_model = "additive";
  c.rram.sigma_prog = o.sigma_prog;
  c.rram.sigma_read = read_noise ? o.sigma_read : 0.0;
  c.dac.bits = 8;
  c.adc.bits = 8;
  return c;
}

nets::LoadedModel load_or_explain(const std::string& path, const std::string& kind) {
  if (!std::filesystem::exists(path))
    throw Error("model file " + path + " not found; make it with: ./build/aimc train --model " + kind + " --out " +
                path + " (or pass --" + kind + " PATH)");
  return nets::load_model(path);
}

/// Digital forward, trial (a), trial (b) and programming alone, interleaved repeat by repeat so that
/// load from other processes affects all of them alike; single-threaded.
void bench_model(const std::string& name, const nets::LoadedModel& m, const data::Dataset& test,
                 const data::Dataset& cal, const Options& o) {
  omp_set_num_threads(1);
  nets::Network net = m.net.clone();
  const Eigen::Index n = test.x.rows();
  experiments::McParams mc;
  mc.chunk = o.chunk;
  const nets::AnalogNetwork an_a(m.net, hardware(o, false), cal.x), an_b(m.net, hardware(o, true), cal.x);
  const Matrix prefix_a = an_a.prefix(test.x), prefix_b = an_b.prefix(test.x);
  // one instance per case drawn anew in place by every trial, as aimc mc keeps one per thread
  std::unique_ptr<nets::AnalogInstance> inst_a, inst_b;
  Timing digital, trial_a, trial_b, fresh_a, program_a;
  long long correct = 0;
  double acc_a = 0, acc_b = 0;
  for (int rep = 0; rep < o.repeats; ++rep) {
    digital.t.push_back(timed([&] {
      correct = 0;
      for (Eigen::Index b = 0; b < n; b += o.chunk) {
        const Eigen::Index k = std::min<Eigen::Index>(o.chunk, n - b);
        const Matrix logits = net.forward(test.x.middleRows(b, k));
        correct += nets::count_correct(logits, test.y.segment(b, k));
      }
    }));
    const auto t = std::uint64_t(rep);
    trial_a.t.push_back(timed([&] { acc_a = experiments::run_trial(an_a, prefix_a, test.y, mc, t, &inst_a).accuracy; }));
    trial_b.t.push_back(timed([&] { acc_b = experiments::run_trial(an_b, prefix_b, test.y, mc, t, &inst_b).accuracy; }));
    fresh_a.t.push_back(timed([&] { experiments::run_trial(an_a, prefix_a, test.y, mc, t); }));
    program_a.t.push_back(timed([&] { an_a.program(*inst_a, Stream(std::uint64_t(mc.seed), "mc.program", {t})); }));
  }
  std::printf("%-4s  digital forward %8.1f ms (acc %.4f) | (a) prog var %8.1f ms (acc %.4f; program %.1f ms) | "
              "(b) + read noise %8.1f ms (acc %.4f)\n",
              name.c_str(), 1e3 * digital.median(), double(correct) / double(n), 1e3 * trial_a.median(), acc_a,
              1e3 * program_a.median(), 1e3 * trial_b.median(), acc_b);
  std::printf("%-4s  ratio (a)/digital = %.2fx (target <= 1.5x)   ratio (b)/digital = %.2fx (target <= 3x)   "
              "(a) fresh instance %.2fx   [best of %d: %.2fx, %.2fx, %.2fx]\n",
              name.c_str(), trial_a.median() / digital.median(), trial_b.median() / digital.median(),
              fresh_a.median() / digital.median(), o.repeats, trial_a.min() / digital.min(),
              trial_b.min() / digital.min(), fresh_a.min() / digital.min());
  std::fflush(stdout);
}

/// Runs one case alone (no digital reference): mlp-a, mlp-b, cnn-a, cnn-b (full set) or batch-a.
void profile_case(const Options& o, const nets::LoadedModel& mlp, const nets::LoadedModel& cnn,
                  const data::Dataset& test, const data::Dataset& cal) {
  const bool is_cnn = o.profile.starts_with("cnn"), noise = o.profile.ends_with("-b");
  const bool batch = o.profile == "batch-a";
  const nets::AnalogNetwork an((is_cnn ? cnn : mlp).net, hardware(o, noise), cal.x);
  const data::Dataset sub = test.head(batch ? o.batch : test.size());
  const Matrix prefix = an.prefix(sub.x);
  experiments::McParams mc;
  mc.chunk = o.chunk;
  if (o.no_snr) mc.snr_samples = 0;
  const int trials = batch ? o.batch_trials : o.repeats;
  std::unique_ptr<nets::AnalogInstance> inst;
  const auto t0 = Clock::now();
  double acc = 0;
  for (int t = 0; t < trials; ++t) acc += experiments::run_trial(an, prefix, sub.y, mc, std::uint64_t(t), &inst).accuracy;
  std::printf("profile %s: %d trials, %.3f ms/trial, mean acc %.4f\n", o.profile.c_str(), trials,
              1e3 * seconds_since(t0) / trials, acc / trials);
}

/// Batch 100: wall time per trial on 1 thread and on `threads`, amortized. `snr` false: accuracy and
/// loss only (McParams::snr_samples = 0), the work of the PyTorch loop; true: as `aimc mc` runs by
/// default, with the per-layer SNR against the digital product (one more GEMM per layer on these
/// 100 images, since they are all within the first snr_samples).
void bench_batch(const nets::LoadedModel& m, const data::Dataset& test, const data::Dataset& cal, const Options& o,
                 int threads, bool snr) {
  const nets::AnalogNetwork an(m.net, hardware(o, false), cal.x);
  const data::Dataset sub = test.head(o.batch);
  const Matrix prefix = an.prefix(sub.x);
  experiments::McParams mc;
  mc.chunk = o.chunk;
  if (!snr) mc.snr_samples = 0;
  std::vector<double> acc(std::size_t(o.batch_trials));
  auto run = [&](int nthreads) {
    return median_time(o.batch_repeats, [&](int rep) {
#pragma omp parallel num_threads(nthreads)
      {
        std::unique_ptr<nets::AnalogInstance> inst;  // one per thread, redrawn by each trial (as aimc mc)
#pragma omp for schedule(dynamic, 4)
        for (int t = 0; t < o.batch_trials; ++t)
          acc[std::size_t(t)] = experiments::run_trial(an, prefix, sub.y, mc,
                                                       std::uint64_t(rep) * std::uint64_t(o.batch_trials) + t, &inst)
                                    .accuracy;
      }
    });
  };
  omp_set_num_threads(1);
  const double one = run(1) / o.batch_trials;
  omp_set_num_threads(threads);
  const double all = run(threads) / o.batch_trials;
  double mean = 0;
  for (double a : acc) mean += a / double(acc.size());
  std::printf("mlp   batch %d, (a), %d trials, %s: 1 thread %.3f ms/trial; %d threads %.3f ms/trial amortized = %.0f "
              "trials/s (target < 1 ms; mean acc %.4f)\n",
              o.batch, o.batch_trials, snr ? "with per-layer SNR" : "accuracy only", 1e3 * one, threads, 1e3 * all,
              1.0 / all, mean);
}

/// Eigen float GEMM throughput (GFLOP/s, 2 n^3 flops a product) of C = A B with n x n row-major
/// matrices (aimc::Matrix, the engine's type, Eigen blocking pinned by pin_numerics), on `threads`
/// threads, each running its own product at the same time (EIGEN_DONT_PARALLELIZE: an aimc product
/// never uses more than one thread); the sum over threads. One warm-up, then `repeats` timings: the
/// peak is the best of them (other processes only ever slow a product down), the median beside it.
struct Gflops {
  double peak = 0, median = 0;
};
Gflops gemm_gflops(int n, int repeats, int threads) {
  const auto count = static_cast<std::size_t>(threads);
  std::vector<Matrix> a(count, Matrix(n, n)), b(count, Matrix(n, n)), c(count, Matrix(n, n));
  for (std::size_t t = 0; t < count; ++t) {
    Stream s(1, "bench.gemm", {t});
    s.fill_normal(a[t]);
    s.fill_normal(b[t]);
  }
  auto once = [&] {
#pragma omp parallel num_threads(threads)
    {
      const auto t = std::size_t(omp_get_thread_num());
      c[t].noalias() = a[t] * b[t];
    }
  };
  once();
  Timing time;
  for (int r = 0; r < repeats; ++r) time.t.push_back(timed(once));
  const double flops = 2.0 * double(n) * double(n) * double(n) * threads * 1e-9;
  return {flops / time.min(), flops / time.median()};
}

/// The ResNet case's network: make_resnet(depth, (3, 32, 32), 10) with random weights from a keyed
/// stream (the timing does not depend on them; accuracy on random inputs is meaningless), BatchNorm
/// folded into the convolutions as campaigns do (experiments::hardware_network), so the analog
/// mapping sees Conv2d and Dense layers only.
nets::Network resnet_network(int depth) {
  nets::Network net = nets::make_resnet(depth, Shape{3, 32, 32}, 10);
  Stream init(1, "bench.resnet.init");
  net.init(init);
  return experiments::hardware_network(net);
}

/// Random images (N(0, 1) per value) and labels for the ResNet case, from keyed streams.
data::Dataset resnet_inputs(long long n, const std::string& purpose) {
  data::Dataset d;
  d.name = "bench/" + purpose;
  d.shape = Shape{3, 32, 32};
  d.classes = 10;
  d.x.resize(Eigen::Index(n), d.shape.size());
  d.y.resize(Eigen::Index(n));
  Stream s(1, "bench.resnet." + purpose);
  s.fill_normal(d.x);
  for (Eigen::Index i = 0; i < d.y.size(); ++i) d.y(i) = std::int32_t(s.below(10));
  return d;
}

/// ResNet on 32 x 32 x 3, one batch of `o.batch` images, single-threaded: digital forward (its
/// throughput 2 MACs images / s against the 1-thread GEMM peak), trial (a) accuracy only (the
/// target's case, as the batch-100 MLP case), trial (a) with per-layer SNR, programming alone;
/// interleaved repeat by repeat like bench_model.
void bench_resnet(const Options& o, double peak_gflops) {
  omp_set_num_threads(1);
  nets::Network net = resnet_network(o.resnet_depth);
  const data::Dataset batch = resnet_inputs(o.batch, "test"), cal = resnet_inputs(o.calibration, "calibration");
  const auto t_setup = Clock::now();
  const nets::AnalogNetwork an(net, hardware(o, false), cal.x);
  const double setup = seconds_since(t_setup);
  const Matrix prefix = an.prefix(batch.x);
  int tiles = 0;
  for (std::size_t l = 0; l < an.analog_layers().size(); ++l) {
    const auto [r, c] = an.tile_grid(l);
    tiles += r * c;
  }
  experiments::McParams acc_only, with_snr;
  acc_only.chunk = with_snr.chunk = o.chunk;
  acc_only.snr_samples = 0;
  // One instance drawn anew in place by every trial, as aimc mc keeps one per thread (run_trial's
  // slot); `fresh` builds a new one per trial (tiles, buffers and network view allocated again).
  std::unique_ptr<nets::AnalogInstance> inst;
  Timing digital, trial, trial_snr, fresh, program;
  long long correct = 0;
  double acc = 0;
  const Eigen::Index n = batch.x.rows();
  for (int rep = 0; rep < o.repeats; ++rep) {
    digital.t.push_back(timed([&] {
      correct = 0;
      for (Eigen::Index b = 0; b < n; b += o.chunk) {
        const Eigen::Index k = std::min<Eigen::Index>(o.chunk, n - b);
        correct += nets::count_correct(net.forward(batch.x.middleRows(b, k)), batch.y.segment(b, k));
      }
    }));
    const auto t = std::uint64_t(rep);
    trial.t.push_back(timed([&] { acc = experiments::run_trial(an, prefix, batch.y, acc_only, t, &inst).accuracy; }));
    trial_snr.t.push_back(timed([&] { experiments::run_trial(an, prefix, batch.y, with_snr, t, &inst); }));
    fresh.t.push_back(timed([&] { experiments::run_trial(an, prefix, batch.y, acc_only, t); }));
    program.t.push_back(timed([&] { an.program(*inst, Stream(std::uint64_t(acc_only.seed), "mc.program", {t})); }));
  }
  const double macs = double(net.macs()), gflops = 2.0 * macs * double(n) / digital.median() * 1e-9;
  const double ratio = trial.median() / digital.median();
  std::printf("resnet%d (3x32x32, random weights, BatchNorm folded): %.1f M MACs/image, %zu analog layers on %d tiles, "
              "batch %lld, 1 thread (design and calibration on %lld images: %.2f s)\n",
              o.resnet_depth, macs * 1e-6, an.analog_layers().size(), tiles, static_cast<long long>(n),
              static_cast<long long>(cal.x.rows()), setup);
  std::printf("resnet  digital forward %7.1f ms = %.1f GFLOP/s = %.0f%% of the 1-thread GEMM peak (%.1f GFLOP/s) "
              "[best: %.0f%%] (acc %.2f, random)\n",
              1e3 * digital.median(), gflops, 100.0 * gflops / peak_gflops, peak_gflops,
              100.0 * gflops * digital.median() / digital.min() / peak_gflops, double(correct) / double(n));
  std::printf("resnet  (a) prog var, accuracy only %7.1f ms (program in place %.1f ms; acc %.2f) | with per-layer SNR "
              "%7.1f ms | accuracy only, fresh instance %7.1f ms\n",
              1e3 * trial.median(), 1e3 * program.median(), acc, 1e3 * trial_snr.median(), 1e3 * fresh.median());
  std::printf("resnet  ratio (a)/digital = %.2fx (target <= 1.5x: %s)   with SNR %.2fx   fresh instance %.2fx   "
              "[best of %d: %.2fx, %.2fx, %.2fx]\n",
              ratio, ratio <= 1.5 ? "met" : "NOT met", trial_snr.median() / digital.median(),
              fresh.median() / digital.median(), o.repeats, trial.min() / digital.min(),
              trial_snr.min() / digital.min(), fresh.min() / digital.min());
  std::fflush(stdout);
}

/// --profile resnet-a: `repeats` trials (a) alone, with one instance drawn in place (--no-snr: accuracy only).
void profile_resnet(const Options& o) {
  const nets::Network net = resnet_network(o.resnet_depth);
  const data::Dataset batch = resnet_inputs(o.batch, "test"), cal = resnet_inputs(o.calibration, "calibration");
  const nets::AnalogNetwork an(net, hardware(o, false), cal.x);
  const Matrix prefix = an.prefix(batch.x);
  experiments::McParams mc;
  mc.chunk = o.chunk;
  mc.snr_samples = o.no_snr ? 0 : mc.snr_samples;
  std::unique_ptr<nets::AnalogInstance> inst;
  const auto t0 = Clock::now();
  for (int t = 0; t < o.repeats; ++t) experiments::run_trial(an, prefix, batch.y, mc, std::uint64_t(t), &inst);
  std::printf("profile resnet-a: %d trials, %.3f ms/trial\n", o.repeats, 1e3 * seconds_since(t0) / o.repeats);
}

}  // namespace

int main(int argc, char** argv) {
  aimc::pin_numerics();
  Options o;
  CLI::App app{"aimc_bench: Monte Carlo trial cost vs the digital forward (bench/README.md)"};
  app.add_option("--mlp", o.mlp, "reference MLP model file")->capture_default_str();
  app.add_option("--cnn", o.cnn, "reference CNN model file")->capture_default_str();
  app.add_option("--data-dir", o.data_dir, "Fashion-MNIST directory (default: $AIMC_FASHION_MNIST_DIR or Debian's)");
  app.add_option("--images", o.images, "test images per trial")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--repeats", o.repeats, "repeats of each full-set timing (median reported)")->capture_default_str();
  app.add_option("--batch-trials", o.batch_trials, "trials per batch-100 timing")->capture_default_str();
  app.add_option("--batch-repeats", o.batch_repeats, "repeats of the batch-100 timing")->capture_default_str();
  app.add_option("--sigma-prog", o.sigma_prog, "rram.sigma_prog of (a) and (b)")->capture_default_str();
  app.add_option("--sigma-read", o.sigma_read, "rram.sigma_read of (b)")->capture_default_str();
  app.add_flag("--skip-cnn", o.skip_cnn, "MLP only");
  app.add_flag("--skip-resnet", o.skip_resnet, "no ResNet case");
  app.add_flag("--resnet-only", o.resnet_only,
               "the GEMM peak and the ResNet case only (needs no model file or dataset)");
  app.add_option("--resnet-depth", o.resnet_depth, "depth of the ResNet case (6 n + 2)")->capture_default_str();
  app.add_option("--gemm-size", o.gemm_size, "n of the n x n x n GEMM that measures the peak")->capture_default_str();
  app.add_option("--profile", o.profile, "run only one case single-threaded, for a profiler")
      ->check(CLI::IsMember({"mlp-a", "mlp-b", "cnn-a", "cnn-b", "batch-a", "resnet-a"}));
  app.add_flag("--no-snr", o.no_snr, "with --profile: no per-layer SNR measurement (McParams::snr_samples = 0)");
  CLI11_PARSE(app, argc, argv);
  try {
    const int threads = omp_get_max_threads();
    if (o.profile == "resnet-a") {
      omp_set_num_threads(1);
      profile_resnet(o);
      return 0;
    }
    auto peaks = [&] {
      const Gflops one = gemm_gflops(o.gemm_size, o.gemm_repeats, 1);
      const Gflops all = gemm_gflops(o.gemm_size, o.gemm_repeats, threads);
      std::printf("gemm  Eigen float %d x %d x %d, best (median) of %d: 1 thread %.1f (%.1f) GFLOP/s; %d threads "
                  "together %.1f (%.1f) GFLOP/s; %s\n",
                  o.gemm_size, o.gemm_size, o.gemm_size, o.gemm_repeats, one.peak, one.median, threads, all.peak,
                  all.median, load_average().c_str());
      std::fflush(stdout);
      return one.peak;
    };
    if (o.resnet_only) {
      std::printf("aimc_bench: ResNet case only; %s\n", load_average().c_str());
      bench_resnet(o, peaks());
      std::printf("aimc_bench: done; %s\n", load_average().c_str());
      return 0;
    }
    const auto mlp = load_or_explain(o.mlp, "mlp");
    nets::LoadedModel cnn;
    if (!o.skip_cnn || o.profile.starts_with("cnn")) cnn = load_or_explain(o.cnn, "cnn");
    const auto test = data::load_fashion_mnist("test", o.data_dir).head(o.images);
    const auto cal = data::load_fashion_mnist("train", o.data_dir).head(o.calibration);
    if (!o.profile.empty()) {
      omp_set_num_threads(1);
      profile_case(o, mlp, cnn, test, cal);
      return 0;
    }
    std::printf("aimc_bench: %lld test images, chunk %d, 128x128 RRAM tiles, 8-bit DAC and ADC (optimal), "
                "(a) sigma_prog %.3g, (b) + sigma_read %.3g; median of %d; ratios single-threaded; "
                "%d threads available; %s\n",
                test.size(), o.chunk, o.sigma_prog, o.sigma_read, o.repeats, threads, load_average().c_str());
    const double peak = o.skip_resnet ? 0.0 : peaks();
    bench_model("mlp", mlp, test, cal, o);
    if (!o.skip_cnn) bench_model("cnn", cnn, test, cal, o);
    if (!o.skip_resnet) bench_resnet(o, peak);
    bench_batch(mlp, test, cal, o, threads, false);
    bench_batch(mlp, test, cal, o, threads, true);
    std::printf("aimc_bench: done; %s\n", load_average().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aimc_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
