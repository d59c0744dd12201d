#include "devices/variation.hpp"

#include <cmath>

#include "core/error.hpp"

namespace aimc::devices {

std::span<const Param<ProcessVariation>> ProcessVariation::params() {
  using P = ProcessVariation;
  static const Param<P> p[] = {
      {"sigma_vt_global_V", &P::sigma_vt_global_V, "V", "die-to-die sigma of the threshold voltage",
       "0: a typical die, as in Gonugondla et al. TCAD 2021 whose SNR models hold local mismatch only",
       between(0.0, 0.5)},
      {"sigma_c_global_rel", &P::sigma_c_global_rel, "1", "die-to-die relative sigma of capacitors",
       "0: a typical die (see sigma_vt_global_V)", between(0.0, 0.5)},
      {"temperature_K", &P::temperature_K, "K", "operating temperature (k T noise); 0 disables thermal noise",
       "room temperature", between(0.0, 1000.0)},
  };
  return p;
}

double pelgrom_sigma_vt_V(double a_vt_Vm, double w_m, double l_m) {
  if (!(w_m > 0)) fail_param("w_m", w_m, "must be > 0 m");
  if (!(l_m > 0)) fail_param("l_m", l_m, "must be > 0 m");
  if (!(a_vt_Vm >= 0)) fail_param("a_vt_Vm", a_vt_Vm, "must be >= 0 V m");
  return a_vt_Vm / std::sqrt(w_m * l_m);
}

double pelgrom_sigma_c_rel(double sigma_c_rel_1fF, double c_F) {
  if (!(c_F > 0)) fail_param("c_F", c_F, "must be > 0 F");
  if (!(sigma_c_rel_1fF >= 0)) fail_param("sigma_c_rel_1fF", sigma_c_rel_1fF, "must be >= 0");
  return sigma_c_rel_1fF / std::sqrt(c_F / 1e-15);
}

DieVariation realize_die(const ProcessVariation& pv, Stream& s) {
  DieVariation d;
  d.dvt_V = pv.sigma_vt_global_V * s.normal();
  d.dc_rel = pv.sigma_c_global_rel * s.normal();
  return d;
}

void draw_vt_shifts(Eigen::Ref<MatrixD> dvt, const DieVariation& die, double sigma_local_V, Stream& s) {
  for (Eigen::Index i = 0; i < dvt.rows(); ++i)
    for (Eigen::Index j = 0; j < dvt.cols(); ++j) dvt(i, j) = die.dvt_V + sigma_local_V * s.normal();
}

void draw_cap_factors(Eigen::Ref<MatrixD> factor, const DieVariation& die, double sigma_local_rel, Stream& s) {
  for (Eigen::Index i = 0; i < factor.rows(); ++i)
    for (Eigen::Index j = 0; j < factor.cols(); ++j)
      factor(i, j) = (1.0 + die.dc_rel) * (1.0 + sigma_local_rel * s.normal());
}

}  // namespace aimc::devices
