/// QR (charge redistribution) compute model.
///
/// Physics (TCAD paper, Sec. IV, QR model; derived by us from first principles where the paper's
/// equations were not available): inputs are bit serial. In cycle b each cell forms the product bit
/// p_jb = u_jk x_jb, drives its unit capacitor C_j = C_c r_j to V_DD p_jb, and the N capacitors of the
/// column (plus the line parasitic C_par) share charge:
///     V_kb = V_DD sum_j C_j p_jb / (sum_j C_j + C_par),   LSB v = V_DD C_c / C_tot,nom,
///     C_tot,nom = N C_c + C_par,  R = C_tot,nom / C_c = N + C_par / C_c.
/// The digital back end adds the cycles with weights 2^b. Noise:
///   * capacitor mismatch r_j = (1 + g)(1 + d_j) (variation.hpp; sigma_d = Pelgrom for capacitors). To
///     first order the column error is sum_j eps_j (u_j x_j - S_k / R), eps_j = g + d_j: a capacitor's
///     error also changes the total it is divided by;
///   * kT/C sampling noise, Var = kT / C_tot per cycle (sum of the N capacitors' kT C_c charge noise
///     over C_tot^2), independent between cycles;
///   * charge injection of the N sharing switches: the systematic part is a calibrated offset; the random
///     part, sigma(Q) = c_gate sigma_Vt / 2 per switch (half the channel charge's spread), gives a column
///     offset of sigma = sqrt(N) c_gate sigma_Vt / (2 C_tot), the same in every cycle;
///   * no headroom clipping: the line voltage cannot leave [0, V_DD].
/// Energy per dot product: B_x [B_w N E[p] C_c V_DD^2 + N B_w E[x_b] c_wl V_DD^2] with E[p] = 1/4,
/// E[x_b] = 1/2 (capacitors charged from 0 to V_DD draw C V_DD^2; input lines likewise).
/// Delay: B_x cycles of three phases (reset, drive, share).
#include <cmath>

#include "core/error.hpp"
#include "devices/sram_physics.hpp"

namespace aimc::devices {

using namespace sram_detail;

SramOperatingPoint operating_point(const QrModel& m) {
  validate(m);
  const auto& t = m.tech;
  const auto& c = m.circuit;
  SramOperatingPoint op;
  op.sigma_vt_V = sigma_vt_cell_V(t);
  op.sigma_c_rel = pelgrom_sigma_c_rel(t.sigma_c_rel_1fF, c.c_unit_F);
  op.r_par = (c.n_rows * t.c_bl_cell_F + c.c_par_extra_F) / c.c_unit_F;
  const double r_nom = c.n_rows + op.r_par;
  op.c_F = r_nom * c.c_unit_F;
  op.unit_swing_V = t.v_dd_V / r_nom;
  op.sigma_thermal_lsb = std::sqrt(kT_J(m.var.temperature_K) / op.c_F) / op.unit_swing_V;
  op.sigma_inj_lsb = std::sqrt(double(c.n_rows)) * t.c_gate_F * op.sigma_vt_V / (2 * op.c_F) / op.unit_swing_V;
  return op;
}

SnrBreakdown analytic_snr(const QrModel& m) {
  const auto op = operating_point(m);
  const auto d = data_moments(m.circuit.n_rows, m.circuit.b_x, m.circuit.b_w);
  const double N = d.n, R = N + op.r_par;
  const double sd = op.sigma_c_rel, sg = m.var.sigma_c_global_rel;
  // E[(u_j x_j - S / R)^2] for one row j of a column.
  const double e1 = d.ex2 / 2 - (2 / R) * (d.ex2 / 2 + (N - 1) * d.ex * d.ex / 4) +
                    (N * d.ex2 / 2 + N * (N - 1) * d.ex * d.ex / 4) / (R * R);
  // E[(sum_k 2^k S_k)^2] = E[(sum_j a_j x_j)^2]
  const double eax2 = N * d.ea2 * d.ex2 + N * (N - 1) * d.ea * d.ea * d.ex * d.ex;
  const double gain = op.r_par / R;
  SnrBreakdown r;
  r.signal_var = d.signal_var();
  r.mismatch_var = 4 * (d.a_w * sd * sd * N * e1 + sg * sg * gain * gain * eax2);
  r.thermal_var = 4 * d.a_w * d.a_x * op.sigma_thermal_lsb * op.sigma_thermal_lsb;
  r.injection_var = 4 * d.a_w * d.mx * d.mx * op.sigma_inj_lsb * op.sigma_inj_lsb;
  return r;
}

double energy_J(const QrModel& m) {
  validate(m);
  const auto& c = m.circuit;
  const double v2 = m.tech.v_dd_V * m.tech.v_dd_V;
  return c.b_x * (c.b_w * c.n_rows * 0.25 * c.c_unit_F * v2 + c.n_rows * c.b_w * 0.5 * m.tech.c_wl_cell_F * v2);
}

double delay_s(const QrModel& m) {
  validate(m);
  return m.circuit.b_x * 3 * m.circuit.t_phase_s;
}

namespace sram_detail {

SramRealization realize(const QrModel& m, const SramOperatingPoint& op, const MatrixI& codes, Stream& s) {
  const int n_phys = m.circuit.n_rows;
  require(codes.rows() <= n_phys, "QR array: " + to_str(codes.rows()) + " weight rows exceed qr.n_rows = " +
                                      to_str(n_phys));
  SramRealization r;
  r.rows = int(codes.rows());
  r.cols = int(codes.cols());
  const int bw = m.circuit.b_w;
  r.offset_lsb.resize(bw, r.cols);
  r.sigma_lsb.resize(bw, r.cols);
  const DieVariation die = realize_die(m.var, s);
  const double r_nom = n_phys + op.r_par;
  const double kt = kT_J(m.var.temperature_K);
  MatrixD cf(n_phys, r.cols);
  for (int k = 0; k < bw; ++k) {
    draw_cap_factors(cf, die, op.sigma_c_rel, s);
    Eigen::RowVectorXd r_col = cf.colwise().sum().array() + op.r_par;
    MatrixD g(r.rows, r.cols);
    for (int i = 0; i < r.rows; ++i)
      for (int j = 0; j < r.cols; ++j) g(i, j) = ((codes(i, j) >> k) & 1) ? cf(i, j) * (r_nom / r_col(j)) : 0.0;
    r.gain.push_back(std::move(g));
    for (int j = 0; j < r.cols; ++j) {
      r.offset_lsb(k, j) = op.sigma_inj_lsb * s.normal();
      r.sigma_lsb(k, j) = std::sqrt(kt / (r_col(j) * m.circuit.c_unit_F)) / op.unit_swing_V;
    }
  }
  return r;
}

void plane_noise(const QrModel& m, const SramOperatingPoint&, const SramRealization& r, int k, const MatrixD&,
                 const std::vector<char>& active, MatrixD& s, const PlaneNormals& z) {
  const double mx = std::ldexp(1.0, m.circuit.b_x) - 1;
  const double sqrt_ax = std::sqrt((std::ldexp(1.0, 2 * m.circuit.b_x) - 1) / 3);
  for (Eigen::Index b = 0; b < s.rows(); ++b) {
    if (!active[b]) continue;
    for (Eigen::Index c = 0; c < s.cols(); ++c) {
      s(b, c) += mx * r.offset_lsb(k, c);
      if (r.sigma_lsb(k, c) > 0) s(b, c) += sqrt_ax * r.sigma_lsb(k, c) * double(z(b, c));
    }
  }
}

}  // namespace sram_detail
}  // namespace aimc::devices
