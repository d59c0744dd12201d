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
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "nets/network.hpp"
#include "nets/optimizer.hpp"
#include "nets/train.hpp"

namespace aimc::nets {

struct BlockSite {
  std::size_t layer = 0;  ///< node index of the Dense/Conv2d layer whose output the block corrects
  std::string after;      ///< node name the block is inserted after
  Shape shape;            ///< the feature map there (c, h, w)
  bool nonneg = false;    ///< the map is non-negative (a relu, or clip with min >= 0, in the chain)
};

/// Candidate sites of `net`, in node order (see the file comment).
std::vector<BlockSite> block_sites(const Network& net);

/// Inserts a compensation block (nets/compensation.hpp) at every site s with placement[s] > 0, of rank
/// ranks[placement[s] - 1] (0: full rank), with relu = sites[s].nonneg, named "comp_<after>", initialized (the identity) from
/// Stream(seed, "compensation.init", {s}). Returns the node indices of the inserted blocks.
/// Error if placement and sites differ in length or an entry is outside [0, ranks.size()].
std::vector<std::size_t> insert_compensation(Network& net, const std::vector<BlockSite>& sites,
                                             const std::vector<int>& placement, const std::vector<int>& ranks,
                                             std::uint64_t seed);

/// Inserts a denoising block (nets/denoise.hpp) of reduction r and form `form` at every site s with
/// placement[s] != 0, named "denoise_<after>", initialized (the identity) from Stream(seed,
/// "denoise.init", {s}). Returns the node indices of the inserted blocks. Error if placement and
/// sites differ in length; r is clamped to the site's channel count (at least one hidden channel).
std::vector<std::size_t> insert_denoise(Network& net, const std::vector<BlockSite>& sites,
                                        const std::vector<int>& placement, int r, const std::string& form,
                                        std::uint64_t seed);
/// Parameters and MACs per sample of a denoising block of reduction r and form `form` at a site of shape s.
long long denoise_params(const Shape& s, int r, const std::string& form);
long long denoise_macs(const Shape& s, int r, const std::string& form);

/// Marks every parameter of `net` frozen except those of the nodes `trainable` (a frozen backbone).
void freeze_except(Network& net, const std::vector<std::size_t>& trainable);

/// Extra loss terms of train_blocks (implicitly a bare MSE weight).
struct BlockLoss {
  BlockLoss(double mse_ = 0, double nll_ = 0) : mse(mse_), nll(nll_) {}
  double mse = 0;  ///< weight of the MSE of each block's output to the clean feature map
  double nll = 0;  ///< weight of each probabilistic denoising block's Denoise::nll (its noise model)
};

/// Trains the inserted blocks `blocks` of `net` (node indices) with everything else frozen, under the
/// step hooks `hooks` (e.g. hardware-aware training: the variation drawn every mini-batch). Loss per
/// batch: softmax cross-entropy of the logits plus
///   loss.mse * sum over blocks k of mean((y_k - t_k)^2)
///   + loss.nll * sum over probabilistic Denoise blocks k of nll_k(t_k),
/// y_k the output of block k and t_k the clean target: the output of node after[k] of `clean` (the
/// backbone without blocks, eval mode, no hooks) on the same images. The MSE term is a local target
/// per block: its gradient reaches block k's own parameters (not upstream blocks). Mini-batches and
/// schedule as nets::train (shuffle Stream(p.seed, "shuffle", {epoch}), cosine or constant learning
/// rate, p.optimizer; augmentation is not applied). nll_k is Denoise::nll with the clean target t_k,
/// whose gradient reaches block k's parameters and, through its input, upstream blocks. With
/// mse = nll = 0 it is nets::train's loss.
/// Frozen flags are restored (all trainable) on return.
std::vector<EpochLog> train_blocks(Network& net, const std::vector<std::size_t>& blocks, const Network& clean,
                                   const std::vector<std::string>& after, const data::Dataset& train,
                                   const TrainParams& p, const BlockLoss& loss, const std::vector<StepHook*>& hooks,
                                   bool progress, const std::function<void(const EpochLog&)>& on_epoch = {});

/// Number of parameter values (every distinct tensor once) and of multiply-accumulates per sample.
long long parameter_count(const Network& net);
long long mac_count(const Network& net);
/// Parameters and MACs per sample of a compensation block of rank `rank` at a site of shape `s`.
long long compensation_params(const Shape& s, int rank);
long long compensation_macs(const Shape& s, int rank);

}  // namespace aimc::nets
