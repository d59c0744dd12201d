/// The dot-product SNR chain (snr_chain.hpp): analytical composition and its Monte Carlo.
#include "devices/snr_chain.hpp"

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/quantize.hpp"
#include "core/stats.hpp"
#include "devices/sram_physics.hpp"

namespace aimc::devices {

using namespace sram_detail;

std::span<const Param<AdcEnergyParams>> AdcEnergyParams::params() {
  using P = AdcEnergyParams;
  static const Param<P> t[] = {
      {"k1_F", &P::k1_F, "F", "ADC energy per conversion, per-bit term: E = (k1 B + k2 4^B) V_DD^2",
       "ZigZag-IMC ADC cost model default (k1 = 100 fF); form after Murmann's ADC survey", nonnegative()},
      {"k2_F", &P::k2_F, "F", "ADC energy per conversion, thermal-noise-limited 4^B term",
       "ZigZag-IMC ADC cost model default (k2 = 0.001 fF)", nonnegative()},
  };
  return t;
}

double adc_energy_J(int bits, double v_dd_V, const AdcEnergyParams& p) {
  aimc::validate(p, "adc_energy");
  require(bits >= 1 && bits <= 40, "adc_energy_J: bits must be in 1..40, got " + to_str(bits));
  return (p.k1_F * bits + p.k2_F * std::ldexp(1.0, 2 * bits)) * v_dd_V * v_dd_V;
}

namespace {

/// Quantization steps with x_max = w_max = 1 and the signal variance of y_o (snr_chain.hpp).
struct ChainScale {
  double dx, dw, c, signal_var, qiy_var;
  ChainScale(int n, int bx, int bw) {
    dx = std::ldexp(1.0, -bx);
    dw = std::ldexp(1.0, 1 - bw);
    c = dx * dw / 2;
    const double ex2 = 1.0 / 3, ew2 = 1.0 / 3;
    signal_var = n * ex2 * ew2;
    qiy_var = n * (ew2 * dx * dx / 12 + ex2 * dw * dw / 12 - dx * dx * dw * dw / 144);
  }
};

template <class P>
double v_dd(const SramModel<P>& m) {
  return m.tech.v_dd_V;
}

}  // namespace

template <class P>
ChainAnalysis analyze_chain(const SramModel<P>& m, const MpcParams& mpc, const AdcEnergyParams& e) {
  aimc::validate(mpc, "mpc");
  aimc::validate(e, "adc_energy");
  const auto& c = m.circuit;
  ChainAnalysis a;
  a.n_rows = c.n_rows;
  a.b_x = c.b_x;
  a.b_w = c.b_w;
  const ChainScale s(c.n_rows, c.b_x, c.b_w);
  const SnrBreakdown br = analytic_snr(m);
  const double sqnr_qiy = s.signal_var / s.qiy_var;
  const double snr_a = s.signal_var / (s.c * s.c * br.noise_var());
  const double snr_A = snr_pre_adc(sqnr_qiy, snr_a);
  a.sqnr_qiy_db = to_db(sqnr_qiy);
  a.snr_a_db = to_db(snr_a);
  a.snr_A_db = to_db(snr_A);
  a.rho = s.signal_var / (s.c * s.c * (br.signal_var + br.noise_var()));
  const MpcResult r = mpc_adc_bits(a.snr_A_db - to_db(a.rho), c.b_x, c.b_w, c.n_rows, mpc);
  a.bits_mpc = r.bits;
  a.mpc_at_lossless = r.lossless;
  const double sqnr_mpc = a.rho * sqnr_adc(r.bits, mpc.zeta_y);
  a.sqnr_qy_mpc_db = to_db(sqnr_mpc);
  a.snr_T_mpc_db = to_db(snr_total(snr_A, sqnr_mpc));
  a.bits_lossless = lossless_adc_bits(c.b_x, c.b_w, c.n_rows);
  const double mx = std::ldexp(1.0, c.b_x) - 1, mw = std::ldexp(1.0, c.b_w) - 1;
  const double lsb = 2 * c.n_rows * mx * mw / std::ldexp(1.0, a.bits_lossless);
  const double sqnr_l = s.signal_var / (s.c * s.c * lsb * lsb / 12);
  a.sqnr_qy_lossless_db = to_db(sqnr_l);
  a.snr_T_lossless_db = to_db(snr_total(snr_A, sqnr_l));
  a.energy_array_J = energy_J(m);
  a.energy_adc_mpc_J = adc_energy_J(a.bits_mpc, v_dd(m), e);
  a.energy_adc_lossless_J = adc_energy_J(a.bits_lossless, v_dd(m), e);
  a.delay_s = delay_s(m);
  return a;
}

SnrMc snr_from_errors(std::span<const double> e2, double signal_var, double confidence) {
  require(e2.size() >= 2, "snr_from_errors: need >= 2 samples");
  const double mse = stats::mean(e2);
  SnrMc r;
  if (mse <= 0) {  // error-free: infinite SNR
    r.db = r.lo = r.hi = std::numeric_limits<double>::infinity();
    return r;
  }
  r.se_db = 10.0 / std::log(10.0) * stats::stddev(e2) / (mse * std::sqrt(double(e2.size())));
  r.db = to_db(signal_var / mse);
  const double z = stats::z_for(confidence);
  r.lo = r.db - z * r.se_db;
  r.hi = r.db + z * r.se_db;
  return r;
}

template <class P>
ChainMonteCarlo simulate_chain(const SramModel<P>& m, int bits_mpc, int bits_lossless, int samples, const Stream& st,
                               const MpcParams& mpc, double confidence) {
  require(samples >= 2, "simulate_chain: samples must be >= 2, got " + to_str(samples));
  require(bits_mpc >= 1 && bits_lossless >= 1, "simulate_chain: ADC bits must be >= 1");
  aimc::validate(mpc, "mpc");
  const auto op = operating_point(m);
  const int N = m.circuit.n_rows, bx = m.circuit.b_x, bw = m.circuit.b_w;
  const ChainScale sc(N, bx, bw);
  const double mx = std::ldexp(1.0, bx) - 1, mw = std::ldexp(1.0, bw) - 1;
  const auto n = std::size_t(samples);
  std::vector<double> yo(n), yq(n), y_int(n), y_an(n), offset(n);
  std::exception_ptr failure;
#pragma omp parallel
  {
    MatrixI codes(N, 1);
    MatrixD x(1, N), y;
#pragma omp for schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
      try {
        Stream si = st.child("dp", {std::uint64_t(i)});
        double o = 0, yint = 0, off = 0;
        for (int j = 0; j < N; ++j) {
          const double xr = si.uniform(), wr = 2 * si.uniform() - 1;
          o += xr * wr;
          const double k = std::min(std::floor(xr / sc.dx), mx), a = std::min(std::floor((wr + 1) / sc.dw), mw);
          codes(j, 0) = std::int32_t(a);
          x(0, j) = k;
          yint += (2 * a - mw) * k;
          off += (2 * a - mw) * sc.dw / 2;  // w^_j
        }
        auto r = realize(m, op, codes, si);
        analog_mvm(m, op, r, x, y, si);
        yo[i] = o;
        y_int[i] = yint;
        y_an[i] = y(0, 0);
        offset[i] = sc.dx / 2 * off;
        yq[i] = sc.c * yint + offset[i];
      } catch (...) {
#pragma omp critical(aimc_snr_chain_error)
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
  // MPC ADC range: zeta_y times the RMS of the analog outputs (about zero, as the "clip" calibration).
  double ms = 0;
  for (double v : y_an) ms += v * v;
  const double range = mpc.zeta_y * std::sqrt(ms / double(n));
  const double full = N * mx * mw;
  std::vector<double> e_qiy(n), e_a(n), e_A(n), e_Tm(n), e_Tl(n);
  std::size_t clipped = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bool cl = false;
    const double ym = quantize_midrise(y_an[i], bits_mpc, -range, range, &cl);
    clipped += cl;
    const double yl = quantize_midrise(y_an[i], bits_lossless, -full, full);
    const double ya = sc.c * y_an[i] + offset[i];
    e_qiy[i] = std::pow(yq[i] - yo[i], 2);
    e_a[i] = std::pow(sc.c * (y_an[i] - y_int[i]), 2);
    e_A[i] = std::pow(ya - yo[i], 2);
    e_Tm[i] = std::pow(sc.c * ym + offset[i] - yo[i], 2);
    e_Tl[i] = std::pow(sc.c * yl + offset[i] - yo[i], 2);
  }
  ChainMonteCarlo r;
  r.samples = samples;
  r.sqnr_qiy = snr_from_errors(e_qiy, sc.signal_var, confidence);
  r.snr_a = snr_from_errors(e_a, sc.signal_var, confidence);
  r.snr_A = snr_from_errors(e_A, sc.signal_var, confidence);
  r.snr_T_mpc = snr_from_errors(e_Tm, sc.signal_var, confidence);
  r.snr_T_lossless = snr_from_errors(e_Tl, sc.signal_var, confidence);
  r.adc_saturation_mpc = double(clipped) / double(n);
  return r;
}

template ChainAnalysis analyze_chain(const QsModel&, const MpcParams&, const AdcEnergyParams&);
template ChainAnalysis analyze_chain(const IsModel&, const MpcParams&, const AdcEnergyParams&);
template ChainAnalysis analyze_chain(const QrModel&, const MpcParams&, const AdcEnergyParams&);
template ChainMonteCarlo simulate_chain(const QsModel&, int, int, int, const Stream&, const MpcParams&, double);
template ChainMonteCarlo simulate_chain(const IsModel&, int, int, int, const Stream&, const MpcParams&, double);
template ChainMonteCarlo simulate_chain(const QrModel&, int, int, int, const Stream&, const MpcParams&, double);

}  // namespace aimc::devices
