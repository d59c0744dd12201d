// The compensation block of CorrectNet (nets/compensation.hpp): identity at initialization, forward
// and gradients against an independent double-precision oracle, frozen backbones, model files.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/random.hpp"
#include "data/dataset.hpp"
#include "nets/compensation.hpp"
#include "nets/mitigation.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"
#include "tests/common/layer_helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using aimc::test::normal;

namespace {

/// y = x + C(x) in double from the parameter values, position by position (HWC rows).
MatrixD oracle_forward(const Compensation& L, const Matrix& x) {
  const Shape s = L.input_shape();
  const int c = s.c, pos = s.h * s.w;
  const auto& P = L.params();
  MatrixD y(x.rows(), x.cols());
  for (Eigen::Index b = 0; b < x.rows(); ++b)
    for (int p = 0; p < pos; ++p) {
      for (int j = 0; j < c; ++j) {
        double v = double(x(b, p * c + j)) + double(P.back()->value(0, j));
        if (L.low_rank()) {
          for (int r = 0; r < L.rank(); ++r) {
            double xa = 0;
            for (int i = 0; i < c; ++i) xa += double(x(b, p * c + i)) * double(P[0]->value(i, r));
            v += xa * double(P[1]->value(r, j));
          }
        } else {
          for (int i = 0; i < c; ++i) v += double(x(b, p * c + i)) * double(P[0]->value(i, j));
        }
        y(b, p * c + j) = L.relu() ? std::max(v, 0.0) : v;
      }
    }
  return y;
}

void randomize(Compensation& L, Stream& s) {
  for (auto& p : L.params()) s.fill_normal(p->value, 0.f, 0.5f);
}

}  // namespace

TEST_CASE("compensation: an initialized block is exactly the identity, in a network too") {
  Stream s(3, "test", {});
  for (int rank : {0, 2, 4, 9}) {
    CAPTURE(rank);
    Compensation L(4, 3, 2, rank);
    L.init(s);
    const Matrix x = normal(5, 24, s);
    Matrix y;
    L.forward(x, y, Mode::eval);
    CHECK(y == x);
    CHECK(L.low_rank() == (rank == 2));
    // relu: the identity on non-negative maps (the sites after a ReLU), bit for bit
    Compensation R(4, 3, 2, rank, true);
    R.init(s);
    const Matrix xp = x.cwiseAbs();
    R.forward(xp, y, Mode::eval);
    CHECK(y == xp);
  }
  // Inserted into the reference CNN after its first pooling: the logits are bit-identical.
  Network net = make_reference("cnn");
  Stream init(1, "init", {});
  net.init(init);
  const Matrix x = normal(3, 784, s);
  const Matrix before = net.forward(x);
  auto block = std::make_unique<Compensation>(32, 14, 14, 0);
  Stream bi(2, "init", {});
  block->init(bi);
  net.insert_after(net.name(2), std::move(block), "comp");
  CHECK(net.size() == 11);
  CHECK(net.forward(x) == before);
}

TEST_CASE("compensation: forward and gradients against a double-precision oracle and finite differences") {
  Stream s(5, "test", {});
  for (auto [rank, relu] : {std::pair{0, false}, std::pair{2, false}, std::pair{2, true}}) {
    CAPTURE(rank);
    CAPTURE(relu);
    Compensation L(3, 2, 2, rank, relu);
    randomize(L, s);
    const Matrix x = normal(4, 12, s);
    Matrix y;
    L.forward(x, y, Mode::train);
    const MatrixD yo = oracle_forward(L, x);
    // Each output is a float sum of at most 2c + 2 terms of magnitude <= |x||w|(|w|): relative bound
    // gamma_n of the absolute sum; 1e-5 of the largest |y| covers it with margin for these sizes.
    CHECK((y.cast<double>() - yo).cwiseAbs().maxCoeff() <= 1e-5 * (1 + yo.cwiseAbs().maxCoeff()));

    // L = sum(g .* y) with a random g: dL/dy = g.
    const Matrix g = normal(4, 12, s);
    Matrix dx;
    for (auto& p : L.params()) p->grad.setZero();
    L.backward(g, dx);
    auto loss = [&](const Compensation& l, const Matrix& xx) { return (oracle_forward(l, xx).array() * g.cast<double>().array()).sum(); };
    // The loss is linear in x and in each parameter tensor (bilinear in a, b), so a central difference
    // of the double oracle is exact up to double rounding (~1e-13 here); the analytic gradient is a
    // float computation with sums of <= 2 * 4 * 4 terms: compare at 1e-4 relative.
    // With relu the loss is piecewise linear: exact unless a step crosses a kink, made unlikely by a
    // small step (the differences use the float-rounded steps actually taken, so h costs no accuracy).
    const double h = relu ? 1e-4 : 1e-2;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      Matrix xp = x, xm = x;
      xp.data()[i] += float(h);
      xm.data()[i] -= float(h);
      const double fd = (loss(L, xp) - loss(L, xm)) / (double(xp.data()[i]) - double(xm.data()[i]));
      CHECK(double(dx.data()[i]) == doctest::Approx(fd).epsilon(1e-4).scale(1.0));
    }
    for (auto& p : L.params()) {
      CAPTURE(p->name);
      for (Eigen::Index i = 0; i < p->value.size(); ++i) {
        const float v = p->value.data()[i];
        p->value.data()[i] = v + float(h);
        const double fp = loss(L, x);
        const double vp = p->value.data()[i];
        p->value.data()[i] = v - float(h);
        const double fm = loss(L, x);
        const double vm = p->value.data()[i];
        p->value.data()[i] = v;
        CHECK(double(p->grad.data()[i]) == doctest::Approx((fp - fm) / (vp - vm)).epsilon(1e-4).scale(1.0));
      }
    }
  }
}

TEST_CASE("compensation: training it never changes a frozen backbone, model files keep it") {
  Network net = make_reference("mlp");
  Stream init(1, "init", {});
  net.init(init);
  auto block = std::make_unique<Compensation>(256, 1, 1, 8);
  Stream bi(2, "init", {});
  block->init(bi);
  const std::size_t at = net.insert_after(net.name(2), std::move(block), "comp");
  std::vector<Matrix> before;
  for (std::size_t i = 0; i < net.size(); ++i)
    for (auto* p : net.layer(i).parameters()) {
      p->trainable = i == at;
      before.push_back(p->value);
    }
  data::Dataset d;
  Stream s(4, "data", {});
  d.x = normal(256, 784, s);
  d.y.resize(256);
  for (int i = 0; i < 256; ++i) d.y(i) = i % 10;
  d.classes = 10;
  d.shape = Shape{1, 28, 28};
  TrainParams tp;
  tp.epochs = 2;
  tp.batch_size = 64;
  nets::train(net, d, nullptr, tp, {}, false);
  std::size_t k = 0;
  bool comp_changed = false;
  for (std::size_t i = 0; i < net.size(); ++i)
    for (auto* p : net.layer(i).parameters()) {
      if (i == at) comp_changed = comp_changed || p->value != before[k];
      else CHECK(p->value == before[k]);
      ++k;
    }
  CHECK(comp_changed);

  const auto path = std::filesystem::temp_directory_path() / "aimc_test_compensation.h5";
  save_model(path.string(), net, ModelMeta{.name = "mlp"});
  auto m = load_model(path.string());
  std::filesystem::remove(path);
  REQUIRE(m.net.size() == net.size());
  CHECK(m.net.layer(at).spec().str() == "compensation c=256 h=1 w=1 rank=8");
  CHECK(m.net.forward(d.x) == net.forward(d.x));
}

TEST_CASE("train_blocks: with mse = 0 and no hooks it is nets::train of the frozen network, bit for bit") {
  // Oracle: nets::train on a copy with the same blocks and the backbone frozen by hand.
  Network base = make_reference("mlp");
  Stream init(1, "init", {});
  base.init(init);
  data::Dataset d;
  Stream s(4, "data", {});
  d.x = normal(300, 784, s);
  d.y.resize(300);
  for (int i = 0; i < 300; ++i) d.y(i) = (i * 7) % 10;
  d.classes = 10;
  d.shape = Shape{1, 28, 28};
  const auto sites = block_sites(base);
  REQUIRE(sites.size() == 2);
  CHECK(sites[0].after == base.name(2));  // after the first hidden ReLU
  CHECK(sites[1].after == base.name(4));
  TrainParams tp;
  tp.epochs = 2;
  tp.batch_size = 64;
  tp.seed = 3;
  Network a = base.clone(), b = base.clone();
  const auto ba = insert_compensation(a, sites, {1, 1}, {8}, 5);
  const auto bb = insert_compensation(b, sites, {1, 1}, {8}, 5);
  train_blocks(a, ba, base, {sites[0].after, sites[1].after}, d, tp, 0.0, {}, false);
  freeze_except(b, bb);
  nets::train(b, d, nullptr, tp, {}, false);
  const auto pa = a.parameter_store(), pb = b.parameter_store();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i]->value == pb[i]->value);
  for (const auto& p : a.parameter_store()) CHECK(p->trainable);  // restored on return

  // With an MSE target only the blocks move, and the noise-free MSE of an identity start is 0: the first
  // epoch's loss is then the cross-entropy alone, so it equals the mse = 0 run's first epoch.
  Network c = base.clone();
  const auto bc = insert_compensation(c, sites, {1, 1}, {8}, 5);
  std::vector<Matrix> before;
  for (std::size_t i = 0; i < c.size(); ++i)
    if (std::find(bc.begin(), bc.end(), i) == bc.end())
      for (auto* p : c.layer(i).parameters()) before.push_back(p->value);
  Network e = base.clone();
  const auto be = insert_compensation(e, sites, {1, 1}, {8}, 5);
  TrainParams one = tp;
  one.epochs = 1;
  one.batch_size = 300;  // one step: the blocks are still the identity when the loss is measured
  const auto lc = train_blocks(c, bc, base, {sites[0].after, sites[1].after}, d, one, 10.0, {}, false);
  const auto le = train_blocks(e, be, base, {sites[0].after, sites[1].after}, d, one, 0.0, {}, false);
  CHECK(lc[0].loss == le[0].loss);
  std::size_t k = 0;
  for (std::size_t i = 0; i < c.size(); ++i)
    if (std::find(bc.begin(), bc.end(), i) == bc.end())
      for (auto* p : c.layer(i).parameters()) CHECK(p->value == before[k++]);
}
