#include "devices/technology.hpp"

#include <cmath>

#include "core/error.hpp"

namespace aimc::devices {

namespace {
constexpr std::string_view kPtm = "nominal core supply of the node (cf. PTM model cards, ptm.asu.edu), rounded";
constexpr std::string_view kAlpha =
    "alpha-power law, Sakurai & Newton, IEEE JSSC 25(2) 1990 (alpha ~1.2-1.4 in short-channel devices); "
    "value per node assumed";
constexpr std::string_view kPelgrom =
    "estimate: Pelgrom et al. IEDM 1998 rule A_VT ~ 1 mV um per nm of inversion oxide, per device; "
    "falls slower than device area with scaling (Kuhn et al., IEEE T-ED 58(8) 2011)";
constexpr std::string_view kCell = "assumption: access device of a dense 6T/8T cell at this node (W ~2L)";
constexpr std::string_view kIcell = "assumption: order of published SRAM cell read currents at this node";
constexpr std::string_view kCbl =
    "assumption: drain junction + ~0.4 um of bit-line wire per cell (~0.2 fF/um at 65 nm), scaled with pitch";
constexpr std::string_view kCwl = "assumption: two access-gate capacitances + word-line wire per cell";
constexpr std::string_view kCgate = "derived: C_ox W L with C_ox = eps_ox / t_inv of the node";
constexpr std::string_view kGamma = "assumption: gamma ~1 for short-channel devices (2/3 long-channel)";
}  // namespace

std::span<const Param<Technology>> Technology::params() {
  using T = Technology;
  static const Param<T> p[] = {
      {"name", &T::name, "", "technology label (informational)", "preset name"},
      {"v_dd_V", &T::v_dd_V, "V", "core supply", std::string_view(kPtm), {0.0, 5.0, true, false}},
      {"v_t_V", &T::v_t_V, "V", "nominal threshold of the cell transistor",
       "PTM model cards (VTH0 ~0.4 V), rounded; assumption per node", {0.0, 2.0, true, true}},
      {"alpha", &T::alpha, "1", "alpha-power-law exponent of the cell current", kAlpha, between(1.0, 2.0)},
      {"i_cell_A", &T::i_cell_A, "A", "cell read current at V_WL = V_DD", kIcell, {0.0, 1e-3, true, false}},
      {"a_vt_Vm", &T::a_vt_Vm, "V m", "Pelgrom coefficient of V_t (single device); 0 disables mismatch", kPelgrom,
       between(0.0, 1e-7)},
      {"w_cell_m", &T::w_cell_m, "m", "width of the current-setting cell transistor", kCell, {0.0, 1e-4, true, false}},
      {"l_cell_m", &T::l_cell_m, "m", "length of the current-setting cell transistor", kCell, {0.0, 1e-4, true, false}},
      {"c_bl_cell_F", &T::c_bl_cell_F, "F", "bit-line capacitance per cell", kCbl, {0.0, 1e-12, true, false}},
      {"c_wl_cell_F", &T::c_wl_cell_F, "F", "word-line capacitance per cell", kCwl, between(0.0, 1e-12)},
      {"c_gate_F", &T::c_gate_F, "F", "gate capacitance of a minimum switch", kCgate, between(0.0, 1e-12)},
      {"sigma_c_rel_1fF", &T::sigma_c_rel_1fF, "1",
       "relative sigma of a 1 fF unit capacitor (Pelgrom for capacitors: ~1/sqrt(C)); 0 disables",
       "order of metal-fringe capacitor matching, Tripathi & Murmann, IEEE TCAS-I 2014; 22 nm: "
       "Kavishwar & Shanbhag arXiv 2507.09776 (28 nm model, 0.66 % at 1 fF)",
       between(0.0, 1.0)},
      {"gamma_noise", &T::gamma_noise, "1", "channel thermal-noise factor", kGamma, {0.0, 5.0, true, false}},
  };
  return p;
}

void Technology::check() const {
  if (!(v_t_V < v_dd_V))
    throw Error("parameter 'v_t_V' = " + to_str(v_t_V) + ": must be below v_dd_V = " + to_str(v_dd_V));
}

Technology technology(std::string_view name) {
  Technology t;
  if (name == "65nm") {
    return t;  // the struct defaults are the 65 nm preset
  }
  if (name == "45nm") {
    t.name = "45nm";
    t.v_dd_V = 1.0;
    t.v_t_V = 0.42;
    t.alpha = 1.25;
    t.i_cell_A = 35e-6;
    t.a_vt_Vm = 2.5e-9;
    t.w_cell_m = 80e-9;
    t.l_cell_m = 45e-9;
    t.c_bl_cell_F = 0.18e-15;
    t.c_wl_cell_F = 0.14e-15;
    t.c_gate_F = 0.07e-15;
    t.sigma_c_rel_1fF = 0.008;
    return t;
  }
  if (name == "22nm") {
    t.name = "22nm";
    t.v_dd_V = 0.8;
    t.v_t_V = 0.38;
    t.alpha = 1.2;
    t.i_cell_A = 25e-6;
    t.a_vt_Vm = 1.8e-9;
    t.w_cell_m = 40e-9;
    t.l_cell_m = 22e-9;
    t.c_bl_cell_F = 0.10e-15;
    t.c_wl_cell_F = 0.08e-15;
    t.c_gate_F = 0.025e-15;
    t.sigma_c_rel_1fF = 0.0066;
    return t;
  }
  std::string names;
  for (const auto& n : technology_names()) names += (names.empty() ? "" : "|") + n;
  throw Error("technology '" + std::string(name) + "': unknown preset, must be one of " + names);
}

std::vector<std::string> technology_names() { return {"65nm", "45nm", "22nm"}; }

double sigma_vt_cell_V(const Technology& t) { return t.a_vt_Vm / std::sqrt(t.w_cell_m * t.l_cell_m); }

}  // namespace aimc::devices
