#pragma once
/// `aimc train` and `aimc eval`: reference models on Fashion-MNIST, and training from a config
/// (`aimc train CONFIG.toml`: hardware-aware training and fine-tuning; train_config.hpp).
#include <string>

namespace aimc::experiments {

struct TrainOptions {
  std::string config;         ///< a training config (TOML): the config form; every option below but out and
                              ///< force is then in the config (the CLI rejects them)
  bool progress = true;       ///< per-epoch progress lines on stderr
  std::string model = "mlp";  ///< reference architecture: mlp | cnn | resnet8 | resnet20
  int epochs = 0;             ///< 0: the architecture's default
  int seed = 1;
  int batch_size = 128;
  double lr = 0;              ///< <= 0: the architecture's default
  double weight_decay = -1;   ///< < 0: the architecture's default
  std::string augment;        ///< "" : the architecture's default; "none" | "shift-flip"
  int augment_shift = -1;     ///< < 0: the architecture's default (px)
  long long train_limit = 0;  ///< use only the first N training images (0: all)
  std::string out;
  std::string data = "fashion-mnist";  ///< data set name or file (data/load.hpp)
  std::string data_dir;       ///< directory of a built-in data set ("" : default resolution)
  bool force = false;         ///< overwrite an existing model file
};

/// Default epochs per reference architecture.
int default_epochs(const std::string& model);
/// Default learning rate, weight decay and augmentation per reference architecture: Adam's 1e-3 without
/// weight decay or augmentation for the MLP and CNN (their published numbers); for the ResNets, which
/// overfit without (91.11% after 10 epochs), 2e-3 (BatchNorm tolerates the larger step), shift-flip
/// and decoupled weight decay 0.01 (README "Reference models").
double default_lr(const std::string& model);
double default_weight_decay(const std::string& model);
std::string default_augment(const std::string& model);
int default_augment_shift(const std::string& model);
/// Trains and writes o.out (through a temporary file and a rename: an existing file is replaced only
/// by a complete model, and never without o.force). With o.config, the config form (train_config.hpp):
/// the header line on stderr names the HWA settings, the layers, the hardware and the seed of the
/// HWA noise streams (train.seed), and the model file records them (nets/model_io.hpp).
int run_train(const TrainOptions& o);

struct EvalOptions {
  std::string model_path;
  std::string data = "fashion-mnist";  ///< data set name or file (data/load.hpp)
  std::string data_dir;
  long long limit = 0;  ///< evaluate the first N test images (0: all)
};
/// Prints the test accuracy line and, for a model trained from a config, a line saying how: the
/// [hwa] settings of hardware-aware training, and the model file it was fine-tuned from.
int run_eval(const EvalOptions& o);

}  // namespace aimc::experiments
