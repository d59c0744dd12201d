// Incremental propagation (nets/delta.hpp) against the full recomputation: the same graph run from the
// input with the faulty value put into the node's output by a hook.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "nets/delta.hpp"
#include "nets/layer.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {

using L = std::vector<long long>;
using F = std::vector<double>;

/// Every kind with a sparse kernel, and compensation (no kernel: the dense fallback), in one graph with
/// fan-out, a residual add and a concat; strided, padded, grouped and dilated convolutions; average
/// pooling with padding not counted (a divisor per window).
Network graph_a() {
  Network net(Shape{3, 8, 8});
  net.add("c1", make_layer({"conv2d", {{"in_c", 3}, {"in_h", 8}, {"in_w", 8}, {"out_c", 8}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}),
          {"input"});
  net.add("bn", make_layer({"batchnorm", {{"c", 8}, {"h", 8}, {"w", 8}, {"eps", 0.5}}}), {"c1"});
  net.add("r1", make_layer({"relu", {{"c", 8}, {"h", 8}, {"w", 8}}}), {"bn"});
  net.add("c2", make_layer({"conv2d", {{"in_c", 8}, {"in_h", 8}, {"in_w", 8}, {"out_c", 8}, {"kernel", 3}, {"stride", 2},
                                        {"pad", 1}, {"groups", 2}, {"dilations", L{1, 2}}, {"pads", L{1, 2, 1, 2}}}}),
          {"r1"});
  net.add("clip", make_layer({"clip", {{"c", 8}, {"h", 4}, {"w", 4}, {"min", 0.0}, {"max", 1.5}}}), {"c2"});
  net.add("sc", make_layer({"conv2d", {{"in_c", 8}, {"in_h", 8}, {"in_w", 8}, {"out_c", 8}, {"kernel", 1}, {"stride", 2}, {"pad", 0}}}),
          {"r1"});
  net.add("add", make_layer({"add", {{"c", 8}, {"h", 4}, {"w", 4}, {"n", 2}}}), {"clip", "sc"});
  net.add("mp", make_layer({"maxpool2d", {{"in_c", 8}, {"in_h", 4}, {"in_w", 4}, {"kernel", 3}, {"stride", 2}, {"pads", L{1, 1, 1, 1}}}}),
          {"add"});
  net.add("ap", make_layer({"avgpool2d", {{"in_c", 8}, {"in_h", 4}, {"in_w", 4}, {"kernel", 3}, {"stride", 2},
                                           {"pads", L{1, 1, 1, 1}}, {"count_include_pad", 0}}}),
          {"add"});
  net.add("cat", make_layer({"concat", {{"h", 2}, {"w", 2}, {"channels", L{8, 8}}}}), {"mp", "ap"});
  F mean(16), sd(16);
  for (int c = 0; c < 16; ++c) mean[std::size_t(c)] = 0.1 * c - 0.5, sd[std::size_t(c)] = 0.5 + 0.05 * c;
  net.add("norm", make_layer({"normalize", {{"c", 16}, {"h", 2}, {"w", 2}, {"mean", mean}, {"std", sd}}}), {"cat"});
  net.add("comp", make_layer({"compensation", {{"c", 16}, {"h", 2}, {"w", 2}, {"rank", 0}}}), {"norm"});
  net.add("flat", make_layer({"flatten", {{"c", 16}, {"h", 2}, {"w", 2}}}), {"comp"});
  net.add("d1", make_layer({"dense", {{"in", 64}, {"out", 12}}}), {"flat"});
  net.add("r2", make_layer({"relu", {{"c", 12}, {"h", 1}, {"w", 1}}}), {"d1"});
  net.add("d2", make_layer({"dense", {{"in", 12}, {"out", 5}}}), {"r2"});
  return net;
}

/// An add that reads the network input beside a changed node (the dense path must take the input).
Network graph_c() {
  Network net(Shape{2, 4, 4});
  net.add("c", make_layer({"conv2d", {{"in_c", 2}, {"in_h", 4}, {"in_w", 4}, {"out_c", 2}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}),
          {"input"});
  net.add("add", make_layer({"add", {{"c", 2}, {"h", 4}, {"w", 4}, {"n", 2}}}), {"c", "input"});
  net.add("flat", make_layer({"flatten", {{"c", 2}, {"h", 4}, {"w", 4}}}), {"add"});
  net.add("d", make_layer({"dense", {{"in", 32}, {"out", 3}}}), {"flat"});
  return net;
}

/// conv -> relu -> global average -> dense (the global pool's kernel).
Network graph_b() {
  Network net(Shape{2, 6, 6});
  net.add("c", make_layer({"conv2d", {{"in_c", 2}, {"in_h", 6}, {"in_w", 6}, {"out_c", 6}, {"kernel", 3}, {"stride", 1}, {"pad", 0}}}),
          {"input"});
  net.add("r", make_layer({"relu", {{"c", 6}, {"h", 4}, {"w", 4}}}), {"c"});
  net.add("g", make_layer({"globalavgpool", {{"c", 6}, {"h", 4}, {"w", 4}}}), {"r"});
  net.add("d", make_layer({"dense", {{"in", 6}, {"out", 4}}}), {"g"});
  return net;
}

/// Convolutions on a 3x3 map: a change in c1's output reaches most of c2's output, c3 then takes the dense
/// switch and its output is kept as a full row, read densely by a relu, an add with a listed (sparse)
/// input, a flatten and a dense node.
Network graph_d() {
  Network net(Shape{2, 3, 3});
  net.add("c1", make_layer({"conv2d", {{"in_c", 2}, {"in_h", 3}, {"in_w", 3}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}),
          {"input"});
  net.add("c2", make_layer({"conv2d", {{"in_c", 4}, {"in_h", 3}, {"in_w", 3}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}),
          {"c1"});
  net.add("c3", make_layer({"conv2d", {{"in_c", 4}, {"in_h", 3}, {"in_w", 3}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}),
          {"c2"});
  net.add("r", make_layer({"relu", {{"c", 4}, {"h", 3}, {"w", 3}}}), {"c3"});
  net.add("add", make_layer({"add", {{"c", 4}, {"h", 3}, {"w", 3}, {"n", 2}}}), {"r", "c2"});
  net.add("flat", make_layer({"flatten", {{"c", 4}, {"h", 3}, {"w", 3}}}), {"add"});
  net.add("d", make_layer({"dense", {{"in", 36}, {"out", 3}}}), {"flat"});
  return net;
}

void randomize(Network& net, Stream& s) {
  net.init(s);
  for (std::size_t i = 0; i < net.size(); ++i)
    for (auto* p : net.layer(i).parameters()) {
      if (p->name == "running_var") p->value = (p->value.array() * 0 + 0.5f + 0.5f * float(s.uniform())).matrix();
      else if (p->name == "running_mean" || p->name == "beta" || p->name == "bias")
        for (Eigen::Index c = 0; c < p->value.cols(); ++c) p->value(0, c) = float(0.2 * s.normal());
      else if (net.layer(i).spec().kind == "compensation")  // zero-initialized: make it do something
        for (Eigen::Index r = 0; r < p->value.rows(); ++r)
          for (Eigen::Index c = 0; c < p->value.cols(); ++c) p->value(r, c) = float(0.3 * s.normal());
      else if (p->name == "gamma")
        for (Eigen::Index c = 0; c < p->value.cols(); ++c) p->value(0, c) = float(1 + 0.3 * s.normal());
    }
}

/// Logits of sample b with element e of node n set to v, by the full forward (the oracle).
std::vector<float> full(Network& net, const Matrix& x, Eigen::Index b, std::size_t n, Eigen::Index e, float v) {
  const int id = net.add_hook(n, [&](std::size_t, Matrix& y) { y(0, e) = v; });
  const Matrix z = net.forward(x.middleRows(b, 1));
  net.remove_hook(id);
  return {z.data(), z.data() + z.cols()};
}

/// Runs `count` random single-element faults at every node and compares with the oracle. Tolerance:
/// both paths round each float sum; they differ by reassociation only, at most about (terms per output)
/// x 2^-24 relative to the sum of the absolute terms, and the logits here are sums over a few hundred
/// terms of magnitude ~1 through a few layers: 1e-4 (1 + max |z|) bounds that with room.
void compare(Network& net, const Matrix& x, Stream& s, int count, DeltaStats& st, int& st_ties, double& worst) {
  const CleanActivations clean(net, x);
  IncrementalSuffix inc(net, clean);
  std::vector<float> z(net.output_shape().size());
  for (std::size_t n = 0; n + 1 < net.size(); ++n) {
    const Eigen::Index size = clean.out[n].cols();
    for (int k = 0; k < count; ++k) {
      const Eigen::Index b = Eigen::Index(s.below(std::uint64_t(x.rows())));
      const Eigen::Index e = Eigen::Index(s.below(std::uint64_t(size)));
      const float clean_v = clean.out[n](b, e);
      // small and large changes; a large one spreads wide enough to trip the dense switch
      const float v = k % 3 == 0 ? clean_v + 0.01f * float(s.normal()) : k % 3 == 1 ? float(3 * s.normal()) : 1e3f;
      inc.run(n, b, e, v, z.data(), st);
      const auto want = full(net, x, b, n, e, v);
      double mx = 0;
      for (float w : want) mx = std::max(mx, double(std::fabs(w)));
      // the decision (top-1) is the full forward's unless its top-2 margin is within the tolerance
      const auto top = [](const float* p, std::size_t m) { return std::size_t(std::max_element(p, p + m) - p); };
      const std::size_t t_inc = top(z.data(), z.size()), t_full = top(want.data(), want.size());
      if (t_inc != t_full) {
        ++st_ties;
        CHECK(near_tie(want.data(), Eigen::Index(want.size())));
      }
      for (std::size_t j = 0; j < z.size(); ++j) {
        CAPTURE(net.name(n));
        CAPTURE(k);
        CHECK(std::fabs(double(z[j]) - double(want[j])) <= 1e-4 * (1 + mx));
        worst = std::max(worst, std::fabs(double(z[j]) - double(want[j])) / (1 + mx));
      }
    }
  }
}

}  // namespace

TEST_CASE("delta: incremental propagation equals the full forward on every node kind") {
  Stream s(41, "t.delta");
  for (int g = 0; g < 4; ++g) {
    Network net = g == 0 ? graph_a() : g == 1 ? graph_b() : g == 2 ? graph_c() : graph_d();
    randomize(net, s);
    Matrix x(5, net.input_shape().size());
    s.fill_normal(x);
    DeltaStats st;
    int ties = 0;
    double worst = 0;
    compare(net, x, s, 30, st, ties, worst);
    MESSAGE("graph " << g << ": " << st.runs << " faults, " << ties << " decisions differ, largest logit difference "
                     << worst << " x (1 + max |z|)");
    CHECK(worst < 1e-5);  // the near-tie bound (1e-3) is 100x above what the test needs
    CHECK(st.runs > 0);
    CHECK(st.sparse_nodes > 0);
    if (g == 0) CHECK(st.dense_nodes > 0);  // compensation always, and the dense switch on the wide changes
    if (g == 3) CHECK(st.full_rows > 0);    // c3's switch: full rows, read by the dense path after them
    if (g < 2) CHECK(st.unchanged > 0);     // some faults die out (ReLU below 0, a max that still loses)
  }
}

TEST_CASE("delta: a change that leaves the value as it was gives the clean logits exactly") {
  Stream s(42, "t.delta");
  Network net = graph_b();
  randomize(net, s);
  Matrix x(3, net.input_shape().size());
  s.fill_normal(x);
  const CleanActivations clean(net, x);
  IncrementalSuffix inc(net, clean);
  DeltaStats st;
  std::vector<float> z(4);
  inc.run(0, 1, 7, clean.out[0](1, 7), z.data(), st);
  for (int j = 0; j < 4; ++j) CHECK(z[std::size_t(j)] == clean.out.back()(1, j));
  CHECK(st.unchanged == 1);
  // non-finite values take the dense path and end as the full forward ends
  inc.run(0, 1, 7, std::numeric_limits<float>::infinity(), z.data(), st);
  const auto want = full(net, x, 1, 0, 7, std::numeric_limits<float>::infinity());
  for (int j = 0; j < 4; ++j) CHECK(((std::isnan(z[std::size_t(j)]) && std::isnan(want[std::size_t(j)])) ||
                                     z[std::size_t(j)] == want[std::size_t(j)]));
  CHECK_THROWS_AS(inc.run(9, 0, 0, 1.f, z.data(), st), Error);
}
