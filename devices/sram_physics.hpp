#pragma once
/// Internals shared by the SRAM compute models (sram_qs.cpp, sram_is.cpp, sram_qr.cpp), their
/// Monte Carlo simulator and the SRAM array models (sram_array.cpp). Not for the layers above.
#include <vector>

#include "core/random.hpp"
#include "core/tensor.hpp"
#include "devices/sram_compute.hpp"

namespace aimc::devices::sram_detail {

/// Moments of uniform data (see sram_compute.hpp) and the bit-plane sums.
struct DataMoments {
  int n = 0;
  double mx = 0, mw = 0;    ///< M_x, M_w
  double ex = 0, ex2 = 0;   ///< E[x], E[x^2]
  double ew2 = 0;           ///< E[w^2] of the signed level 2a - M_w
  double ea = 0, ea2 = 0;   ///< E[a], E[a^2] of the unsigned code
  double a_w = 0;           ///< sum_k 4^k = (4^B_w - 1) / 3
  double b_w = 0;           ///< (sum_k 2^k)^2 = M_w^2
  double a_x = 0;           ///< sum_b 4^b = (4^B_x - 1) / 3
  double signal_var() const { return n * ew2 * ex2; }
};
DataMoments data_moments(int n, int b_x, int b_w);

/// Cell current factor I / I_nominal = max(0, 1 - dV_t / V_ov)^alpha (alpha-power law).
double current_factor(double dvt, double v_ov, double alpha);
/// Transconductance factor g_m / g_m,nominal = max(0, 1 - dV_t / V_ov)^(alpha - 1).
double gm_factor(double dvt, double v_ov, double alpha);

/// Moments of the current factor f over local and global V_t variation (Gauss-Hermite quadrature).
struct CurrentMoments {
  double m1 = 1;   ///< E[f]
  double m2 = 1;   ///< E[f^2] (one cell)
  double mg2 = 1;  ///< E[f f'] for two cells of the same die = E_G[(E_L[f | G])^2]
  double h1 = 1;   ///< E[g_m factor]
};
CurrentMoments current_moments(double v_ov, double alpha, double sigma_local, double sigma_global);

/// Standard normal helpers and Gaussian clipping integrals, Z ~ N(0, 1):
double phi(double t);              ///< density
double qfunc(double t);            ///< P(Z > t)
double clip_g1(double t);          ///< E[(Z - t)+]
double clip_g2(double t);          ///< E[((Z - t)+)^2]
double clip_h2(double t, double rho);  ///< E[(Z1 - t)+ (Z2 - t)+], corr(Z1, Z2) = rho

/// Exact pmf of the noiseless column sum S = sum_j u_j x_j of N rows (u fair bits, x uniform on 0..M_x),
/// by FFT; empty if its support N M_x + 1 exceeds max_len.
std::vector<double> column_sum_pmf(int n, double mx, std::size_t max_len);

/// Analytical SNR terms of a PWM current-integrating column (QS and IS). The column noise given the
/// noiseless sum S has variance a0 + a1 S (LSB^2); clipping at z_max (LSB).
SnrBreakdown integrating_snr(const DataMoments& d, const CurrentMoments& cm, double a0, double a1, double z_max);

/// Mean of the clipped column value E[min(Z, z_max)] (LSB) under the Gaussian approximation used by
/// integrating_snr (for the bit-line energy).
double mean_clipped_column(const DataMoments& d, const CurrentMoments& cm, double sigma_n2, double z_max);

/// Device-to-device state of one programmed SRAM array with `rows` used rows and `cols` outputs.
struct SramRealization {
  int rows = 0, cols = 0;
  std::vector<MatrixD> gain;        ///< per bit plane (rows x cols): u_jk times the cell factor
                                    ///< (QS, IS: current factor; QR: capacitor factor x C_tot,nom / C_tot)
  std::vector<MatrixD> noise_gain;  ///< IS, per bit plane: u_jk times the g_m factor
  MatrixD offset_lsb;               ///< QR (b_w x cols): charge-injection offset per cycle, LSB
  MatrixD sigma_lsb;                ///< QR (b_w x cols): kT/C sigma per cycle, LSB
};

/// Draws the device-to-device state for weight codes (rows x cols, each in 0..M_w): die first, then
/// bit plane by bit plane.
SramRealization realize(const QsModel& m, const SramOperatingPoint& op, const MatrixI& codes, Stream& s);
SramRealization realize(const IsModel& m, const SramOperatingPoint& op, const MatrixI& codes, Stream& s);
SramRealization realize(const QrModel& m, const SramOperatingPoint& op, const MatrixI& codes, Stream& s);

/// Standard normals for the cycle-to-cycle noise of one phase and bit plane: z(b, c) for batch row b,
/// column c (a strided view of analog_mvm's draws).
using PlaneNormals = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;

/// Adds one conversion's cycle-to-cycle noise and clipping to the noiseless column sums `s`
/// (batch x cols, LSB) of bit plane k, for the batch rows marked active (rows whose phase runs).
/// xt: (batch x rows) input levels of this phase; z: the standard normals of this phase and plane.
void plane_noise(const QsModel& m, const SramOperatingPoint& op, const SramRealization& r, int k,
                 const MatrixD& xt, const std::vector<char>& active, MatrixD& s, const PlaneNormals& z);
void plane_noise(const IsModel& m, const SramOperatingPoint& op, const SramRealization& r, int k,
                 const MatrixD& xt, const std::vector<char>& active, MatrixD& s, const PlaneNormals& z);
void plane_noise(const QrModel& m, const SramOperatingPoint& op, const SramRealization& r, int k,
                 const MatrixD& xt, const std::vector<char>& active, MatrixD& s, const PlaneNormals& z);

/// The analog dot products of a realized array: x_levels (batch x rows) are signed input levels
/// (|x| <= M_x; positive and negative parts run as two phases, a phase only for batch rows that have
/// inputs of that sign); y_levels (batch x cols) = sum_j w_level x_level plus the noise.
/// Noise: 2 b_w cols standard normals per batch row from rs's normal sequence, in the order
/// (row, phase, plane, column), drawn whether or not they are used, so that the numbers of row b do not
/// depend on how many rows one call gets (slabs of a chunk continue the same sequence).
template <class P>
void analog_mvm(const SramModel<P>& m, const SramOperatingPoint& op, const SramRealization& r,
                const MatrixD& x_levels, MatrixD& y_levels, Stream& rs);

/// Weight codes a in 0..M_w -> levels 2a - M_w.
MatrixD code_levels(const MatrixI& codes, int b_w);

}  // namespace aimc::devices::sram_detail
