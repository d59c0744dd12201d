#pragma once
/// Layers with several inputs: Add (residual connections) and Concat (channel concatenation).
#include <vector>

#include "nets/layer.hpp"

namespace aimc::nets {

/// y = x_0 + x_1 + ... + x_{n-1}, all of one shape. dL/dx_k = dL/dy for every k.
/// Spec: kind "add", args c, h, w, n (n >= 2 inputs).
class Add final : public Layer {
 public:
  Add(Shape shape, int n);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  int arity() const override { return n_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  void forward_multi(std::span<const Matrix* const> xs, Matrix& y, Mode mode) override;
  void backward_multi(const Matrix& dy, std::span<Matrix* const> dxs) override;

 private:
  Shape shape_;
  int n_;
};

/// Concatenation along channels of inputs with the same height and width (HWC: at every position the
/// channels of input 0, then those of input 1, ...). Spec: kind "concat", args h, w, channels (list).
class Concat final : public Layer {
 public:
  Concat(int h, int w, std::vector<int> channels);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return input_shape(0); }
  Shape input_shape(int k) const override { return {channels_.at(std::size_t(k)), h_, w_}; }
  Shape output_shape() const override { return {total_, h_, w_}; }
  int arity() const override { return int(channels_.size()); }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  void forward_multi(std::span<const Matrix* const> xs, Matrix& y, Mode mode) override;
  void backward_multi(const Matrix& dy, std::span<Matrix* const> dxs) override;

 private:
  int h_, w_;
  std::vector<int> channels_;
  int total_ = 0;
};

}  // namespace aimc::nets
