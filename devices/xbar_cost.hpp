#pragma once
/// Cycle, latency and energy cost of running a network on N_xbar RRAM crossbars, for the BasisN study
/// (issue 18): Eldebiky et al., "BasisN: Reprogramming-Free RRAM-Based In-Memory-Computing by Basis
/// Combination for Deep Neural Networks", arXiv:2407.03738 (2024). Three mappings are compared:
///   (a) "standard":  every layer's weights resident on their own crossbars (needs standard_crossbars);
///   (b) "reprogram": the standard mapping on fewer crossbars, rewritten by write-and-verify between rounds;
///   (c) "basisn":    one global basis (L x M) written once, every layer computed as basis MVMs on input
///                    segments of length L plus a digital combination with its coefficients.
/// All counts are per inference; cycles are in units of the crossbar read cycle t_read_s.
///
/// Crossbar of R x C cells (xbar_rows x xbar_cols), D = weight_slices crossbars per weight.
///   tiles(K, N)  = ceil(K / R) ceil(N / C) D                            (crossbars_for)
///   E_adc        = adc_energy_J(adc_bits, v_dd_V, adc_energy)           (snr_chain.hpp, per conversion)
///   E_read       = e_cell_read_J R C + e_dac_J R + E_adc C              (one MVM on one crossbar, time t_read_s)
/// A read is charged for the whole crossbar even when a tile is partly filled: the drivers and ADCs are per
/// crossbar, and it keeps all three mappings on the same footing. Every column is converted once per read,
/// within t_read_s (ISAAC: one 1.28 GS/s ADC per 128-column crossbar converts them in its 100 ns cycle).
/// Partial sums of a layer of K rows and N outputs: each output adds ceil(K / R) D crossbar results, so an
/// input vector costs (ceil(K / R) D - 1) N digital adds of e_add_J. These adders sit beside the crossbars
/// and keep up with them (no cycles charged), as ISAAC's shift-and-add units.
///
/// Write-and-verify of one crossbar (all crossbars of a round in parallel, one row at a time): each row takes
/// n_wv iterations of a write pulse on its C cells plus a verify read of the row through the column ADCs:
///   T_prog = R n_wv (t_write_pulse_s + t_read_s)
///   E_prog = R n_wv [C (e_write_pulse_J + e_cell_read_J + E_adc) + e_dac_J]
/// Every cell of a reprogrammed crossbar is written (cells this layer leaves unused still hold the previous
/// layer's weights).
///
/// (a) standard, n_xbar >= sum_l T_l with T_l = tiles(K_l, N_l): tiles of a layer work in parallel, layers
///     one after another.
///       cycles = sum_l mvms_l;  E_analog = sum_l mvms_l T_l E_read;
///       E_digital = sum_l mvms_l (ceil(K_l / R) D - 1) N_l e_add_J;  one_time_write = sum_l T_l E_prog.
/// (b) reprogram, n_xbar < sum_l T_l: every layer's tiles go through rounds_l = ceil(T_l / n_xbar) rounds;
///     a round programs its crossbars, then runs the layer's mvms_l MVMs on them. A programming pass serves
///     `batch` inputs, so its cost per inference is divided by batch.
///       cycles = sum_l rounds_l mvms_l;  E_analog, E_digital as in (a);
///       write_time = sum_l rounds_l T_prog / batch;  write_energy = sum_l T_l E_prog / batch.
/// (c) basisn: T_b = tiles(L, M) crossbars hold one basis copy. Layers with segments == 0 stay standard and
///     must fit beside at least one copy (T_s = sum of their T_l; otherwise the design is infeasible: keeping
///     them would need the reprogramming BasisN exists to avoid). copies = floor((n_xbar - T_s) / T_b);
///     infeasible when copies = 0. A BasisN layer with S_l segments:
///       analog_l  = ceil(mvms_l S_l / copies)        (basis MVMs spread over the copies)
///       digital_l = ceil(coeff_macs_l / digital_lanes)  (the coefficient combination)
///       cycles_l  = max(analog_l, digital_l) if digital_pipelined, else analog_l + digital_l
///     a standard layer: cycles_l = mvms_l. cycles = sum_l cycles_l.
///       E_analog  = sum_BasisN mvms_l S_l T_b E_read + sum_standard mvms_l T_l E_read
///       E_digital = sum_BasisN [mvms_l S_l (ceil(L / R) D - 1) M e_add_J + coeff_macs_l e_coef]
///                   + standard layers' partial sums as in (a);
///       e_coef    = e_add_J (coefficients = "pow2": shift-and-add, the shift is wiring)
///                 | e_mult_J + e_add_J (coefficients = "uniform": multiply-add);
///       one_time_write = (copies T_b + T_s) E_prog.
/// All mappings: latency_s = cycles t_read_s + write_time_s; energy_J = E_analog + E_digital + write_energy_J;
/// edp_Js = energy_J latency_s. one_time_write_energy_J is reported apart (not per inference).
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "devices/snr_chain.hpp"

namespace aimc::devices {

/// Parameters of the crossbar cost model; the table (params()) gives every default's source.
struct XbarCostParams {
  int xbar_rows = 128;           ///< R: crossbar rows
  int xbar_cols = 128;           ///< C: crossbar columns
  int weight_slices = 1;         ///< D: crossbars per weight (bit slices or separate G+/G- arrays)
  double t_read_s = 100e-9;      ///< one MVM on one crossbar, ADC conversions included
  double e_cell_read_J = 1.83e-15;  ///< per cell per read
  double e_dac_J = 0.39e-15;     ///< per row driver per read
  int adc_bits = 8;              ///< column ADC precision for adc_energy_J
  double v_dd_V = 1.0;           ///< supply of the ADC energy model
  double e_add_J = 0.1e-12;      ///< one digital add (partial sums, shift-and-add)
  double e_mult_J = 0.2e-12;     ///< one digital multiply (uniform coefficients)
  std::string coefficients = "pow2";  ///< "pow2" (shift-and-add) | "uniform" (multiply-add)
  int digital_lanes = 1024;      ///< coefficient multiply-adds per crossbar read cycle
  bool digital_pipelined = true; ///< digital combination overlaps the crossbar reads
  int n_wv = 10;                 ///< write-and-verify iterations per row
  double t_write_pulse_s = 10e-9;   ///< one write pulse
  double e_write_pulse_J = 3.36e-12;  ///< one write pulse on one cell
  int batch = 1;                 ///< inputs processed per programming pass (reprogram mapping)
  /// ADC energy constants: the [adc_energy] table of snr_chain.hpp (not repeated in this table).
  AdcEnergyParams adc_energy{};

  static std::span<const Param<XbarCostParams>> params();
  /// Checks the ADC energy constants (context "adc_energy") and that adc_bits is in adc_energy_J's range.
  void check() const;
};

/// One matmul layer, per inference.
struct LayerWork {
  std::string name;
  long long rows = 0;        ///< K: crossbar input rows of the standard mapping (unrolled receptive field)
  long long cols = 0;        ///< N: outputs
  long long mvms = 0;        ///< input vectors per inference (output positions; 1 for a dense layer)
  long long segments = 0;    ///< BasisN: basis MVMs per input vector (S); 0 = stays standard in the BasisN design
  long long coeff_macs = 0;  ///< BasisN: digital coefficient multiply-adds per inference (= mvms S M N)
};

/// The global basis: M basis vectors of length L.
struct BasisShape {
  long long length = 0;  ///< L: rows
  long long size = 0;    ///< M: columns
};

struct CostResult {
  std::string mapping;       ///< "standard" | "reprogram" | "basisn"
  long long n_xbar = 0;      ///< crossbars available
  bool feasible = true;      ///< false: the mapping cannot run on n_xbar crossbars (see reason)
  std::string reason;        ///< why not feasible; empty when feasible
  long long crossbars_used = 0;  ///< holding weights; reprogram: the most one round writes, min(n_xbar, max_l T_l)
  double cycles = 0;         ///< in units of t_read_s
  double latency_s = 0, energy_J = 0, edp_Js = 0;
  double write_energy_J = 0, write_time_s = 0;   ///< per inference (reprogramming)
  double analog_energy_J = 0, digital_energy_J = 0;
  double one_time_write_energy_J = 0;            ///< writing the weights or the basis once
};

/// ceil(rows / R) ceil(cols / C) D: crossbars holding a rows x cols matrix. rows, cols >= 1.
long long crossbars_for(long long rows, long long cols, const XbarCostParams& p);
/// sum over layers of crossbars_for(rows, cols): the need of the standard mapping.
long long standard_crossbars(const std::vector<LayerWork>& net, const XbarCostParams& p);
/// Energy of one MVM on one crossbar, E_read above.
double xbar_read_energy_J(const XbarCostParams& p);
/// Write-and-verify of one whole crossbar: E_prog and T_prog above.
double xbar_program_energy_J(const XbarCostParams& p);
double xbar_program_time_s(const XbarCostParams& p);

/// (a) when n_xbar >= standard_crossbars(net), else (b). n_xbar >= 1.
CostResult standard_cost(const std::vector<LayerWork>& net, const XbarCostParams& p, long long n_xbar);
/// (c). Infeasible (feasible = false, costs 0) when not even one basis copy fits beside the standard layers.
CostResult basisn_cost(const std::vector<LayerWork>& net, BasisShape basis, const XbarCostParams& p,
                       long long n_xbar);

}  // namespace aimc::devices
