/// IS (current summing) compute model.
///
/// Physics (TCAD paper, Sec. IV, IS model; derived by us from first principles where the paper's
/// equations were not available): the bit line is held at a fixed voltage by an integrator, so the
/// cells' currents add as currents and are integrated on C_int:
///     V_k = (t0 / C_int) sum_j I_jk u_jk x_j,   unit swing dv = I_cell t0 / C_int per LSB,
/// with the same PWM inputs and alpha-power-law cell currents as QS (sram_qs.cpp). Noise:
///   * V_t mismatch as in QS;
///   * channel thermal noise of each conducting cell, one-sided PSD 4 k T gamma g_m, integrated over its
///     pulse x_j t0: Var(Q_j) = 2 k T gamma g_m x_j t0 (white noise integrated over T has variance
///     S T / 2). With g_m = alpha I / (V_WL - V_t) the variance in LSB^2 is
///       beta sum_j h_jk u_jk x_j,   beta = 2 k T gamma alpha / ((V_WL - V_t) I_cell t0),
///     h = g_m factor of the cell (signal dependent, unlike QS);
///   * kT/C_int reset noise of the integrator;
///   * clipping at the integrator output swing swing_rel V_DD.
/// Energy per dot product: B_w [V_DD I_cell t0 E[sum f u x] + i_amp V_DD (t_reset + M_x t0)] plus the
/// word-line pulses N B_w c_wl V_WL^2 P(x > 0). Delay: t_reset + M_x t0.
#include <cmath>

#include "core/error.hpp"
#include "devices/sram_physics.hpp"

namespace aimc::devices {

using namespace sram_detail;

SramOperatingPoint operating_point(const IsModel& m) {
  validate(m);
  const auto& t = m.tech;
  const auto& c = m.circuit;
  SramOperatingPoint op;
  const double v_wl = c.v_wl_rel * t.v_dd_V;
  op.v_ov_V = v_wl - t.v_t_V;
  op.i_cell_A = t.i_cell_A * std::pow(op.v_ov_V / (t.v_dd_V - t.v_t_V), t.alpha);
  op.sigma_vt_V = sigma_vt_cell_V(t);
  op.sigma_d = t.alpha * op.sigma_vt_V / op.v_ov_V;
  op.c_F = c.c_int_F;
  op.dv_max_V = c.swing_rel * t.v_dd_V;
  const auto d = data_moments(c.n_rows, c.b_x, c.b_w);
  const double mu_s = c.n_rows * d.ex / 2, sd_s = std::sqrt(c.n_rows * (d.ex2 / 2 - d.ex * d.ex / 4));
  if (c.swing_rule == "k_sigma") op.unit_swing_V = op.dv_max_V / (mu_s + c.k_clip * sd_s);
  else if (c.swing_rule == "full_range") op.unit_swing_V = op.dv_max_V / (c.n_rows * d.mx);
  else op.unit_swing_V = op.i_cell_A * c.t0_s / op.c_F;
  op.t0_s = op.unit_swing_V * op.c_F / op.i_cell_A;
  if (c.headroom_clipping) op.z_max = op.dv_max_V / op.unit_swing_V;
  const double kt = kT_J(m.var.temperature_K);
  op.sigma_thermal_lsb = std::sqrt(kt / op.c_F) / op.unit_swing_V;
  op.beta_channel = 2 * kt * t.gamma_noise * t.alpha / (op.v_ov_V * op.i_cell_A * op.t0_s);
  return op;
}

SnrBreakdown analytic_snr(const IsModel& m) {
  const auto op = operating_point(m);
  const auto d = data_moments(m.circuit.n_rows, m.circuit.b_x, m.circuit.b_w);
  const auto cm = current_moments(op.v_ov_V, m.tech.alpha, op.sigma_vt_V, m.var.sigma_vt_global_V);
  return integrating_snr(d, cm, op.sigma_thermal_lsb * op.sigma_thermal_lsb, op.beta_channel * cm.h1, op.z_max);
}

double energy_J(const IsModel& m) {
  const auto op = operating_point(m);
  const auto& c = m.circuit;
  const auto d = data_moments(c.n_rows, c.b_x, c.b_w);
  const auto cm = current_moments(op.v_ov_V, m.tech.alpha, op.sigma_vt_V, m.var.sigma_vt_global_V);
  const double vdd = m.tech.v_dd_V, v_wl = c.v_wl_rel * vdd;
  const double cells = vdd * op.i_cell_A * op.t0_s * cm.m1 * c.n_rows * d.ex / 2;
  const double amp = c.i_amp_A * vdd * (c.t_reset_s + d.mx * op.t0_s);
  return c.b_w * (cells + amp) + c.n_rows * c.b_w * m.tech.c_wl_cell_F * v_wl * v_wl * d.mx / (d.mx + 1);
}

double delay_s(const IsModel& m) {
  const auto op = operating_point(m);
  return m.circuit.t_reset_s + (std::ldexp(1.0, m.circuit.b_x) - 1) * op.t0_s;
}

namespace sram_detail {

SramRealization realize(const IsModel& m, const SramOperatingPoint& op, const MatrixI& codes, Stream& s) {
  SramRealization r;
  r.rows = int(codes.rows());
  r.cols = int(codes.cols());
  const DieVariation die = realize_die(m.var, s);
  MatrixD dvt(r.rows, r.cols);
  for (int k = 0; k < m.circuit.b_w; ++k) {
    draw_vt_shifts(dvt, die, op.sigma_vt_V, s);
    MatrixD g(r.rows, r.cols), h(r.rows, r.cols);
    for (int i = 0; i < r.rows; ++i)
      for (int j = 0; j < r.cols; ++j) {
        bool on = (codes(i, j) >> k) & 1;
        g(i, j) = on ? current_factor(dvt(i, j), op.v_ov_V, m.tech.alpha) : 0.0;
        h(i, j) = on ? gm_factor(dvt(i, j), op.v_ov_V, m.tech.alpha) : 0.0;
      }
    r.gain.push_back(std::move(g));
    r.noise_gain.push_back(std::move(h));
  }
  return r;
}

void plane_noise(const IsModel&, const SramOperatingPoint& op, const SramRealization& r, int k, const MatrixD& xt,
                 const std::vector<char>& active, MatrixD& s, const PlaneNormals& z) {
  MatrixD var;
  if (op.beta_channel > 0) var = op.beta_channel * (xt * r.noise_gain[k]);
  const double reset2 = op.sigma_thermal_lsb * op.sigma_thermal_lsb;
  for (Eigen::Index b = 0; b < s.rows(); ++b) {
    if (!active[b]) continue;
    if (op.beta_channel > 0 || reset2 > 0)
      for (Eigen::Index c = 0; c < s.cols(); ++c)
        s(b, c) += std::sqrt(reset2 + (op.beta_channel > 0 ? var(b, c) : 0.0)) * double(z(b, c));
    s.row(b) = s.row(b).cwiseMin(op.z_max);
  }
}

}  // namespace sram_detail
}  // namespace aimc::devices
