#pragma once
/// The SNR chain of one in-memory dot product, from real-valued data to the ADC output, analytically
/// and by Monte Carlo, for the SRAM compute models (sram_compute.hpp) and the MPC (mpc.hpp). This is
/// what `aimc snr` reports per sweep point.
///
/// Data and quantization (Gonugondla et al., ICCAD 2020; the convention of mpc.hpp). Real inputs
/// x_j ~ U[0, x_max) and weights w_j ~ U[-w_max, w_max), independent; y_o = sum_j w_j x_j over N rows.
/// Both pass mid-rise quantizers: k_j = floor(x_j / D_x), x^_j = (k_j + 1/2) D_x with D_x = x_max 2^-B_x,
/// and a_j = floor((w_j + w_max) / D_w), w^_j = (a_j + 1/2) D_w - w_max = (2 a_j - M_w) D_w / 2 with
/// D_w = w_max 2^(1 - B_w). The codes k_j (0..M_x) and a_j (0..M_w) are then exactly the uniform data
/// of the compute models, whose array computes Y = sum_j (2 a_j - M_w) k_j; the quantized dot product is
///   y^ = c Y + (D_x / 2) sum_j w^_j,   c = D_x D_w / 2,
/// the second term digital (the weights are known). Everything is referred to y_o: SNRs are
/// sigma_yo^2 / E[(error)^2] with sigma_yo^2 = N E[w^2] E[x^2] = N w_max^2 x_max^2 / 9, so they are free
/// of x_max and w_max (both 1 below).
///
///   SQNR_qiy  error y^ - y_o. Exactly (bin-centroid reconstruction, E[w w^] = E[w^^2]):
///             sigma_qiy^2 = N (E[w^2] D_x^2 / 12 + E[x^2] D_w^2 / 12 - D_x^2 D_w^2 / 144), the paper's
///             first-order expression (mpc.hpp sqnr_qiy) minus the product term.
///   SNR_a     error of the analog array alone, c (Y_analog - Y): c^2 times the model's analytic noise
///             variance (analytic_snr, in integer units).
///   SNR_A     1/SNR_A = 1/SQNR_qiy + 1/SNR_a (composition, mpc.hpp snr_pre_adc).
///   SQNR_qy   One ADC conversion digitizes the analog Y of a dot product (the bit planes combined before
///             the ADC, the dot-product-level abstraction of the MPC paper). MPC ADC: B bits over
///             +-zeta_y sigma_in, sigma_in^2 = Var(Y) + noise (integer units), LSB = 2 zeta_y sigma_in / 2^B;
///             referred to y_o: SQNR_qy = rho 3 4^B / zeta_y^2 with rho = sigma_yo^2 / (c^2 sigma_in^2).
///             The MPC picks the smallest B with SNR_T >= SNR_A - delta (mpc_adc_bits at SNR_A / rho).
///             Conventional ("lossless") ADC: B_L = B_x + B_w + ceil(log2 N) bits over the full range
///             +-N M_x M_w of Y, SQNR_qy = sigma_yo^2 / (c^2 LSB_L^2 / 12).
///   SNR_T     1/SNR_T = 1/SNR_A + 1/SQNR_qy.
/// The Monte Carlo runs the same chain sample by sample: real data, the quantizers, the sample-level
/// array of the model (a fresh die and column per dot product, as sample_dot_products), the ADC (its
/// range zeta_y times the RMS of the simulated analog outputs), and measures each error against y_o.
#include <span>

#include "core/params.hpp"
#include "core/random.hpp"
#include "devices/mpc.hpp"
#include "devices/sram_compute.hpp"

namespace aimc::devices {

/// ADC energy per conversion, E = (k1 B + k2 4^B) V_DD^2: a term linear in the bits (comparator
/// decisions of a SAR) and a thermal-noise-limited term growing 4x per bit, the two regimes of
/// Murmann's ADC performance survey. The constants are the documented defaults of the ZigZag-IMC
/// cost model (KU Leuven, public), which uses this form for IMC column ADCs.
struct AdcEnergyParams {
  double k1_F = 100e-15;  ///< per-bit term, in farads (times V_DD^2 gives joules)
  double k2_F = 1e-18;    ///< 4^B term, in farads

  static std::span<const Param<AdcEnergyParams>> params();
};
double adc_energy_J(int bits, double v_dd_V, const AdcEnergyParams& p = {});

struct ChainAnalysis {
  int n_rows = 0, b_x = 0, b_w = 0;
  double sqnr_qiy_db = 0, snr_a_db = 0, snr_A_db = 0;
  double rho = 1;                   ///< sigma_yo^2 / (c^2 sigma_in^2)
  int bits_mpc = 0, bits_lossless = 0;
  bool mpc_at_lossless = false;     ///< the MPC reached the lossless bound
  double sqnr_qy_mpc_db = 0, snr_T_mpc_db = 0;
  double sqnr_qy_lossless_db = 0, snr_T_lossless_db = 0;
  double energy_array_J = 0;        ///< per dot product (compute model's energy_J)
  double energy_adc_mpc_J = 0, energy_adc_lossless_J = 0;  ///< one conversion per dot product
  double delay_s = 0;               ///< array latency per dot product (ADC time not included)
};

template <class P>
ChainAnalysis analyze_chain(const SramModel<P>& m, const MpcParams& mpc = {}, const AdcEnergyParams& e = {});

/// A Monte Carlo SNR with its confidence interval, all in dB. The interval is that of the mean
/// squared error (normal approximation, delta method: se_dB = (10 / ln 10) sd(e^2) / (mean(e^2) sqrt(n))).
struct SnrMc {
  double db = 0, lo = 0, hi = 0, se_db = 0;
};
struct ChainMonteCarlo {
  int samples = 0;
  SnrMc sqnr_qiy, snr_a, snr_A, snr_T_mpc, snr_T_lossless;
  double adc_saturation_mpc = 0;  ///< fraction of MPC conversions that clipped
};

/// Monte Carlo of the chain with `samples` dot products; sample i draws only from s.child("dp", {i})
/// (parallel with OpenMP, identical for any thread count). bits_mpc, bits_lossless: the two ADCs.
template <class P>
ChainMonteCarlo simulate_chain(const SramModel<P>& m, int bits_mpc, int bits_lossless, int samples, const Stream& s,
                               const MpcParams& mpc = {}, double confidence = 0.95);

/// SNR (dB) and its confidence interval from squared errors against a known signal variance.
SnrMc snr_from_errors(std::span<const double> e2, double signal_var, double confidence);

}  // namespace aimc::devices
