#pragma once
/// Energy and latency per inference of a spiking network on RRAM crossbars, read out either by
/// high-precision column ADCs shared by several columns or by one 1-bit sense amplifier per column (the
/// ADC-less design): Apolinario, Kosta, Saxena, Roy, "Hardware/Software co-design with ADC-Less
/// In-memory Computing Hardware for Spiking Neural Networks", IEEE TETC 2023, arXiv:2211.02167. They report
/// 2-7x lower energy and 8.9-24.6x lower latency for the sense-amplifier read-out. This model is ours,
/// written from the mechanisms that paper names (ADC sharing among columns, ADC vs SA cost, binary spike
/// inputs, partial-sum accumulation, LIF neurons); the per-operation figures come from ISAAC, NeuroSim,
/// Horowitz and the [adc_energy] model (params() gives every source).
///
/// Inputs are binary spikes, so a row driver is a 1-bit driver (no multi-bit DAC) and a crossbar read is one
/// word-line pulse. A layer has K crossbar rows (unrolled receptive field), N outputs, M input vectors per
/// time step (output positions; 1 for a dense layer) and input activity a (fraction of the K inputs that
/// spike, in [0, 1]). Crossbar of R x C cells (tile_rows x tile_cols), S crossbars per weight (weight_slices),
/// T time steps (steps). Per layer:
///   T_r = ceil(K / R),  T_c = ceil(N / C),  tiles = T_r T_c S            (crossbars holding the weights)
///   n_p = T_r S                                                          (partial sums per output)
///   readout "adc":       b = B (adc_bits),  E_conv = adc_energy_J(B, v_dd_V, adc_energy)  (snr_chain.hpp)
///   readout "sense_amp": b = 1,             E_conv = e_sa_J
/// Energy of one input vector (every tile of the layer read once):
///   E_array    = e_cell_read_J a K N S  +  e_row_drive_J a K T_c S P
///                (a spiking row conducts through the N S cells holding its weights, and its driver fires
///                once per read pulse in each of the T_c S crossbars it feeds; P read pulses per read)
///   E_readout  = n_p N E_conv                     (every weight-holding column of every tile converted once)
///   E_acc      = N (n_p - 1) w e_add_bit_J,  w = b + ceil(log2 n_p)   (0 when n_p = 1)
///                (the n_p partial sums of an output added at the width of their sum; slice significance
///                shifts are wiring and not counted)
///   E_buffer   = e_buffer_bit_J (K + n_p N b)
///                (the K-bit input spike vector read from the spike buffer; every b-bit partial sum written
///                to and read from the partial-sum buffer)
///   E_neuron   = N e_neuron_J                     (one LIF update per output per input vector)
/// Unused cells and columns of a partly filled crossbar draw no energy (their cells sit at the off state, their
/// columns are not converted); they still set the read-out time below, which is a property of the crossbar.
///
/// Time of one crossbar read (all tiles of a layer in parallel, layers and input vectors one after another),
/// with m = cols_per_adc (must be <= C: an ADC serves columns of its own crossbar):
///   sense_amp:                      t_xbar = t_read_s + t_sa_s,  t_conv = t_sa_s,  P = 1
///                                   (one SA per column, all columns decide at once)
///   adc, adc_mux = "sample_hold":   t_xbar = t_read_s + m B t_adc_bit_s,  t_conv = m B t_adc_bit_s,  P = 1
///                                   (ISAAC: the columns are sampled once and the shared SAR ADC converts the
///                                   held values one after another, B bit decisions each)
///   adc, adc_mux = "reread":        t_xbar = m (t_read_s + B t_adc_bit_s),  t_conv = m B t_adc_bit_s,  P = m
///                                   (NeuroSim-style column multiplexing: the array is read once per mux step,
///                                   so the word lines are pulsed m times; each column conducts only in its own
///                                   step, so the cell energy is unchanged)
/// Accumulation, buffers and neuron updates are pipelined behind the reads (no time charged), as ISAAC's
/// shift-and-add units.
///
/// Per inference, summing over layers l:
///   energy_J  = T sum_l M_l (E_array + E_readout + E_acc + E_buffer + E_neuron)_l   (and each part alike)
///   latency_s = T sum_l M_l t_xbar,   readout_latency_s = T sum_l M_l t_conv,   crossbars = sum_l tiles_l
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "devices/snr_chain.hpp"

namespace aimc::devices {

/// Per-operation costs of the SNN crossbar accelerator (config table [snn_cost]); params() gives every
/// default's source. The crossbar size, slices, ADC precision and time steps are arguments of snn_cost().
struct SnnCostParams {
  double t_read_s = 1e-9;            ///< one crossbar read: word-line pulse plus bit-line settling
  double e_cell_read_J = 1.83e-15;   ///< per weight-holding cell on a spiking row, per read
  double e_row_drive_J = 0.39e-15;   ///< per spiking row per read pulse (1-bit driver)
  int cols_per_adc = 8;              ///< columns multiplexed onto one ADC
  std::string adc_mux = "sample_hold";  ///< "sample_hold" (sample once, convert in turn) | "reread" (read per column)
  double t_adc_bit_s = 97.65625e-12; ///< one SAR bit decision; a B-bit conversion takes B of them
  double v_dd_V = 1.0;               ///< supply of the ADC energy model E = (k1 B + k2 4^B) V_DD^2
  /// ADC energy constants: the [adc_energy] table of snr_chain.hpp (not repeated in this table).
  AdcEnergyParams adc_energy{};
  double e_sa_J = 100e-15;           ///< one sense-amplifier decision
  double t_sa_s = 97.65625e-12;      ///< one sense-amplifier decision (every column in parallel)
  double e_add_bit_J = 3.125e-15;    ///< digital accumulation, per bit of adder width per add
  double e_buffer_bit_J = 0.3125e-12;  ///< partial-sum / spike buffer, per bit written and read back
  double e_neuron_J = 0.1e-12;       ///< one LIF membrane update (accumulate, leak, compare), both designs

  static std::span<const Param<SnnCostParams>> params();
  /// Checks the ADC energy constants (context "adc_energy").
  void check() const;
};

/// One matmul layer of the spiking network, per time step.
struct SnnLayerWork {
  std::string name;
  long long rows = 0;     ///< K: crossbar input rows (unrolled receptive field)
  long long cols = 0;     ///< N: outputs
  long long mvms = 0;     ///< input vectors per time step (output positions; 1 for a dense layer)
  double input_activity = 1.0;  ///< mean fraction of the K inputs that spike, in [0, 1]
};

/// Per inference, over all time steps; the energy parts add up to energy_J.
struct SnnCostResult {
  double energy_J = 0, latency_s = 0;
  double array_energy_J = 0, readout_energy_J = 0, accumulate_energy_J = 0, buffer_energy_J = 0,
         neuron_energy_J = 0;
  double readout_latency_s = 0;  ///< share of latency_s spent in conversions (t_conv above)
  long long crossbars = 0;       ///< tiles holding the layers' weights
};

/// The model in the header comment. readout: "adc" (adc_bits-bit ADCs, each shared by cols_per_adc columns)
/// | "sense_amp" (one 1-bit SA per column; adc_bits is then ignored). Crossbars of tile_rows x tile_cols
/// cells, weight_slices crossbars per weight, steps time steps. Throws aimc::Error naming the parameter,
/// argument or layer field for bad input (e.g. "parameter 'snn_cost.cols_per_adc' = 0: ...").
SnnCostResult snn_cost(const std::vector<SnnLayerWork>& layers, const SnnCostParams& p, const std::string& readout,
                       int adc_bits, int tile_rows, int tile_cols, int weight_slices, int steps);

}  // namespace aimc::devices
