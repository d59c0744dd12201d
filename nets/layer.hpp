#pragma once
/// Layer contract of the network executor.
///
/// Activations are row-major (batch, features) matrices, images channel-last (see core/tensor.hpp).
/// A layer owns its parameters (value + gradient). forward() in Mode::train keeps what backward()
/// needs; backward() sets dL/dx and *adds* to parameter gradients, so several backward passes
/// (or regularizer terms) can accumulate before an optimizer step.
///
/// Open for later work without special cases: noise in the forward pass goes through Network hooks
/// or a MatmulLayer's product; regularizers read/write Parameter::grad; trainable blocks are ordinary
/// layers inserted into a Network; a re-parameterized layer (BasisN) is a MatmulLayer whose weight()
/// is computed from other Parameters.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace aimc::nets {

enum class Mode { eval, train };

/// A trainable tensor and its gradient (same shape).
struct Parameter {
  std::string name;   ///< "weight", "bias", ... (unique within its layer)
  Matrix value;
  Matrix grad;
  bool decay = true;  ///< weight decay applies (false for biases)
};

/// Architecture of one layer: its kind and integer hyper-parameters, enough to rebuild it.
struct LayerSpec {
  std::string kind;
  std::vector<std::pair<std::string, long long>> args;
  long long get(const std::string& key) const;  ///< throws Error naming the missing key
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual LayerSpec spec() const = 0;
  virtual Shape input_shape() const = 0;
  virtual Shape output_shape() const = 0;
  /// y = f(x) for a batch: x is (B, input_shape().size()), y becomes (B, output_shape().size()).
  virtual void forward(const Matrix& x, Matrix& y, Mode mode) = 0;
  /// From dL/dy of the last train-mode forward: sets dx, adds to parameter gradients.
  virtual void backward(const Matrix& dy, Matrix& dx) = 0;
  virtual std::vector<Parameter*> parameters() { return {}; }
  /// Draws initial parameter values (He/Kaiming uniform for weights, zero biases).
  virtual void init(Stream&) {}
  /// Multiply-accumulate operations per sample in forward (for overhead accounting).
  virtual long long macs() const { return 0; }
};

/// A layer that is an affine map through one weight matrix (Dense, Conv2d):
///   y = raise(lower(x) * weight() + bias)
/// lower() turns a batch into crossbar input rows, (B * positions(), K): the batch itself for Dense,
/// im2col patches for Conv2d. weight() is the crossbar view, (K rows = inputs, N cols = outputs).
/// raise() turns (B * positions(), N) products into the layer output (B, positions() * N) and adds the
/// bias. The analog mapping replaces only the product in the middle, the same way for every such layer.
class MatmulLayer : public Layer {
 public:
  virtual const Matrix& weight() const = 0;
  virtual const Matrix& bias() const = 0;  ///< (1, N)
  virtual int positions() const = 0;       ///< output positions per sample: 1 (Dense), H_out * W_out (Conv2d)
  /// Returns the crossbar input rows for x: x itself, or `scratch` filled with im2col patches.
  virtual const Matrix& lower(const Matrix& x, Matrix& scratch) const = 0;
  /// The crossbar input rows of samples [b0, b0 + nb) of x only: rows [b0 positions(), (b0 + nb)
  /// positions()) of lower(x). A view into x (Dense) or `scratch` (Conv2d).
  virtual Eigen::Ref<const Matrix> lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                                 Matrix& scratch) const = 0;
  /// y = products (reshaped to (B, positions * N)) + bias. The reshape keeps the row-major memory
  /// layout: row b of y is rows [b positions(), (b + 1) positions()) of the products, one after another.
  virtual void raise(const Matrix& products, Matrix& y) const = 0;
};

/// Builds a layer from its spec (model files). Throws Error for an unknown kind or bad arguments.
std::unique_ptr<Layer> make_layer(const LayerSpec& spec);

/// Softmax + cross-entropy on logits (B, classes) with integer labels. Returns the mean loss; if
/// dlogits is given, sets it to d(mean loss)/d(logits) = (softmax - onehot) / B.
double softmax_cross_entropy(const Matrix& logits, const VectorI& labels, Matrix* dlogits = nullptr);
/// Number of rows whose arg-max equals the label.
long long count_correct(const Matrix& logits, const VectorI& labels);

}  // namespace aimc::nets
