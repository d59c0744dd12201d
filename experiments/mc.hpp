#pragma once
/// `aimc mc`: Monte Carlo robustness campaigns. A config (TOML) names a model file, a dataset subset,
/// the analog mapping (nets/analog.hpp) and a sweep; every sweep point runs N trials, each a fresh
/// device instance evaluated on the subset. Results go to an HDF5 file (schema in docs/results.md).
///
/// Randomness: trial t draws its devices from Stream(seed, "mc.program", {t}) and its per-read noise
/// from Stream(seed, "mc.read", {t}); a trial is therefore a pure function of (config, seed, point,
/// trial), independent of threads, ranks and order. The same trial index uses the same draws at
/// every sweep point (common random numbers), so differences between points carry less noise.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <H5Cpp.h>

#include "core/config.hpp"
#include "core/params.hpp"
#include "data/dataset.hpp"
#include "experiments/campaign_inputs.hpp"
#include "nets/analog.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

struct McParams {
  int trials = 50;              ///< device instances per sweep point (maximum with the stopping rule)
  int seed = 1;                 ///< global seed of all streams
  int chunk = 100;              ///< images per evaluation chunk (keys the read streams)
  int snr_samples = 500;        ///< images over which per-layer SNR is measured
  double ci_half_width = 0.0;   ///< stop a point once the CI half-width of mean accuracy is below this (0: off)
  int round = 10;               ///< trials per point between stopping-rule checks (and MPI gathers)
  double confidence = 0.95;     ///< confidence level of the intervals
  static std::span<const Param<McParams>> params();
};

struct SweepAxis {
  std::string key;  ///< "section.name", e.g. "rram.sigma_prog"
  std::vector<double> values;
};

struct McConfig {
  ConfigFile file;
  McModelParams model;
  McDataParams data;
  nets::AnalogConfig analog;  ///< base hardware (before sweep values)
  McParams mc;
  std::vector<SweepAxis> sweep;  ///< in key order; points enumerate the product, last axis fastest

  std::size_t points() const;
  std::vector<double> values_at(std::size_t point) const;
  nets::AnalogConfig analog_at(std::size_t point) const;
};

/// Reads the hardware sections of a config into `a`: [mapping], [rram], [pcm], [dac], [adc], [sense_amp],
/// [sram_qs], [sram_is], [sram_qr] (with technology/variation keys and presets), [mosfet] and the
/// per-layer overrides [layer.N.section] (shared by every campaign that maps a network onto analog
/// hardware). Errors name the file and key.
void read_analog_sections(const toml::table& root, const std::string& file, nets::AnalogConfig& a);
/// The top-level keys read_analog_sections reads (the hardware sections, "layer" included), for the
/// check_keys lists of the configs that take them.
const std::vector<std::string>& analog_section_names();
/// The `/resolved` attributes of every hardware section (and per-layer overrides) of `a`.
void write_resolved_analog(H5::Group& resolved, const nets::AnalogConfig& a);

/// Reads and validates a campaign config: unknown keys (nearest valid key named), types, ranges,
/// sweep keys and every sweep point's hardware. Errors name the file and key.
McConfig parse_mc_config(const ConfigFile& f);

/// One trial's results.
struct TrialResult {
  double accuracy = 0;
  double loss = 0;             ///< mean cross-entropy (nats)
  double adc_saturated = 0;    ///< saturated ADC conversions
  double adc_conversions = 0;  ///< all ADC conversions
  std::vector<double> snr_db;  ///< per analog layer
};

/// Runs trial t of one prepared point (the building block of campaigns, tests and benchmarks).
/// `reuse`: if given, the device instance is drawn into *reuse when it holds one (of `an`) and left
/// there for the next trial (AnalogNetwork::program in place); the result does not depend on it.
TrialResult run_trial(const nets::AnalogNetwork& an, const Matrix& x_prefix, const VectorI& labels, const McParams& mc,
                      std::uint64_t trial, std::unique_ptr<nets::AnalogInstance>* reuse = nullptr);

struct McOptions {
  std::string config;
  std::string out = "results.h5";
  bool resume = false;
  bool force = false;
  bool progress = true;
  bool quiet = false;  ///< no summary table on stdout
};

/// The whole campaign; returns the process exit code.
int run_mc(const McOptions& o);

}  // namespace aimc::experiments
