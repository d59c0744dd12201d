#pragma once
/// Incremental propagation of a single-element change through a network (issue 21): a fault sets one
/// element of one node's output to another value; every later node's output is computed from the
/// clean outputs of the same sample plus the changes, touching only what the change reaches.
///
/// Per node kind (the input changes are (element, new value) pairs; d = new - clean, in double):
///   conv2d   each changed input (h, w, c) adds d W[(i kw + j) C_in + c, o] to the pre-activations of
///            the outputs (oh, ow, o) whose window holds it (oh sh = h + pad_top - i dh, likewise w;
///            o over c's group): kh kw C_out / groups multiply-adds per change;
///   dense    the outputs change by sum_i d_i W[i, :] (a rank-k update, k changed inputs);
///   relu, clip, batchnorm (eval), normalize: the same elements, recomputed from clean + d;
///   maxpool2d the windows holding a changed input are re-maximized over their inputs;
///   avgpool2d each window holding a changed input moves by d times its 1 / divisor;
///   globalavgpool the channel's mean moves by d / (h w); flatten: the same elements;
///   add      the union of the inputs' changes, each output the sum of its inputs' new values;
///   concat   the inputs' changes at their channel offsets.
/// Anything else (other kinds, or a Dense/Conv2d with an analog product installed) runs densely: the
/// node's layer forward on the sample's full inputs (clean with the changes applied), and its output
/// is compared with the clean one to get the changed elements. A conv2d node also runs densely when its
/// sparse cost (changed inputs x multiply-adds per change) exceeds kDenseSwitch times its dense cost
/// (macs() per sample): the im2col GEMM does a multiply-add at about the speed of the sparse scatter,
/// so past that point the dense product is cheaper. A dense node never switches: for one sample both
/// are a matrix-vector product, and the rank-k update does at most the same multiply-adds without the
/// GEMM call's packing.
/// A densely computed output in which more than kFullRow of the elements changed is kept as a full row
/// rather than an element list; the nodes it reaches then run densely as well (for such supports the
/// element lists cost more than the vectorized layer).
///
/// Rounding: an output updated by a delta differs from the recomputed sum in the last bits (float
/// sums are not associative), so decisions taken from the two can differ where the top-2 logit margin
/// is of the order of that rounding; tests/nets/test_delta.cpp bounds it and the campaign counts them.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "nets/network.hpp"

namespace aimc::nets {

/// Clean outputs of every node for a set of samples (rows of x), captured by hooks in one forward.
struct CleanActivations {
  CleanActivations() = default;
  CleanActivations(Network& net, const Matrix& x, Eigen::Index chunk = 200);
  std::vector<Matrix> out;  ///< per node: (samples, node output size)
  Matrix input;             ///< the samples themselves (nodes that read the network input)
  /// Bytes a CleanActivations of n samples of `net` would hold.
  static std::size_t bytes(const Network& net, Eigen::Index n);
};

/// Counters of the propagation (summed over calls).
struct DeltaStats {
  long long runs = 0;          ///< injections propagated
  long long dense_nodes = 0;   ///< node evaluations that ran densely (fallback or cost switch)
  long long sparse_nodes = 0;  ///< node evaluations that ran sparse
  long long unchanged = 0;     ///< injections whose change died out before the output (masked)
  long long near_ties = 0;     ///< decisions within near_tie_bound of a tie (counted by the caller)
  long long full_rows = 0;     ///< dense node evaluations whose output was kept as a full row
  DeltaStats& operator+=(const DeltaStats& o) {
    runs += o.runs;
    dense_nodes += o.dense_nodes;
    sparse_nodes += o.sparse_nodes;
    unchanged += o.unchanged;
    near_ties += o.near_ties;
    full_rows += o.full_rows;
    return *this;
  }
};

/// Rounding bound of the incremental logits against a full recomputation: 1e-3 (1 + max |z|). The two
/// differ by the reassociation of float sums, at most about (terms per sum) x 2^-24 of the summed
/// magnitudes per layer; tests/nets/test_delta.cpp measures about 1e-6 relative on random graphs, so
/// a top-2 margin above this bound cannot flip between the two paths (a 1000x margin).
double near_tie_bound(const float* z, Eigen::Index n);
/// True when the top-2 margin of z is within near_tie_bound (the decision is a near-tie).
bool near_tie(const float* z, Eigen::Index n);

/// Cost ratio past which a conv2d / dense node runs densely (see the file comment).
inline constexpr double kDenseSwitch = 0.5;
/// Share of changed elements past which a densely computed output is kept as a full row (see the file
/// comment).
inline constexpr double kFullRow = 0.5;

/// The suffix of one network from a node on, for one thread (it holds scratch and calls the layers'
/// forward in dense mode, so it must not be shared between threads; net must outlive it).
class IncrementalSuffix {
 public:
  IncrementalSuffix(Network& net, const CleanActivations& clean);
  /// The network output (logits) of sample s when element e of node `node`'s output is v, written to
  /// logits (the output size). Nodes before and beside the change keep their clean outputs.
  void run(std::size_t node, Eigen::Index sample, Eigen::Index element, float v, float* logits, DeltaStats& st);

 private:
  enum class Kind { conv2d, dense, relu, clip, batchnorm, normalize, maxpool2d, avgpool2d, globalavgpool, flatten,
                    add, concat, other };
  struct Change {
    std::vector<std::int32_t> idx;  // changed output elements, unique
    std::vector<float> val;         // their new values
    bool full = false;              // the whole output is in row instead (idx, val empty)
    std::vector<float> row;
  };
  void dense_node(std::size_t n, Eigen::Index s, DeltaStats& st);
  /// The node's sparse kernel; false when it gives up (inf/NaN changes): then dense_node runs.
  bool sparse_node(std::size_t n, Eigen::Index s);
  bool prefers_dense(std::size_t n) const;
  /// Records output element e of node n as value v (if it differs from the clean value).
  inline void emit(std::size_t n, Eigen::Index s, std::int32_t e, float v);
  const float* clean_row(std::size_t n, Eigen::Index s) const { return clean_->out[n].row(s).data(); }

  Network* net_;
  const CleanActivations* clean_;
  std::vector<Kind> kind_;
  std::vector<Change> ch_;
  std::vector<std::vector<double>> acc_;    // per node: delta accumulator (output size), zero between uses
  std::vector<std::vector<std::int32_t>> mark_;  // per node: position in ch_[n].idx + 1, 0 = unchanged
  std::vector<std::vector<std::uint8_t>> seen_;  // per node: scratch flags (conv2d: output positions; maxpool2d,
                                                 // add: output elements), all 0 between uses
  std::vector<std::int32_t> outs_;               // scratch list of output elements (maxpool2d, add)
  /// The node's scratch flags, sized on first use (positions for conv2d, elements otherwise).
  std::vector<std::uint8_t>& seen_mark(std::size_t n);
  std::vector<std::int32_t> touched_;       // accumulator entries (positions for conv2d) in use
  std::vector<Matrix> xs_;
  Matrix yout_;
  std::vector<std::size_t> used_;
};

}  // namespace aimc::nets
