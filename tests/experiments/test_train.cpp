// `aimc train CONFIG.toml` as a library call (experiments/train_config.hpp): config errors name the file
// and key and leave an existing model file untouched; a tiny hardware-aware run on a dataset file
// records its [hwa] settings; fine-tuning through the HWA products with everything off is exactly
// digital fine-tuning. The one-line CLI form of the errors: tests/experiments/test_cli_errors.sh.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "../data/helpers.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "data/fashion_mnist.hpp"
#include "experiments/train.hpp"
#include "experiments/train_config.hpp"
#include "nets/analog.hpp"
#include "nets/hwa.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

std::string write_config(const test::ScratchDir& dir, const std::string& name, const std::string& text) {
  test::write_text(dir.file(name), text);
  return dir.file(name);
}

int train_quiet(const std::string& config, const std::string& out, bool force = false) {
  TrainOptions o;
  o.config = config;
  o.out = out;
  o.force = force;
  o.progress = false;
  return run_train(o);
}

std::vector<Matrix> weights(const std::string& model) {
  auto m = nets::load_model(model);
  std::vector<Matrix> w;
  for (const auto& p : m.net.parameter_store()) w.push_back(p->value);
  return w;
}

}  // namespace

TEST_CASE("train config: errors name the file and the key, and an existing model file stays untouched") {
  test::ScratchDir dir("train-config-errors");
  const std::string out = dir.file("keep.h5");
  {
    nets::Network net = nets::make_mlp();
    Stream init(3, "init");
    net.init(init);
    nets::save_model(out, net, {"mlp", "fashion-mnist", 0, 3, 0.1, 0.0, "", {}});
  }
  const auto before = test::read_bytes(out);
  const std::string arch = "[model]\narchitecture = \"mlp\"\n";
  struct Case {
    const char* name;
    std::string text, want;
  };
  const std::vector<Case> cases = {
      {"unknown key", arch + "[train]\nepochz = 2\n", "train.epochz: unknown key (did you mean 'epochs'?)"},
      {"unknown [hwa] key", arch + "[hwa]\nweight_nois = \"additive\"\n", "hwa.weight_nois: unknown key"},
      {"unknown section", arch + "[trian]\nepochs = 2\n", "trian: unknown key (did you mean 'train'?)"},
      {"bad value", arch + "[train]\nlr = -1\n", "parameter 'train.lr' = -1"},
      {"bad type", arch + "[train]\nepochs = 2.5\n", "train.epochs: expected an integer, got 2.5"},
      {"bad [hwa] value", arch + "[hwa]\nweight_noise = \"gaussian\"\n", "parameter 'hwa.weight_noise' = \"gaussian\""},
      {"[hwa] cross-check", arch + "[hwa]\nweight_noise = \"additive\"\n", "hwa.sigma_w"},
      {"bad hardware value", arch + "[hwa]\nio = \"quantized\"\n[adc]\nbits = 0\n", "parameter 'adc.bits' = 0"},
      {"sweep section", arch + "[sweep]\n\"rram.sigma_prog\" = [0.1]\n", "sweep: a training config describes one hardware point"},
      {"mc section", arch + "[mc]\ntrials = 2\n", "mc: a training config describes one hardware point"},
      {"hardware without [hwa]", arch + "[mapping]\nsubstrate = \"pcm\"\n", "mapping: hardware sections configure"},
      {"no [model]", "[train]\nepochs = 1\n", "model: missing"},
      {"architecture and path", arch + "path = \"m.h5\"\n", "model.path"},
      {"neither architecture nor path", "[model]\n", "model.architecture"},
      {"unknown architecture", "[model]\narchitecture = \"vgg\"\n", "parameter 'model.architecture' = \"vgg\""},
      {"model file missing", "[model]\npath = \"" + dir.file("nope.h5") + "\"\n", "nope.h5"},
      {"analog_layers out of range", arch + "[data]\ntrain_limit = 10\nsubset = 10\n[hwa]\n[mapping]\nanalog_layers = \"5\"\n",
       "mapping.analog_layers"},
      {"override beyond the network", arch + "[data]\ntrain_limit = 10\nsubset = 10\n[hwa]\n[layer.7.adc]\nbits = 4\n",
       "layer.7: the network has 3 Dense/Conv2d layers"},
      {"train_limit negative", arch + "[data]\ntrain_limit = -1\n", "parameter 'data.train_limit' = -1"},
      {"subset too large", arch + "[data]\ntrain_limit = 10\nsubset = 20000\n", "data.subset"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const std::string cfg = write_config(dir, "c.toml", c.text);
    const std::string e = test::error_of([&] { train_quiet(cfg, out, true); });
    CHECK(e.find(c.want) != std::string::npos);
    CHECK(e.rfind(cfg + ":", 0) == 0);  // starts with the config file's name
    CHECK(e.find('\n') == std::string::npos);
    CHECK(test::read_bytes(out) == before);
  }
  // A valid config does not overwrite an existing file without --force.
  const std::string ok = write_config(dir, "ok.toml", arch + "[data]\ntrain_limit = 10\nsubset = 10\n");
  CHECK(test::error_of([&] { train_quiet(ok, out); }).find("pass --force") != std::string::npos);
  CHECK(test::read_bytes(out) == before);
}

TEST_CASE("train config: absent [train] keys take the architecture's or the fine-tuning defaults") {
  const ConfigFile f = parse_config("[model]\narchitecture = \"resnet8\"\n[train]\nepochs = 1\nkind = \"sgd\"\n", "c.toml");
  const TrainConfig c = parse_train_config(f);
  const nets::TrainParams p = c.train(architecture_defaults("resnet8"));
  CHECK(p.epochs == 1);
  CHECK(p.optimizer.kind == "sgd");
  // the ResNet defaults of `aimc train --model resnet8` (train.hpp), written out
  CHECK(p.optimizer.lr == 2e-3);
  CHECK(p.optimizer.weight_decay == 0.01);
  CHECK(p.augment == "shift-flip");
  CHECK(p.augment_shift == 1);
  CHECK(p.batch_size == 128);
  CHECK(p.seed == 1);
  CHECK_FALSE(c.hwa_on);

  nets::ModelMeta m;
  nets::TrainParams q = fine_tune_defaults(m);  // a file without a recipe
  CHECK(q.epochs == 3);
  CHECK(q.optimizer.lr == 1e-4);
  CHECK(q.optimizer.kind == "adam");
  m.recipe = {"sgd", 0.02, "constant", 64, 0.005, "shift-flip", 2};
  q = fine_tune_defaults(m);
  CHECK(q.epochs == 3);
  CHECK(q.schedule == "cosine");
  CHECK(q.optimizer.kind == "sgd");
  CHECK(q.optimizer.lr == doctest::Approx(0.002).epsilon(1e-15));
  CHECK(q.batch_size == 64);
  CHECK(q.optimizer.weight_decay == 0.005);
  CHECK(q.augment == "shift-flip");
  CHECK(q.augment_shift == 2);
}

TEST_CASE("train config: a tiny hardware-aware run on a dataset file records its [hwa] settings, eval loads it") {
  test::ScratchDir dir("train-config-hwa");
  const std::string data = test::small_dataset(dir, 200, 100);
  const std::string text = "[model]\narchitecture = \"mlp\"\n[data]\ndataset = \"file\"\npath = \"" + data +
                           "\"\ncalibration = 32\n[train]\nepochs = 1\nbatch_size = 50\nseed = 9\n"
                           "[hwa]\nweight_noise = \"additive\"\nsigma_w = 0.05\n";
  const std::string cfg = write_config(dir, "hwa.toml", text);
  const std::string out = dir.file("hwa.h5");
  REQUIRE(train_quiet(cfg, out) == 0);
  const auto m = nets::load_model(out);
  CHECK(m.meta.name == "mlp");
  CHECK(m.meta.epochs == 1);
  CHECK(m.meta.seed == 9);
  CHECK(m.meta.train_config == text);
  CHECK(m.meta.fine_tuned_from.empty());
  REQUIRE(m.meta.hwa.on());
  CHECK(m.meta.hwa.seed == 9);  // the HWA noise streams are keyed by train.seed
  CHECK(m.meta.hwa.layers == "dense_1, dense_3, dense_5");  // the node names of the MLP's three Dense layers
  // every key of the [hwa] table, in its order, with the config's values or the defaults
  const auto table = nets::HwaParams::params();
  REQUIRE(m.meta.hwa.settings.size() == table.size());
  for (std::size_t i = 0; i < table.size(); ++i) CHECK(m.meta.hwa.settings[i].first == table[i].name);
  auto value = [&](const std::string& k) {
    for (const auto& [key, v] : m.meta.hwa.settings)
      if (key == k) return v;
    FAIL("no key " << k);
    return std::variant<double, std::string>{};
  };
  CHECK(std::get<std::string>(value("weight_noise")) == "additive");
  CHECK(std::get<double>(value("sigma_w")) == 0.05);
  CHECK(std::get<std::string>(value("io")) == "ideal");
  CHECK(std::get<double>(value("sigma_out")) == 0.0);
  EvalOptions e;
  e.model_path = out;
  e.data = data;
  CHECK(run_eval(e) == 0);
}

TEST_CASE("train config: fine-tuning through HWA products with every noise off and ideal io is digital fine-tuning") {
  // Oracle: nets::train on the loaded model without any hook (the digital path), with the training
  // parameters written out here; the config runs with an [hwa] section that turns everything off (the
  // HWA products are installed and run) and without one must both give its weights bit for bit.
  test::ScratchDir dir("train-config-oracle");
  const std::string data = test::small_dataset(dir, 200, 100);
  const std::string base = dir.file("base.h5");
  {
    nets::Network net = nets::make_mlp();
    Stream init(4, "init");
    net.init(init);
    nets::ModelMeta meta{"mlp", "fashion-mnist", 1, 4, 0.5, 0.0, "", {}};
    meta.recipe = {"adam", 1e-3, "cosine", 128, 0.0, "none", 1};
    nets::save_model(base, net, meta);
  }
  const std::string common = "[model]\npath = \"" + base + "\"\n[data]\ndataset = \"file\"\npath = \"" + data +
                             "\"\ncalibration = 64\n[train]\nepochs = 2\nbatch_size = 40\nseed = 7\nlr = 5e-4\n"
                             "weight_decay = 0.001\n";
  const std::string off = write_config(
      dir, "off.toml",
      common + "[hwa]\nweight_noise = \"none\"\nio = \"ideal\"\nsigma_out = 0.0\nclip = \"none\"\n[mapping]\nanalog_layers = \"all\"\n");
  const std::string digital = write_config(dir, "digital.toml", common);
  REQUIRE(train_quiet(off, dir.file("off.h5")) == 0);
  REQUIRE(train_quiet(digital, dir.file("digital.h5")) == 0);

  auto ref = nets::load_model(base);
  nets::TrainParams p;
  p.epochs = 2;
  p.batch_size = 40;
  p.seed = 7;
  p.schedule = "cosine";
  p.optimizer.kind = "adam";
  p.optimizer.lr = 5e-4;
  p.optimizer.weight_decay = 0.001;
  const auto train_set = data::load_fashion_mnist("train", "").head(200);
  const auto test_set = data::load_fashion_mnist("test", "").head(100);
  nets::train(ref.net, train_set, &test_set, p, {}, false);
  std::vector<Matrix> expect;
  for (const auto& q : ref.net.parameter_store()) expect.push_back(q->value);

  const auto w_off = weights(dir.file("off.h5")), w_dig = weights(dir.file("digital.h5"));
  REQUIRE(w_off.size() == expect.size());
  REQUIRE(w_dig.size() == expect.size());
  for (std::size_t i = 0; i < expect.size(); ++i) {
    CAPTURE(i);
    CHECK(w_off[i] == expect[i]);
    CHECK(w_dig[i] == expect[i]);
  }
  CHECK(weights(base) != expect);  // the fine-tuning changed the weights (the comparison has power)
  const auto m = nets::load_model(dir.file("off.h5"));
  CHECK(m.meta.hwa.on());
  CHECK(m.meta.fine_tuned_from == base);
  CHECK(m.meta.fine_tuned_from_accuracy == 0.5);
  CHECK_FALSE(nets::load_model(dir.file("digital.h5")).meta.hwa.on());
}

TEST_CASE("train config: with io = quantized the model records each HWA layer's DAC full scale for mapping.input_range = model") {
  test::ScratchDir dir("train-config-ranges");
  const std::string data = test::small_dataset(dir, 200, 100);
  const std::string cfg = write_config(dir, "q.toml",
                                       "[model]\narchitecture = \"mlp\"\n[data]\ndataset = \"file\"\npath = \"" + data +
                                           "\"\ncalibration = 32\n[train]\nepochs = 1\nbatch_size = 50\n"
                                           "[hwa]\nio = \"quantized\"\n[mapping]\nanalog_layers = \"0,2\"\n");
  const std::string out = dir.file("q.h5");
  REQUIRE(train_quiet(cfg, out) == 0);
  const auto m = nets::load_model(out);
  REQUIRE(m.meta.hwa.input_ranges.size() == 2);
  CHECK(m.meta.hwa.input_ranges[0].first == "dense_1");
  CHECK(m.meta.hwa.input_ranges[1].first == "dense_5");
  // input_range = calibrated: the first layer's inputs are the pixels, so its full scale is max |x| over
  // the 32 calibration images (the first of the training file), computed here
  const auto cal = data::load_fashion_mnist("train", "").head(32);
  CHECK(m.meta.hwa.input_ranges[0].second == double(cal.x.cwiseAbs().maxCoeff()));
  CHECK(m.meta.hwa.input_ranges[1].second > 0);
  // the analog mapping takes them with mapping.input_range = "model"
  nets::AnalogConfig a;
  a.mapping.analog_layers = "0,2";
  a.mapping.input_range = "model";
  a.input_ranges = m.meta.hwa.input_ranges;
  const nets::AnalogNetwork an(m.net, a, cal.x);
  CHECK(an.x_max(0) == m.meta.hwa.input_ranges[0].second);
  CHECK(an.x_max(1) == m.meta.hwa.input_ranges[1].second);
}
