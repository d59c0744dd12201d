#include "devices/mpc.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.hpp"

namespace aimc::devices {

std::span<const Param<MpcParams>> MpcParams::params() {
  using P = MpcParams;
  static const Param<P> t[] = {
      {"delta_db", &P::delta_db, "dB", "allowed SNR loss SNR_A - SNR_T from the ADC",
       "Gonugondla et al., ICCAD 2020 (MPC with delta = 0.5 dB)", {0.0, 1e3, true, false}},
      {"zeta_y", &P::zeta_y, "1", "ADC clipping level in units of the column output sigma_y",
       "Gonugondla et al., ICCAD 2020 (zeta_y = 4)", {0.0, 1e6, true, false}},
  };
  return t;
}

double to_db(double r) { return 10.0 * std::log10(r); }
double from_db(double db) { return std::pow(10.0, db / 10.0); }

double snr_parallel(double a, double b) { return 1.0 / (1.0 / a + 1.0 / b); }
double snr_pre_adc(double sqnr_qiy, double snr_a) { return snr_parallel(sqnr_qiy, snr_a); }
double snr_total(double snr_A, double sqnr_qy) { return snr_parallel(snr_A, sqnr_qy); }

double sqnr_adc(int bits, double zeta) { return 3.0 * std::ldexp(1.0, 2 * bits) / (zeta * zeta); }
double sqnr_adc_db(int bits, double zeta) { return to_db(sqnr_adc(bits, zeta)); }

double sqnr_qiy(int bx, int bw, double x_max, double w_max, double ex2, double ew2) {
  if (bx < 1) fail_param("bx", bx, "must be at least 1");
  if (bw < 2) fail_param("bw", bw, "must be at least 2 (sign and one magnitude bit)");
  const double dx = x_max * std::ldexp(1.0, -bx);
  const double dw = w_max * std::ldexp(1.0, -(bw - 1));
  return ex2 * ew2 / (dx * dx * ew2 / 12.0 + dw * dw * ex2 / 12.0);
}

int lossless_adc_bits(int bx, int bw, int n) {
  if (n < 1) fail_param("n", n, "must be at least 1");
  int lg = 0;
  while ((std::int64_t(1) << lg) < n) ++lg;
  return bx + bw + lg;
}

MpcResult mpc_adc_bits(double snr_A_db, int bx, int bw, int n, const MpcParams& p) {
  validate(p, "mpc");
  if (!std::isfinite(snr_A_db)) fail_param("snr_A_db", snr_A_db, "must be finite");
  const int cap = lossless_adc_bits(bx, bw, n);
  const double snr_A = from_db(snr_A_db);
  MpcResult r;
  for (int b = 1; b <= cap; ++b) {
    r.bits = b;
    r.sqnr_qy_db = sqnr_adc_db(b, p.zeta_y);
    r.snr_T_db = to_db(snr_total(snr_A, sqnr_adc(b, p.zeta_y)));
    if (r.snr_T_db >= snr_A_db - p.delta_db) return r;
  }
  // A lossless ADC resolves every output level over the full range: no quantization loss.
  r.lossless = true;
  r.sqnr_qy_db = std::numeric_limits<double>::infinity();
  r.snr_T_db = snr_A_db;
  return r;
}

}  // namespace aimc::devices
