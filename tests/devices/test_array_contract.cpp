// Contract suite every analog array model passes (devices/analog_array.hpp).
//
// HOW TO ADD AN ARRAY MODEL: include its header and append its type to `ContractModels`, both in the
// marked block below; nothing else in this file changes. The type M must
//   - derive from aimc::devices::ArrayModel and declare `using Params = <its parameter-table struct>;`
//   - be constructible as M(const Params&), validating the parameters (throwing aimc::Error whose
//     message names the bad parameter, as aimc::validate does);
//   - provide three static hooks:
//       static Params contract_ideal();   // every noise, variation, fault and non-ideality off
//       static Params contract_noisy();   // program-time (device-to-device) AND read-time noise on
//       static std::vector<std::pair<Params, std::string>> contract_invalid();
//                                         // bad parameter sets, each with the parameter name the
//                                         // error message must contain
//   - optionally provide (defaults in brackets):
//       static std::pair<int, int> contract_shape();                            [32 x 16 block]
//       static aimc::Matrix contract_weights(int rows, int cols, float w_max, aimc::Stream&);
//                                                                               [U(-w_max, w_max)]
//       static aimc::Matrix contract_inputs(int batch, int rows, aimc::Stream&); [U(0, 1), unsigned]
//     e.g. a model with finite weight precision returns weights on its grid from contract_weights.
//
// Tolerance of "zero noise reproduces x * W": a float dot product of length n computed in any order
// (with or without FMA) satisfies |fl(x.w) - x.w| <= gamma_n |x|.|w| with gamma_n = n u / (1 - n u),
// u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Eq. 3.5). A model may
// round once more when it maps the weights to its physical quantity and back, so the test allows
// 2 gamma_n |x|.|W| per output element, compared against x * W evaluated in double.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "devices/analog_array.hpp"

// ---- array models under contract: add your #include and your type here ----
#include "devices/mosfet.hpp"
#include "devices/pcm.hpp"
#include "devices/rram.hpp"
#include "devices/sram_array.hpp"
using ContractModels = std::tuple<aimc::devices::RramArrayModel, aimc::devices::SramQsArrayModel,
                                  aimc::devices::SramIsArrayModel, aimc::devices::SramQrArrayModel,
                                  aimc::devices::MosfetArrayModel, aimc::devices::PcmArrayModel>;
// ---------------------------------------------------------------------------

using namespace aimc;
using namespace aimc::devices;

namespace {

constexpr std::uint64_t kSeed = 20240604;
constexpr float kWMax = 0.8f;

template <class M>
std::pair<int, int> shape_of() {
  if constexpr (requires { M::contract_shape(); }) return M::contract_shape();
  else return {32, 16};
}

template <class M>
Matrix weights_of(int rows, int cols, Stream& s) {
  if constexpr (requires { M::contract_weights(rows, cols, kWMax, s); }) {
    return M::contract_weights(rows, cols, kWMax, s);
  } else {
    Matrix w(rows, cols);
    s.fill_uniform(w, -kWMax, kWMax);
    return w;
  }
}

template <class M>
Matrix inputs_of(int batch, int rows, Stream& s) {
  if constexpr (requires { M::contract_inputs(batch, rows, s); }) {
    return M::contract_inputs(batch, rows, s);
  } else {
    Matrix x(batch, rows);
    s.fill_uniform(x, 0.f, 1.f);
    return x;
  }
}

struct Fixture {
  Matrix w, x;
};

template <class M>
Fixture fixture() {
  auto [rows, cols] = shape_of<M>();
  Stream s(kSeed, "contract.data");
  Fixture f;
  f.w = weights_of<M>(rows, cols, s);
  f.x = inputs_of<M>(64, rows, s);
  return f;
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("array contract: zero noise reproduces x * W", M, contract_ideal_id) {
  const M model(M::contract_ideal());
  const Fixture f = fixture<M>();
  Stream prog(kSeed, "program", {1});
  Stream read(kSeed, "read", {1});
  auto a = model.program(f.w, kWMax, prog);
  REQUIRE(a->rows() == f.w.rows());
  REQUIRE(a->cols() == f.w.cols());
  Matrix y;
  a->mvm(f.x, y, read);
  REQUIRE(y.rows() == f.x.rows());
  REQUIRE(y.cols() == f.w.cols());

  const double u = std::ldexp(1.0, -24), n = double(f.w.rows());
  const double gamma = n * u / (1.0 - n * u);
  const MatrixD exact = f.x.cast<double>() * f.w.cast<double>();
  const MatrixD bound = 2.0 * gamma * (f.x.cast<double>().cwiseAbs() * f.w.cast<double>().cwiseAbs());
  double worst = 0.0;  // largest |error| / bound
  for (Eigen::Index i = 0; i < y.rows(); ++i)
    for (Eigen::Index j = 0; j < y.cols(); ++j) {
      const double err = std::abs(double(y(i, j)) - exact(i, j));
      worst = std::max(worst, bound(i, j) > 0 ? err / bound(i, j) : (err == 0.0 ? 0.0 : 1e30));
    }
  INFO("model " << model.name() << ": worst |y - xW| / (2 gamma_n |x||W|) = " << worst);
  CHECK(worst <= 1.0);

  // The effective weights are W up to one rounding of each element.
  const Matrix we = a->effective_weights();
  REQUIRE(we.rows() == f.w.rows());
  REQUIRE(we.cols() == f.w.cols());
  CHECK(((we - f.w).cwiseAbs().array() <= 2.0f * float(u) * f.w.cwiseAbs().array() + 1e-30f).all());
}

TEST_CASE_TEMPLATE_DEFINE("array contract: same streams give identical draws", M, contract_same_id) {
  const M model(M::contract_noisy());
  const Fixture f = fixture<M>();
  Stream p1(kSeed, "program", {7}), p2(kSeed, "program", {7});
  auto a1 = model.program(f.w, kWMax, p1);
  auto a2 = model.program(f.w, kWMax, p2);
  CHECK(a1->effective_weights() == a2->effective_weights());
  Stream r1(kSeed, "read", {7, 3}), r2(kSeed, "read", {7, 3});
  Matrix y1, y2;
  a1->mvm(f.x, y1, r1);
  a2->mvm(f.x, y2, r2);
  CHECK(y1 == y2);
}

TEST_CASE_TEMPLATE_DEFINE("array contract: reprogram into an old array equals program", M, contract_reprogram_id) {
  // reprogram() may reuse the old array's memory; what it draws must be what program() draws.
  const M model(M::contract_noisy());
  const Fixture f = fixture<M>();
  Stream p0(kSeed, "program", {1}), p1(kSeed, "program", {2}), p2(kSeed, "program", {2});
  auto old = model.program(f.w, kWMax, p0);
  const Matrix w0 = old->effective_weights();
  auto again = model.reprogram(std::move(old), f.w, kWMax, p1);
  auto fresh = model.program(f.w, kWMax, p2);
  CHECK(again->effective_weights() == fresh->effective_weights());
  CHECK(again->effective_weights() != w0);
  Stream r1(kSeed, "read", {2, 3}), r2(kSeed, "read", {2, 3});
  Matrix y1, y2;
  again->mvm(f.x, y1, r1);
  fresh->mvm(f.x, y2, r2);
  CHECK(y1 == y2);
}

TEST_CASE_TEMPLATE_DEFINE("array contract: different streams give different draws", M, contract_diff_id) {
  const M model(M::contract_noisy());
  const Fixture f = fixture<M>();
  Stream p1(kSeed, "program", {1}), p2(kSeed, "program", {2});
  auto a1 = model.program(f.w, kWMax, p1);
  auto a2 = model.program(f.w, kWMax, p2);
  CHECK(a1->effective_weights() != a2->effective_weights());
  Stream r1(kSeed, "read", {1}), r2(kSeed, "read", {2});
  Matrix y1, y2;
  a1->mvm(f.x, y1, r1);
  a1->mvm(f.x, y2, r2);
  CHECK(y1 != y2);
}

TEST_CASE_TEMPLATE_DEFINE("array contract: results do not depend on the thread count", M, contract_threads_id) {
  // Eight tiles, each programmed and read with its own keyed streams, sequentially and on 2 threads.
  const M model(M::contract_noisy());
  const Fixture f = fixture<M>();
  constexpr int K = 8;
  std::vector<Matrix> seq(K), par(K);
  auto run = [&](int k, Matrix& out) {
    Stream prog(kSeed, "program", {std::uint64_t(k)});
    Stream read(kSeed, "read", {std::uint64_t(k)});
    auto a = model.program(f.w, kWMax, prog);
    a->mvm(f.x, out, read);
  };
  for (int k = 0; k < K; ++k) run(k, seq[k]);
#pragma omp parallel for num_threads(2) schedule(dynamic)
  for (int k = 0; k < K; ++k) run(k, par[k]);
  for (int k = 0; k < K; ++k) CHECK(seq[k] == par[k]);
}

TEST_CASE_TEMPLATE_DEFINE("array contract: bad parameters are rejected naming the parameter", M, contract_bad_id) {
  const auto cases = M::contract_invalid();
  CHECK(!cases.empty());
  for (const auto& [params, name] : cases) {
    std::string msg;
    try {
      M m(params);
    } catch (const Error& e) {
      msg = e.what();
    }
    INFO("expected an aimc::Error naming '" << name << "', got: \"" << msg << "\"");
    CHECK(msg.find(name) != std::string::npos);
  }
}

TEST_CASE_TEMPLATE_APPLY(contract_ideal_id, ContractModels);
TEST_CASE_TEMPLATE_APPLY(contract_same_id, ContractModels);
TEST_CASE_TEMPLATE_APPLY(contract_reprogram_id, ContractModels);
TEST_CASE_TEMPLATE_APPLY(contract_diff_id, ContractModels);
TEST_CASE_TEMPLATE_APPLY(contract_threads_id, ContractModels);
TEST_CASE_TEMPLATE_APPLY(contract_bad_id, ContractModels);
