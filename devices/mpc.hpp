#pragma once
/// Minimum precision criterion (MPC) and the SNR algebra of an in-memory dot product, after
/// Gonugondla, Sakr, Dbouk, Shanbhag, "Fundamental limits on the precision of in-memory architectures",
/// ICCAD 2020 (extended in IEEE TCAD 41(10), 2022, "Fundamental limits on energy-delay-accuracy of
/// in-memory architectures in inference applications").
///
/// Noise model of one dot product y_o = w^T x of dimension N (all terms independent, additive):
///   y = y_o + q_iy + eta_a + q_y,
/// q_iy: input/weight quantization noise (B_x, B_w bits), eta_a: analog noise of the array, q_y: ADC
/// quantization noise (B_ADC bits, clipping at zeta_y sigma_y). The SNRs are power ratios
///   SQNR_qiy = sigma_yo^2 / sigma_qiy^2,  SNR_a = sigma_yo^2 / sigma_eta^2,  SQNR_qy = sigma_yo^2 / sigma_qy^2,
/// and compose as parallel resistors:
///   1/SNR_A = 1/SQNR_qiy + 1/SNR_a,     1/SNR_T = 1/SNR_A + 1/SQNR_qy.
/// Functions take and return linear power ratios unless the name ends in _db.
#include <span>

#include "core/params.hpp"

namespace aimc::devices {

struct MpcParams {
  double delta_db = 0.5;  ///< allowed loss SNR_A - SNR_T in dB
  double zeta_y = 4.0;    ///< ADC clipping level in units of sigma_y

  static std::span<const Param<MpcParams>> params();
};

/// Power ratio <-> dB.
double to_db(double ratio);
double from_db(double db);

/// 1 / (1/a + 1/b): SNR of a signal corrupted by two independent noises with SNRs a and b.
double snr_parallel(double a, double b);
/// 1/SNR_A = 1/SQNR_qiy + 1/SNR_a (Gonugondla et al. 2020, composition of the pre-ADC SNR).
double snr_pre_adc(double sqnr_qiy, double snr_a);
/// 1/SNR_T = 1/SNR_A + 1/SQNR_qy (Gonugondla et al. 2020, total output SNR).
double snr_total(double snr_A, double sqnr_qy);

/// SQNR of a B-bit uniform ADC clipping at +-zeta sigma_y with negligible clipping noise:
/// LSB = 2 zeta sigma_y / 2^B, noise LSB^2/12, SQNR_qy = 3 4^B / zeta^2
/// = 6.02 B + 4.78 - 20 log10(zeta) dB (Gonugondla et al. 2020).
double sqnr_adc(int bits, double zeta);
double sqnr_adc_db(int bits, double zeta);

/// SQNR_qiy of the ideal dot product from quantizing inputs x in [0, x_max] to B_x bits
/// (Delta_x = x_max 2^-B_x) and zero-mean weights w in [-w_max, w_max] to B_w bits
/// (Delta_w = w_max 2^-(B_w - 1)), each error uniform with variance Delta^2/12 and independent of the
/// data (Gonugondla et al. 2020; TCAD 2022 Table III: sigma_qiy^2 = N (Delta_x^2 E[w^2] + Delta_w^2 E[x^2]) / 12):
///   SQNR_qiy = E[x^2] E[w^2] / (Delta_x^2 E[w^2] / 12 + Delta_w^2 E[x^2] / 12),
/// independent of N (signal and noise both scale with N). ex2 = E[x^2], ew2 = E[w^2].
double sqnr_qiy(int bx, int bw, double x_max, double w_max, double ex2, double ew2);

/// Lossless output precision of an N-term dot product of B_x-bit unsigned inputs and B_w-bit signed
/// weights: B_x + B_w + ceil(log2 N) bits resolve every possible output.
int lossless_adc_bits(int bx, int bw, int n);

struct MpcResult {
  int bits = 0;              ///< minimum ADC precision B_ADC
  bool lossless = false;     ///< the lossless bound was reached before the criterion was met
  double sqnr_qy_db = 0.0;   ///< SQNR_qy at `bits` (+inf when lossless)
  double snr_T_db = 0.0;     ///< predicted SNR_T at `bits` (= SNR_A when lossless)
};

/// Minimum precision criterion: the smallest B_ADC >= 1 with SNR_T >= SNR_A - delta (dB), where
/// SNR_T = snr_total(SNR_A, sqnr_adc(B_ADC, zeta_y)); equivalently SQNR_qy >= SNR_A / (10^(delta/10) - 1).
/// The criterion depends on SNR_A, delta and zeta_y only (not on B_x, B_w or N); the result is capped
/// at the lossless bound lossless_adc_bits(bx, bw, n), which is never exceeded.
MpcResult mpc_adc_bits(double snr_A_db, int bx, int bw, int n, const MpcParams& p = {});

}  // namespace aimc::devices
