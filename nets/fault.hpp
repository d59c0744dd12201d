#pragma once
/// Error injection into feature maps (HarDNN, Mahmoud et al., arXiv:2002.09786): one element of
/// a layer's output is replaced by a faulty value, and the network runs on from there.
///
/// Error models (one element per inference):
///   - `bitflip_fp32`: one uniformly chosen bit of the IEEE-754 binary32 value flips (bit 0 = mantissa
///     LSB, 22 = mantissa MSB, 23..30 exponent, 31 sign);
///   - `bitflip_fixed`: the value is stored in signed B-bit two's complement fixed point with step
///     s = full_scale / (2^(B-1) - 1), full_scale the layer's observed max |y| (quantize: round half away
///     from zero, saturate to [-2^(B-1), 2^(B-1) - 1]); one uniformly chosen bit of the code flips, and
///     the code is dequantized. The clean value is replaced by the dequantized faulty code, so the
///     injected error includes the quantization error of that one element;
///   - `random_value`: a value drawn uniformly from the layer's observed range [lo, hi];
///   - `analog`: y + sigma N(0, 1), sigma the output-referred noise of the layer on the configured analog
///     hardware (the campaign measures it, experiments/hardnn.hpp).
/// Where an injection lands (sample, output position of the fmap) is the campaign's choice; the faulty
/// value of one element is `faulty_value()`, and `apply_injections()` / `injection_hook()` put it into a batch,
/// either directly into cached clean activations or through a Network forward hook.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "core/tensor.hpp"
#include "nets/network.hpp"

namespace aimc::nets::fault {

/// Flips bit `bit` (0..31) of the binary32 representation of v.
float flip_bit_fp32(float v, int bit);

/// Signed B-bit two's complement fixed point scaled to a full scale.
struct FixedPoint {
  int bits = 8;             ///< B, 2..32
  double full_scale = 1.0;  ///< the largest magnitude represented exactly: (2^(B-1) - 1) steps
  double step() const;
  /// round(v / step) (half away from zero), saturated to [-2^(B-1), 2^(B-1) - 1].
  std::int64_t quantize(float v) const;
  float dequantize(std::int64_t code) const;
  /// The code with bit `bit` (0 = LSB, B-1 = sign) of its B-bit two's complement pattern flipped.
  std::int64_t flip(std::int64_t code, int bit) const;
};

/// quantize, flip bit `bit`, dequantize.
float flip_bit_fixed(float v, const FixedPoint& fp, int bit);

enum class ErrorModel { bitflip_fp32, bitflip_fixed, random_value, analog };
/// "bitflip_fp32" | "bitflip_fixed" | "random_value" | "analog"; Error otherwise.
ErrorModel parse_error_model(const std::string& name);
std::string to_string(ErrorModel m);

/// What the error models need to know about one layer's outputs.
struct LayerErrorSpec {
  float lo = 0, hi = 0;    ///< observed range of the clean outputs (random_value)
  FixedPoint fixed;        ///< full_scale = observed max |y| (bitflip_fixed)
  double sigma = 0;        ///< output-referred analog noise, same units as y (analog)
};

/// The faulty value of an element whose clean value is `clean`; draws the bit (uniform over 32 or B)
/// or the value from `s`.
float faulty_value(ErrorModel m, float clean, const LayerErrorSpec& spec, Stream& s);

/// Mean |faulty - clean| scale of an error of model m in a layer (for first-order estimates):
/// bitflip_fixed: step (2^B - 1) / B (mean of 2^b steps over b); random_value: (hi - lo) / 3 (mean
/// distance of two uniform points); analog: sigma sqrt(2 / pi); bitflip_fp32: max(|lo|, |hi|) (an
/// exponent flip has no finite mean, so the layer's range stands in).
double error_scale(ErrorModel m, const LayerErrorSpec& spec);

/// One faulty element of a batch: y(row, element) = value.
struct Injection {
  Eigen::Index row = 0;
  Eigen::Index element = 0;
  float value = 0;
};

/// Writes the injections into y (a layer's output batch).
void apply_injections(Matrix& y, std::span<const Injection> injections);
/// A Network forward hook applying `injections` to the output of the layer it is attached to.
Network::Hook injection_hook(std::vector<Injection> injections);

}  // namespace aimc::nets::fault
