#include "experiments/cli.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <omp.h>

#include "core/error.hpp"
#include "core/numerics.hpp"
#include "experiments/correctnet.hpp"
#include "experiments/basisn.hpp"
#include "experiments/snn.hpp"
#include "experiments/onchip.hpp"
#include "experiments/denoise.hpp"
#include "experiments/hardnn.hpp"
#include "experiments/import.hpp"
#include "experiments/mc.hpp"
#include "experiments/snr.hpp"
#include "experiments/mpi.hpp"
#include "experiments/params_doc.hpp"
#include "experiments/train.hpp"

namespace aimc::experiments {

namespace {

/// The message on one line: a newline or other control character (from a file name, a TOML string or
/// a library's message) is written as an escape, so every failure is exactly one line on stderr.
std::string one_line(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out;
  for (unsigned char ch : s) {
    if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += ' ';
    else if (ch < 0x20 || ch == 0x7f) {
      const char* hex = "0123456789abcdef";
      out += {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
    } else out += char(ch);
  }
  return out;
}

/// A finite number: CLI11's own number checks let nan and inf through (every comparison with NaN is false).
const CLI::Validator finite_positive(
    [](std::string& s) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(s, v) || !std::isfinite(v) || !(v > 0))
        return "value " + s + " is not a finite positive number";
      return {};
    },
    "POSITIVE");
const CLI::Validator finite_nonneg(
    [](std::string& s) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(s, v) || !std::isfinite(v) || !(v >= 0))
        return "value " + s + " is not a finite non-negative number";
      return {};
    },
    "NONNEGATIVE");

/// A whole number in [lo, hi], written in decimal. CLI11 2.1 converts with strtoll in base 0 and no
/// overflow check, so 99999999999999999999 would silently become LLONG_MAX and 010 would be 8.
CLI::Validator integer_in(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        long long v = 0;
        const char* end = s.data() + s.size();
        const auto [p, ec] = std::from_chars(s.data() + (!s.empty() && s[0] == '+'), end, v);
        if (s.empty() || ec != std::errc() || p != end || v < lo || v > hi)
          return "value " + s + " is not a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
        return {};
      },
      "INT in [" + std::to_string(lo) + " - " + std::to_string(hi) + "]");
}

/// The first command-line word that is neither an option nor the value of --threads: the subcommand.
std::string_view command_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--threads") ++i;
    else if (!a.starts_with("-")) return a;
  }
  return {};
}

/// `aimc train CONFIG.toml` takes only --out and --force: every other option of the --model form has a
/// key in the config, named in the error.
void check_train_config_options(const CLI::App& train, const std::string& config) {
  if (train.get_option("--model")->count() > 0)
    throw Error("train: both a config file (" + config + ") and --model given; use one: the config's [model] "
                "architecture or path, or --model without a config");
  static const std::pair<const char*, const char*> keys[] = {
      {"--epochs", "[train] epochs"},          {"--seed", "[train] seed"},
      {"--batch-size", "[train] batch_size"},  {"--lr", "[train] lr"},
      {"--weight-decay", "[train] weight_decay"}, {"--augment", "[train] augment"},
      {"--augment-shift", "[train] augment_shift"}, {"--train-limit", "[data] train_limit"},
      {"--data", "[data] dataset (and path)"}, {"--data-dir", "[data] dir"}};
  for (const auto& [opt, key] : keys)
    if (train.get_option(opt)->count() > 0)
      throw Error(std::string("train: ") + opt + " is an option of `aimc train --model`; with a config file set " + key +
                  " in " + config);
}

}  // namespace

int run_cli(int argc, char** argv) {
  pin_numerics();  // same GEMM blocking on every machine (core/numerics.hpp)
  CLI::App app{"aimc: analog in-memory computing noise and reliability studies"};
  app.require_subcommand(1);
  int threads = 0;
  // An upper bound, so a typo cannot ask the OpenMP runtime for a million threads.
  app.add_option("--threads", threads, "OpenMP threads (default: all cores)")->check(integer_in(0, 4096));

  TrainOptions tr;
  auto* train = app.add_subcommand(
      "train", "train a reference model (Fashion-MNIST unless --data), or train from a config (hardware-aware training)");
  train->add_option("config", tr.config,
                    "training config (TOML: [model] architecture or path to fine-tune, [data], [train], [hwa], hardware "
                    "sections); the other options except --out and --force are then in the config");
  train->add_option("--model", tr.model, "reference architecture")
      ->check(CLI::IsMember({"mlp", "cnn", "resnet8", "resnet20", "snn_cnn", "snn_mlp"}));
  train->add_option("--epochs", tr.epochs, "epochs (default: mlp 20, cnn 12, resnet 25)")->check(integer_in(1, 10000));
  train->add_option("--seed", tr.seed, "seed of initialization, shuffling and augmentation")->check(integer_in(0, 2147483647));
  train->add_option("--batch-size", tr.batch_size, "mini-batch size")->check(integer_in(1, 1 << 20));
  train->add_option("--lr", tr.lr, "initial learning rate (Adam, cosine schedule; default: resnets 2e-3, mlp and cnn 1e-3)")
      ->check(finite_positive);
  train->add_option("--weight-decay", tr.weight_decay,
                    "decoupled weight decay (default: resnets 0.01, mlp and cnn 0)")->check(finite_nonneg);
  train->add_option("--augment", tr.augment, "training-image augmentation (default: resnets shift-flip, mlp and cnn none)")
      ->check(CLI::IsMember({"none", "shift-flip"}));
  train->add_option("--augment-shift", tr.augment_shift, "largest random shift of shift-flip, px (default 1)")
      ->check(integer_in(0, 64));
  train->add_option("--train-limit", tr.train_limit, "use only the first N training images")
      ->check(integer_in(0, 1000000000));
  train->add_option("--out", tr.out, "model file to write (HDF5)")->required();
  train->add_option("--data", tr.data,
                    "fashion-mnist, cifar10, or a file (.npz/.h5 with x (N,C,H,W), y (N,); {split} -> train/test)");
  train->add_option("--data-dir", tr.data_dir, "directory of a built-in dataset (default: its variable or Debian's)");
  train->add_flag("--force", tr.force, "overwrite an existing model file");

  EvalOptions ev;
  auto* eval = app.add_subcommand("eval", "test accuracy of a model file (Fashion-MNIST unless --data)");
  eval->add_option("--model", ev.model_path, "model file (HDF5)")->required();
  eval->add_option("--data", ev.data,
                   "fashion-mnist, cifar10, or a file (.npz/.h5 with x (N,C,H,W), y (N,); CIFAR-10 .bin; {split} -> test)");
  eval->add_option("--data-dir", ev.data_dir, "directory of a built-in dataset");
  eval->add_option("--limit", ev.limit, "evaluate only the first N test images")->check(integer_in(0, 1000000000));

  ImportCliOptions im;
  auto* imp = app.add_subcommand("import", "convert an ONNX model (torch.onnx.export) into an aimc model file");
  imp->add_option("model", im.model, "ONNX model file")->required();
  imp->add_option("--out", im.out, "model file to write (HDF5)")->required();
  imp->add_option("--input-shape", im.input_shape, "C,H,W of one input sample (for dynamic or missing dimensions)")
      ->delimiter(',');
  imp->add_option("--mean", im.mean, "per-channel input mean m1,m2,... (a first normalize node)")->delimiter(',');
  imp->add_option("--std", im.std, "per-channel input standard deviation s1,s2,...")->delimiter(',');
  imp->add_option("--name", im.name, "model name stored in the file (default: the file stem)");
  imp->add_flag("--force", im.force, "overwrite an existing model file");

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

  CorrectnetOptions cn;
  auto* cnc = app.add_subcommand(
      "correctnet", "CorrectNet: Lipschitz regularization and RL-placed error compensation, evaluated by Monte Carlo");
  cnc->add_option("config", cn.config, "study config (TOML)")->required();
  cnc->add_option("--out", cn.out, "results file (HDF5); stage models go to <out stem>.{lipschitz,compensated,both}.h5")
      ->capture_default_str();
  cnc->add_flag("--resume", cn.resume, "continue the study in an existing results file (reuses its stage models)");
  cnc->add_flag("--force", cn.force, "overwrite an existing results file and its stage models");
  cnc->add_flag("--quiet", cn.quiet, "no summary");
  bool cn_no_progress = false;
  cnc->add_flag("--no-progress", cn_no_progress, "no progress lines on stderr");

  DenoiseOptions dn;
  auto* dnc = app.add_subcommand(
      "denoise", "denoising blocks against activation noise: gradient-norm placement, evaluated by Monte Carlo");
  dnc->add_option("config", dn.config, "study config (TOML)")->required();
  dnc->add_option("--out", dn.out, "results file (HDF5); trained blocks go to <out stem>.blocks/")->capture_default_str();
  dnc->add_flag("--resume", dn.resume, "continue the study in an existing results file (reuses its block models)");
  dnc->add_flag("--force", dn.force, "overwrite an existing results file and its block models");
  dnc->add_flag("--quiet", dn.quiet, "no summary");
  bool dn_no_progress = false;
  dnc->add_flag("--no-progress", dn_no_progress, "no progress lines on stderr");

  BasisnOptions bn;
  auto* bnc = app.add_subcommand(
      "basisn", "BasisN: every layer from one shared basis on the crossbars; accuracy by Monte Carlo, cost vs reprogramming");
  bnc->add_option("config", bn.config, "study config (TOML)")->required();
  bnc->add_option("--out", bn.out, "results file (HDF5); the trained BasisN model goes to <out stem>.basisn.h5")
      ->capture_default_str();
  bnc->add_flag("--resume", bn.resume, "continue the study in an existing results file (reuses its BasisN model)");
  bnc->add_flag("--force", bn.force, "overwrite an existing results file and its BasisN model");
  bnc->add_flag("--quiet", bn.quiet, "no summary");
  bool bn_no_progress = false;
  bnc->add_flag("--no-progress", bn_no_progress, "no progress lines on stderr");

  SnnOptions sp;
  auto* spc = app.add_subcommand(
      "snn", "spiking network on ADC-less IMC: ideal / ADC / 1-bit sense-amp read-outs, hardware-aware and progressive "
             "training, energy and latency");
  spc->add_option("config", sp.config, "study config (TOML)")->required();
  spc->add_option("--out", sp.out,
                  "results file (HDF5); the fine-tuned models go to <out stem>.hwa.r<rows>.h5 and "
                  "<out stem>.progressive.r<rows>.h5")
      ->capture_default_str();
  spc->add_flag("--resume", sp.resume, "continue the study in an existing results file (reuses its fine-tuned models)");
  spc->add_flag("--force", sp.force, "overwrite an existing results file and its fine-tuned models");
  spc->add_flag("--quiet", sp.quiet, "no summary");
  bool sp_no_progress = false;
  spc->add_flag("--no-progress", sp_no_progress, "no progress lines on stderr");

  OnchipOptions oc;
  auto* occ = app.add_subcommand(
      "onchip", "on-chip learning on Iris with MOSFET gate-voltage synapses, nonlinear RRAM and float SGD; Monte Carlo "
                "over chips, k-fold CV, sweeps of resolution, variation and leakage");
  occ->add_option("config", oc.config, "study config (TOML)")->required();
  occ->add_option("--out", oc.out, "results file (HDF5)")->capture_default_str();
  occ->add_flag("--force", oc.force, "overwrite an existing results file");
  occ->add_flag("--quiet", oc.quiet, "no summary");
  bool oc_no_progress = false;
  occ->add_flag("--no-progress", oc_no_progress, "no progress lines on stderr");

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
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    std::string msg = one_line(e.what());
    const std::string_view word = command_word(argc, argv);
    bool known = false;
    for (const auto* sc : app.get_subcommands({})) known = known || sc->get_name() == word;
    const std::string commands = "train, eval, import, mc, hardnn, correctnet, denoise, basisn, snn, onchip, snr or params";
    if (!word.empty() && !known)  // CLI11 would only say "A subcommand is required"
      msg = "unknown command '" + one_line(word) + "' (expected " + commands + ")";
    else if (word.empty() && app.get_subcommands().empty() && msg.find("subcommand") != std::string::npos)
      msg = "missing command (expected " + commands + ")";
    if (mpi.rank() == 0) std::fprintf(stderr, "aimc: error: %s (see aimc --help)\n", msg.c_str());
    return 1;
  }
  if (threads > 0) omp_set_num_threads(threads);
  try {
    if (*train) {
      if (!tr.config.empty()) check_train_config_options(*train, tr.config);
      return run_train(tr);
    }
    if (*eval) return run_eval(ev);
    if (*imp) return run_import(im);
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
    if (*cnc) {
      cn.progress = !cn_no_progress;
      return run_correctnet(cn);
    }
    if (*dnc) {
      dn.progress = !dn_no_progress;
      return run_denoise(dn);
    }
    if (*bnc) {
      bn.progress = !bn_no_progress;
      return run_basisn(bn);
    }
    if (*spc) {
      sp.progress = !sp_no_progress;
      return run_snn(sp);
    }
    if (*occ) {
      oc.progress = !oc_no_progress;
      return run_onchip(oc);
    }
  } catch (const Error& e) {
    if (mpi.rank() == 0) std::fprintf(stderr, "aimc: error: %s\n", one_line(e.what()).c_str());
    if (mpi.size() > 1) mpi.abort(1);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aimc: internal error: %s\n", one_line(e.what()).c_str());
    if (mpi.size() > 1) mpi.abort(3);
    return 3;
  } catch (...) {  // e.g. an H5::Exception that escaped core/hdf5io's conversion to Error: a bug
    std::fprintf(stderr, "aimc: internal error: unexpected exception (not derived from std::exception)\n");
    if (mpi.size() > 1) mpi.abort(3);
    return 3;
  }
  return 0;
}

}  // namespace aimc::experiments
