#pragma once
/// Pulse-programmed synapse arrays for on-chip learning: every weight is a device state that changes
/// only by whole programming pulses (fractional pulses only in the infinite-resolution limit,
/// levels = 0). Two devices share one interface so the training loop (nets/onchip.hpp) is the same:
///
/// MOSFET (Dey et al., arXiv 1907.00625): the weight is the gate voltage V_G of one ordinary MOSFET,
///   read in triode at V_read (devices/mosfet.hpp: EKV I-V, chord conductance G(V_G - dV_T)); a pulse
///   adds or removes one charge packet on the gate, dV_G = (v_g_max - v_g_min) / (levels - 1), the same
///   for both signs at every V_G (linear, symmetric). Per pulse the packet varies by sigma_pulse
///   (relative); between training samples the gate charge leaks, V_G -> v_leak + (V_G - v_leak)
///   exp(-t / tau_leak) (tau_leak_s = 0: no leakage). Device-to-device: V_T (Pelgrom local + die).
///
/// RRAM (nonlinear, asymmetric): the exponential pulse-response model of NeuroSim (Chen, Peng, Yu,
///   IEEE TCAD 37(12), 2018, Eqs. 1-3; Chen et al. IEDM 2015):
///     potentiation (LTP) g_P(p) = (1 - exp(-nu_P p)) / (1 - exp(-nu_P)),
///     depression  (LTD) g_D(p) = 1 - (1 - exp(-nu_D (1 - p))) / (1 - exp(-nu_D)),
///   with g = (G - G_min) / (G_max - G_min), p = P / P_max the normalized pulse coordinate, P_max =
///   levels - 1 pulses across the full range and nu = P_max / A (NeuroSim's A). An update of n pulses
///   reads the device's coordinate on the branch it moves along (p = g_P^{-1}(g) for LTP, g_D^{-1}(g)
///   for LTD), moves it by n / P_max, clips to [0, 1] and sets g to that branch: the response is
///   steep near one bound and flat near the other, and different for the two signs, so +n then -n
///   pulses do not return the weight. nu = 0 is the linear limit. Cycle-to-cycle: each update adds
///   sigma_c2c (G_max - G_min) sqrt(|n|) z; device-to-device: nu_ij = nu (1 + sigma_d2d z), NeuroSim's
///   sigmaDtoD on the nonlinearity.
///
/// Signed weights (both devices): one device per weight and a reference column carrying the
/// nominal mid-range current, w = (G - G_mid) w_max / ((G_max - G_min) / 2) with the nominal G_min,
/// G_max (a device's V_T shift or nonlinearity is not calibrated away: on-chip learning sees it).
/// Inputs are read as pulse widths |x| / x_max t_read, positive and negative inputs in two phases.
/// Read noise: channel / filament thermal noise, current PSD 4 k T G, integrated over each read pulse
/// (devices/mosfet.hpp gives the output-referred form, used here for both devices).
///
/// The update rule of the peripheral circuit is the same for both: a desired weight change dw becomes
/// n = dw / dw_pulse pulses, dw_pulse = 2 w_max / (levels - 1) (the nominal step), rounded to the
/// nearest integer or stochastically (unbiased, Gokmen and Vlasov, Front. Neurosci. 10:333, 2016) and
/// clipped to +-max_pulses per update.
#include <memory>
#include <span>
#include <string>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "devices/mosfet.hpp"

namespace aimc::devices {

/// Update circuit and retention of the MOSFET synapse (gate-charge pump).
struct MosfetUpdateParams {
  double sigma_pulse = 0.0;  ///< relative spread of one pulse's gate-voltage step (cycle to cycle)
  double tau_leak_s = 0.0;   ///< retention time constant of the gate charge; 0 = no leakage
  double v_leak_V = 0.0;     ///< voltage the gate charge leaks towards (junction to ground)
  double c_gate_F = 10e-15;  ///< gate plus storage capacitance charged by the pump
  double v_dd_V = 1.8;       ///< supply the charge packets are drawn from
  double t_pulse_s = 10e-9;  ///< width of one update pulse

  static std::span<const Param<MosfetUpdateParams>> params();
};

/// RRAM synapse with a nonlinear, asymmetric pulse response (NeuroSim's exponential model).
struct RramPulseParams {
  double g_min_S = 1.0 / 900e3;  ///< lowest conductance (1/R_off)
  double g_max_S = 1.0 / 6e3;    ///< highest conductance (1/R_on)
  double nu_ltp = 3.0;           ///< potentiation nonlinearity P_max / A (0 = linear)
  double nu_ltd = 5.0;           ///< depression nonlinearity P_max / A (0 = linear)
  double sigma_c2c = 0.0;        ///< cycle-to-cycle conductance spread per pulse, fraction of G_max - G_min
  double sigma_d2d = 0.0;        ///< device-to-device relative spread of nu
  double v_read_V = 0.1;         ///< read voltage
  double t_read_s = 10e-9;       ///< read pulse width of a full-scale input
  double v_write_V = 2.0;        ///< programming pulse amplitude
  double t_pulse_s = 10e-9;      ///< programming pulse width
  double temperature_K = 300.0;
  bool read_noise = true;        ///< thermal noise per read

  static std::span<const Param<RramPulseParams>> params();
  void check() const;
};

/// Normalized LTP and LTD branches and their inverses (see the file comment); g, p in [0, 1].
double rram_ltp(double p, double nu);
double rram_ltp_inverse(double g, double nu);
double rram_ltd(double p, double nu);
double rram_ltd_inverse(double g, double nu);

/// How the peripheral circuit turns a weight change into pulses.
enum class PulseRounding { nearest, stochastic };

/// Energy counters of one array (J) and pulse count. A continuous array (levels = 0) applies no pulses:
/// its pulse count stays 0; the MOSFET still counts its pump charge C |dV_G| V_DD (resolution-free),
/// the RRAM's write energy is per pulse and stays 0 (the study reports both as NaN).
struct PulseEnergy {
  double read_J = 0, write_J = 0;
  double pulses = 0;  ///< total |n| applied
};

/// A trainable array of pulse-programmed synapses, rows x cols (inputs x outputs).
class PulseArray {
 public:
  virtual ~PulseArray() = default;
  virtual int rows() const = 0;
  virtual int cols() const = 0;
  /// The weights the array holds now (nominal map of the realized conductances).
  virtual MatrixD weights() const = 0;
  /// Forward read y = x W (+ thermal noise); x is one row vector per input, clipped to +-x_max.
  virtual void read(const Eigen::Ref<const MatrixD>& x, MatrixD& y, Stream& s) = 0;
  /// Transposed read e = d W^T (+ noise): the error sent back through the array (hidden layers).
  virtual void read_transposed(const Eigen::Ref<const MatrixD>& d, MatrixD& e, Stream& s) = 0;
  /// Applies n(i, j) pulses (sign = direction). Integers unless the array is continuous; a continuous
  /// array's unit "pulse" is a nominal weight change of 1, so n is the weight change itself.
  virtual void apply(const Eigen::Ref<const MatrixD>& n, Stream& s) = 0;
  /// Lets time dt pass (retention).
  virtual void idle(double dt_s) = 0;
  /// Nominal weight change of one pulse (0 when continuous).
  virtual double weight_step() const = 0;
  virtual const PulseEnergy& energy() const = 0;
  /// Width of one update pulse (s).
  virtual double pulse_width_s() const = 0;
  /// Width of a full-scale read (s).
  virtual double read_width_s() const = 0;
};

/// Common settings of a pulse array.
struct PulseArraySpec {
  int rows = 0, cols = 0;
  double w_max = 1.0;
  int levels = 64;  ///< weight levels (pulse resolution); 0 = continuous (infinite resolution)
  int max_pulses = 8;
};

/// MOSFET synapse array: device from `p` (its gate range and read settings; dv_g_step_V and max_pulses
/// are replaced by spec.levels and spec.max_pulses), initial weights w0 (programmed to the nearest
/// level, or exactly when continuous), V_T variation drawn from `chip`.
std::unique_ptr<PulseArray> make_mosfet_pulse_array(const MosfetParams& p, const MosfetUpdateParams& u,
                                                    const PulseArraySpec& spec, const Eigen::Ref<const MatrixD>& w0,
                                                    Stream& chip);
/// RRAM synapse array: initial weights w0 set to the nearest state on the LTP branch's pulse grid (or
/// exactly when continuous), nonlinearity variation drawn from `chip`.
std::unique_ptr<PulseArray> make_rram_pulse_array(const RramPulseParams& p, const PulseArraySpec& spec,
                                                  const Eigen::Ref<const MatrixD>& w0, Stream& chip);
/// Floating-point weights with exact updates and no bounds: the float SGD baseline through the same
/// loop (apply adds n * 1, i.e. n is the weight change itself).
std::unique_ptr<PulseArray> make_float_array(const Eigen::Ref<const MatrixD>& w0);

/// Pulses for a desired weight change: dw / step rounded as `r` (stochastic: one uniform draw from s)
/// and clipped to +-max_pulses; step == 0 (continuous array) returns dw unrounded and unclipped.
double pulses_for(double dw, double step, int max_pulses, PulseRounding r, Stream& s);

}  // namespace aimc::devices
