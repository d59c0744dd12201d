// aimc_bench_hwa: cost of a hardware-aware (HWA) training epoch of the reference CNN against a digital
// epoch on the same machine (issue 15, "Performance": an HWA epoch costs <= 2x a digital one). Plain
// std::chrono timing; every timing is repeated and the median reported.
//
// One "epoch" is nets::train for one epoch over the first `batches` x `batch_size` Fashion-MNIST
// training images (default 100 batches of 128; --batches 0: all 60,000, 469 batches), from the same
// initial weights every time, in three modes:
//   digital   nets::train alone;
//   aihwkit   HwaTraining with additive weight noise sigma_w = 0.02 (of max |w|), 8-bit DAC and ADC,
//             output noise sigma_out = 0.02, clip "sigma" at 2.5 standard deviations;
//   device    HwaTraining with device weight noise (every step programs the weights on PCM tiles, the
//             AnalogConfig defaults), 8-bit DAC and ADC.
// HWA calibration (256 training images) runs before each timed epoch and is timed apart. Modes are
// interleaved repeat by repeat so that load from other processes affects all of them alike; on 1
// thread and on all of them (the layers' OpenMP loops, as nets::train runs them).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_common.hpp"
#include "core/error.hpp"
#include "core/numerics.hpp"
#include "data/fashion_mnist.hpp"
#include "nets/hwa.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

namespace {

using namespace aimc;
using bench::load_average, bench::timed, bench::Timing;

struct Options {
  std::string data_dir;
  int batches = 100, batch_size = 128, calibration = 256, repeats = 3;
  std::vector<int> threads;  // empty: 1 and omp_get_max_threads()
  std::string profile;       // run only this mode, `repeats` epochs (for perf)
};

/// One training mode: digital, or HWA with these settings.
struct TrainMode {
  std::string name;
  bool hwa = false;
  nets::HwaParams p;
  nets::AnalogConfig hw;
};

std::vector<TrainMode> train_modes() {
  TrainMode digital{"digital", false, {}, {}};
  TrainMode aihwkit{"aihwkit", true, {}, {}};
  aihwkit.p.weight_noise = "additive";
  aihwkit.p.sigma_w = 0.02;
  aihwkit.p.io = "quantized";
  aihwkit.p.sigma_out = 0.02;
  aihwkit.p.clip = "sigma";
  aihwkit.p.clip_value = 2.5;
  aihwkit.hw.dac.bits = 8;
  aihwkit.hw.adc.bits = 8;
  TrainMode device{"device", true, {}, {}};
  device.p.weight_noise = "device";
  device.p.io = "quantized";
  device.hw.mapping.substrate = "pcm";
  device.hw.dac.bits = 8;
  device.hw.adc.bits = 8;
  return {digital, aihwkit, device};
}

struct EpochResult {
  double seconds = 0, calibration_seconds = 0, loss = 0, train_accuracy = 0;
  std::uint64_t weights_hash = 0;  ///< FNV-1a of the trained parameters' bytes: a faster build must keep it
};

/// FNV-1a (64 bit) over the bytes of every parameter value of `net`, in order.
std::uint64_t parameter_hash(nets::Network& net) {
  std::uint64_t h = 14695981039346656037ull;
  for (const nets::Parameter* p : net.parameters()) {
    const auto* b = reinterpret_cast<const unsigned char*>(p->value.data());
    for (std::size_t i = 0; i < std::size_t(p->value.size()) * sizeof(float); ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  return h;
}

/// One epoch of `mode` from a copy of `init`: HwaTraining (seed 1) installed and calibrated on `cal`
/// (timed apart), then nets::train for one epoch, no test set, no progress output.
EpochResult run_epoch(const nets::Network& init, const TrainMode& mode, const data::Dataset& train, const Matrix& cal,
                      const nets::TrainParams& tp) {
  nets::Network net = init.clone();
  std::optional<nets::HwaTraining> hwa;
  std::vector<nets::StepHook*> hooks;
  EpochResult r;
  if (mode.hwa) {
    hwa.emplace(net, mode.p, mode.hw, nets::matmul_layers(net), 1);
    r.calibration_seconds = timed([&] { hwa->calibrate(cal); });
    hooks.push_back(&*hwa);
  }
  std::vector<nets::EpochLog> logs;
  r.seconds = timed([&] { logs = nets::train(net, train, nullptr, tp, {}, false, {}, hooks); });
  r.loss = logs.at(0).loss;
  r.train_accuracy = logs.at(0).train_accuracy;
  r.weights_hash = parameter_hash(net);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  aimc::pin_numerics();
  Options o;
  CLI::App app{"aimc_bench_hwa: HWA training epoch of the reference CNN vs a digital epoch (bench/README.md)"};
  app.add_option("--data-dir", o.data_dir, "Fashion-MNIST directory (default: $AIMC_FASHION_MNIST_DIR or Debian's)");
  app.add_option("--batches", o.batches, "batches per timed epoch (0: the whole training set)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--batch-size", o.batch_size, "training batch size")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  app.add_option("--calibration", o.calibration, "training images for HWA calibration")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  app.add_option("--repeats", o.repeats, "repeats of each timing (median reported)")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--threads", o.threads, "thread counts to time (default: 1 and all)")->check(CLI::Range(1, 1024));
  app.add_option("--profile", o.profile, "run only this mode, --repeats epochs on the first --threads (default 1), for perf")
      ->check(CLI::IsMember({"digital", "aihwkit", "device"}));
  CLI11_PARSE(app, argc, argv);
  try {
    const int all = omp_get_max_threads();
    if (o.threads.empty()) {
      o.threads.push_back(1);
      if (all > 1 && o.profile.empty()) o.threads.push_back(all);
    }
    const auto full = data::load_fashion_mnist("train", o.data_dir);
    const long long n = o.batches > 0 ? std::min<long long>(full.size(), 1LL * o.batches * o.batch_size) : full.size();
    const data::Dataset train = full.head(n);
    const Matrix cal = full.head(o.calibration).x;
    const long long batches = (n + o.batch_size - 1) / o.batch_size;
    const long long epoch_batches = (full.size() + o.batch_size - 1) / o.batch_size;

    nets::Network init = nets::make_reference("cnn");
    Stream init_stream(1, "init");
    init.init(init_stream);
    nets::TrainParams tp;
    tp.epochs = 1;
    tp.batch_size = o.batch_size;
    const auto modes = train_modes();

    if (!o.profile.empty()) {
      omp_set_num_threads(o.threads.front());
      const auto& mode = *std::find_if(modes.begin(), modes.end(), [&](const TrainMode& m) { return m.name == o.profile; });
      Timing t;
      EpochResult r;
      for (int rep = 0; rep < o.repeats; ++rep) {
        r = run_epoch(init, mode, train, cal, tp);
        t.t.push_back(r.seconds);
      }
      std::printf("profile %s: %d epochs of %lld batches, %d thread(s), median %.3f s; loss %.9g, parameter hash "
                  "%016llx\n",
                  o.profile.c_str(), o.repeats, batches, o.threads.front(), t.median(), r.loss,
                  static_cast<unsigned long long>(r.weights_hash));
      return 0;
    }

    std::printf("aimc_bench_hwa: reference CNN (%lld MACs per image), %lld batches of %d (%lld of %lld training "
                "images; a full epoch is %lld batches), adam lr %g, HWA calibration on %d images; median of %d; "
                "%d threads available; %s\n",
                init.macs(), batches, o.batch_size, n, full.size(), epoch_batches, tp.optimizer.lr, o.calibration,
                o.repeats, all, load_average().c_str());
    std::fflush(stdout);
    for (const int threads : o.threads) {
      omp_set_num_threads(threads);
      std::vector<Timing> epoch(modes.size()), calibration(modes.size());
      std::vector<EpochResult> last(modes.size());
      for (int rep = 0; rep < o.repeats; ++rep)
        for (std::size_t m = 0; m < modes.size(); ++m) {
          last[m] = run_epoch(init, modes[m], train, cal, tp);
          epoch[m].t.push_back(last[m].seconds);
          calibration[m].t.push_back(last[m].calibration_seconds);
        }
      const double digital = epoch[0].median(), scale = double(epoch_batches) / double(batches);
      for (std::size_t m = 0; m < modes.size(); ++m) {
        const double ratio = epoch[m].median() / digital;
        std::printf("hwa  %d thread%s  %-8s %8.3f s per %lld batches (%7.1f s per epoch, scaled) [best %.3f s]",
                    threads, threads > 1 ? "s" : " ", modes[m].name.c_str(), epoch[m].median(), batches,
                    epoch[m].median() * scale, epoch[m].min());
        if (m > 0)
          std::printf("  ratio %.2fx (target <= 2x: %s) [best/best %.2fx]  calibration %.3f s", ratio,
                      ratio <= 2.0 ? "met" : "NOT met", epoch[m].min() / epoch[0].min(), calibration[m].median());
        std::printf("  loss %.4f, train acc %.4f\n", last[m].loss, last[m].train_accuracy);
      }
      std::fflush(stdout);
    }
    std::printf("aimc_bench_hwa: done; %s\n", load_average().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aimc_bench_hwa: %s\n", e.what());
    return 1;
  }
  return 0;
}
