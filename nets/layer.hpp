#pragma once
/// Layer contract of the network executor.
///
/// Activations are row-major (batch, features) matrices, images channel-last (see core/tensor.hpp).
/// A layer holds its parameters (value + gradient) through shared slots (see Parameter). forward() in Mode::train keeps what backward()
/// needs; backward() sets dL/dx and *adds* to parameter gradients, so several backward passes
/// (or regularizer terms) can accumulate before an optimizer step.
///
/// Open for later work without special cases: noise in the forward pass goes through Network hooks
/// or a MatmulLayer's product; regularizers read/write Parameter::grad; trainable blocks are ordinary
/// layers inserted into a Network; a re-parameterized layer (BasisN) is a MatmulLayer whose weight()
/// is computed from other Parameters.
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace aimc::nets {

enum class Mode { eval, train };

/// A trainable tensor and its gradient (same shape). Layers hold parameters through shared pointers:
/// a layer may reference a Parameter that another layer (or nobody) owns, e.g. one basis shared by
/// many layers (BasisN). The network's parameter store (Network::parameter_store) lists each tensor
/// once, so an optimizer steps it once and a model file stores it once.
struct Parameter {
  std::string name;        ///< "weight", "bias", ... (unique within its layer)
  Matrix value;
  Matrix grad;
  bool decay = true;       ///< weight decay applies (false for biases and normalization parameters)
  bool trainable = true;   ///< false: frozen (optimizers skip it; gradients are still accumulated)
};
using ParamPtr = std::shared_ptr<Parameter>;

/// One typed layer attribute: integer, float, text, list of integers, list of floats.
using AttrValue = std::variant<long long, double, std::string, std::vector<long long>, std::vector<double>>;

/// Architecture of one layer: its kind and typed attributes, enough to rebuild it (parameters are
/// stored separately).
struct LayerSpec {
  std::string kind;
  std::vector<std::pair<std::string, AttrValue>> args;
  /// Typed reads; each throws Error naming the kind and key when missing or of another type.
  long long get(const std::string& key) const;
  double get_float(const std::string& key) const;  ///< an integer attribute is accepted as a float
  const std::string& get_string(const std::string& key) const;
  std::vector<long long> get_ints(const std::string& key) const;
  std::vector<double> get_floats(const std::string& key) const;  ///< a list of integers is accepted as floats
  bool has(const std::string& key) const;
  /// "kind a=1 b=0.5 pads=[1,1,0,0]" (summaries, error messages).
  std::string str() const;
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
  /// This layer's parameter slots (fixed order per kind). Several layers may hold the same Parameter.
  const std::vector<ParamPtr>& params() const { return params_; }
  /// Raw pointers to the slots (training code, optimizers).
  std::vector<Parameter*> parameters();
  /// Makes slot `slot` reference `p` (same shape as the slot's tensor), so the layer computes with a
  /// tensor it does not own. Throws Error on a shape mismatch.
  void bind(std::size_t slot, ParamPtr p);

  /// Number of inputs (1 for all but Add, Concat, ...); input_shape(k) is the shape of input k.
  virtual int arity() const { return 1; }
  virtual Shape input_shape(int /*k*/) const { return input_shape(); }
  /// Several-input forms of forward/backward; the defaults forward to the one-input ones. For an
  /// n-input layer backward_multi *sets* every dxs[k].
  virtual void forward_multi(std::span<const Matrix* const> xs, Matrix& y, Mode mode) { forward(*xs[0], y, mode); }
  virtual void backward_multi(const Matrix& dy, std::span<Matrix* const> dxs) { backward(dy, *dxs[0]); }
  /// Draws initial parameter values (He/Kaiming uniform for weights, zero biases).
  virtual void init(Stream&) {}
  /// Multiply-accumulate operations per sample in forward (for overhead accounting).
  virtual long long macs() const { return 0; }

 protected:
  /// Adds a parameter slot of the given shape (values zero) and returns it.
  Parameter& add_param(std::string name, Eigen::Index rows, Eigen::Index cols, bool decay);
  std::vector<ParamPtr> params_;
};

/// A layer that is an affine map through one weight matrix (Dense, Conv2d):
///   y = raise(lower(x) * weight() + bias)
/// lower() turns a batch into crossbar input rows, (B * positions(), K): the batch itself for Dense,
/// im2col patches for Conv2d. weight() is the crossbar view, (K rows = inputs, N cols = outputs).
/// raise() turns (B * positions(), N) products into the layer output (B, positions() * N) and adds the
/// bias. The analog mapping replaces only the product in the middle, the same way for every such layer.
class MatmulLayer;

/// The product in the middle of a MatmulLayer's forward, when it is not the digital lower(x) W. An
/// analog chip instance installs one per analog layer (nets/analog.hpp); the network engine calls it
/// instead of the layer's own forward, so digital, analog and (later) hardware-aware training passes
/// all run through Network::forward with the same hooks.
class Product {
 public:
  virtual ~Product() = default;
  /// y = raise(product(lower(x))) for a batch: the whole layer output, bias included.
  virtual void forward(MatmulLayer& layer, const Matrix& x, Matrix& y, Mode mode) = 0;
  /// dL/dx (set) and parameter gradients (added) from dL/dy of the last train-mode forward. A product
  /// that is only an inference model throws Error (the default); a hardware-aware training product
  /// passes the gradient straight through its non-idealities here.
  virtual void backward(MatmulLayer& layer, const Matrix& dy, Matrix& dx);
};

class MatmulLayer : public Layer {
 public:
  /// Installs (or, with nullptr, removes) the product that replaces lower(x) W in forward().
  void set_product(std::shared_ptr<Product> p) { product_ = std::move(p); }
  Product* product() const { return product_.get(); }

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

 private:
  std::shared_ptr<Product> product_;
};

/// Builds a layer from its spec (model files). Throws Error for an unknown kind or bad arguments.
std::unique_ptr<Layer> make_layer(const LayerSpec& spec);

/// One registered layer kind: its name, a one-line description and the factory make_layer() calls.
/// The table (layer.cpp, one entry per kind) is the only place that maps kind names to classes.
struct LayerKind {
  const char* name;
  const char* doc;
  std::unique_ptr<Layer> (*make)(const LayerSpec&);
};
std::span<const LayerKind> layer_kinds();

/// Softmax + cross-entropy on logits (B, classes) with integer labels. Returns the mean loss; if
/// dlogits is given, sets it to d(mean loss)/d(logits) = (softmax - onehot) / B.
double softmax_cross_entropy(const Matrix& logits, const VectorI& labels, Matrix* dlogits = nullptr);
/// Number of rows whose arg-max equals the label.
long long count_correct(const Matrix& logits, const VectorI& labels);

}  // namespace aimc::nets
