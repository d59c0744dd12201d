/// QS (charge summing) compute model.
///
/// Physics (TCAD paper, Sec. IV, QS model; the equations below are our derivation of that model from
/// first principles, written in the paper's notation where we know it):
///   Bit line C_BL = N c_bl_cell + c_extra, precharged to V_DD. Row j's word line is pulsed to V_WL for
///   x_j t0 (PWM); a cell storing u_jk = 1 sinks I_jk for that time, so the bit-line swing is
///     dV_k = (t0 / C_BL) sum_j I_jk u_jk x_j,   unit swing dv = I_cell t0 / C_BL per LSB.
///   Cell current (alpha-power law, Sakurai-Newton 1990): I_jk = I_cell f(dV_t,jk),
///     f(d) = max(0, 1 - d / (V_WL - V_t))^alpha,   I_cell = I_cell,VDD ((V_WL - V_t)/(V_DD - V_t))^alpha,
///   with dV_t = global + local (variation.hpp); to first order sigma(I)/I = alpha sigma_Vt / (V_WL - V_t)
///   (the paper's sigma_D). The analytical SNR uses the exact moments of f by Gauss-Hermite quadrature.
///   Thermal noise: kT/C_BL on the sampled bit-line voltage, sigma = sqrt(kT/C_BL) / dv LSB.
///   Headroom: the access device stays in saturation while V_BL > V_WL - V_t, so the swing clips at
///     dV_max = V_DD - (V_WL - V_t).
///   Energy per dot product: B_w C_BL V_DD E[dV] (bit-line restore) + N B_w c_wl V_WL^2 P(x > 0)
///   (word-line pulses). Delay: t_precharge + M_x t0.
#include <cmath>

#include "core/error.hpp"
#include "devices/sram_physics.hpp"

namespace aimc::devices {

using namespace sram_detail;

SramOperatingPoint operating_point(const QsModel& m) {
  validate(m);
  const auto& t = m.tech;
  const auto& c = m.circuit;
  SramOperatingPoint op;
  const double v_wl = c.v_wl_rel * t.v_dd_V;
  op.v_ov_V = v_wl - t.v_t_V;
  op.i_cell_A = t.i_cell_A * std::pow(op.v_ov_V / (t.v_dd_V - t.v_t_V), t.alpha);
  op.sigma_vt_V = sigma_vt_cell_V(t);
  op.sigma_d = t.alpha * op.sigma_vt_V / op.v_ov_V;
  op.c_F = c.n_rows * t.c_bl_cell_F + c.c_bl_extra_F;
  op.dv_max_V = t.v_dd_V - op.v_ov_V;
  const auto d = data_moments(c.n_rows, c.b_x, c.b_w);
  const double mu_s = c.n_rows * d.ex / 2, sd_s = std::sqrt(c.n_rows * (d.ex2 / 2 - d.ex * d.ex / 4));
  if (c.swing_rule == "k_sigma") op.unit_swing_V = op.dv_max_V / (mu_s + c.k_clip * sd_s);
  else if (c.swing_rule == "full_range") op.unit_swing_V = op.dv_max_V / (c.n_rows * d.mx);
  else op.unit_swing_V = op.i_cell_A * c.t0_s / op.c_F;
  op.t0_s = op.unit_swing_V * op.c_F / op.i_cell_A;
  if (c.headroom_clipping) op.z_max = op.dv_max_V / op.unit_swing_V;
  op.sigma_thermal_lsb = std::sqrt(kT_J(m.var.temperature_K) / op.c_F) / op.unit_swing_V;
  return op;
}

SnrBreakdown analytic_snr(const QsModel& m) {
  const auto op = operating_point(m);
  const auto d = data_moments(m.circuit.n_rows, m.circuit.b_x, m.circuit.b_w);
  const auto cm = current_moments(op.v_ov_V, m.tech.alpha, op.sigma_vt_V, m.var.sigma_vt_global_V);
  return integrating_snr(d, cm, op.sigma_thermal_lsb * op.sigma_thermal_lsb, 0.0, op.z_max);
}

double energy_J(const QsModel& m) {
  const auto op = operating_point(m);
  const auto& c = m.circuit;
  const auto d = data_moments(c.n_rows, c.b_x, c.b_w);
  const auto cm = current_moments(op.v_ov_V, m.tech.alpha, op.sigma_vt_V, m.var.sigma_vt_global_V);
  const double mean_swing = op.unit_swing_V * mean_clipped_column(d, cm, op.sigma_thermal_lsb * op.sigma_thermal_lsb, op.z_max);
  const double v_wl = c.v_wl_rel * m.tech.v_dd_V;
  return c.b_w * op.c_F * m.tech.v_dd_V * mean_swing +
         c.n_rows * c.b_w * m.tech.c_wl_cell_F * v_wl * v_wl * d.mx / (d.mx + 1);
}

double delay_s(const QsModel& m) {
  const auto op = operating_point(m);
  return m.circuit.t_precharge_s + (std::ldexp(1.0, m.circuit.b_x) - 1) * op.t0_s;
}

namespace sram_detail {

SramRealization realize(const QsModel& m, const SramOperatingPoint& op, const MatrixI& codes, Stream& s) {
  SramRealization r;
  r.rows = int(codes.rows());
  r.cols = int(codes.cols());
  const DieVariation die = realize_die(m.var, s);
  MatrixD dvt(r.rows, r.cols);
  for (int k = 0; k < m.circuit.b_w; ++k) {
    draw_vt_shifts(dvt, die, op.sigma_vt_V, s);
    MatrixD g(r.rows, r.cols);
    for (int i = 0; i < r.rows; ++i)
      for (int j = 0; j < r.cols; ++j)
        g(i, j) = ((codes(i, j) >> k) & 1) ? current_factor(dvt(i, j), op.v_ov_V, m.tech.alpha) : 0.0;
    r.gain.push_back(std::move(g));
  }
  return r;
}

void plane_noise(const QsModel&, const SramOperatingPoint& op, const SramRealization&, int, const MatrixD&,
                 const std::vector<char>& active, MatrixD& s, const PlaneNormals& z) {
  for (Eigen::Index b = 0; b < s.rows(); ++b) {
    if (!active[b]) continue;
    if (op.sigma_thermal_lsb > 0)
      for (Eigen::Index c = 0; c < s.cols(); ++c) s(b, c) += op.sigma_thermal_lsb * double(z(b, c));
    s.row(b) = s.row(b).cwiseMin(op.z_max);
  }
}

}  // namespace sram_detail
}  // namespace aimc::devices
