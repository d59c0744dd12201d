#pragma once
/// A network: a sequence of layers with forward hooks between them.
///
/// Hooks run after a layer's forward and may read or modify its output (error injection,
/// denoising blocks, noise-aware training). A trainable block is inserted as an ordinary layer.
#include <functional>
#include <memory>
#include <vector>

#include "core/numerics.hpp"
#include "nets/layer.hpp"

namespace aimc::nets {

/// Deep copy of one layer: the same spec and parameter values, zero gradients.
std::unique_ptr<Layer> clone_layer(const Layer& l);

class Network {
 public:
  /// Called with (layer index, that layer's output) after the layer's forward.
  using Hook = std::function<void(std::size_t layer, Matrix& y)>;

  /// Constructing a network pins Eigen's GEMM blocking (core/numerics.hpp), so its products give the same
  /// bits on every machine even in a program that changed Eigen's cache sizes.
  Network() { pin_numerics(); }
  explicit Network(Shape input) : input_(input) { pin_numerics(); }
  Network(Network&&) = default;
  Network& operator=(Network&&) = default;
  /// Deep copy of architecture and parameter values (hooks are not copied).
  Network clone() const;

  /// Appends a layer; its input shape must equal the current output shape.
  void add(std::unique_ptr<Layer> layer);
  /// Inserts a layer before position `index` (shapes must fit on both sides).
  void insert(std::size_t index, std::unique_ptr<Layer> layer);

  Shape input_shape() const { return input_; }
  Shape output_shape() const { return layers_.empty() ? input_ : layers_.back()->output_shape(); }
  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_.at(i); }
  const Layer& layer(std::size_t i) const { return *layers_.at(i); }

  int add_hook(std::size_t layer, Hook hook);
  void remove_hook(int id);
  void clear_hooks() { hooks_.clear(); }

  /// Output of the last layer (logits) for a batch.
  Matrix forward(const Matrix& x, Mode mode = Mode::eval) { return forward_range(x, 0, layers_.size(), mode); }
  /// Runs layers [begin, end) on x (x is the input of layer `begin`): digital prefixes are computed once
  /// and reused by the analog part.
  Matrix forward_range(const Matrix& x, std::size_t begin, std::size_t end, Mode mode = Mode::eval);
  /// Back-propagates dL/dlogits of the last train-mode forward through all layers (adds to gradients).
  void backward(const Matrix& dlogits);

  std::vector<Parameter*> parameters();
  void zero_grad();
  void init(Stream& stream);
  long long macs() const;
  std::string summary() const;

 private:
  Shape input_;
  std::vector<std::unique_ptr<Layer>> layers_;
  struct HookEntry {
    int id;
    std::size_t layer;
    Hook fn;
  };
  std::vector<HookEntry> hooks_;
  int next_hook_ = 0;
};

/// Reference architectures on (1, 28, 28) inputs, 10 classes.
/// MLP 784-256-128-10 with ReLU.
Network make_mlp();
/// CNN: conv3x3(1->32, pad 1) ReLU maxpool2 conv3x3(32->64, pad 1) ReLU maxpool2 flatten dense(3136->128) ReLU dense(128->10).
Network make_cnn();
/// Builds a reference architecture by name ("mlp" | "cnn"); Error otherwise.
Network make_reference(const std::string& name);

}  // namespace aimc::nets
