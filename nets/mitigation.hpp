#pragma once
/// Machinery shared by the mitigations that edit a trained network (CorrectNet's error compensation,
/// denoising blocks): where a block may go, inserting blocks into a frozen backbone, and what they
/// cost. The training under sampled hardware variations is nets/hwa.hpp's; the placement search
/// nets/placement.hpp.
///
/// Sites. A block follows the feature map an analog (Dense/Conv2d) layer produces: the output of the
/// chain of single-reader followers of that layer that leave its error in place (batchnorm, relu,
/// clip, maxpool2d, avgpool2d), so that in the reference CNN a block after conv -> relu -> maxpool
/// works on the pooled map (4x fewer positions, hence MACs, than before the pooling). The last
/// Dense/Conv2d layer (the logits) has no site: a block there would be a digital classifier.
#include <cstdint>
#include <string>
#include <vector>

#include "nets/network.hpp"

namespace aimc::nets {

struct BlockSite {
  std::size_t layer = 0;  ///< node index of the Dense/Conv2d layer whose output the block corrects
  std::string after;      ///< node name the block is inserted after
  Shape shape;            ///< the feature map there (c, h, w)
};

/// Candidate sites of `net`, in node order (see the file comment).
std::vector<BlockSite> block_sites(const Network& net);

/// Inserts a compensation block (nets/compensation.hpp) at every site s with placement[s] > 0, of rank
/// ranks[placement[s] - 1] (0: full rank), named "comp_<after>", initialized (the identity) from
/// Stream(seed, "compensation.init", {s}). Returns the node indices of the inserted blocks.
/// Error if placement and sites differ in length or an entry is outside [0, ranks.size()].
std::vector<std::size_t> insert_compensation(Network& net, const std::vector<BlockSite>& sites,
                                             const std::vector<int>& placement, const std::vector<int>& ranks,
                                             std::uint64_t seed);

/// Marks every parameter of `net` frozen except those of the nodes `trainable` (a frozen backbone).
void freeze_except(Network& net, const std::vector<std::size_t>& trainable);

/// Number of parameter values (every distinct tensor once) and of multiply-accumulates per sample.
long long parameter_count(const Network& net);
long long mac_count(const Network& net);
/// Parameters and MACs per sample of a compensation block of rank `rank` at a site of shape `s`.
long long compensation_params(const Shape& s, int rank);
long long compensation_macs(const Shape& s, int rank);

}  // namespace aimc::nets
