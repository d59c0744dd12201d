#include "nets/fold.hpp"

#include <cmath>

#include "core/error.hpp"
#include "nets/batchnorm.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"

namespace aimc::nets {

namespace {

/// Merges the eval-mode map of `bn` into the weight and bias of `layer` (conv2d or dense).
void fold_into(Layer& layer, const BatchNorm& bn) {
  Parameter& w = *layer.params().at(0);
  Parameter& b = *layer.params().at(1);
  require(w.name == "weight" && b.name == "bias", "fold_batchnorm: unexpected parameter slots");
  for (Eigen::Index o = 0; o < w.value.cols(); ++o) {
    const double s = double(bn.gamma()(0, o)) / std::sqrt(double(bn.running_var()(0, o)) + bn.eps());
    for (Eigen::Index r = 0; r < w.value.rows(); ++r) w.value(r, o) = float(double(w.value(r, o)) * s);
    b.value(0, o) = float((double(b.value(0, o)) - double(bn.running_mean()(0, o))) * s + double(bn.beta()(0, o)));
  }
}

}  // namespace

Network fold_batchnorm(const Network& net) {
  const std::size_t n = net.size();
  std::vector<int> readers(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (int j : net.inputs(i))
      if (j != Network::kInput) ++readers[std::size_t(j)];
  // bn_of[j]: the batchnorm node folded into layer node j; layer_of[i]: the layer batchnorm node i folds into.
  std::vector<int> bn_of(n, -1), layer_of(n, -1);
  for (std::size_t i = 0; i < n; ++i) {
    const auto* bn = dynamic_cast<const BatchNorm*>(&net.layer(i));
    if (!bn || net.inputs(i).size() != 1 || net.inputs(i)[0] == Network::kInput) continue;
    const auto j = std::size_t(net.inputs(i)[0]);
    const Layer& l = net.layer(j);
    if (!dynamic_cast<const Conv2d*>(&l) && !dynamic_cast<const Dense*>(&l)) continue;
    if (readers[j] != 1 || bn->input_shape().c != l.output_shape().c) continue;
    bn_of[j] = int(i);
    layer_of[i] = int(j);
  }
  auto reader_name = [&](int k) {
    if (k == Network::kInput) return std::string("input");
    const auto u = std::size_t(k);
    return layer_of[u] >= 0 ? net.name(std::size_t(layer_of[u])) : net.name(u);
  };
  const Network copy = net.clone();
  Network out(net.input_shape());
  for (std::size_t i = 0; i < n; ++i) {
    if (bn_of[i] >= 0) continue;  // emitted at its batchnorm's position
    const std::size_t src = layer_of[i] >= 0 ? std::size_t(layer_of[i]) : i;
    std::unique_ptr<Layer> layer;
    if (layer_of[i] >= 0) {
      layer = clone_layer(net.layer(src));
      fold_into(*layer, dynamic_cast<const BatchNorm&>(net.layer(i)));
    } else {
      layer = make_layer(copy.layer(i).spec());
      for (std::size_t s = 0; s < copy.layer(i).params().size(); ++s) layer->bind(s, copy.layer(i).params()[s]);
    }
    std::vector<std::string> inputs;
    for (int k : net.inputs(src)) inputs.push_back(reader_name(k));
    out.add(net.name(src), std::move(layer), inputs);
  }
  return out;
}

}  // namespace aimc::nets
