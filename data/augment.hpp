#pragma once
/// Training-time image augmentation: random translation and horizontal flip, drawn per sample and epoch
/// from keyed streams so that a training run is the same for any thread count and machine.
#include <cstdint>
#include <span>
#include <string>

#include "core/tensor.hpp"

namespace aimc::data {

struct AugmentParams {
  std::string kind = "none";  ///< "none" or "shift-flip"
  int shift = 1;              ///< largest translation in pixels, each axis ("shift-flip")
};

/// Validates `p` for samples of shape `s`; errors name `where` and the parameter.
void validate_augment(const AugmentParams& p, Shape s, const std::string& where);

/// Augments the rows of `x` in place (one sample of shape `s`, HWC order, per row). Row i is sample
/// `ids[i]` of the data set; its draws come from Stream(seed, "augment", {epoch, ids[i]}): a shift
/// (dy, dx), each uniform in [-shift, shift], moves the image by dy rows and dx columns with zero fill
/// outside (the padded random crop of He et al. 2016, Sec. 4.2, without the fixed pad), then a flip of
/// the columns with probability 1/2. "none" leaves x unchanged.
void augment(Matrix& x, Shape s, std::span<const std::int64_t> ids, const AugmentParams& p, std::uint64_t seed,
             int epoch);

}  // namespace aimc::data
