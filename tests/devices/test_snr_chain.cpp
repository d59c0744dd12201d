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
#include "tests/common/approx.hpp"

using namespace aimc;
using namespace aimc::devices;
using aimc::test::rel;

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

TEST_CASE("snr chain: SNR_T with an 8-bit ADC at zeta = 4 matches a first-principles oracle with clipping noise") {
  // Oracle derived here, not from the code: noiseless QR array (analog output = ideal integer dot
  // product Y), N = 64 rows, B_x = B_w = 8, the MPC ADC with B = 8 bits over +-zeta sigma_Y, zeta = 4.
  // With x_max = w_max = 1 (snr_chain.hpp): D_x = 2^-B_x, D_w = 2^(1-B_w), c = D_x D_w / 2.
  //  - signal: sigma_yo^2 = N E[w^2] E[x^2] = N / 9.
  //  - input quantization, per term w x - w^ x^ = w^ u + x^ v + u v with u ~ U(+-D_x/2), v ~ U(+-D_w/2)
  //    independent of the bin centres: E[.^2] = E[w^^2] D_x^2/12 + E[x^^2] D_w^2/12 + D_x^2 D_w^2/144,
  //    E[w^^2] = 1/3 - D_w^2/12, E[x^^2] = 1/3 - D_x^2/12; N such terms.
  //  - Y = sum_j (2 a_j - M_w) k_j with a, k uniform codes: Var(Y) = N E[(2a - M_w)^2] E[k^2] (sums below).
  //  - ADC error on Y, taken Gaussian (N = 64 terms; the excess kurtosis of Y is 0.24 / N, which changes
  //    the tail mass beyond 4 sigma by about 3 % (Edgeworth), SNR_T by < 0.01 dB): inside the range the
  //    uniform quantization noise Delta^2 / 12, Delta = 2 zeta sigma / 2^B, on the mass 1 - 2 Q(zeta);
  //    beyond +-zeta sigma the mid-rise quantizer outputs its outermost level +-(zeta sigma - Delta / 2),
  //    so the clipping noise is
  //    2 sigma^2 int_zeta^inf (u - b)^2 phi(u) du = 2 sigma^2 [(1 + b^2) Q(zeta) + (zeta - 2 b) phi(zeta)],
  //    b = zeta - Delta / (2 sigma), Q(z) = erfc(z / sqrt 2) / 2.
  //  - The errors add: E[y_o | codes] = y^ (bin centroids), so the input quantization error is
  //    uncorrelated with any function of the codes, the ADC error included.
  //   SNR_T = sigma_yo^2 / (sigma_qiy^2 + c^2 MSE_ADC).
  // Monte Carlo: n = 400000 dot products; se from snr_from_errors (it includes the heavy tail of the
  // rare clipped samples, about 25 of them). The ADC range is zeta times the sample RMS, whose relative
  // error 1 / sqrt(2 n) = 0.11 % moves the clipping term by about 0.5 % and SNR_T by < 0.003 dB: far
  // below se. Check: |MC - oracle| <= 5 se. The clipping term (0.28 dB here) is about 3 se of this Monte
  // Carlo, too few clipped samples to resolve it on their own; the next test case resolves it on the
  // ADC alone with 10^7 samples.
  constexpr int N = 64, B = 8, n = 400000;
  constexpr double zeta = 4.0;
  QrModel m = noiseless(QrModel{});
  m.circuit.n_rows = N;
  m.circuit.b_x = 8;
  m.circuit.b_w = 8;
  REQUIRE(MpcParams{}.zeta_y == zeta);

  const double dx = std::ldexp(1.0, -8), dw = std::ldexp(1.0, 1 - 8), c = dx * dw / 2;
  const double signal = N / 9.0;
  const double qiy = N * ((1.0 / 3 - dw * dw / 12) * dx * dx / 12 + (1.0 / 3 - dx * dx / 12) * dw * dw / 12 +
                          dx * dx * dw * dw / 144);
  const int mx = 255, mw = 255;
  double e_a2 = 0, e_k2 = 0;  // naive sums over the uniform codes
  for (int a = 0; a <= mw; ++a) e_a2 += double(2 * a - mw) * double(2 * a - mw) / (mw + 1);
  for (int k = 0; k <= mx; ++k) e_k2 += double(k) * double(k) / (mx + 1);
  const double var_y = N * e_a2 * e_k2;
  const double pi = std::acos(-1.0);
  const double q = 0.5 * std::erfc(zeta / std::sqrt(2.0)), phi = std::exp(-zeta * zeta / 2) / std::sqrt(2 * pi);
  const double delta = 2 * zeta / std::ldexp(1.0, B);  // in units of sigma_Y
  const double b = zeta - delta / 2;
  const double quant = delta * delta / 12 * (1 - 2 * q), clip = 2 * ((1 + b * b) * q + (zeta - 2 * b) * phi);
  const double adc_mse = var_y * (quant + clip);
  const double oracle_db = 10 * std::log10(signal / (qiy + c * c * adc_mse));
  const double no_clip_db = 10 * std::log10(signal / (qiy + c * c * var_y * delta * delta / 12));

  const ChainAnalysis a = analyze_chain(m);
  // The code's analytical SNR_T at B = 8 (its pieces: SNR_A, rho and SQNR_qy = 3 4^B / zeta^2).
  const double code_db = to_db(snr_total(from_db(a.snr_A_db), a.rho * sqnr_adc(B, zeta)));
  const ChainMonteCarlo mc = simulate_chain(m, B, a.bits_lossless, n, Stream(5, "snr.chain.clip"));
  INFO("oracle SNR_T " << oracle_db << " dB (clipping term " << c * c * var_y * clip << ", quantization "
                       << c * c * var_y * quant << ", input quantization " << qiy << "), without clipping "
                       << no_clip_db << " dB; code " << code_db << " dB; Monte Carlo " << mc.snr_T_mpc.db
                       << " +- " << mc.snr_T_mpc.se_db << " dB, saturation " << mc.adc_saturation_mpc);
  CHECK(std::abs(mc.snr_T_mpc.db - oracle_db) <= 5 * mc.snr_T_mpc.se_db);
  // Inputs of the oracle checked on their own: SQNR_qiy and the clipped fraction 2 Q(zeta) (binomial,
  // 5 standard errors).
  CHECK(std::abs(mc.sqnr_qiy.db - 10 * std::log10(signal / qiy)) <= 5 * mc.sqnr_qiy.se_db);
  CHECK(std::abs(mc.adc_saturation_mpc - 2 * q) <= 5 * std::sqrt(2 * q / n));
  // The code's analytical SNR_T is the composition without clipping noise (mpc.hpp sqnr_adc: "negligible
  // clipping noise"): equal to no_clip_db up to the rounding of the pieces, and therefore optimistic by
  // the clipping term (0.28 dB here), inside the 0.5 dB bound of the chain test above.
  CHECK(code_db == doctest::Approx(no_clip_db).epsilon(1e-9));
  CHECK(std::abs(code_db - oracle_db) < 0.5);
}

TEST_CASE("snr chain: the clipping noise of an 8-bit ADC at zeta = 4 is resolved on Gaussian samples") {
  // The ADC stage of the oracle above on its own: n = 10^7 draws y ~ N(0, 1) through the mid-rise
  // quantizer over +-zeta (the population sigma, no calibration). Oracle as above (sigma = 1):
  //   MSE = D^2/12 (1 - 2 Q(zeta)) + 2 [(1 + b^2) Q(zeta) + (zeta - 2 b) phi(zeta)],  D = 2 zeta / 2^B,
  //   b = zeta - D / 2.
  // About 630 samples clip; se of the dB value from the samples (snr_from_errors), about 0.03 dB, while
  // the clipping term is 0.34 dB of SQNR: the test resolves it (checked) and matches the oracle within
  // 5 se, and the code's clipping-free SQNR = 3 4^B / zeta^2 lies more than 5 se away.
  constexpr int B = 8, n = 10000000;
  constexpr double zeta = 4.0;
  Stream s(17, "snr.adc.clip");
  std::vector<double> e2(n);
  for (int i = 0; i < n; ++i) {
    const double y = s.normal();
    e2[std::size_t(i)] = std::pow(quantize_midrise(y, B, -zeta, zeta) - y, 2);
  }
  const SnrMc m = snr_from_errors(e2, 1.0, 0.95);
  const double d = 2 * zeta / std::ldexp(1.0, B), b = zeta - d / 2;
  const double q = 0.5 * std::erfc(zeta / std::sqrt(2.0));
  const double phi = std::exp(-zeta * zeta / 2) / std::sqrt(2 * std::acos(-1.0));
  const double oracle_db = -10 * std::log10(d * d / 12 * (1 - 2 * q) + 2 * ((1 + b * b) * q + (zeta - 2 * b) * phi));
  const double no_clip_db = -10 * std::log10(d * d / 12);
  INFO("SQNR Monte Carlo " << m.db << " +- " << m.se_db << " dB, oracle " << oracle_db << " dB, without clipping "
                           << no_clip_db << " dB, code sqnr_adc_db " << sqnr_adc_db(B, zeta) << " dB");
  CHECK(std::abs(m.db - oracle_db) <= 5 * m.se_db);
  CHECK(no_clip_db - m.db > 5 * m.se_db);
  CHECK(sqnr_adc_db(B, zeta) == doctest::Approx(no_clip_db).epsilon(1e-12));
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
  // ~1e-12 J: relative, a few double operations on each side (V^2 vs the literal 0.64: 1 ulp each)
  CHECK(adc_energy_J(8, 1.0) == rel(100e-15 * 8 + 1e-18 * 65536, 1e-12));
  CHECK(adc_energy_J(4, 0.8) == rel((100e-15 * 4 + 1e-18 * 256) * 0.64, 1e-12));
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
