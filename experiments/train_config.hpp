#pragma once
/// The config of `aimc train CONFIG.toml --out FILE` (hardware-aware training from a config; the run is
/// in train.cpp). Sections:
///   [model]   architecture = "mlp" | "cnn" | "resnet8" | "resnet20" (a fresh network initialized from
///             train.seed) or path = a model file to fine-tune (the usual HWA flow: a digital model,
///             then a few hardware-aware epochs); exactly one of them;
///   [data]    the [data] keys of `aimc mc` (campaign_inputs.hpp: dataset, dir, path, calibration_path,
///             calibration, subset) plus train_limit. The training set is the training split (the
///             first train_limit images); calibration = the first N of its images set the HWA
///             converter ranges; subset = the test images evaluated after each epoch and at the end
///             (all test images when the key is absent);
///   [train]   the keys of nets::TrainParams and nets::OptimizerParams; absent keys take the
///             architecture's defaults of `aimc train --model` (train.hpp) or, fine-tuning a file,
///             fine_tune_defaults();
///   [hwa]     the keys of nets::HwaParams. Without an [hwa] section the training is digital;
///   hardware  the sections `aimc mc` reads ([mapping], [rram], [pcm], [dac], [adc], [sense_amp],
///             [sram_*], [mosfet], [layer.N.*]), read by read_analog_sections into the AnalogConfig
///             of the HWA products; they need an [hwa] section. [mc] and [sweep] are rejected: one
///             training run is one hardware point.
/// Every error names the file and the key; parsing reads no model or data file.
#include <span>
#include <string>

#include "core/config.hpp"
#include "core/params.hpp"
#include "experiments/campaign_inputs.hpp"
#include "nets/analog.hpp"
#include "nets/hwa.hpp"
#include "nets/model_io.hpp"
#include "nets/train.hpp"

namespace aimc::experiments {

struct TrainModelParams {
  std::string architecture;  ///< mlp | cnn | resnet8 | resnet20: a fresh network
  std::string path;          ///< a model file to fine-tune
  static std::span<const Param<TrainModelParams>> params();
  /// Exactly one of architecture and path; architecture one of the reference names.
  void check() const;
};

/// The [data] key of a training config beyond those of `aimc mc` (McDataParams).
struct TrainDataParams {
  int train_limit = 0;  ///< train on the first N training images (0: all)
  static std::span<const Param<TrainDataParams>> params();
};

struct TrainConfig {
  ConfigFile file;
  TrainModelParams model;
  McDataParams data;
  TrainDataParams train_data;
  bool subset_given = false;  ///< [data] subset is set: evaluate that many test images, else all
  bool hwa_on = false;        ///< an [hwa] section: hardware-aware training
  nets::HwaParams hwa;
  nets::AnalogConfig analog;

  /// The training parameters: `defaults` with the keys of [train] applied (validated; errors name
  /// the file and "train.<key>").
  nets::TrainParams train(const nets::TrainParams& defaults) const;
};

/// Reads and validates a training config (see the file comment).
TrainConfig parse_train_config(const ConfigFile& f);

/// The defaults of `aimc train --model NAME`: epochs, lr, weight decay and augmentation of train.hpp;
/// batch 128, seed 1, Adam, cosine schedule (nets::TrainParams).
nets::TrainParams architecture_defaults(const std::string& architecture);

/// Epochs of a fine-tuning run when [train] does not set them.
inline constexpr int kFineTuneEpochs = 3;
/// Defaults for fine-tuning a model file: kFineTuneEpochs epochs on a cosine schedule at a tenth of the
/// learning rate the file records (1e-4 if it records none), with its recorded optimizer, batch size,
/// weight decay and augmentation (the library defaults where it records none): the recipe that
/// trained the model, continued gently so that the digital optimum is kept while the weights adapt
/// to the hardware.
nets::TrainParams fine_tune_defaults(const nets::ModelMeta& m);

/// The [hwa] settings as a model file records them (attributes hwa.<key>, hwa_seed, hwa_layers): every key
/// of the table, numbers and flags as floats, names as strings (train.cpp).
nets::ModelMeta::Hwa hwa_record(const nets::HwaParams& h, std::uint64_t seed, const std::string& layers);

}  // namespace aimc::experiments
