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
  save_model(path, n, {"toy", "synthetic", 3, 7, 0.5, 1.25, "", {}});
  auto m = load_model(path);
  CHECK(m.meta.name == "toy");
  CHECK(m.meta.epochs == 3);
  CHECK(m.meta.seed == 7);
  CHECK(m.meta.test_accuracy == 0.5);
  CHECK(m.meta.recipe.optimizer.empty());  // no recipe given: none written, none read
  REQUIRE(m.net.size() == n.size());
  auto a = n.parameters(), b = m.net.parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i]->value == b[i]->value);
  Matrix x = Matrix::Random(4, 36);
  CHECK(m.net.forward(x) == n.forward(x));
  std::filesystem::remove(path);
}

TEST_CASE("model file: the training recipe round-trips") {
  Network n = small_cnn();
  auto path = tmp("aimc_model_recipe.h5");
  ModelMeta meta{"toy", "synthetic", 3, 7, 0.5, 1.25, "", {}};
  meta.recipe = {"adam", 2.5e-3, "cosine", 64, 0.02, "shift-flip", 2};
  save_model(path, n, meta);
  const auto r = load_model(path).meta.recipe;
  CHECK(r.optimizer == "adam");
  CHECK(r.lr == 2.5e-3);
  CHECK(r.schedule == "cosine");
  CHECK(r.batch_size == 64);
  CHECK(r.weight_decay == 0.02);
  CHECK(r.augment == "shift-flip");
  CHECK(r.augment_shift == 2);
  std::filesystem::remove(path);
}

TEST_CASE("model file: the training config, fine-tuning origin and HWA settings round-trip, files without them load") {
  Network n = small_cnn();
  auto path = tmp("aimc_model_hwa.h5");
  ModelMeta meta{"toy", "synthetic", 3, 7, 0.5, 1.25, "", {}};
  save_model(path, n, meta);
  {  // a file written without them (as before they existed): nothing recorded, nothing read
    const auto m = load_model(path).meta;
    CHECK(m.train_config.empty());
    CHECK(m.fine_tuned_from.empty());
    CHECK_FALSE(m.hwa.on());
    CHECK(m.hwa.input_ranges.empty());
    auto f = h5::open_read(path);
    CHECK_FALSE(h5::exists(f, "hwa"));
    for (const auto& a : h5::attr_names(f, path)) {
      CHECK(a.rfind("hwa", 0) != 0);
      CHECK(a != "train_config");
      CHECK(a != "fine_tuned_from");
    }
  }
  meta.train_config = "[model]\npath = \"m.h5\"\n[hwa]\nweight_noise = \"device\"\n";
  meta.fine_tuned_from = "m.h5";
  meta.fine_tuned_from_accuracy = 0.875;
  // in HwaParams table order, as the trainer writes them, plus a key this aimc does not know (last)
  meta.hwa.settings = {{"weight_noise", std::string("device")}, {"sigma_w", 0.0}, {"io", std::string("quantized")},
                       {"sigma_out", 0.02}, {"zz_future_key", 1.5}};
  meta.hwa.seed = 11;
  meta.hwa.layers = "conv2d_0, dense_0";
  meta.hwa.input_ranges = {{"conv2d_0", 1.25}, {"dense_0", 3.0}};
  save_model(path, n, meta);
  const auto m = load_model(path).meta;
  CHECK(m.train_config == meta.train_config);
  CHECK(m.fine_tuned_from == "m.h5");
  CHECK(m.fine_tuned_from_accuracy == 0.875);
  CHECK(m.hwa.settings == meta.hwa.settings);
  CHECK(m.hwa.seed == 11);
  CHECK(m.hwa.layers == "conv2d_0, dense_0");
  CHECK(m.hwa.input_ranges == meta.hwa.input_ranges);
  auto f = h5::open_read(path);
  CHECK(h5::attr_string(f, "hwa.weight_noise", path) == "device");  // one attribute per key, named as in [hwa]
  CHECK(h5::attr_double(f, "hwa.sigma_out", path) == 0.02);
  std::filesystem::remove(path);
}

TEST_CASE("model file: wrong version, wrong shape and missing files give clear errors") {
  Network n = small_cnn();
  auto path = tmp("aimc_model_bad.h5");
  save_model(path, n, {"toy", "synthetic", 1, 1, 0, 0, "", {}});
  {
    auto f = h5::open_rw(path);
    h5::set_attr(f, "format_version", 99);
  }
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("unsupported model format_version 99"), Error);
  save_model(path, n, {"toy", "synthetic", 1, 1, 0, 0, "", {}});
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

TEST_CASE("network: a tensor shared by two layers is one tensor for clones, optimizers and model files") {
  // Two dense layers 4 -> 4 computing with the same weight W (the second binds the first's slot), as
  // BasisN's shared basis will. Oracle: W stored once, stepped once per optimizer step with the sum of
  // both layers' gradients, and the sharing survives clone() and a model file round trip.
  Network n(Shape{4, 1, 1});
  n.add(make_layer({"dense", {{"in", 4}, {"out", 4}}}));
  n.add(make_layer({"relu", {{"c", 4}, {"h", 1}, {"w", 1}}}));
  n.add(make_layer({"dense", {{"in", 4}, {"out", 4}}}));
  Stream s(11, "init");
  n.init(s);
  n.layer(2).bind(0, n.layer(0).params()[0]);
  REQUIRE(n.parameter_store().size() == 3);  // W, b0, b2
  CHECK(n.layer(2).params()[0].get() == n.layer(0).params()[0].get());

  Matrix x(3, 4);
  Stream xs(2, "x");
  xs.fill_normal(x, 0.f, 1.f);
  n.zero_grad();
  const Matrix y = n.forward(x, Mode::train);
  n.backward(Matrix::Ones(y.rows(), y.cols()));
  // dL/dW summed over both uses: layer 0 (input x) and layer 2 (input relu(x W + b0)).
  const Matrix& W = n.layer(0).params()[0]->value;
  const Matrix h = ((x * W).rowwise() + n.layer(0).params()[1]->value.row(0)).cwiseMax(0.f);
  const Matrix dh = (Matrix::Ones(3, 4) * W.transpose()).array() * (h.array() > 0).cast<float>();
  const Matrix expected = h.transpose() * Matrix::Ones(3, 4) + x.transpose() * dh;
  const Matrix& g = n.layer(0).params()[0]->grad;
  CHECK((g - expected).cwiseAbs().maxCoeff() <= 1e-5f * (1.f + expected.cwiseAbs().maxCoeff()));

  OptimizerParams op;
  op.kind = "sgd";
  op.lr = 0.1;
  op.momentum = 0;
  auto opt = make_optimizer(op);
  const Matrix before = W;
  opt->step(n.parameters());
  CHECK((W - (before - 0.1f * g)).cwiseAbs().maxCoeff() <= 1e-6f);  // one step, not two

  Network c = n.clone();
  CHECK(c.parameter_store().size() == 3);
  CHECK(c.layer(2).params()[0].get() == c.layer(0).params()[0].get());
  CHECK(c.layer(0).params()[0].get() != n.layer(0).params()[0].get());

  const auto path = tmp("aimc_shared_param.h5");
  save_model(path, n, {"shared", "synthetic", 0, 1, 0, 0, "", {}});
  auto m = load_model(path);
  CHECK(m.net.parameter_store().size() == 3);
  CHECK(m.net.layer(2).params()[0].get() == m.net.layer(0).params()[0].get());
  CHECK(m.net.forward(x) == n.forward(x));
  std::filesystem::remove(path);
}

TEST_CASE("network: frozen tensors are not stepped, insert_after rewires readers, hooks by node name") {
  Network n(Shape{4, 1, 1});
  n.add("a", make_layer({"dense", {{"in", 4}, {"out", 4}}}), {"input"});
  n.add("b", make_layer({"dense", {{"in", 4}, {"out", 4}}}), {"a"});
  n.add("sum", make_layer({"add", {{"c", 4}, {"h", 1}, {"w", 1}, {"n", 2}}}), {"a", "b"});
  Stream s(12, "init");
  n.init(s);
  Matrix x(2, 4);
  Stream xs(3, "x");
  xs.fill_normal(x, 0.f, 1.f);
  const Matrix y0 = n.forward(x);

  // A block after "a": both readers of "a" ("b" and "sum") now read it.
  n.insert_after("a", make_layer({"relu", {{"c", 4}, {"h", 1}, {"w", 1}}}), "a_relu");
  CHECK(n.inputs(n.find("b")) == std::vector<int>{int(n.find("a_relu"))});
  CHECK(n.inputs(n.find("sum"))[0] == int(n.find("a_relu")));
  Matrix seen;
  n.add_hook("a", [&](std::size_t, Matrix& y) { seen = y; });
  const Matrix y1 = n.forward(x);
  const Matrix a = (x * n.layer(0).params()[0]->value).rowwise() + n.layer(0).params()[1]->value.row(0);
  // (the layer's product and this expression may sum in another order: a Debug/ASan build differs in the
  // last bit; 4 products of O(1) values are within 1e-6)
  CHECK((seen - a).cwiseAbs().maxCoeff() <= 1e-6f);
  const Matrix r = a.cwiseMax(0.f);
  const Matrix b = (r * n.layer(n.find("b")).params()[0]->value).rowwise() + n.layer(n.find("b")).params()[1]->value.row(0);
  CHECK((y1 - (r + b)).cwiseAbs().maxCoeff() <= 1e-6f);
  CHECK(!(y1 == y0));

  // Freeze "a": an optimizer step leaves it unchanged and moves "b".
  for (auto& p : n.layer(0).params()) p->trainable = false;
  n.zero_grad();
  const Matrix z = n.forward(x, Mode::train);
  n.backward(Matrix::Ones(z.rows(), z.cols()));
  const Matrix wa = n.layer(0).params()[0]->value, wb = n.layer(n.find("b")).params()[0]->value;
  OptimizerParams op;
  auto opt = make_optimizer(op);
  opt->step(n.parameters());
  CHECK(n.layer(0).params()[0]->value == wa);
  CHECK(!(n.layer(n.find("b")).params()[0]->value == wb));
}
