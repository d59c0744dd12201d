// The dot-product SNR chain (devices/snr_chain.hpp) and the accumulation oracle (devices/accumulator.hpp).
// Tolerances: an SNR estimated from n squared errors has standard error
//   se_dB = (10 / ln 10) sd(e^2) / (mean(e^2) sqrt(n)),
// about 4.34 sqrt(2 / n) dB for Gaussian errors (0.006 dB at n = 10^6, 0.043 dB at n = 2x10^4); checks
// allow 5 se unless the issue fixes a bound (0.1 dB at 10^6 samples for the composition formulas).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/quantize.hpp"
#include "core/random.hpp"
#include "devices/accumulator.hpp"
#include "devices/mpc.hpp"
#include "devices/snr_chain.hpp"

using namespace aimc;
using namespace aimc::devices;

TEST_CASE("snr chain: the composition formulas match Monte Carlo with independent noise sources (10^6 samples)") {
  // y_o ~ N(0, 1); q_iy and eta_a independent Gaussians with the given SNRs; a B-bit ADC over
  // +-zeta_y RMS(y_A) digitizes y_A = y_o + q_iy + eta_a. SNR_A and SNR_T against y_o must follow
  // 1/SNR_A = 1/SQNR_qiy + 1/SNR_a and 1/SNR_T = 1/SNR_A + 1/SQNR_qy within 0.1 dB, where SQNR_qy is
  // 3 4^B / zeta^2 relative to the ADC input's variance (1 + 1/SQNR_qiy + 1/SNR_a).
  constexpr int n = 1000000;
  const double zeta = 4.0;
  struct Case {
    double sqnr_qiy_db, snr_a_db;
    int bits;
  };
  for (const Case c : {Case{20, 25, 6}, Case{30, 15, 4}, Case{40, 40, 8}, Case{12, 30, 5}}) {
    Stream s(21, "snr.composition", {std::uint64_t(c.bits)});
    const double sq = std::sqrt(1.0 / from_db(c.sqnr_qiy_db)), se = std::sqrt(1.0 / from_db(c.snr_a_db));
    std::vector<double> yo(n), ya(n);
    double ms = 0;
    for (int i = 0; i < n; ++i) {
      yo[i] = s.normal();
      ya[i] = yo[i] + sq * s.normal() + se * s.normal();
      ms += ya[i] * ya[i];
    }
    const double range = zeta * std::sqrt(ms / n);
    std::vector<double> eA(n), eT(n);
    for (int i = 0; i < n; ++i) {
      eA[i] = std::pow(ya[i] - yo[i], 2);
      eT[i] = std::pow(quantize_midrise(ya[i], c.bits, -range, range) - yo[i], 2);
    }
    const SnrMc mA = snr_from_errors(eA, 1.0, 0.95), mT = snr_from_errors(eT, 1.0, 0.95);
    const double snr_A = snr_pre_adc(from_db(c.sqnr_qiy_db), from_db(c.snr_a_db));
    const double in_var = 1 + 1 / from_db(c.sqnr_qiy_db) + 1 / from_db(c.snr_a_db);
    const double snr_T = snr_total(snr_A, sqnr_adc(c.bits, zeta) / in_var);
    INFO("SQNR_qiy " << c.sqnr_qiy_db << " dB, SNR_a " << c.snr_a_db << " dB, B " << c.bits << ": SNR_A formula "
                     << to_db(snr_A) << " MC " << mA.db << " (se " << mA.se_db << "); SNR_T formula " << to_db(snr_T)
                     << " MC " << mT.db << " (se " << mT.se_db << ")");
    CHECK(std::abs(mA.db - to_db(snr_A)) < 0.1);
    CHECK(std::abs(mT.db - to_db(snr_T)) < 0.1);
  }
}

namespace {
template <class M>
void check_chain(const M& m, const char* name, int n) {
  const ChainAnalysis a = analyze_chain(m);
  const ChainMonteCarlo mc = simulate_chain(m, a.bits_mpc, a.bits_lossless, n, Stream(5, "snr.chain.test"));
  auto near = [&](const char* what, double an, const SnrMc& s) {
    INFO(name << " N=" << a.n_rows << " " << what << ": analytical " << an << " dB, Monte Carlo " << s.db << " +- " << s.se_db);
    CHECK(std::abs(an - s.db) < std::max(0.5, 5 * s.se_db));
  };
  near("SQNR_qiy", a.sqnr_qiy_db, mc.sqnr_qiy);
  near("SNR_a", a.snr_a_db, mc.snr_a);
  near("SNR_A", a.snr_A_db, mc.snr_A);
  near("SNR_T (MPC)", a.snr_T_mpc_db, mc.snr_T_mpc);
  near("SNR_T (lossless)", a.snr_T_lossless_db, mc.snr_T_lossless);
  // The MPC keeps SNR_T within delta of SNR_A, in the Monte Carlo too (5 se on the difference).
  CHECK(mc.snr_A.db - mc.snr_T_mpc.db <= MpcParams{}.delta_db + 5 * (mc.snr_A.se_db + mc.snr_T_mpc.se_db));
  CHECK(a.bits_mpc <= a.bits_lossless);
}
}  // namespace

TEST_CASE("snr chain: analytical chain agrees with its Monte Carlo for QS, IS and QR") {
  for (int N : {32, 256}) {
    QsModel qs;
    qs.circuit.n_rows = N;
    check_chain(qs, "QS", 4000);
    IsModel is;
    is.circuit.n_rows = N;
    check_chain(is, "IS", 4000);
    QrModel qr;
    qr.circuit.n_rows = N;
    qr.circuit.b_x = 6;
    qr.circuit.b_w = 6;
    check_chain(qr, "QR", 4000);
  }
}

TEST_CASE("snr chain: quantization-limited chains need the same MPC precision at every N, far below lossless") {
  // QR with 4-bit data: SNR_a (about 38 dB) is far above SQNR_qiy (23.1 dB, independent of N), so
  // SNR_A is fixed within 0.1 dB and the MPC must not depend on N, while the lossless precision grows
  // by one bit per doubling of N.
  int bits = -1;
  double snr_A = 0;
  for (int N : {16, 64, 256, 1024}) {
    QrModel qr;
    qr.circuit.n_rows = N;
    const ChainAnalysis a = analyze_chain(qr);
    if (bits < 0) {
      bits = a.bits_mpc;
      snr_A = a.snr_A_db;
    }
    CHECK(std::abs(a.snr_A_db - snr_A) < 0.1);
    CHECK(a.bits_mpc == bits);
    CHECK(a.bits_lossless == 8 + int(std::ceil(std::log2(N))));
    CHECK(a.snr_A_db - a.snr_T_mpc_db <= MpcParams{}.delta_db);
    CHECK(a.bits_lossless - a.bits_mpc >= 5);
  }
}

TEST_CASE("snr chain: ADC energy model and analytical pieces by hand") {
  CHECK(adc_energy_J(8, 1.0) == doctest::Approx(100e-15 * 8 + 1e-18 * 65536));
  CHECK(adc_energy_J(4, 0.8) == doctest::Approx((100e-15 * 4 + 1e-18 * 256) * 0.64));
  // SQNR_qiy for 1-bit inputs and weights: D_x = 1/2, D_w = 1, E[x^2] = E[w^2] = 1/3:
  // noise per term 1/3 (1/48) + 1/3 (1/12) - 1/576 = 19/576, signal 1/9: SQNR = 64/19.
  QsModel m;
  m.circuit.b_x = 1;
  m.circuit.b_w = 1;
  m.circuit.n_rows = 64;
  CHECK(analyze_chain(m).sqnr_qiy_db == doctest::Approx(10 * std::log10(64.0 / 19.0)).epsilon(1e-9));
}

TEST_CASE("accumulator: round_mantissa rounds to nearest even on the m-bit grid") {
  CHECK(round_mantissa(1.0 + std::ldexp(1, -5), 4) == 1.0);                          // tie, 1.0000 is even
  CHECK(round_mantissa(1.0 + 3 * std::ldexp(1, -5), 4) == 1.125);                    // tie, up to even 1.0010
  CHECK(round_mantissa(1.96875, 4) == 2.0);                                           // carry into the exponent
  CHECK(round_mantissa(-1.96875, 4) == -2.0);
  CHECK(round_mantissa(1.0 + std::ldexp(1, -5) + std::ldexp(1, -9), 4) == 1.0625);    // above the tie: up
  CHECK(round_mantissa(3.0e-7, 52) == 3.0e-7);
  CHECK(round_mantissa(0.1, 23) == double(0.1f));                                     // fp32 rounding
  CHECK(round_mantissa(0.0, 3) == 0.0);
}

TEST_CASE("accumulator: a wide accumulator retains the variance and a narrow one loses more as n grows") {
  const Stream s(8, "acc.test");
  // fp32-wide mantissa: VRR = 1 within 4 standard errors.
  for (std::int64_t n : {256, 4096}) {
    const VrrEstimate v = variance_retention(n, 23, 400, s);
    INFO("n " << n << ": VRR " << v.vrr << " +- " << v.se);
    CHECK(std::abs(v.vrr - 1.0) <= 4 * v.se + 1e-12);
  }
  // 5-bit mantissa: swamping grows with n; each step down is significant (4 se of the difference).
  double last = 2, last_se = 0;
  for (std::int64_t n : {64, 4096, 65536}) {
    const VrrEstimate v = variance_retention(n, 5, 1600, s);
    INFO("n " << n << ": VRR " << v.vrr << " +- " << v.se);
    CHECK(v.vrr < last - 4 * std::sqrt(v.se * v.se + last_se * last_se));
    last = v.vrr;
    last_se = v.se;
  }
  CHECK(last < 0.8);
  // Deterministic per trial: the same stream gives the same estimate.
  CHECK(variance_retention(100, 6, 50, s).vrr == variance_retention(100, 6, 50, s).vrr);
}
