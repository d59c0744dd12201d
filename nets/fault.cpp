#include "nets/fault.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/error.hpp"

namespace aimc::nets::fault {

float flip_bit_fp32(float v, int bit) {
  require(bit >= 0 && bit < 32, "flip_bit_fp32: bit must be in 0..31, got " + std::to_string(bit));
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(v) ^ (std::uint32_t(1) << bit));
}

double FixedPoint::step() const { return full_scale / double((std::int64_t(1) << (bits - 1)) - 1); }

std::int64_t FixedPoint::quantize(float v) const {
  require(bits >= 2 && bits <= 32, "FixedPoint: bits must be in 2..32, got " + std::to_string(bits));
  const double lo = -double(std::int64_t(1) << (bits - 1)), hi = double((std::int64_t(1) << (bits - 1)) - 1);
  const double s = step();
  if (!(s > 0) || std::isnan(v)) return 0;
  const double q = std::round(double(v) / s);  // half away from zero
  return std::int64_t(std::clamp(q, lo, hi));
}

float FixedPoint::dequantize(std::int64_t code) const { return float(double(code) * step()); }

std::int64_t FixedPoint::flip(std::int64_t code, int bit) const {
  require(bit >= 0 && bit < bits, "FixedPoint::flip: bit must be in 0.." + std::to_string(bits - 1));
  const std::uint64_t mask = (std::uint64_t(1) << bits) - 1;
  const std::uint64_t u = (std::uint64_t(code) & mask) ^ (std::uint64_t(1) << bit);
  const bool negative = (u >> (bits - 1)) & 1;
  return negative ? std::int64_t(u) - (std::int64_t(1) << bits) : std::int64_t(u);
}

float flip_bit_fixed(float v, const FixedPoint& fp, int bit) { return fp.dequantize(fp.flip(fp.quantize(v), bit)); }

ErrorModel parse_error_model(const std::string& name) {
  if (name == "bitflip_fp32") return ErrorModel::bitflip_fp32;
  if (name == "bitflip_fixed") return ErrorModel::bitflip_fixed;
  if (name == "random_value") return ErrorModel::random_value;
  if (name == "analog") return ErrorModel::analog;
  throw Error("unknown error model '" + name + "' (bitflip_fp32 | bitflip_fixed | random_value | analog)");
}

std::string to_string(ErrorModel m) {
  switch (m) {
    case ErrorModel::bitflip_fp32: return "bitflip_fp32";
    case ErrorModel::bitflip_fixed: return "bitflip_fixed";
    case ErrorModel::random_value: return "random_value";
    case ErrorModel::analog: return "analog";
  }
  return "?";
}

float faulty_value(ErrorModel m, float clean, const LayerErrorSpec& spec, Stream& s) {
  switch (m) {
    case ErrorModel::bitflip_fp32: return flip_bit_fp32(clean, int(s.below(32)));
    case ErrorModel::bitflip_fixed: return flip_bit_fixed(clean, spec.fixed, int(s.below(std::uint64_t(spec.fixed.bits))));
    case ErrorModel::random_value: return float(double(spec.lo) + double(spec.hi - spec.lo) * s.uniform());
    case ErrorModel::analog: return float(double(clean) + spec.sigma * s.normal());
  }
  return clean;
}

double error_scale(ErrorModel m, const LayerErrorSpec& spec) {
  switch (m) {
    case ErrorModel::bitflip_fp32: return std::max(std::fabs(double(spec.lo)), std::fabs(double(spec.hi)));
    case ErrorModel::bitflip_fixed: {
      const int b = spec.fixed.bits;
      return spec.fixed.step() * (std::ldexp(1.0, b) - 1.0) / double(b);
    }
    case ErrorModel::random_value: return double(spec.hi - spec.lo) / 3.0;
    case ErrorModel::analog: return spec.sigma * std::sqrt(2.0 / M_PI);
  }
  return 0;
}

void apply_injections(Matrix& y, std::span<const Injection> injections) {
  for (const auto& i : injections) {
    require(i.row >= 0 && i.row < y.rows() && i.element >= 0 && i.element < y.cols(),
            "fault::apply_injections: injection outside the layer output");
    y(i.row, i.element) = i.value;
  }
}

Network::Hook injection_hook(std::vector<Injection> injections) {
  return [inj = std::move(injections)](std::size_t, Matrix& y) { apply_injections(y, inj); };
}

}  // namespace aimc::nets::fault
