#pragma once
/// `aimc onchip`: on-chip learning on Fisher's Iris with pulse-programmed synapses (nets/onchip.hpp):
/// the MOSFET gate-voltage synapse of Dey et al. (arXiv 1907.00625), an RRAM synapse with NeuroSim's
/// nonlinear, asymmetric pulse response, and float SGD of the same network, init and sample order.
///
/// Data: Iris (data/iris.hpp), stratified k-fold cross-validation: the 50 flowers of each species are
/// shuffled by Stream(seed, "onchip.folds", {class}) and dealt round-robin into `folds` folds, so every
/// fold holds 50 / folds of each species; fold f is the test set of split f and the other folds train.
/// Features are min-max scaled to [0, 1] with the training folds' minimum and maximum (test values
/// clipped to [0, 1]: read pulses cannot be longer than full scale).
///
/// Monte Carlo: every (device, sweep point) trains `chips` chips on every split. Chip c's device
/// variation comes from Stream(seed, "onchip.chip", {device, c}) (the same chip at every split and
/// sweep point), the initial weights from Stream(seed, "onchip.init", {c, f}) and the epoch order from
/// Stream(seed, "onchip.order", {c, f}) (the same for every device: comparisons are paired), pulse
/// rounding and pulse noise from Stream(seed, "onchip.update", {device, c, f}) and reads from
/// Stream(seed, "onchip.read", {device, c, f}). Jobs run in parallel; results do not depend on the
/// thread count. The accuracy of a chip is its mean over the splits; means and Student-t intervals
/// are over chips.
///
/// Sweeps: [sweep.<section>] key = [values] for sections onchip, mosfet, mosfet_update and rram_pulse;
/// each axis is swept alone around the base config (the "base" series is always run). An onchip axis
/// runs every device, a mosfet / mosfet_update axis the MOSFET, a rram_pulse axis the RRAM.
/// Results: HDF5, schema "aimc-onchip" in docs/results.md.
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/params.hpp"
#include "devices/mosfet.hpp"
#include "devices/pulse_synapse.hpp"
#include "nets/onchip.hpp"

namespace aimc::experiments {

struct OnchipStudyParams {
  int seed = 1;
  int chips = 20;              ///< Monte Carlo chips per device and sweep point
  int folds = 5;               ///< cross-validation folds (stratified)
  double confidence = 0.95;
  std::string iris_csv = "";   ///< Iris CSV; "" = $AIMC_IRIS_CSV or Debian's python3-sklearn copy
  static std::span<const Param<OnchipStudyParams>> params();
};

/// One swept parameter: section (onchip, mosfet, mosfet_update, rram_pulse), key and values.
struct OnchipAxis {
  std::string section, key;
  std::vector<double> values;
};

struct OnchipConfig {
  ConfigFile file;
  OnchipStudyParams study;
  std::vector<int> hidden = {4};                                 ///< [study] hidden: hidden layer sizes
  std::vector<std::string> devices = {"float", "mosfet", "rram"};  ///< [study] devices
  nets::OnchipParams onchip;
  devices::MosfetParams mosfet;
  devices::MosfetUpdateParams mosfet_update;
  devices::RramPulseParams rram;
  std::vector<OnchipAxis> axes;
};

/// Parses and validates a study config; every problem is an Error naming the file and key.
OnchipConfig parse_onchip_config(const ConfigFile& f);

struct OnchipOptions {
  std::string config;
  std::string out = "onchip.h5";
  bool force = false;
  bool progress = true;
  bool quiet = false;
};

int run_onchip(const OnchipOptions& o);

}  // namespace aimc::experiments
