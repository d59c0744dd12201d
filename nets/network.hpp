#pragma once
/// A network: a directed acyclic graph of named nodes, each a layer whose inputs are earlier nodes or
/// the network input. A chain (every node reading the one before) is the common special case and
/// what add(layer) builds.
///
/// Nodes are kept in a topological order (a node's inputs come before it), and forward() runs them in
/// that order; backward() runs them in reverse and accumulates gradients where an output feeds several
/// nodes (in reverse node order, so the sum is the same on every run). The output is the last node's.
///
/// Hooks run after a node's forward and may read or modify its output in place (error injection,
/// denoising blocks, noise-aware training); they are addressed by node name or index. A trainable
/// block is inserted as an ordinary node (insert / insert_after rewire the consumers).
///
/// Each node owns its output and gradient buffers, sized by the batch and reused across batches, so
/// the per-batch path allocates nothing once the batch shape repeats.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/numerics.hpp"
#include "nets/layer.hpp"

namespace aimc::nets {

/// Deep copy of one layer: the same spec and parameter values (new tensors), zero gradients, the
/// same trainable flags.
std::unique_ptr<Layer> clone_layer(const Layer& l);

class Network {
 public:
  /// Called with (node index, that node's output) after the node's forward.
  using Hook = std::function<void(std::size_t node, Matrix& y)>;
  /// Input index that stands for the network input in inputs(); the name "input" in add().
  static constexpr int kInput = -1;

  /// Constructing a network pins Eigen's GEMM blocking (core/numerics.hpp), so its products give the same
  /// bits on every machine even in a program that changed Eigen's cache sizes.
  Network() { pin_numerics(); }
  explicit Network(Shape input) : input_(input) { pin_numerics(); }
  Network(Network&&) = default;
  Network& operator=(Network&&) = default;
  /// Deep copy of architecture and parameter values (new tensors; tensors shared between layers stay
  /// shared in the copy). Hooks are not copied.
  Network clone() const;
  /// The same architecture whose layers reference this network's tensors (no copy of any value): an
  /// executor for another thread. The layers' internal state (caches, scratch) is its own.
  Network share() const;

  /// Appends a node that reads the last node (or the network input); named "<kind>_<index>".
  /// Its input shape must equal the current output shape.
  std::size_t add(std::unique_ptr<Layer> layer);
  /// Appends a node named `name` reading the nodes `inputs` ("input" = the network input); the layer's
  /// arity and input shapes must fit. Returns its index.
  std::size_t add(std::string name, std::unique_ptr<Layer> layer, const std::vector<std::string>& inputs);
  /// Inserts a node at position `index` that reads node index - 1 (or the network input for 0) and
  /// takes over every later reader of it (shapes must fit on both sides). Hook indices follow.
  void insert(std::size_t index, std::unique_ptr<Layer> layer);
  /// Inserts a node right after node `node`, reading it and taking over its readers; returns its index.
  std::size_t insert_after(const std::string& node, std::unique_ptr<Layer> layer, std::string name = "");

  Shape input_shape() const { return input_; }
  Shape output_shape() const { return nodes_.empty() ? input_ : nodes_.back().layer->output_shape(); }
  std::size_t size() const { return nodes_.size(); }
  Layer& layer(std::size_t i) { return *nodes_.at(i).layer; }
  const Layer& layer(std::size_t i) const { return *nodes_.at(i).layer; }
  const std::string& name(std::size_t i) const { return nodes_.at(i).name; }
  /// Indices of node i's inputs (kInput for the network input).
  const std::vector<int>& inputs(std::size_t i) const { return nodes_.at(i).inputs; }
  /// Index of the node named `name`; Error naming it if there is none.
  std::size_t find(const std::string& name) const;
  /// True if every node reads exactly the node before it (node 0 the network input).
  bool is_chain() const;
  /// True if the output of node `cut - 1` (the network input for cut 0) is the only value that nodes
  /// [cut, size()) read from before the cut, so forward_range(x, cut, size()) is defined.
  bool is_cut(std::size_t cut) const;

  int add_hook(std::size_t node, Hook hook);
  int add_hook(const std::string& node, Hook hook) { return add_hook(find(node), std::move(hook)); }
  void remove_hook(int id);
  void clear_hooks() { hooks_.clear(); }

  /// Output of the last node (logits) for a batch.
  Matrix forward(const Matrix& x, Mode mode = Mode::eval) { return forward_range(x, 0, nodes_.size(), mode); }
  /// Runs nodes [begin, end) with x the output of node begin - 1 (the network input for 0); Error
  /// unless is_cut(begin) holds for those nodes. Digital prefixes are computed once and reused this way.
  Matrix forward_range(const Matrix& x, std::size_t begin, std::size_t end, Mode mode = Mode::eval);
  /// Back-propagates dL/dlogits of the last train-mode forward through all nodes (adds to gradients).
  void backward(const Matrix& dlogits);
  /// dL/d(output of node i) from the last backward() (empty for nodes with no path to the output).
  const Matrix& output_grad(std::size_t i) const;

  /// Every distinct tensor of the network once, in order of first appearance (nodes in order, slots in
  /// order): the parameter store. Its index is the tensor's id in model files.
  std::vector<ParamPtr> parameter_store() const;
  /// The same as raw pointers (optimizers skip those with trainable == false).
  std::vector<Parameter*> parameters();
  void zero_grad();
  /// Draws initial values for every node from stream.child("layer", {index}).
  void init(Stream& stream);
  long long macs() const;
  std::string summary() const;

 private:
  struct Node {
    std::string name;
    std::unique_ptr<Layer> layer;
    std::vector<int> inputs;
    MatmulLayer* matmul = nullptr;  // the layer, if it is a MatmulLayer (its product may be replaced)
    Matrix out, grad;  // workspaces: output and dL/d(output) of the last pass
  };
  static Node make_node(std::string name, std::unique_ptr<Layer> layer, std::vector<int> inputs);
  Shape shape_of(int node) const { return node == kInput ? input_ : nodes_[std::size_t(node)].layer->output_shape(); }
  int index_of_input(const std::string& name) const;
  std::string auto_name(const Layer& l) const;
  void check_inputs(const Layer& l, const std::vector<int>& in, const std::string& name) const;
  std::size_t insert_node(std::size_t index, int source, std::unique_ptr<Layer> layer, std::string name);

  Shape input_;
  std::vector<Node> nodes_;
  struct HookEntry {
    int id;
    std::size_t node;
    Hook fn;
  };
  std::vector<HookEntry> hooks_;
  int next_hook_ = 0;
  Matrix discard_;  // dL/d(network input), computed by backward() and not used
  std::vector<char> reached_;  // per node: the last backward() set its gradient
};

/// Reference architectures on (1, 28, 28) inputs, 10 classes.
/// MLP 784-256-128-10 with ReLU.
Network make_mlp();
/// CNN: conv3x3(1->32, pad 1) ReLU maxpool2 conv3x3(32->64, pad 1) ReLU maxpool2 flatten dense(3136->128) ReLU dense(128->10).
Network make_cnn();
/// CIFAR-style ResNet (He et al., CVPR 2016, Sec. 4.2) of depth = 6n + 2 (8, 14, 20, 32, ...; Error
/// otherwise) on `input`: stem conv3x3(-> 16)-BN-ReLU, then 3 stages of n basic blocks with 16, 32 and 64
/// channels. A block is conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU; the first block of
/// stages 2 and 3 halves the extent with stride 2 in its first conv, and its shortcut is a 1x1
/// stride-2 conv + BN projection (option B); other shortcuts are identities. Then global average
/// pooling and a dense layer to `classes`. Convolutions keep their bias (redundant before BN, used by
/// fold_batchnorm). Node names: "stem.conv", "stem.bn", "stem.relu", "stage1.block0.conv1", ".bn1",
/// ".relu1", ".conv2", ".bn2", ".shortcut.conv", ".shortcut.bn", ".add", ".relu", ..., "pool", "fc".
Network make_resnet(int depth, Shape input, int classes);
/// make_resnet(depth, (1, 28, 28), 10): Fashion-MNIST.
Network make_resnet(int depth);
/// Builds a reference architecture by name ("mlp" | "cnn" | "resnet8" | "resnet20", or the spiking
/// "snn_cnn" | "snn_mlp" of nets/snn.hpp, on (1, 28, 28) inputs with 10 classes); Error otherwise.
Network make_reference(const std::string& name);

}  // namespace aimc::nets
