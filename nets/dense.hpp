#pragma once
/// Fully connected layer y = x * W + b.
#include "nets/layer.hpp"

namespace aimc::nets {

/// Dense(in, out): y = x * weight + bias with weight (in x out) stored in the crossbar view
/// (rows = inputs, cols = outputs) and bias (1 x out). Spec: kind "dense", args in, out.
/// forward()/backward() keep state and must not be called concurrently on one object; lower() and
/// raise() are const and thread-safe.
class Dense final : public MatmulLayer {
 public:
  Dense(int in, int out);

  /// Factory of the layer registry (layer.cpp).
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return {in_, 1, 1}; }
  Shape output_shape() const override { return {out_, 1, 1}; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  /// He/Kaiming uniform weights, U(-sqrt(6/in), sqrt(6/in)) (He et al., ICCV 2015, Eq. 10 with a
  /// uniform law of the same variance 2/in), zero bias. Gradients are zeroed.
  void init(Stream& stream) override;
  long long macs() const override { return (long long)in_ * out_; }

  const Matrix& weight() const override { return wp().value; }
  const Matrix& bias() const override { return bp().value; }
  int positions() const override { return 1; }
  const Matrix& lower(const Matrix& x, Matrix& scratch) const override;
  Eigen::Ref<const Matrix> lower_samples(const Matrix& x, Eigen::Index b0, Eigen::Index nb,
                                         Matrix& scratch) const override;
  void raise(const Matrix& products, Matrix& y) const override;

 private:
  int in_, out_;
  Parameter& wp() const { return *params_[0]; }
  Parameter& bp() const { return *params_[1]; }
  Matrix x_;  ///< input of the last train-mode forward
  bool have_x_ = false;
};

}  // namespace aimc::nets
