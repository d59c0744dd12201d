#pragma once
/// CMOS technology presets for the SRAM in-memory compute models (sram_compute.hpp) and their
/// process variations (variation.hpp).
///
/// A Technology is one node's physics: supply, the cell transistor (threshold, alpha-power exponent,
/// read current, size and Pelgrom coefficient), the per-cell wire and gate capacitances and the
/// matching of metal unit capacitors. Gonugondla, Sakr, Dbouk, Shanbhag ("Fundamental Limits on
/// Energy-Delay-Accuracy of In-memory Architectures in Inference Applications", IEEE TCAD 2021,
/// arXiv 2012.13645) compare such parameter sets across nodes; the presets here are our own estimates
/// in that spirit, each value with where it comes from (a public model card, a textbook rule, or an
/// explicit assumption), not a copy of the paper's table.
///
/// Presets: "65nm", "45nm", "22nm" (planar bulk). The scaling trend that matters for the models is
/// robust to the exact numbers: the cell's sigma(V_t) grows as the device shrinks faster than A_VT
/// improves (Pelgrom), while V_DD - V_t shrinks, so the relative cell-current mismatch grows.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/params.hpp"

namespace aimc::devices {

struct Technology {
  std::string name = "65nm";
  double v_dd_V = 1.0;           ///< core supply
  double v_t_V = 0.40;           ///< nominal threshold voltage of the cell transistor
  double alpha = 1.3;            ///< alpha-power-law exponent: I_D ~ (V_GS - V_t)^alpha (Sakurai-Newton)
  double i_cell_A = 40e-6;       ///< cell read current at V_WL = V_DD (saturation)
  double a_vt_Vm = 3.0e-9;       ///< single-device Pelgrom coefficient: sigma(V_t) = A_VT / sqrt(W L)
  double w_cell_m = 120e-9;      ///< width of the cell transistor that sets the read current
  double l_cell_m = 65e-9;       ///< length of that transistor
  double c_bl_cell_F = 0.25e-15; ///< bit-line (or compute-line) capacitance added per cell
  double c_wl_cell_F = 0.20e-15; ///< word-line (input-line) capacitance per cell
  double c_gate_F = 0.10e-15;    ///< gate capacitance C_ox W L of a minimum switch (charge injection)
  double sigma_c_rel_1fF = 0.010;///< relative sigma of a 1 fF metal unit capacitor; scales as 1/sqrt(C)
  double gamma_noise = 1.0;      ///< channel thermal-noise factor gamma: S_I = 4 k T gamma g_m

  static std::span<const Param<Technology>> params();
  void check() const;
};

/// The preset of that name ("65nm", "45nm", "22nm"); Error naming the valid names otherwise.
Technology technology(std::string_view name);
/// Names of all presets, smallest feature last.
std::vector<std::string> technology_names();

/// Local (within-die) sigma of the cell transistor's threshold, A_VT / sqrt(W L) (Pelgrom, Duinmaijer,
/// Welbers, IEEE JSSC 1989). Note: A_VT here is per device; a coefficient quoted for the difference of a
/// matched pair is sqrt(2) larger.
double sigma_vt_cell_V(const Technology& t);

}  // namespace aimc::devices
