#pragma once
/// MOSFET transistor synapse, after Dey, Sharda, Saxena, Kaushik, Singh, Bhowmik, "On-chip learning in
/// a conventional silicon MOSFET based analog hardware neural network" (arXiv 1907.00625, BioCAS 2019):
/// one ordinary MOSFET per weight, the weight held as its gate voltage V_G, the synaptic conductance
/// being the channel conductance at a small read V_DS; learning changes V_G by fixed-size pulses. The
/// paper benchmarks its SPICE synapse against measured I-V data and reports on-chip learning of Fisher's
/// Iris; it stresses that the conductance response to equal gate steps is linear and symmetric.
///
/// I-V model (stated): EKV, Enz, Krummenacher, Vittoz, Analog Integr. Circ. Sig. Process. 8, 1995,
/// Eqs. for the forward/reverse normalized currents, body-referenced, one expression for every region:
///   I_D = I_spec [F((V_P - V_S) / U_T) - F((V_P - V_D) / U_T)] (1 + lambda |V_DS|),
///   F(v) = ln^2(1 + exp(v / 2)),   I_spec = 2 n beta U_T^2,   beta = k' W / L,
///   V_P = (V_G - V_T) / n   (pinch-off voltage, first-order),   U_T = k T / q.
/// Weak inversion (V_P << V_S): I_D ~ exp, subthreshold; strong inversion: triode while the reverse term
/// is alive, saturation when F((V_P - V_D)/U_T) -> 0. F is increasing and convex, so I_D is continuous
/// and monotone increasing in V_G and in V_D (for lambda >= 0).
///
/// Synapse and array (our design choices, the paper's principle):
///   * read: drain at V_read (small, triode), source at 0; inputs are pulse widths |x| / x_max t_read,
///     positive and negative inputs in two phases, so a column's charge is linear in the inputs;
///   * conductance G(V_G) = I_D(V_G, V_read) / V_read (chord conductance);
///   * weights |w| <= w_max map linearly onto [G(v_g_min), G(v_g_max)] around the reference
///     G_mid = (G_min + G_max) / 2 subtracted by a reference current: w = (G - G_mid) w_max / ((G_max - G_min)/2);
///   * V_G lives on the grid v_g_min + i dv_g_step (a gate-capacitor charge pump adds or removes equal
///     packets); programming picks the grid point of the nearest nominal weight; an update applies at
///     most max_pulses pulses and V_G stays within [v_g_min, v_g_max];
///   * device-to-device: V_T = v_t0 + global + local (Pelgrom A_VT / sqrt(W L)), drawn at program time;
///   * cycle-to-cycle: channel thermal noise, current PSD 4 k T G (triode, V_DS -> 0) integrated over each
///     pulse, Var(Q_j) = 2 k T G_j T_j. Applied in the exact output-referred form
///     Var(y_c) = kappa sum_j |x~_j| G_jc (one product of |x~| with G), which equals in distribution the
///     sum of the per-device Gaussian charges.
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "devices/analog_array.hpp"

namespace aimc::devices {

struct MosfetParams {
  // device
  double v_t0_V = 0.45;          ///< nominal threshold
  double n_slope = 1.3;          ///< subthreshold slope factor n
  double k_prime_AV2 = 270e-6;   ///< process transconductance mu C_ox
  double w_m = 1e-6;             ///< channel width
  double l_m = 1e-6;             ///< channel length
  double lambda_per_V = 0.0;     ///< channel-length modulation
  double temperature_K = 300.0;
  // variation
  double a_vt_Vm = 5e-9;         ///< Pelgrom coefficient (single device); 0 disables local variation
  double sigma_vt_global_V = 0.0;///< die-to-die sigma of V_T
  // synapse operation
  double v_read_V = 0.1;         ///< drain voltage during a read (triode)
  double t_read_s = 10e-9;       ///< pulse width of a full-scale input
  double x_max = 1.0;            ///< input full scale (input units)
  double v_g_min_V = 0.6;        ///< lowest gate voltage (weight -w_max)
  double v_g_max_V = 1.4;        ///< highest gate voltage (weight +w_max)
  double dv_g_step_V = 0.0125;   ///< gate-voltage change of one update pulse
  int max_pulses = 8;            ///< most pulses one update may apply (either sign)
  bool read_noise = true;        ///< channel thermal noise per read

  static std::span<const Param<MosfetParams>> params();
  void check() const;
};

/// EKV drain current (A) for gate, drain and source voltages (body at 0) and a threshold shift dvt.
double drain_current_A(const MosfetParams& p, double v_g, double v_d, double v_s = 0.0, double dvt = 0.0);
/// Synaptic (chord) conductance I_D(V_G, V_read) / V_read in S.
double conductance_S(const MosfetParams& p, double v_g, double dvt = 0.0);

/// Number of gate-voltage grid points and the i-th one.
int gate_levels(const MosfetParams& p);
double gate_level_V(const MosfetParams& p, int i);
/// Nominal weight of every grid point for full scale w_max (increasing).
std::vector<double> weight_levels(const MosfetParams& p, double w_max);

/// Applies signed pulse counts to gate-voltage grid indices: each count is clipped to
/// [-max_pulses, max_pulses], each index to [0, gate_levels - 1].
void apply_pulses(const MosfetParams& p, MatrixI& level, const Eigen::Ref<const MatrixI>& pulses);

/// A programmed MOSFET-synapse array: gate grid indices and realized threshold shifts.
class MosfetArray final : public ProgrammedArray {
 public:
  MosfetArray(const MosfetParams& p, double w_max, MatrixI level, MatrixD dvt);
  int rows() const override { return int(level_.rows()); }
  int cols() const override { return int(level_.cols()); }
  /// Output-referred read: y = x W_eff + sqrt(kappa (|x| / x_max) G) .* z, z ~ N(0, 1) per output and
  /// batch row (see the file comment); one extra product of |x| with G.
  void mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const override;
  /// Reference for mvm: draws every device's thermal charge Q_jc ~ N(0, 2 k T G_jc |x_j| t_read / x_max)
  /// for every input vector and sums them on the column. Equal in distribution to mvm: for a fixed input
  /// the column's noise is a sum of independent Gaussians, so Gaussian with the summed variance;
  /// columns share no device and reads draw fresh charges. O(batch rows cols) draws; test oracle only.
  void mvm_sampled(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const;
  Matrix effective_weights() const override;

  const MatrixI& gate_level() const { return level_; }
  MatrixD gate_voltage_V() const;
  const MatrixD& conductance_S() const { return g_; }
  const MatrixD& vt_shift_V() const { return dvt_; }
  /// On-chip learning: applies bounded, quantized gate pulses (see apply_pulses).
  void update(const Eigen::Ref<const MatrixI>& pulses);

 private:
  void refresh();
  MosfetParams p_;
  double w_max_, g_mid_, scale_;  // weight = (G - g_mid) * scale
  MatrixI level_;
  MatrixD dvt_, g_;
};

class MosfetArrayModel final : public ArrayModel {
 public:
  using Params = MosfetParams;
  explicit MosfetArrayModel(const MosfetParams& p = {});
  std::string name() const override { return "mosfet"; }
  std::unique_ptr<ProgrammedArray> program(const Eigen::Ref<const Matrix>& w, float w_max,
                                           Stream& prog) const override;
  /// Same, returning the concrete type (gate access, updates).
  std::unique_ptr<MosfetArray> program_mosfet(const Eigen::Ref<const Matrix>& w, float w_max, Stream& prog) const;
  const MosfetParams& params() const { return p_; }

  /// Hooks of the array contract suite (tests/devices/test_array_contract.cpp).
  static Params contract_ideal();
  static Params contract_noisy();
  static std::vector<std::pair<Params, std::string>> contract_invalid();
  /// Weights on the gate grid (uniform over the grid points).
  static Matrix contract_weights(int rows, int cols, float w_max, Stream& s);

 private:
  MosfetParams p_;
};

}  // namespace aimc::devices
