#include "experiments/train.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <variant>
#include <vector>

#include "data/augment.hpp"
#include "data/load.hpp"
#include "experiments/campaign_inputs.hpp"
#include "experiments/train_config.hpp"
#include "nets/analog.hpp"
#include "nets/hwa.hpp"
#include "nets/model_io.hpp"
#include "nets/train.hpp"

namespace aimc::experiments {

int default_epochs(const std::string& model) {
  if (model.rfind("resnet", 0) == 0) return 25;
  if (model.rfind("snn", 0) == 0) return 8;
  return model == "cnn" ? 12 : 20;
}

namespace {
bool is_resnet(const std::string& model) { return model.rfind("resnet", 0) == 0; }
}  // namespace

double default_lr(const std::string& model) { return is_resnet(model) ? 2e-3 : 1e-3; }
double default_weight_decay(const std::string& model) { return is_resnet(model) ? 0.01 : 0.0; }
std::string default_augment(const std::string& model) { return is_resnet(model) ? "shift-flip" : "none"; }
int default_augment_shift(const std::string& /*model*/) { return 1; }

namespace {
/// The reference architecture `name` for samples of `in` and `classes` classes: the ResNets adapt to
/// any input; the MLP, CNN and SNNs are defined on 1 x 28 x 28 with 10 classes.
nets::Network reference_for(const std::string& name, Shape in, int classes, const std::string& data) {
  if (name == "resnet8" || name == "resnet20") return nets::make_resnet(std::stoi(name.substr(6)), in, classes);
  if (!(in == Shape{1, 28, 28}) || classes > 10)
    throw Error("train: --model " + name + " takes 1x28x28 inputs and at most 10 classes, data set " + data + " has " +
                in.str() + " and " + std::to_string(classes) + " classes (use resnet8 or resnet20)");
  return nets::make_reference(name);
}
}  // namespace

namespace {

/// --out names a file that may be written: not a directory, not an existing file without --force.
void check_out(const TrainOptions& o) {
  if (o.out.empty()) throw Error("train: --out is required");
  std::error_code ec;  // (the throwing overloads would turn an unreadable path into an internal error)
  if (std::filesystem::is_directory(o.out, ec)) throw Error(o.out + ": is a directory; --out must name the model file");
  if (std::filesystem::exists(o.out, ec) && !o.force)
    throw Error(o.out + ": model file exists; pass --force to overwrite it");
}

int run_train_config(const TrainOptions& o);

}  // namespace

int run_train(const TrainOptions& o) {
  if (!o.config.empty()) return run_train_config(o);
  check_out(o);
  auto train_set = data::load_dataset(o.data, "train", o.data_dir);
  auto test_set = data::load_dataset(o.data, "test", o.data_dir);
  nets::Network net = reference_for(o.model, train_set.shape, std::max(train_set.classes, test_set.classes), o.data);
  nets::TrainParams p = architecture_defaults(o.model);
  if (o.epochs > 0) p.epochs = o.epochs;
  p.seed = o.seed;
  p.batch_size = o.batch_size;
  if (o.lr > 0) p.optimizer.lr = o.lr;
  if (o.weight_decay >= 0) p.optimizer.weight_decay = o.weight_decay;
  if (!o.augment.empty()) p.augment = o.augment;
  if (o.augment_shift >= 0) p.augment_shift = o.augment_shift;
  validate(p, "train");
  validate(p.optimizer, "train");
  if (o.train_limit > 0) train_set = train_set.head(o.train_limit);
  std::fprintf(stderr,
               "training %s (%lld MACs per image) on %lld images, %d epochs, seed %d, %s lr %g (%s), batch %d, "
               "weight decay %g, augment %s",
               o.model.c_str(), net.macs(), train_set.size(), p.epochs, p.seed, p.optimizer.kind.c_str(),
               p.optimizer.lr, p.schedule.c_str(), p.batch_size, p.optimizer.weight_decay, p.augment.c_str());
  if (p.augment != "none") std::fprintf(stderr, " +-%d px", p.augment_shift);
  std::fprintf(stderr, "\n");
  Stream init(std::uint64_t(p.seed), "init");
  net.init(init);
  auto t0 = std::chrono::steady_clock::now();
  auto logs = nets::train(net, train_set, &test_set, p);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto res = nets::evaluate(net, test_set);
  nets::ModelMeta meta{o.model, o.data, p.epochs, p.seed, res.accuracy, seconds, "", {}};
  meta.recipe = {p.optimizer.kind, p.optimizer.lr,           p.schedule,   p.batch_size,
                 p.optimizer.weight_decay, p.augment, p.augment_shift};
  nets::save_model(o.out, net, meta);
  std::printf("model %s: test accuracy %.4f (%lld/%lld), trained in %.1f s, saved to %s\n", o.model.c_str(),
              res.accuracy, res.correct, res.total, seconds, o.out.c_str());
  return 0;
}

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

/// "key = value" of every [hwa] key, in table order.
std::vector<std::string> hwa_settings_text(const nets::ModelMeta::Hwa& h) {
  std::vector<std::string> out;
  for (const auto& [k, v] : h.settings)
    out.push_back(k + " = " + std::visit([](const auto& x) { return to_str(x); }, v));
  return out;
}

}  // namespace

/// The [hwa] settings as the model file records them: every key of the table, numbers and flags as
/// floats, names as strings.
nets::ModelMeta::Hwa hwa_record(const nets::HwaParams& h, std::uint64_t seed, const std::string& layers) {
  nets::ModelMeta::Hwa r;
  for (const auto& p : nets::HwaParams::params()) {
    if (std::holds_alternative<std::string nets::HwaParams::*>(p.member))
      r.settings.emplace_back(std::string(p.name), param_text(h, p));
    else
      r.settings.emplace_back(std::string(p.name), get_param(h, p));
  }
  r.seed = std::int64_t(seed);
  r.layers = layers;
  return r;
}

namespace {

/// The hardware the HWA products use, in one phrase: programmed substrate and tiles (weight_noise =
/// device), converters (io = quantized), per-layer overrides.
std::string hardware_text(const nets::AnalogConfig& a, const nets::HwaParams& h) {
  std::vector<std::string> parts;
  if (h.weight_noise == "device")
    parts.push_back("weights programmed on " + a.mapping.substrate + " (" + std::to_string(a.mapping.tile_rows) + "x" +
                    std::to_string(a.mapping.tile_cols) + " tiles)");
  if (h.io == "quantized") {
    std::string io = std::to_string(a.dac.bits) + "-bit DAC, read-out " + a.mapping.readout;
    if (a.mapping.readout == "adc") io += " (" + std::to_string(a.adc.bits) + "-bit ADC)";
    parts.push_back(io);
  }
  if (parts.empty()) return "no hardware section in use";
  if (!a.overrides.empty()) parts.push_back(std::to_string(a.overrides.size()) + " per-layer override(s)");
  return join(parts, ", ");
}

int run_train_config(const TrainOptions& o) {
  const ConfigFile cf = load_config(o.config);
  const TrainConfig c = parse_train_config(cf);
  const std::string& file = c.file.path;
  check_out(o);
  if (!c.model.path.empty() && !std::filesystem::exists(c.model.path))
    throw Error(file + ": model.path = \"" + c.model.path + "\": model file not found");
  const auto& d = c.data;
  const std::string data_name = d.dataset == "file" ? d.path : d.dataset;

  // Data: the training split (the first data.train_limit images) and the test images evaluated.
  auto train_set = load_split(file, d, "train",
                              c.train_data.train_limit > 0 ? std::size_t(c.train_data.train_limit) : std::size_t(-1));
  auto test_set = load_split(file, d, "test", c.subset_given ? std::size_t(d.subset) : std::size_t(-1));
  if (c.subset_given && d.subset > test_set.size())
    fail_at(file, "data.subset",
            std::to_string(d.subset) + " exceeds the " + std::to_string(test_set.size()) + " test images");

  // The network: a fresh reference architecture, or the model file to fine-tune, and the defaults of [train].
  nets::Network net;
  nets::TrainParams p;
  nets::ModelMeta meta;
  std::string name;
  if (!c.model.architecture.empty()) {
    name = c.model.architecture;
    net = reference_for(name, train_set.shape, std::max(train_set.classes, test_set.classes), data_name);
    p = c.train(architecture_defaults(name));
    Stream init(std::uint64_t(p.seed), "init");
    net.init(init);
  } else {
    auto loaded = nets::load_model(c.model.path);
    check_model_fits(file, c.model.path, loaded.net, d, test_set);
    check_model_fits(file, c.model.path, loaded.net, d, train_set);
    net = std::move(loaded.net);
    name = loaded.meta.name;
    p = c.train(fine_tune_defaults(loaded.meta));
    meta.fine_tuned_from = c.model.path;
    meta.fine_tuned_from_accuracy = loaded.meta.test_accuracy;
  }

  // Hardware-aware training: the HWA products on the layers mapping.analog_layers selects, calibrated on
  // the first data.calibration training images; noise streams keyed by train.seed.
  std::unique_ptr<nets::HwaTraining> hwa;
  std::string hwa_line;
  if (c.hwa_on) {
    std::vector<std::size_t> layers;
    try {
      layers = nets::analog_layer_indices(net, c.analog.mapping);
    } catch (const Error& e) {
      throw Error(file + ": " + e.what());
    }
    const auto n_matmul = nets::matmul_layers(net).size();
    for (const auto& ov : c.analog.overrides)
      if (ov.ordinal >= int(n_matmul))
        fail_at(file, "layer." + std::to_string(ov.ordinal),
                "the network has " + std::to_string(n_matmul) + " Dense/Conv2d layers (ordinals 0.." +
                    std::to_string(int(n_matmul) - 1) + ")");
    std::vector<std::string> names;
    for (std::size_t i : layers) names.push_back(net.name(i));
    meta.hwa = hwa_record(c.hwa, std::uint64_t(p.seed), join(names, ", "));
    const auto cal = train_set.head(std::min<long long>(d.calibration, train_set.size()));
    try {
      hwa = std::make_unique<nets::HwaTraining>(net, c.hwa, c.analog, layers, std::uint64_t(p.seed));
    } catch (const Error& e) {
      throw Error(file + ": " + e.what());
    }
    hwa->calibrate(cal.x);
    hwa_line = "hardware-aware training of " + std::to_string(layers.size()) + " of " + std::to_string(n_matmul) +
               " Dense/Conv2d layers (" + meta.hwa.layers + "): hwa " + join(hwa_settings_text(meta.hwa), ", ") +
               "; " + hardware_text(c.analog, c.hwa) + "; calibrated on " + std::to_string(cal.size()) +
               " training images; noise streams Stream(" + std::to_string(p.seed) + ", \"hwa.*\", {step, layer})\n";
  }
  try {  // (nets::train checks it too, but after the header lines: one error line only)
    data::validate_augment({p.augment, p.augment_shift}, train_set.shape, "train");
  } catch (const Error& e) {
    throw Error(file + ": " + e.what());
  }

  // Everything that can fail on the config is done: the header lines, then the training.
  std::fprintf(stderr,
               "training %s (%lld MACs per image) on %lld images of %s, %d epochs, seed %d, %s lr %g (%s), batch %d, "
               "weight decay %g, augment %s",
               name.c_str(), net.macs(), train_set.size(), data_name.c_str(), p.epochs, p.seed,
               p.optimizer.kind.c_str(), p.optimizer.lr, p.schedule.c_str(), p.batch_size, p.optimizer.weight_decay,
               p.augment.c_str());
  if (p.augment != "none") std::fprintf(stderr, " +-%d px", p.augment_shift);
  if (!meta.fine_tuned_from.empty())
    std::fprintf(stderr, ", fine-tuning %s (test accuracy %.4f)", meta.fine_tuned_from.c_str(),
                 meta.fine_tuned_from_accuracy);
  std::fprintf(stderr, "\n");

  std::fputs(hwa_line.c_str(), stderr);

  auto t0 = std::chrono::steady_clock::now();
  std::vector<nets::StepHook*> hooks;
  if (hwa) hooks.push_back(hwa.get());
  nets::train(net, train_set, &test_set, p, {}, o.progress, {}, hooks);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (hwa && c.hwa.io == "quantized")  // the DAC full scales the training ended with (mapping.input_range = "model")
    for (std::size_t l = 0; l < hwa->layers().size(); ++l)
      meta.hwa.input_ranges.emplace_back(net.name(hwa->layers()[l]), hwa->x_max(l));
  hwa.reset();  // the digital network again (the HWA products leave with it)
  const auto res = nets::evaluate(net, test_set);
  meta.name = name;
  meta.dataset = data_name;
  meta.epochs = p.epochs;
  meta.seed = p.seed;
  meta.test_accuracy = res.accuracy;
  meta.train_seconds = seconds;
  meta.recipe = {p.optimizer.kind, p.optimizer.lr, p.schedule, p.batch_size, p.optimizer.weight_decay, p.augment,
                 p.augment_shift};
  meta.train_config = c.file.text;
  nets::save_model(o.out, net, meta);
  std::printf("model %s: test accuracy %.4f (%lld/%lld, digital), %s in %.1f s, saved to %s\n", name.c_str(),
              res.accuracy, res.correct, res.total, c.hwa_on ? "hardware-aware trained" : "trained", seconds,
              o.out.c_str());
  return 0;
}

}  // namespace

int run_eval(const EvalOptions& o) {
  auto m = nets::load_model(o.model_path);
  auto test_set = data::load_dataset(o.data, "test", o.data_dir);
  if (o.limit > 0) test_set = test_set.head(o.limit);
  auto res = nets::evaluate(m.net, test_set);
  std::printf("model %s (%s): test accuracy %.4f (%lld/%lld), mean loss %.4f\n", o.model_path.c_str(),
              m.meta.name.c_str(), res.accuracy, res.correct, res.total, res.loss);
  const auto& meta = m.meta;
  std::string from;
  if (!meta.fine_tuned_from.empty())
    from = "fine-tuned from " + meta.fine_tuned_from + " (its test accuracy " + to_str(meta.fine_tuned_from_accuracy) + ")";
  if (meta.hwa.on())
    std::printf("hardware-aware trained (epochs %d%s): hwa %s; seed %lld; layers %s;%s hardware in attribute "
                "train_config\n",
                meta.epochs, from.empty() ? "" : (", " + from).c_str(), join(hwa_settings_text(meta.hwa), ", ").c_str(),
                (long long)meta.hwa.seed, meta.hwa.layers.c_str(),
                meta.hwa.input_ranges.empty() ? "" : " DAC full scales recorded (mapping.input_range = \"model\");");
  else if (!from.empty())
    std::printf("%s (epochs %d, digital)\n", from.c_str(), meta.epochs);
  return 0;
}

}  // namespace aimc::experiments
