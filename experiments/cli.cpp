#include "experiments/cli.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <omp.h>

#include "core/error.hpp"
#include "experiments/hardnn.hpp"
#include "experiments/mc.hpp"
#include "experiments/snr.hpp"
#include "experiments/mpi.hpp"
#include "experiments/params_doc.hpp"
#include "experiments/train.hpp"

namespace aimc::experiments {

int run_cli(int argc, char** argv) {
  CLI::App app{"aimc: analog in-memory computing noise and reliability studies"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "OpenMP threads (default: all cores)")->check(CLI::NonNegativeNumber);

  TrainOptions tr;
  auto* train = app.add_subcommand("train", "train a reference model on Fashion-MNIST");
  train->add_option("--model", tr.model, "reference architecture")->check(CLI::IsMember({"mlp", "cnn"}));
  train->add_option("--epochs", tr.epochs, "epochs (default: mlp 20, cnn 12)")->check(CLI::PositiveNumber);
  train->add_option("--seed", tr.seed, "seed of initialization and shuffling")->check(CLI::NonNegativeNumber);
  train->add_option("--batch-size", tr.batch_size, "mini-batch size")->check(CLI::PositiveNumber);
  train->add_option("--lr", tr.lr, "initial learning rate (Adam, cosine schedule)")->check(CLI::PositiveNumber);
  train->add_option("--train-limit", tr.train_limit, "use only the first N training images")->check(CLI::NonNegativeNumber);
  train->add_option("--out", tr.out, "model file to write (HDF5)")->required();
  train->add_option("--data-dir", tr.data_dir, "Fashion-MNIST directory (default: $AIMC_FASHION_MNIST_DIR or Debian's)");
  train->add_flag("--force", tr.force, "overwrite an existing model file");

  EvalOptions ev;
  auto* eval = app.add_subcommand("eval", "test accuracy of a model file on Fashion-MNIST");
  eval->add_option("--model", ev.model_path, "model file (HDF5)")->required();
  eval->add_option("--data-dir", ev.data_dir, "Fashion-MNIST directory");
  eval->add_option("--limit", ev.limit, "evaluate only the first N test images")->check(CLI::NonNegativeNumber);

  McOptions mc;
  auto* mcc = app.add_subcommand("mc", "Monte Carlo robustness campaign of a model on analog hardware");
  mcc->add_option("config", mc.config, "campaign config (TOML)")->required();
  mcc->add_option("--out", mc.out, "results file (HDF5)")->capture_default_str();
  mcc->add_flag("--resume", mc.resume, "continue the campaign in an existing results file");
  mcc->add_flag("--force", mc.force, "overwrite an existing results file");
  mcc->add_flag("--quiet", mc.quiet, "no summary table");
  bool no_progress = false;
  mcc->add_flag("--no-progress", no_progress, "no progress lines on stderr");

  HardnnOptions hd;
  auto* hdc = app.add_subcommand("hardnn", "HarDNN feature-map vulnerability campaign (error injection)");
  hdc->add_option("config", hd.config, "campaign config (TOML)")->required();
  hdc->add_option("--out", hd.out, "results file (HDF5)")->capture_default_str();
  hdc->add_flag("--resume", hd.resume, "continue the campaign in an existing results file");
  hdc->add_flag("--force", hd.force, "overwrite an existing results file");
  hdc->add_flag("--quiet", hd.quiet, "no summary");
  bool hd_no_progress = false;
  hdc->add_flag("--no-progress", hd_no_progress, "no progress lines on stderr");

  SnrOptions sn;
  auto* snr = app.add_subcommand("snr", "SNR and ADC precision analysis of QS/IS/QR in-memory compute arrays");
  snr->add_option("config", sn.config, "analysis config (TOML)")->required();
  snr->add_option("--out", sn.out, "results file (HDF5)")->capture_default_str();
  snr->add_flag("--force", sn.force, "overwrite an existing results file");
  snr->add_flag("--quiet", sn.quiet, "no tables");
  bool snr_no_progress = false;
  snr->add_flag("--no-progress", snr_no_progress, "no progress lines on stderr");

  auto* params = app.add_subcommand("params", "print the parameter reference (every config key: default, unit, source)");

  Mpi& mpi = Mpi::world();
  mpi.init(&argc, &argv);
  struct Finalize {
    Mpi& m;
    ~Finalize() { m.finalize(); }
  } finalize{mpi};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (threads > 0) omp_set_num_threads(threads);
  try {
    if (*train) return run_train(tr);
    if (*eval) return run_eval(ev);
    if (*params) {
      std::fputs(parameter_reference().c_str(), stdout);
      return 0;
    }
    if (*snr) {
      sn.progress = !snr_no_progress;
      return run_snr(sn);
    }
    if (*mcc) {
      mc.progress = !no_progress;
      return run_mc(mc);
    }
    if (*hdc) {
      hd.progress = !hd_no_progress;
      return run_hardnn(hd);
    }
  } catch (const Error& e) {
    if (mpi.rank() == 0) std::fprintf(stderr, "aimc: error: %s\n", e.what());
    if (mpi.size() > 1) mpi.abort(1);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aimc: internal error: %s\n", e.what());
    if (mpi.size() > 1) mpi.abort(3);
    return 3;
  }
  return 0;
}

}  // namespace aimc::experiments
