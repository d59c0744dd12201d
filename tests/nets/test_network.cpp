#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/optimizer.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {
std::string tmp(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

Network small_cnn() {
  Network n(Shape{1, 6, 6});
  n.add(make_layer({"conv2d", {{"in_c", 1}, {"in_h", 6}, {"in_w", 6}, {"out_c", 3}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  n.add(make_layer({"relu", {{"c", 3}, {"h", 6}, {"w", 6}}}));
  n.add(make_layer({"maxpool2d", {{"in_c", 3}, {"in_h", 6}, {"in_w", 6}, {"kernel", 2}, {"stride", 2}}}));
  n.add(make_layer({"flatten", {{"c", 3}, {"h", 3}, {"w", 3}}}));
  n.add(make_layer({"dense", {{"in", 27}, {"out", 4}}}));
  Stream s(5, "init");
  n.init(s);
  return n;
}
}  // namespace

TEST_CASE("network: shapes are checked when layers are added") {
  Network n(Shape{1, 4, 4});
  CHECK_THROWS_WITH_AS(n.add(make_layer({"dense", {{"in", 10}, {"out", 2}}})),
                       doctest::Contains("expects input shape (10,1,1) but gets (1,4,4)"), Error);
}

TEST_CASE("network: forward hooks see and can modify layer outputs") {
  Network n = small_cnn();
  Matrix x(2, 36);
  Stream s(1, "x");
  s.fill_normal(x);
  Matrix clean = n.forward(x);
  int calls = 0;
  int id = n.add_hook(4, [&](std::size_t layer, Matrix& y) {
    CHECK(layer == 4);
    ++calls;
    y.setZero();
  });
  Matrix hooked = n.forward(x);
  CHECK(calls == 1);
  CHECK(hooked.isZero());
  n.remove_hook(id);
  CHECK(n.forward(x) == clean);
  // forward_range over a prefix and the rest equals the whole.
  Matrix mid = n.forward_range(x, 0, 2);
  CHECK(n.forward_range(mid, 2, n.size()) == clean);
}

TEST_CASE("network: clone is a deep, equal copy") {
  Network n = small_cnn();
  Network c = n.clone();
  Matrix x = Matrix::Ones(3, 36);
  CHECK(c.forward(x) == n.forward(x));
  c.parameters()[0]->value.setZero();
  CHECK(n.parameters()[0]->value.norm() > 0);
}

TEST_CASE("model file: save/load round trip is bit-exact") {
  Network n = small_cnn();
  auto path = tmp("aimc_model_roundtrip.h5");
  save_model(path, n, {"toy", "synthetic", 3, 7, 0.5, 1.25, ""});
  auto m = load_model(path);
  CHECK(m.meta.name == "toy");
  CHECK(m.meta.epochs == 3);
  CHECK(m.meta.seed == 7);
  CHECK(m.meta.test_accuracy == 0.5);
  REQUIRE(m.net.size() == n.size());
  auto a = n.parameters(), b = m.net.parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i]->value == b[i]->value);
  Matrix x = Matrix::Random(4, 36);
  CHECK(m.net.forward(x) == n.forward(x));
  std::filesystem::remove(path);
}

TEST_CASE("model file: wrong version, wrong shape and missing files give clear errors") {
  Network n = small_cnn();
  auto path = tmp("aimc_model_bad.h5");
  save_model(path, n, {"toy", "synthetic", 1, 1, 0, 0, ""});
  {
    auto f = h5::open_rw(path);
    h5::set_attr(f, "format_version", 99);
  }
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("unsupported model format_version 99"), Error);
  save_model(path, n, {"toy", "synthetic", 1, 1, 0, 0, ""});
  {
    auto f = h5::open_rw(path);
    auto g = h5::open_group(f, "layers/0004", path);
    const auto ids = h5::read_ints(g, "params", path);  // the dense layer's weight tensor
    REQUIRE(ids.size() == 2);
    auto p = h5::open_group(f, "parameters", path);
    char name[8];
    std::snprintf(name, sizeof name, "%04d", int(ids[0]));
    h5::write(p, name, Matrix(Matrix::Zero(5, 4)));
  }
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("layer 4 (dense): parameter 'weight' has shape 5x4, expected 27x4"), Error);
  CHECK_THROWS_WITH_AS(load_model(path + ".nope"), doctest::Contains("model file not found"), Error);
  {
    auto f = h5::create(path);
    h5::set_attr(f, "format", "something-else");
  }
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("not an aimc model file"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("optimizers: SGD step matches the update rule / Adam minimizes a quadratic") {
  Parameter p{"w", Matrix::Constant(1, 2, 1.0f), Matrix::Constant(1, 2, 0.5f), true};
  OptimizerParams op;
  op.kind = "sgd";
  op.lr = 0.1;
  op.momentum = 0.9;
  op.weight_decay = 0.01;
  auto sgd = make_optimizer(op);
  sgd->step({&p});
  // v = 0.5 + 0.01 * 1 = 0.51; w = 1 - 0.1 * 0.51
  CHECK(p.value(0, 0) == doctest::Approx(1 - 0.1 * 0.51).epsilon(1e-6));
  sgd->step({&p});
  // v = 0.9 * 0.51 + 0.5 + 0.01 * 0.949 = 0.96849; w = 0.949 - 0.096849
  CHECK(p.value(0, 0) == doctest::Approx(0.949 - 0.1 * 0.96849).epsilon(1e-6));

  Parameter q{"w", Matrix::Constant(1, 3, 3.0f), Matrix::Zero(1, 3), true};
  OptimizerParams ap;
  ap.lr = 0.05;
  auto adam = make_optimizer(ap);
  for (int i = 0; i < 500; ++i) {
    q.grad = 2 * (q.value.array() - 1.0f).matrix();  // d/dw (w - 1)^2
    adam->step({&q});
  }
  CHECK((q.value.array() - 1.0f).abs().maxCoeff() < 0.01);
  op.momentum = 1.5;
  CHECK_THROWS_WITH_AS(make_optimizer(op), doctest::Contains("parameter 'optimizer.momentum' = 1.5"), Error);
}
