// BasisN (nets/basisn.hpp): the basis_product / basis_combine pair against the standard layers it
// replaces, the conversion, quantizers, gradients, the shared basis, model files and bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "core/random.hpp"
#include "nets/basisn.hpp"
#include "nets/network.hpp"
#include "tests/common/layer_helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using aimc::test::gamma_n;
using aimc::test::normal;

namespace {
/// conv3x3 (5 channels: not a multiple of the group, so the last segment is padded) -> relu -> flatten
/// -> dense (K = 6*6*4 = 144 inputs, not a multiple of L = 36) -> 3 outputs.
Network small_net() {
  Network n(Shape{5, 6, 6});
  n.add(make_layer({"conv2d", {{"in_c", 5}, {"in_h", 6}, {"in_w", 6}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  n.add(make_layer({"relu", {{"c", 4}, {"h", 6}, {"w", 6}}}));
  n.add(make_layer({"flatten", {{"c", 4}, {"h", 6}, {"w", 6}}}));
  n.add(make_layer({"dense", {{"in", 144}, {"out", 3}}}));
  Stream s(7, "test.basisn.init");
  n.init(s);
  for (std::size_t i = 0; i < n.size(); ++i)
    if (n.layer(i).params().size() == 2) n.layer(i).params()[1]->value.setConstant(0.1f);
  return n;
}
}  // namespace

TEST_CASE("basisn: a full basis (M = L) reproduces the standard network within float rounding") {
  const Network ref = small_net();
  BasisOptions o;
  o.length = 36;  // 3x3 taps x 4 channels; the dense layer is cut into 4 vectors of 36
  o.size = 36;
  std::vector<BasisLayerInfo> info;
  Network bn = to_basisn(ref, o, &info);
  REQUIRE(info.size() == 2);
  CHECK(info[0].segments == 2);  // ceil(5 / 4)
  CHECK(info[1].segments == 4);  // ceil(144 / 36)
  for (const auto& l : info) CHECK(l.fit_error < 1e-5);
  Stream s(3, "test.basisn.x");
  const Matrix x = normal(4, ref.input_shape().size(), s);
  Network a = ref.clone();
  const Matrix y0 = a.forward(x), y1 = bn.forward(x);
  REQUIRE(y1.rows() == y0.rows());
  REQUIRE(y1.cols() == y0.cols());
  // Loose bound: the pair re-associates sums of at most 144 products twice (segment products, combination)
  // and the orthonormal basis is itself rounded to float; 1e-4 of the output scale is far above it.
  const double scale = y0.cwiseAbs().maxCoeff() + 1.0;
  CHECK((y1 - y0).cwiseAbs().maxCoeff() < 1e-4 * scale);
  // basis (once) + per converted layer: the product's bias, the coefficients and the combine bias
  CHECK(bn.parameter_store().size() == 1 + 2 * 3);
}
