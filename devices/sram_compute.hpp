#pragma once
/// SRAM in-memory compute models QS (charge summing), IS (current summing) and QR (charge
/// redistribution) after Gonugondla, Sakr, Dbouk, Shanbhag, "Fundamental Limits on
/// Energy-Delay-Accuracy of In-memory Architectures in Inference Applications", IEEE TCAD 2021
/// (arXiv 2012.13645; "the TCAD paper" below) and its ICCAD 2020 companion "Fundamental limits on the
/// precision of in-memory architectures" (QS only).
///
/// Common architecture (all three models). A dot product y = sum_j w_j x_j over N rows:
///   * inputs x_j are unsigned B_x-bit levels 0..M_x, M_x = 2^B_x - 1 (signed inputs: two phases);
///   * weights are B_w-bit codes a_j = sum_k 2^k u_jk in 0..M_w stored bit-parallel in B_w binary cells
///     (one column per bit plane k); the weight level is the odd integer w_j = 2 a_j - M_w, i.e. a
///     symmetric uniform (mid-rise) quantizer, B_w = 1 giving +-1;
///   * each bit-plane column computes the analog sum S_k = sum_j u_jk x_j; digitally
///     y = 2 sum_k 2^k S_k - M_w sum_j x_j (the last sum is exact digital data).
/// The noise of one column sum, in LSB units of S_k, is what each model describes; the error of y is
/// e = 2 sum_k 2^k (S^_k - S_k), and the compute SNR is SNR_a = Var(y) / E[e^2] (TCAD paper, Sec. III).
/// For the analytical SNR the data are uniform and independent: x_j uniform on 0..M_x, a_j uniform on
/// 0..M_w (so the bits u_jk are fair coins), which gives Var(y) = N E[w^2] E[x^2],
/// E[w^2] = (4^B_w - 1) / 3, E[x^2] = M_x (2 M_x + 1) / 6.
///
/// Models (each derived in its .cpp; where the paper's exact equation was not available to us the
/// derivation is from first principles and says so):
///   QS  bit line C_BL = N c_bl_cell precharged to V_DD; the word line of row j is pulsed for x_j t0
///       (PWM), a cell storing 1 discharges the bit line with its current I_cell (1 + eps). Noise:
///       V_t mismatch through the alpha-power law, kT/C_BL sampling noise, headroom clipping of the
///       bit-line swing at dV_max = V_DD - (V_WL - V_t) (the access device leaves saturation).
///   IS  same PWM cells, but the bit line is clamped by an integrator (capacitor C_int): the cell
///       currents are summed as currents. Noise: V_t mismatch, channel thermal noise of the conducting
///       cells integrated over their pulses (signal dependent), kT/C_int reset noise, clipping at the
///       integrator's output swing.
///   QR  bit-serial inputs; each cell has a unit capacitor C_c whose bottom plate is driven to
///       V_DD u_jk x_jb, then the N capacitors of the column share charge. Noise: capacitor mismatch
///       (Pelgrom), kT/C_total sampling noise per cycle, switch charge injection (random part).
/// Units: SNR terms are in (integer dot-product units)^2; energies in J per dot product (B_w columns,
/// all input bits); delays in s per dot product (columns work in parallel).
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "devices/technology.hpp"
#include "devices/variation.hpp"

namespace aimc::devices {

/// QS circuit parameters. The unit swing (volts per LSB of the column sum) follows `swing_rule`:
///   "k_sigma"    mean + k_clip sigma of the column sum (uniform data) maps to the headroom dV_max;
///   "full_range" the largest column sum N M_x maps to dV_max (never clips);
///   "fixed_t0"   the unit pulse width t0_s is given (swing = I_cell t0 / C_BL).
struct QsParams {
  int n_rows = 512;
  int b_x = 4;
  int b_w = 4;
  double v_wl_rel = 1.0;        ///< word-line voltage / V_DD (underdrive < 1 lowers current, raises headroom)
  double c_bl_extra_F = 0.0;    ///< bit-line capacitance beyond the cells (periphery)
  std::string swing_rule = "k_sigma";
  double k_clip = 3.0;          ///< clipping level in column-sum sigmas ("k_sigma")
  double t0_s = 100e-12;        ///< unit pulse width ("fixed_t0")
  bool headroom_clipping = true;
  double t_precharge_s = 1e-9;  ///< bit-line precharge time (delay)

  static std::span<const Param<QsParams>> params();
  void check() const;
};

/// IS circuit parameters (swing rules as for QS, with C_int and the integrator swing in place of C_BL
/// and the bit-line headroom).
struct IsParams {
  int n_rows = 512;
  int b_x = 4;
  int b_w = 4;
  double v_wl_rel = 1.0;
  double c_int_F = 100e-15;     ///< integration capacitor
  double swing_rel = 0.5;       ///< integrator output swing / V_DD
  double i_amp_A = 5e-6;        ///< integrator amplifier bias current (static energy)
  std::string swing_rule = "k_sigma";
  double k_clip = 3.0;
  double t0_s = 100e-12;
  bool headroom_clipping = true;
  double t_reset_s = 1e-9;      ///< integrator reset time (delay)

  static std::span<const Param<IsParams>> params();
  void check() const;
};

/// QR circuit parameters.
struct QrParams {
  int n_rows = 512;
  int b_x = 4;
  int b_w = 4;
  double c_unit_F = 1e-15;      ///< unit (cell) capacitor C_c
  double c_par_extra_F = 0.0;   ///< compute-line parasitic beyond n_rows c_bl_cell_F
  double t_phase_s = 0.5e-9;    ///< settling time of one of the three phases (reset, drive, share) per cycle

  static std::span<const Param<QrParams>> params();
  void check() const;
};

/// A complete model: node physics, process variation and the circuit.
template <class P>
struct SramModel {
  Technology tech{};
  ProcessVariation var{};
  P circuit{};
};
using QsModel = SramModel<QsParams>;
using IsModel = SramModel<IsParams>;
using QrModel = SramModel<QrParams>;

/// Validates the three tables (messages name "tech.", "var." or the model's circuit prefix) and the
/// cross-table rules (e.g. the word line must turn the cell on: v_wl_rel V_DD > V_t).
void validate(const QsModel& m);
void validate(const IsModel& m);
void validate(const QrModel& m);

/// Sets a numeric parameter by name in whichever table has it (circuit, tech, var; names are unique
/// across the three). False if no table has a numeric parameter of that name.
template <class P>
bool set_param(SramModel<P>& m, std::string_view name, double value) {
  return aimc::set_param(m.circuit, name, value) || aimc::set_param(m.tech, name, value) ||
         aimc::set_param(m.var, name, value);
}

/// The model with every noise source off: no V_t or capacitor mismatch (local and global), T = 0,
/// no clipping. Its analog outputs equal the ideal dot products.
QsModel noiseless(QsModel m);
IsModel noiseless(IsModel m);
QrModel noiseless(QrModel m);

/// Operating point derived from a model (validated first).
struct SramOperatingPoint {
  double v_ov_V = 0;         ///< QS, IS: V_WL - V_t of the cell
  double i_cell_A = 0;       ///< QS, IS: nominal cell current at V_WL (alpha-power law)
  double sigma_vt_V = 0;     ///< local sigma of the cell V_t (Pelgrom)
  double sigma_d = 0;        ///< QS, IS: first-order current mismatch alpha sigma_Vt / (V_WL - V_t) (TCAD paper's sigma_D)
  double sigma_c_rel = 0;    ///< QR: local relative sigma of C_c
  double c_F = 0;            ///< C_BL (QS), C_int (IS), nominal total line capacitance (QR)
  double dv_max_V = 0;       ///< QS, IS: headroom of the column voltage
  double unit_swing_V = 0;   ///< column voltage per LSB of the column sum
  double t0_s = 0;           ///< QS, IS: unit pulse width
  double z_max = std::numeric_limits<double>::infinity();  ///< clipping level in LSB (inf: none)
  double sigma_thermal_lsb = 0;  ///< kT/C noise per conversion (QS, IS) or per cycle (QR), LSB
  double beta_channel = 0;   ///< IS: channel-noise variance per unit of nominal column sum, LSB^2
  double sigma_inj_lsb = 0;  ///< QR: sigma of a column's charge-injection offset per cycle, LSB
  double r_par = 0;          ///< QR: C_par / C_c
};
SramOperatingPoint operating_point(const QsModel& m);
SramOperatingPoint operating_point(const IsModel& m);
SramOperatingPoint operating_point(const QrModel& m);

/// Analytical signal and noise variances of one dot product, in (integer dot-product units)^2.
struct SnrBreakdown {
  double signal_var = 0;     ///< Var(y) of the ideal dot product
  double mismatch_var = 0;   ///< V_t (QS, IS) or capacitor (QR) mismatch, local and global
  double thermal_var = 0;    ///< kT/C and channel thermal noise
  double clipping_var = 0;   ///< headroom clipping, including its correlation with the other terms
  double injection_var = 0;  ///< QR switch charge injection
  double noise_var() const { return mismatch_var + thermal_var + clipping_var + injection_var; }
  double snr() const { return signal_var / noise_var(); }
  double snr_db() const;
};
SnrBreakdown analytic_snr(const QsModel& m);
SnrBreakdown analytic_snr(const IsModel& m);
SnrBreakdown analytic_snr(const QrModel& m);

/// Energy per dot product (B_w columns over all input bits / pulses), J.
double energy_J(const QsModel& m);
double energy_J(const IsModel& m);
double energy_J(const QrModel& m);
/// Latency of one dot product (the B_w columns work in parallel), s.
double delay_s(const QsModel& m);
double delay_s(const IsModel& m);
double delay_s(const QrModel& m);

/// (ideal, analog) dot-product pairs from the sample-level simulator, in integer dot-product units.
struct DpSamples {
  VectorD ideal;
  VectorD analog;
};
/// Monte Carlo: n dot products, each with fresh uniform data and a freshly realized column (die and
/// cells), computed by the same physics as the SRAM array models. Sample i uses
/// s.child("dp", {i}) only, so results do not depend on how samples are scheduled.
DpSamples sample_dot_products(const QsModel& m, int n, const Stream& s);
DpSamples sample_dot_products(const IsModel& m, int n, const Stream& s);
DpSamples sample_dot_products(const QrModel& m, int n, const Stream& s);

/// SNR measured from samples. mse = mean((analog - ideal)^2) with its standard error; snr_db uses the
/// sample variance of the ideal outputs; snr_db_known uses `signal_var` when given (the exact Var(y)),
/// which removes the sampling error of the signal variance; se_db is the standard error of
/// 10 log10(mse) (delta method).
struct SnrEstimate {
  double signal_var = 0, mse = 0, mse_se = 0;
  double snr_db = 0, snr_db_known = std::numeric_limits<double>::quiet_NaN(), se_db = 0;
};
SnrEstimate measure_snr(const DpSamples& s, double signal_var = std::numeric_limits<double>::quiet_NaN());

}  // namespace aimc::devices
