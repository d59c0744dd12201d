#pragma once
/// Process variations and temperature.
///
/// Threshold voltage and capacitance each vary in two components:
///   global (die-to-die):  one offset per die, shared by every device on it, sigma from ProcessVariation;
///   local  (within-die):  independent per device, sigma from Pelgrom's area law
///                         sigma(V_t) = A_VT / sqrt(W L),  sigma(C)/C = sigma_1fF / sqrt(C / 1 fF)
///                         (Pelgrom, Duinmaijer, Welbers, IEEE JSSC 24(5) 1989; the capacitor form is
///                         the same area law with C proportional to area).
/// A device's threshold is V_t = V_t0 + dV_global + dV_local; a capacitor is C = C0 (1 + g)(1 + d).
/// Both are drawn once per programmed instance ("realize"), never per read.
/// Temperature enters only where the physics uses it: k T (thermal noise) and U_T = k T / q.
#include <span>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"

namespace aimc::devices {

inline constexpr double kBoltzmann_JK = 1.380649e-23;  ///< exact (SI 2019)
inline constexpr double kElementaryCharge_C = 1.602176634e-19;  ///< exact (SI 2019)

struct ProcessVariation {
  double sigma_vt_global_V = 0.0;   ///< die-to-die sigma of V_t
  double sigma_c_global_rel = 0.0;  ///< die-to-die relative sigma of capacitors
  double temperature_K = 300.0;     ///< operating temperature; 0 turns thermal noise off (tests only)

  static std::span<const Param<ProcessVariation>> params();
};

/// k T in joules.
inline double kT_J(double temperature_K) { return kBoltzmann_JK * temperature_K; }
/// Thermal voltage U_T = k T / q in volts.
inline double thermal_voltage_V(double temperature_K) { return kT_J(temperature_K) / kElementaryCharge_C; }

/// Pelgrom area law for one device: sigma(V_t) = A_VT / sqrt(W L).
double pelgrom_sigma_vt_V(double a_vt_Vm, double w_m, double l_m);
/// Relative sigma of a capacitor of value c_F given the relative sigma of a 1 fF unit: sigma_1fF / sqrt(c / 1 fF).
double pelgrom_sigma_c_rel(double sigma_c_rel_1fF, double c_F);

/// The global (die-to-die) part of one realized die.
struct DieVariation {
  double dvt_V = 0.0;   ///< threshold shift shared by all devices of the die
  double dc_rel = 0.0;  ///< relative capacitor shift shared by all capacitors of the die
};

/// Draws one die's global offsets (two normals, in this order: V_t, C).
DieVariation realize_die(const ProcessVariation& pv, Stream& s);

/// Fills `dvt` with per-device threshold shifts dV_global + N(0, sigma_local^2).
void draw_vt_shifts(Eigen::Ref<MatrixD> dvt, const DieVariation& die, double sigma_local_V, Stream& s);

/// Fills `factor` with per-device capacitor factors C / C0 = (1 + g)(1 + d), d ~ N(0, sigma_local_rel^2).
void draw_cap_factors(Eigen::Ref<MatrixD> factor, const DieVariation& die, double sigma_local_rel, Stream& s);

}  // namespace aimc::devices
