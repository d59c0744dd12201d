#pragma once
/// Device parameter sets shared by several test files.
#include "devices/mosfet.hpp"

namespace aimc::test {

/// A MOSFET synapse biased in deep strong inversion: the smallest (V_P - V_read)/U_T over the gate
/// range is v ~ 55, where the EKV F(v) = ln^2(1 + e^{v/2}) differs from the square law (v/2)^2 by less
/// than (v + 1) e^{-v/2} ~ 1e-10 relative, so G(V_G) = beta (V_G - V_T - n V_read / 2) is linear in
/// V_G to that precision: the gate step is a weight step of exactly 2 w_max / (levels - 1). No
/// variation, no read noise.
inline devices::MosfetParams linear_mosfet() {
  devices::MosfetParams p;
  p.v_g_min_V = 2.4;
  p.v_g_max_V = 3.2;
  p.a_vt_Vm = 0;
  p.sigma_vt_global_V = 0;
  p.read_noise = false;
  return p;
}

}  // namespace aimc::test
