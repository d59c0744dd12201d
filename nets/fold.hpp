#pragma once
/// Folding batch normalization into the convolution or dense layer before it.
#include "nets/network.hpp"

namespace aimc::nets {

/// A copy of `net` in which every batchnorm node whose single input is a conv2d or dense node read by
/// no other node is merged into that layer (its channels are the layer's output channels) and removed;
/// its readers read the layer. With s_o = gamma_o / sqrt(running_var_o + eps) per output channel o:
///   W'[:, o] = W[:, o] s_o,   b'_o = (b_o - running_mean_o) s_o + beta_o
/// (computed in double, rounded once to float), so the folded layer computes in one affine map what
/// the layer followed by the eval-mode batchnorm computes. This is what an inference flow does before
/// deployment, and before analog mapping: the folded weights are the ones programmed into the arrays,
/// and no batchnorm is left to run digitally between them (Jacob et al., CVPR 2018, Sec. 3.2; the
/// same folding is in PyTorch's torch.ao fuse_modules and ONNX Runtime's graph optimizations).
///
/// The result equals `net` in Mode::eval up to float rounding; in Mode::train it no longer normalizes
/// with batch statistics, so it is for inference. Other batchnorm nodes (after the network input, a
/// pooling or an add, or after a layer that has other readers) stay. Node names are kept; a folded
/// layer takes its batchnorm's place in the node order (so the last node, the output, stays last) and
/// gets tensors of its own; every other node's tensors are copied with sharing between layers kept
/// (Network::clone). Hooks are not copied.
Network fold_batchnorm(const Network& net);

}  // namespace aimc::nets
