#pragma once
/// A small trained model file for the campaign tests that evaluate one (tests/experiments).
#include <string>

#include "core/random.hpp"
#include "data/fashion_mnist.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

namespace aimc::test {

/// The MLP (784-256-128-10) initialized from Stream(5, "init") and trained briefly (Adam 1e-3, cosine,
/// batch 50) on the first `images` Fashion-MNIST training images for `epochs`; written to `path`.
inline std::string small_mlp_model(const std::string& path, int epochs = 2, long long images = 1000) {
  nets::Network net = nets::make_mlp();
  Stream init(5, "init");
  net.init(init);
  const auto train = data::load_fashion_mnist("train", "").head(images);
  nets::TrainParams p;
  p.epochs = epochs;
  p.batch_size = 50;
  nets::train(net, train, nullptr, p, {}, false);
  nets::ModelMeta m{"mlp", "file", epochs, 5, 0.0, 0.0, "", {}};
  m.recipe = {"adam", 1e-3, "cosine", 50, 0.0, "none", 1};
  nets::save_model(path, net, m);
  return path;
}

}  // namespace aimc::test
