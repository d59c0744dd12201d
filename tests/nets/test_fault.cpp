// Error injection primitives (nets/fault.hpp): bit flips against hand-computed binary32 and two's
// complement patterns, the draws of each error model, and injection through a forward hook.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.hpp"
#include "nets/fault.hpp"
#include "nets/network.hpp"

using namespace aimc;
using namespace aimc::nets;
using namespace aimc::nets::fault;

TEST_CASE("fault: fp32 bit flips are bit-exact (sign, exponent MSB, mantissa MSB and LSB)") {
  // 1.0f = 0x3F800000: sign 0, exponent 127, mantissa 0.
  CHECK(std::bit_cast<std::uint32_t>(1.0f) == 0x3F800000u);
  CHECK(flip_bit_fp32(1.0f, 31) == -1.0f);                                        // sign bit
  CHECK(flip_bit_fp32(1.0f, 30) == std::numeric_limits<float>::infinity());       // exponent MSB: 0x7F800000
  CHECK(flip_bit_fp32(1.0f, 23) == 0.5f);                                         // exponent LSB: 0x3F000000
  CHECK(flip_bit_fp32(1.0f, 22) == 1.5f);                                         // mantissa MSB: 0x3FC00000
  CHECK(flip_bit_fp32(1.0f, 0) == 1.0f + std::ldexp(1.0f, -23));                  // mantissa LSB: 0x3F800001
  CHECK(std::bit_cast<std::uint32_t>(flip_bit_fp32(1.0f, 0)) == 0x3F800001u);
  CHECK(flip_bit_fp32(-2.5f, 31) == 2.5f);                                        // 0xC0200000 -> 0x40200000
  CHECK(flip_bit_fp32(0.0f, 30) == 2.0f);                                         // 0x00000000 -> 0x40000000
  CHECK(flip_bit_fp32(flip_bit_fp32(0.7f, 17), 17) == 0.7f);                      // an involution
  CHECK_THROWS_AS(flip_bit_fp32(1.0f, 32), Error);
}

TEST_CASE("fault: 8-bit fixed-point flips are bit-exact (sign bit, MSB, LSB, saturation, rounding)") {
  const FixedPoint q8{8, 127.0};  // step 1: codes equal values
  CHECK(q8.step() == 1.0);
  // 5 = 0000'0101
  CHECK(flip_bit_fixed(5.0f, q8, 0) == 4.0f);     // LSB -> 0000'0100
  CHECK(flip_bit_fixed(5.0f, q8, 6) == 69.0f);    // magnitude MSB -> 0100'0101
  CHECK(flip_bit_fixed(5.0f, q8, 7) == -123.0f);  // sign bit -> 1000'0101 = -128 + 5
  // -3 = 1111'1101
  CHECK(flip_bit_fixed(-3.0f, q8, 7) == 125.0f);  // -> 0111'1101
  CHECK(flip_bit_fixed(-3.0f, q8, 0) == -4.0f);   // -> 1111'1100
  CHECK(flip_bit_fixed(-3.0f, q8, 1) == -1.0f);   // -> 1111'1111
  // saturation to 127 = 0111'1111, then the sign flips: 1111'1111 = -1
  CHECK(q8.quantize(300.0f) == 127);
  CHECK(q8.quantize(-300.0f) == -128);
  CHECK(flip_bit_fixed(300.0f, q8, 7) == -1.0f);
  // rounding half away from zero
  CHECK(q8.quantize(2.5f) == 3);
  CHECK(q8.quantize(-2.5f) == -3);
  CHECK(q8.quantize(2.49f) == 2);
  // a non-unit step: full scale 2.54 -> step 0.02; 1.0 -> code 50 = 0011'0010
  const FixedPoint q{8, 2.54};
  CHECK(q.quantize(1.0f) == 50);
  CHECK(q.flip(50, 5) == 18);    // 0001'0010
  CHECK(q.flip(50, 1) == 48);    // 0011'0000
  CHECK(q.flip(50, 7) == -78);   // 1011'0010
  CHECK(flip_bit_fixed(1.0f, q, 5) == doctest::Approx(0.36).epsilon(1e-6));
  CHECK(flip_bit_fixed(1.0f, q, 7) == doctest::Approx(-1.56).epsilon(1e-6));
  // 4 bits: 7 = 0111 -> sign flip 1111 = -1
  const FixedPoint q4{4, 7.0};
  CHECK(flip_bit_fixed(7.0f, q4, 3) == -1.0f);
  CHECK_THROWS_AS(q8.flip(5, 8), Error);
}

TEST_CASE("fault: error models draw uniform bits, uniform values and Gaussian noise") {
  // Bit choice: flipping code 0 at bit b gives 2^b (b < 7) or -128; each of the 8 bits has p = 1/8.
  LayerErrorSpec spec;
  spec.fixed = {8, 127.0};
  spec.lo = -2.0f;
  spec.hi = 6.0f;
  spec.sigma = 0.5;
  const int n = 8000;
  int count[8] = {0};
  Stream s(11, "fault.test");
  for (int i = 0; i < n; ++i) {
    const float v = faulty_value(ErrorModel::bitflip_fixed, 0.0f, spec, s);
    const int b = v < 0 ? 7 : int(std::lround(std::log2(double(v))));
    REQUIRE(v == (b == 7 ? -128.0f : std::ldexp(1.0f, b)));
    ++count[b];
  }
  // binomial(n, 1/8): sd = sqrt(n p (1-p)) = 29.6; 5 sd
  for (int b = 0; b < 8; ++b) CHECK(std::abs(count[b] - n / 8) < 5 * std::sqrt(n * 0.125 * 0.875));
  // Random values: inside [lo, hi], mean (lo + hi) / 2 within 5 standard errors (sd = 8 / sqrt(12)).
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const float v = faulty_value(ErrorModel::random_value, 1.0f, spec, s);
    REQUIRE(v >= spec.lo);
    REQUIRE(v <= spec.hi);
    sum += v;
  }
  CHECK(std::abs(sum / n - 2.0) < 5 * (8.0 / std::sqrt(12.0)) / std::sqrt(double(n)));
  // Analog: clean + sigma N(0,1): mean within 5 SE, sd within 5 SE of the sd (sigma / sqrt(2n)).
  double s1 = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    const double d = double(faulty_value(ErrorModel::analog, 3.0f, spec, s)) - 3.0;
    s1 += d;
    s2 += d * d;
  }
  const double mean = s1 / n, sd = std::sqrt(s2 / n - mean * mean);
  CHECK(std::abs(mean) < 5 * 0.5 / std::sqrt(double(n)));
  CHECK(std::abs(sd - 0.5) < 5 * 0.5 / std::sqrt(2.0 * n));
  // Same stream key, same draws.
  Stream a(3, "fault.inject", {1, 2, 3}), b(3, "fault.inject", {1, 2, 3});
  CHECK(faulty_value(ErrorModel::bitflip_fp32, 0.3f, spec, a) == faulty_value(ErrorModel::bitflip_fp32, 0.3f, spec, b));
  // Error scales (first-order heuristics): bitflip_fixed step (2^B - 1) / B, random (hi - lo) / 3.
  CHECK(error_scale(ErrorModel::bitflip_fixed, spec) == doctest::Approx(255.0 / 8.0));
  CHECK(error_scale(ErrorModel::random_value, spec) == doctest::Approx(8.0 / 3.0));
  CHECK(parse_error_model("analog") == ErrorModel::analog);
  CHECK_THROWS_WITH_AS(parse_error_model("bitflip"), doctest::Contains("unknown error model 'bitflip'"), Error);
}

TEST_CASE("fault: an injection hook equals applying the injection to cached activations and running the suffix") {
  Network n(Shape{1, 6, 6});
  n.add(make_layer({"conv2d", {{"in_c", 1}, {"in_h", 6}, {"in_w", 6}, {"out_c", 3}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  n.add(make_layer({"relu", {{"c", 3}, {"h", 6}, {"w", 6}}}));
  n.add(make_layer({"flatten", {{"c", 3}, {"h", 6}, {"w", 6}}}));
  n.add(make_layer({"dense", {{"in", 108}, {"out", 4}}}));
  Stream init(5, "init");
  n.init(init);
  Matrix x(3, 36);
  Stream sx(1, "x");
  sx.fill_normal(x);
  const Matrix clean = n.forward(x);
  // Fmap 2 at output position 7 of sample 1: element (7 * 3 + 2) of the conv output.
  const std::vector<Injection> inj{{1, 7 * 3 + 2, 25.0f}};
  const int id = n.add_hook(0, injection_hook(inj));
  const Matrix hooked = n.forward(x);
  n.remove_hook(id);
  Matrix act = n.forward_range(x, 0, 1);
  apply_injections(act, inj);
  const Matrix suffix = n.forward_range(act, 1, n.size());
  CHECK(suffix == hooked);
  CHECK(hooked.row(0) == clean.row(0));  // other samples untouched
  CHECK(hooked.row(2) == clean.row(2));
  CHECK(hooked.row(1) != clean.row(1));
  CHECK_THROWS_AS(apply_injections(act, std::vector<Injection>{{3, 0, 1.0f}}), Error);
}
