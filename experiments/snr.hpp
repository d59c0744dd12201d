#pragma once
/// `aimc snr`: SNR and precision analysis of SRAM in-memory compute arrays (QS, IS, QR). For every
/// sweep point and compute model it reports the dot-product SNR chain of devices/snr_chain.hpp
/// (SQNR_qiy, SNR_a, SNR_A, and SNR_T for the MPC-chosen and the lossless ADC), the MPC's B_ADC,
/// energy per dot product and per MAC, and delay, each SNR analytically and by Monte Carlo with a
/// confidence interval; optionally the accumulator precision oracle (devices/accumulator.hpp).
/// Results go to an HDF5 file (schema in docs/results.md, format "aimc-snr").
///
/// Sweeps: [sweep] axes apply to every model (n_rows, b_x, b_w, technology presets, technology and
/// variation parameters); [sweep.qs], [sweep.is], [sweep.qr] axes apply to that model only. A model's
/// points are the cartesian product of the common axes and its own, last axis fastest.
///
/// Randomness: the Monte Carlo of model M at point p uses Stream(seed, "snr.<M>", {p}) (one child per
/// dot product), the accumulator oracle Stream(seed, "snr.accumulation", {i_n, i_m}); results do not
/// depend on the thread count.
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/params.hpp"
#include "devices/mpc.hpp"
#include "devices/snr_chain.hpp"
#include "devices/sram_compute.hpp"

namespace aimc::experiments {

struct SnrRunParams {
  std::string models = "qs,is,qr";  ///< compute models to analyse, comma-separated
  int samples = 20000;              ///< Monte Carlo dot products per point and model (0: analytical only)
  int seed = 1;
  double confidence = 0.95;         ///< confidence level of the Monte Carlo intervals
  static std::span<const Param<SnrRunParams>> params();
  void check() const;
  std::vector<std::string> model_list() const;
};

struct AccumulationParams {
  std::vector<double> n;              ///< numbers of accumulated products (config key n)
  std::vector<double> mantissa_bits;  ///< accumulator mantissa fraction bits (config key mantissa_bits)
  int trials = 1000;                  ///< independent sums per (n, m)
  double vrr_min = 0.99;              ///< a mantissa is sufficient when VRR >= vrr_min
  static std::span<const Param<AccumulationParams>> params();
};

/// One sweep axis: numeric values, or technology preset names (key "technology").
struct SnrAxis {
  std::string key;                  ///< parameter name, e.g. "n_rows", "c_unit_F", "technology"
  std::vector<double> values;
  std::vector<std::string> names;   ///< technology presets (values empty)
  std::size_t size() const { return names.empty() ? values.size() : names.size(); }
  std::string label(std::size_t i) const;
};

struct SnrConfig {
  ConfigFile file;
  SnrRunParams run;
  devices::MpcParams mpc;
  devices::AdcEnergyParams adc_energy;
  devices::QsModel qs;
  devices::IsModel is;
  devices::QrModel qr;
  std::vector<SnrAxis> common;                 ///< [sweep]
  std::vector<SnrAxis> qs_axes, is_axes, qr_axes;  ///< [sweep.qs] ...
  bool accumulation = false;
  AccumulationParams acc;

  const std::vector<SnrAxis>& own_axes(const std::string& model) const;
  /// The axes of a model's points: common first, then its own.
  std::vector<SnrAxis> axes(const std::string& model) const;
  std::size_t points(const std::string& model) const;
};

/// Reads and validates a config, including every model at every sweep point, before any work.
SnrConfig parse_snr_config(const ConfigFile& f);

/// A model's parameters at point p of its sweep.
devices::QsModel qs_at(const SnrConfig& c, std::size_t p);
devices::IsModel is_at(const SnrConfig& c, std::size_t p);
devices::QrModel qr_at(const SnrConfig& c, std::size_t p);

struct SnrOptions {
  std::string config;
  std::string out = "snr.h5";
  bool force = false;
  bool progress = true;
  bool quiet = false;
};

int run_snr(const SnrOptions& o);

}  // namespace aimc::experiments
