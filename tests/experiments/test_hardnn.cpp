// HarDNN campaigns (`aimc hardnn` as a library call): the sample size and intervals, the planted fragile
// fmap, the coverage curve, thread-count determinism and bad input. Kill-and-resume and MPI rank-count
// equality are process-level: tests/experiments/test_hardnn_cli.sh.
#include <doctest/doctest.h>
#include <omp.h>

#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <fstream>
#include <numeric>
#include <string>

#include "../data/helpers.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/stats.hpp"
#include "experiments/hardnn.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

/// 784 -> 8 (ReLU) -> 10 on Fashion-MNIST inputs, He-initialized; hidden neuron `fragile` gets
/// outgoing weights 10x larger and the other hidden neurons 10x smaller, so an error in it changes
/// the logits far more than an error in any other neuron of that layer.
std::string planted_mlp(const test::ScratchDir& dir, int fragile) {
  nets::Network net(Shape{1, 28, 28});
  net.add(nets::make_layer({"flatten", {{"c", 1}, {"h", 28}, {"w", 28}}}));
  net.add(nets::make_layer({"dense", {{"in", 784}, {"out", 8}}}));
  net.add(nets::make_layer({"relu", {{"c", 8}, {"h", 1}, {"w", 1}}}));
  net.add(nets::make_layer({"dense", {{"in", 8}, {"out", 10}}}));
  Stream init(7, "init");
  net.init(init);
  auto& w2 = net.layer(3).parameters()[0]->value;  // crossbar view: (8 inputs x 10 outputs)
  for (Eigen::Index i = 0; i < w2.rows(); ++i) w2.row(i) *= i == fragile ? 10.0f : 0.1f;
  const std::string path = dir.file("planted.h5");
  nets::save_model(path, net, {"planted", "fashion-mnist", 0, 7, 0.1, 0.0, "", {}});
  return path;
}

/// conv3x3(1->4, pad 1) ReLU maxpool2 flatten dense(784->10): exercises conv fmaps (784 positions).
std::string tiny_cnn(const test::ScratchDir& dir) {
  nets::Network net(Shape{1, 28, 28});
  net.add(nets::make_layer({"conv2d", {{"in_c", 1}, {"in_h", 28}, {"in_w", 28}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  net.add(nets::make_layer({"relu", {{"c", 4}, {"h", 28}, {"w", 28}}}));
  net.add(nets::make_layer({"maxpool2d", {{"in_c", 4}, {"in_h", 28}, {"in_w", 28}, {"kernel", 2}, {"stride", 2}}}));
  net.add(nets::make_layer({"flatten", {{"c", 4}, {"h", 14}, {"w", 14}}}));
  net.add(nets::make_layer({"dense", {{"in", 784}, {"out", 10}}}));
  Stream init(9, "init");
  net.init(init);
  const std::string path = dir.file("cnn.h5");
  nets::save_model(path, net, {"tiny_cnn", "fashion-mnist", 0, 9, 0.1, 0.0, "", {}});
  return path;
}

std::string write_config(const test::ScratchDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

int run_quiet(const std::string& cfg, const std::string& out, bool force = false) {
  HardnnOptions o;
  o.config = cfg;
  o.out = out;
  o.force = force;
  o.progress = false;
  o.quiet = true;
  return run_hardnn(o);
}

std::vector<double> doubles(const std::string& file, const std::string& group, const std::string& name) {
  H5::H5File f = h5::open_read(file);
  return h5::read_doubles(h5::open_group(f.openGroup("/"), group, file), name, file);
}
std::vector<std::int64_t> ints(const std::string& file, const std::string& group, const std::string& name) {
  H5::H5File f = h5::open_read(file);
  return h5::read_ints(h5::open_group(f.openGroup("/"), group, file), name, file);
}

bool same(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

}  // namespace

TEST_CASE("hardnn: coverage curve of a hand-made ranking") {
  const std::vector<double> rv{0.1, 0.6, 0.3}, cost{2, 1, 1};
  const std::vector<std::size_t> order{1, 2, 0};
  const auto c = coverage_curve(rv, cost, order);
  REQUIRE(c.coverage.size() == 4);
  CHECK(c.coverage[1] == doctest::Approx(0.6));
  CHECK(c.coverage[2] == doctest::Approx(0.9));
  CHECK(c.coverage[3] == 1.0);
  CHECK(c.overhead[1] == doctest::Approx(0.25));
  CHECK(c.overhead[2] == doctest::Approx(0.5));
  CHECK(c.overhead[3] == 1.0);
  CHECK(c.resilience[0] == 1.0);
  CHECK(c.resilience[2] == doctest::Approx(10.0));
  CHECK(std::isinf(c.resilience[3]));
  CHECK(k_for_overhead(c, 0.3) == 1);
  CHECK(k_for_overhead(c, 0.5) == 2);
  CHECK(k_for_overhead(c, 0.1) == 0);
  // Regression (2026-12-06, CI): 0.33 + 0.56 + 0.11 = 1.0000000000000002 in double, so before the last
  // (zero) fmap the partial sum passed 1 and the curve, forced to end at 1, fell at its last step.
  const std::vector<double> rv2{0.33, 0.56, 0.11, 0.0}, cost2{1, 1, 1, 1};
  const std::vector<std::size_t> order2{0, 1, 2, 3};
  CHECK(0.33 + 0.56 + 0.11 > 1.0);
  const auto c2 = coverage_curve(rv2, cost2, order2);
  for (std::size_t i = 1; i < c2.coverage.size(); ++i) CHECK(c2.coverage[i] >= c2.coverage[i - 1]);
  CHECK(c2.coverage.back() == 1.0);
}

TEST_CASE("hardnn: a planted fragile neuron ranks first, sample size and intervals match the formulas") {
  test::ScratchDir dir("hardnn-planted");
  const std::string model = planted_mlp(dir, 3);
  // margin 0.1 at 95%: n = ceil(1.959964^2 * 0.25 / 0.01) = ceil(96.04) = 97 injections per fmap.
  const std::string cfg = write_config(dir, "c.toml",
                                       "[model]\npath = \"" + model +
                                           "\"\n[data]\nsubset = 200\n[hardnn]\nerror_model = \"random_value\"\n"
                                           "margin = 0.1\nbatch = 16\nseed = 3\nverify_injections = 3000\ntop_k = 3\n");
  const std::string out = dir.file("r.h5");
  REQUIRE(run_quiet(cfg, out) == 0);
  H5::H5File f = h5::open_read(out);
  H5::Group root = f.openGroup("/");
  CHECK(h5::attr_string(root, "status", out) == "complete");
  CHECK(h5::attr_int(root, "injections_per_fmap", out) == 97);
  CHECK(stats::sample_size(0.1, 0.95) == 97);
  const auto layer = ints(out, "fmaps", "layer"), fmap = ints(out, "fmaps", "fmap"), rank = ints(out, "fmaps", "rank");
  const auto n = ints(out, "fmaps", "injections"), k = ints(out, "fmaps", "mismatches");
  const auto p = doubles(out, "fmaps", "mismatch_p"), lo = doubles(out, "fmaps", "mismatch_ci_lo"),
             hi = doubles(out, "fmaps", "mismatch_ci_hi");
  REQUIRE(layer.size() == 18);  // 8 hidden neurons + 10 logits
  // The fragile neuron (layer 1, fmap 3) is the most vulnerable fmap...
  std::size_t fragile = 0;
  for (std::size_t i = 0; i < layer.size(); ++i)
    if (layer[i] == 1 && fmap[i] == 3) fragile = i;
  CHECK(rank[fragile] == 1);
  // ... and its mismatch probability is above every other hidden neuron's, beyond both intervals.
  for (std::size_t i = 0; i < layer.size(); ++i) {
    CHECK(n[i] == 97);
    if (layer[i] == 1 && i != fragile) CHECK(lo[fragile] > hi[i]);
  }
  // Clopper-Pearson and Student-t intervals recomputed from the raw counts and sums.
  for (std::size_t i = 0; i < layer.size(); ++i) {
    const auto ci = stats::binomial_ci(std::uint64_t(k[i]), std::uint64_t(n[i]));
    CHECK(lo[i] == ci.lo);
    CHECK(hi[i] == ci.hi);
    CHECK(p[i] == double(k[i]) / double(n[i]));
  }
  // Known Clopper-Pearson values (5 of 10 at 95%: [0.187086, 0.812914]).
  const auto ci5 = stats::binomial_ci(5, 10);
  CHECK(ci5.lo == doctest::Approx(0.187086).epsilon(1e-5));
  CHECK(ci5.hi == doctest::Approx(0.812914).epsilon(1e-5));
  {
    H5::Group jc = h5::open_group(h5::open_group(root, "jobs", out), "campaign", out);
    const MatrixD rec = h5::read_matrixd(jc, "records", out);
    const std::size_t per = std::size_t(h5::attr_int(jc, "jobs_per_unit", out));
    CHECK(per == 7);  // ceil(97 / 16)
    const auto dl = doubles(out, "fmaps", "dloss_mean"), dlo = doubles(out, "fmaps", "dloss_ci_lo");
    for (std::size_t i = 0; i < layer.size(); ++i) {
      double s1 = 0, s2 = 0, m = 0;
      for (std::size_t b = 0; b < per; ++b) {
        m += rec(Eigen::Index(i * per + b), 0);
        s1 += rec(Eigen::Index(i * per + b), 2);
        s2 += rec(Eigen::Index(i * per + b), 3);
      }
      REQUIRE(m == 97);
      const double mean = s1 / m, sd = std::sqrt(std::max(0.0, (s2 - m * mean * mean) / (m - 1)));
      const double t = boost::math::quantile(boost::math::students_t_distribution<double>(96), 0.975);
      CHECK(t == doctest::Approx(1.984984).epsilon(1e-6));
      CHECK(dl[i] == doctest::Approx(mean).epsilon(1e-12));
      CHECK(dlo[i] == doctest::Approx(mean - t * sd / std::sqrt(m)).epsilon(1e-9));
    }
  }
  // Relative vulnerability sums to 1; the coverage curve is monotone and ends at (1, 1).
  const auto rv = doubles(out, "fmaps", "relative_vulnerability");
  CHECK(std::accumulate(rv.begin(), rv.end(), 0.0) == doctest::Approx(1.0).epsilon(1e-12));
  const auto cov = doubles(out, "protection", "coverage"), oh = doubles(out, "protection", "overhead");
  REQUIRE(cov.size() == 19);
  CHECK(cov.front() == 0.0);
  CHECK(oh.front() == 0.0);
  CHECK(cov.back() == 1.0);
  CHECK(oh.back() == 1.0);
  for (std::size_t i = 1; i < cov.size(); ++i) {
    CHECK(cov[i] >= cov[i - 1]);
    CHECK(oh[i] >= oh[i - 1]);
  }
  // Verification: with every level's predicted rate computed from the campaign, the measured rate
  // (3000 injections) falls with protection and the unprotected rate agrees with the campaign's.
  const auto pred = doubles(out, "verification", "predicted_rate"), meas = doubles(out, "verification", "measured_rate"),
             vlo = doubles(out, "verification", "measured_ci_lo"), vhi = doubles(out, "verification", "measured_ci_hi");
  REQUIRE(meas.size() == 4);
  for (std::size_t i = 1; i < meas.size(); ++i) CHECK(meas[i] <= meas[i - 1]);
  // The campaign's prediction has its own sampling error (97 injections per fmap); compare with the
  // union of both 99.9% ranges: the measured CI widened by 3.3 binomial sd of the prediction.
  const double sd_pred = std::sqrt(pred[0] * (1 - pred[0]) / 97.0);
  CHECK(pred[0] >= vlo[0] - 3.3 * sd_pred);
  CHECK(pred[0] <= vhi[0] + 3.3 * sd_pred);
}

TEST_CASE("hardnn: results are bit-identical for 1 and 2 threads") {
  test::ScratchDir dir("hardnn-threads");
  const std::string model = tiny_cnn(dir);
  const std::string cfg = write_config(dir, "c.toml",
                                       "[model]\npath = \"" + model +
                                           "\"\n[data]\nsubset = 100\n[hardnn]\nmargin = 0.2\nbatch = 8\n"
                                           "error_model = \"bitflip_fp32\"\nverify_injections = 200\n");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  REQUIRE(run_quiet(cfg, dir.file("one.h5")) == 0);
  omp_set_num_threads(2);
  REQUIRE(run_quiet(cfg, dir.file("two.h5")) == 0);
  omp_set_num_threads(saved);
  for (const char* d : {"mismatch_p", "dloss_mean", "vulnerability", "relative_vulnerability"})
    CHECK(same(doubles(dir.file("one.h5"), "fmaps", d), doubles(dir.file("two.h5"), "fmaps", d)));
  CHECK(ints(dir.file("one.h5"), "fmaps", "rank") == ints(dir.file("two.h5"), "fmaps", "rank"));
  CHECK(same(doubles(dir.file("one.h5"), "verification", "measured_rate"),
             doubles(dir.file("two.h5"), "verification", "measured_rate")));
  for (const char* hname : {"activation", "gradient", "gain"})
    CHECK(same(doubles(dir.file("one.h5"), "heuristics", hname), doubles(dir.file("two.h5"), "heuristics", hname)));
  // fp32 flips of exponent bits make some logits non-finite: they count as mismatches with a capped loss.
  const auto dl = doubles(dir.file("one.h5"), "fmaps", "dloss_mean");
  for (double v : dl) CHECK(std::isfinite(v));
  const auto n = ints(dir.file("one.h5"), "fmaps", "injections");
  CHECK(n.size() == 14);  // 4 conv channels + 10 logits
  CHECK(n[0] == 25);      // margin 0.2: ceil(24.01)
}

TEST_CASE("hardnn: bad input gives a one-line error naming file and key and leaves results untouched") {
  test::ScratchDir dir("hardnn-bad");
  const std::string model = planted_mlp(dir, 0);
  auto err = [&](const std::string& body) {
    const std::string cfg = write_config(dir, "bad.toml", "[model]\npath = \"" + model + "\"\n" + body);
    return test::error_of([&] { run_quiet(cfg, dir.file("never.h5")); });
  };
  CHECK(err("[hardnn]\nmargn = 0.1\n").find("bad.toml: hardnn.margn") != std::string::npos);
  CHECK(err("[hardnn]\nmargn = 0.1\n").find("margin") != std::string::npos);  // nearest key
  CHECK(err("[hardnn]\nmargin = 0.7\n").find("hardnn.margin") != std::string::npos);
  CHECK(err("[hardnn]\nerror_model = \"flip\"\n").find("hardnn.error_model") != std::string::npos);
  CHECK(err("[hardnn]\nverify_overheads = \"0.1,2\"\n").find("hardnn.verify_overheads") != std::string::npos);
  CHECK(err("[hardnn]\nlayers = \"0,5\"\n").find("hardnn.layers") != std::string::npos);
  CHECK(err("[hardnn]\nlayers = \"0,x\"\n").find("hardnn.layers") != std::string::npos);
  CHECK(err("[hardnn]\nbits = 1\n").find("hardnn.bits") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.file("never.h5")));
  // An existing file is neither overwritten without --force nor damaged by a failing run.
  const std::string ok = write_config(dir, "ok.toml",
                                      "[model]\npath = \"" + model + "\"\n[data]\nsubset = 50\n[hardnn]\nmargin = 0.3\n"
                                      "verify_injections = 0\n");
  REQUIRE(run_quiet(ok, dir.file("r.h5")) == 0);
  const auto before = test::read_bytes(dir.file("r.h5"));
  CHECK(test::error_of([&] { run_quiet(ok, dir.file("r.h5")); }).find("pass --resume") != std::string::npos);
  const std::string bad = write_config(dir, "bad2.toml", "[model]\npath = \"" + model + "\"\n[hardnn]\nseed = -1\n");
  CHECK(test::error_of([&] { run_quiet(bad, dir.file("r.h5"), true); }).find("hardnn.seed") != std::string::npos);
  CHECK(test::read_bytes(dir.file("r.h5")) == before);
}

TEST_CASE("hardnn: a graph with a skip connection (no cut after the layer) gives the chain's outcomes") {
  // The planted MLP, and the same MLP with a skip branch dense(784 -> 10) from the flattened input,
  // weights zero, added to the logits: the same function, but nothing after either injected layer is a
  // cut (the skip reads the input), so injections run through the hook path from the network input.
  // Oracle: the chain's cached-activation path on the same sites (streams keyed by node index and fmap,
  // equal in both networks). Outcomes must match site for site.
  test::ScratchDir dir("hardnn-graph");
  const std::string chain = planted_mlp(dir, 3);
  nets::Network g = nets::load_model(chain).net;
  const std::size_t skip = g.add("skip", nets::make_layer({"dense", {{"in", 784}, {"out", 10}}}), {"flatten_0"});
  g.layer(skip).parameters()[0]->value.setZero();
  g.add("sum", nets::make_layer({"add", {{"c", 10}, {"h", 1}, {"w", 1}, {"n", 2}}}), {g.name(3), "skip"});
  REQUIRE(!g.is_cut(2));
  REQUIRE(!g.is_cut(4));
  const std::string graph = dir.file("graph.h5");
  nets::save_model(graph, g, {"planted_graph", "fashion-mnist", 0, 7, 0.1, 0.0, "", {}});
  auto cfg = [&](const std::string& model, const char* name) {
    return write_config(dir, name,
                        "[model]\npath = \"" + model +
                            "\"\n[data]\nsubset = 200\n[hardnn]\nerror_model = \"random_value\"\nlayers = \"0,1\"\n"
                            "margin = 0.1\nbatch = 16\nseed = 3\nverify_injections = 200\n");
  };
  REQUIRE(run_quiet(cfg(chain, "a.toml"), dir.file("a.h5")) == 0);
  REQUIRE(run_quiet(cfg(graph, "b.toml"), dir.file("b.h5")) == 0);
  CHECK(ints(dir.file("a.h5"), "fmaps", "mismatches") == ints(dir.file("b.h5"), "fmaps", "mismatches"));
  CHECK(ints(dir.file("a.h5"), "fmaps", "injections") == ints(dir.file("b.h5"), "fmaps", "injections"));
  const auto k = ints(dir.file("a.h5"), "fmaps", "mismatches");
  CHECK(std::accumulate(k.begin(), k.end(), std::int64_t{0}) > 0);  // the comparison has power
}
