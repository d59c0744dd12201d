#include "experiments/train.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <algorithm>

#include "data/load.hpp"
#include "nets/model_io.hpp"
#include "nets/train.hpp"

namespace aimc::experiments {

int default_epochs(const std::string& model) {
  if (model.rfind("resnet", 0) == 0) return 25;
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
/// any input; the MLP and CNN are defined on 1 x 28 x 28 with 10 classes.
nets::Network reference_for(const std::string& name, Shape in, int classes, const std::string& data) {
  if (name == "resnet8" || name == "resnet20") return nets::make_resnet(std::stoi(name.substr(6)), in, classes);
  if (!(in == Shape{1, 28, 28}) || classes > 10)
    throw Error("train: --model " + name + " takes 1x28x28 inputs and at most 10 classes, data set " + data + " has " +
                in.str() + " and " + std::to_string(classes) + " classes (use resnet8 or resnet20)");
  return nets::make_reference(name);
}
}  // namespace

int run_train(const TrainOptions& o) {
  if (o.out.empty()) throw Error("train: --out is required");
  std::error_code ec;  // (the throwing overloads would turn an unreadable path into an internal error)
  if (std::filesystem::is_directory(o.out, ec)) throw Error(o.out + ": is a directory; --out must name the model file");
  if (std::filesystem::exists(o.out, ec) && !o.force)
    throw Error(o.out + ": model file exists; pass --force to overwrite it");
  auto train_set = data::load_dataset(o.data, "train", o.data_dir);
  auto test_set = data::load_dataset(o.data, "test", o.data_dir);
  nets::Network net = reference_for(o.model, train_set.shape, std::max(train_set.classes, test_set.classes), o.data);
  nets::TrainParams p;
  p.epochs = o.epochs > 0 ? o.epochs : default_epochs(o.model);
  p.seed = o.seed;
  p.batch_size = o.batch_size;
  p.optimizer.lr = o.lr > 0 ? o.lr : default_lr(o.model);
  p.optimizer.weight_decay = o.weight_decay >= 0 ? o.weight_decay : default_weight_decay(o.model);
  p.augment = o.augment.empty() ? default_augment(o.model) : o.augment;
  p.augment_shift = o.augment_shift >= 0 ? o.augment_shift : default_augment_shift(o.model);
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

int run_eval(const EvalOptions& o) {
  auto m = nets::load_model(o.model_path);
  auto test_set = data::load_dataset(o.data, "test", o.data_dir);
  if (o.limit > 0) test_set = test_set.head(o.limit);
  auto res = nets::evaluate(m.net, test_set);
  std::printf("model %s (%s): test accuracy %.4f (%lld/%lld), mean loss %.4f\n", o.model_path.c_str(),
              m.meta.name.c_str(), res.accuracy, res.correct, res.total, res.loss);
  return 0;
}

}  // namespace aimc::experiments
