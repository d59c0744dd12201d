#include "devices/snn_cost.hpp"

#include <cmath>

#include "core/error.hpp"

namespace aimc::devices {

std::span<const Param<SnnCostParams>> SnnCostParams::params() {
  using P = SnnCostParams;
  static const Param<P> t[] = {
      {"t_read_s", &P::t_read_s, "s", "one crossbar read: word-line pulse plus bit-line settling, conversions excluded",
       "assumption (the paper's figure was not available): 1 ns; sweep it, the adc/sense_amp latency ratio falls "
       "as it grows",
       positive()},
      {"e_cell_read_J", &P::e_cell_read_J, "J", "read energy of one weight-holding cell on a spiking row",
       "ISAAC (Shafiee et al., ISCA 2016) Table I: 8 arrays of 128 x 128 draw 2.4 mW; 0.3 mW x 100 ns / 16384 "
       "cells = 1.83 fJ",
       nonnegative()},
      {"e_row_drive_J", &P::e_row_drive_J, "J", "1-bit row driver per spiking row per read pulse (no multi-bit DAC)",
       "ISAAC Table I: 8 x 128 1-bit DACs draw 4 mW; 3.9 uW x 100 ns = 0.39 fJ", nonnegative()},
      {"cols_per_adc", &P::cols_per_adc, "1", "columns multiplexed onto one ADC (at most the crossbar's columns)",
       "DNN+NeuroSim V1.3 default numColMuxed = 8 columns per ADC; ISAAC shares one ADC among 128", between(1, 65536)},
      {"adc_mux", &P::adc_mux, "",
       "how an ADC serves its columns: sample_hold reads once and converts the held columns in turn; reread reads "
       "the array once per column (word lines pulsed cols_per_adc times)",
       "sample_hold: ISAAC (sample-and-hold per column); reread: NeuroSim's sequential column multiplexing",
       {}, {"sample_hold", "reread"}},
      {"t_adc_bit_s", &P::t_adc_bit_s, "s", "one SAR bit decision; a B-bit conversion takes B of them",
       "ISAAC Table I: 8-bit SAR ADC at 1.28 GS/s, 1 / (1.28e9 x 8) = 97.7 ps per bit", positive()},
      {"v_dd_V", &P::v_dd_V, "V", "supply voltage of the ADC energy model E = (k1 B + k2 4^B) V_DD^2",
       "1 V nominal; with the [adc_energy] defaults 0.40 pJ per 4-bit, 0.87 pJ per 8-bit conversion (ISAAC: 16 mW "
       "/ 8 ADCs / 1.28 GS/s = 1.6 pJ per 8-bit conversion)",
       positive()},
      {"e_sa_J", &P::e_sa_J, "J", "one sense-amplifier (1-bit) decision",
       "assumption: one bit decision of the [adc_energy] model, k1 V_DD^2 = 100 fJ at 1 V, so that SA and ADC are "
       "costed alike",
       nonnegative()},
      {"t_sa_s", &P::t_sa_s, "s", "one sense-amplifier decision (one SA per column, all in parallel)",
       "assumption: one SAR bit decision, as t_adc_bit_s (ISAAC 97.7 ps)", positive()},
      {"e_add_bit_J", &P::e_add_bit_J, "J", "digital accumulation, per bit of adder width per add",
       "Horowitz, ISSCC 2014, 45 nm: 32-bit integer add 0.1 pJ, 3.1 fJ per bit", nonnegative()},
      {"e_buffer_bit_J", &P::e_buffer_bit_J, "J", "partial-sum and spike buffer, per bit written and read back",
       "Horowitz, ISSCC 2014, 45 nm: 8 KB SRAM, 10 pJ per 64-bit access; 2 x 10 pJ / 64 = 0.31 pJ", nonnegative()},
      {"e_neuron_J", &P::e_neuron_J, "J", "one LIF membrane update (accumulate, leak, threshold), the same in both "
       "designs",
       "assumption: one 32-bit add (Horowitz, ISSCC 2014, 45 nm: 0.1 pJ); leak shift and compare not counted apart",
       nonnegative()},
  };
  return t;
}

void SnnCostParams::check() const { aimc::validate(adc_energy, "adc_energy"); }

namespace {

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

/// ceil(log2 n) for n >= 1.
int ceil_log2(long long n) {
  int bits = 0;
  while ((1LL << bits) < n) ++bits;
  return bits;
}

void check_layers(const std::vector<SnnLayerWork>& layers) {
  require(!layers.empty(), "snn cost: the network has no layers");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const SnnLayerWork& l = layers[i];
    const auto bad = [&](const char* field, const std::string& v, const char* expected) {
      throw Error("snn cost: layer " + std::to_string(i) + " '" + l.name + "': " + field + " = " + v + ": " +
                  expected);
    };
    if (l.rows < 1) bad("rows", std::to_string(l.rows), "must be at least 1");
    if (l.cols < 1) bad("cols", std::to_string(l.cols), "must be at least 1");
    if (l.mvms < 1) bad("mvms", std::to_string(l.mvms), "must be at least 1");
    if (!(l.input_activity >= 0 && l.input_activity <= 1))
      bad("input_activity", to_str(l.input_activity), "must be in [0, 1]");
  }
}

}  // namespace

SnnCostResult snn_cost(const std::vector<SnnLayerWork>& layers, const SnnCostParams& p, const std::string& readout,
                       int adc_bits, int tile_rows, int tile_cols, int weight_slices, int steps) {
  aimc::validate(p, "snn_cost");
  if (readout != "adc" && readout != "sense_amp")
    throw Error("snn cost: readout = \"" + readout + "\": must be one of adc|sense_amp");
  const bool adc = readout == "adc";
  if (adc && (adc_bits < 1 || adc_bits > 40)) fail_param("adc_bits", adc_bits, "must be in [1, 40] for readout adc");
  if (tile_rows < 1) fail_param("tile_rows", tile_rows, "must be at least 1");
  if (tile_cols < 1) fail_param("tile_cols", tile_cols, "must be at least 1");
  if (weight_slices < 1) fail_param("weight_slices", weight_slices, "must be at least 1");
  if (steps < 1) fail_param("steps", steps, "must be at least 1");
  if (adc && p.cols_per_adc > tile_cols)
    fail_param("snn_cost.cols_per_adc", p.cols_per_adc,
               "must be at most tile_cols = " + std::to_string(tile_cols) + " (an ADC serves one crossbar)");
  check_layers(layers);

  const int b = adc ? adc_bits : 1;
  const double e_conv = adc ? adc_energy_J(adc_bits, p.v_dd_V, p.adc_energy) : p.e_sa_J;
  const double m = p.cols_per_adc;
  const bool reread = adc && p.adc_mux == "reread";
  const double t_conv = adc ? m * adc_bits * p.t_adc_bit_s : p.t_sa_s;
  const double t_xbar = reread ? m * (p.t_read_s + adc_bits * p.t_adc_bit_s) : p.t_read_s + t_conv;
  const double pulses = reread ? m : 1.0;
  const double S = weight_slices;

  SnnCostResult r;
  for (const auto& l : layers) {
    const long long t_r = ceil_div(l.rows, tile_rows), t_c = ceil_div(l.cols, tile_cols);
    r.crossbars += t_r * t_c * weight_slices;
    const double K = static_cast<double>(l.rows), N = static_cast<double>(l.cols), a = l.input_activity;
    const long long n_p = t_r * weight_slices;
    const double vectors = static_cast<double>(l.mvms) * steps;

    r.array_energy_J += vectors * (p.e_cell_read_J * a * K * N * S + p.e_row_drive_J * a * K * t_c * S * pulses);
    r.readout_energy_J += vectors * static_cast<double>(n_p) * N * e_conv;
    if (n_p > 1)
      r.accumulate_energy_J +=
          vectors * N * static_cast<double>(n_p - 1) * (b + ceil_log2(n_p)) * p.e_add_bit_J;
    r.buffer_energy_J += vectors * p.e_buffer_bit_J * (K + static_cast<double>(n_p) * N * b);
    r.neuron_energy_J += vectors * N * p.e_neuron_J;
    r.latency_s += vectors * t_xbar;
    r.readout_latency_s += vectors * t_conv;
  }
  r.energy_J = r.array_energy_J + r.readout_energy_J + r.accumulate_energy_J + r.buffer_energy_J + r.neuron_energy_J;
  return r;
}

}  // namespace aimc::devices
