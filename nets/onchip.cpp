#include "nets/onchip.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace aimc::nets {

using devices::PulseRounding;

std::span<const Param<OnchipParams>> OnchipParams::params() {
  using P = OnchipParams;
  static const Param<P> t[] = {
      {"epochs", &P::epochs, "1", "passes over the training set", "aimc (the float baseline is flat from ~50 on Iris)",
       between(1, 100000)},
      {"learning_rate", &P::learning_rate, "1", "SGD step eta (batch 1)", "aimc (best of 0.5, 1, 2 for the float baseline, 4-4-3)",
       {0.0, 100.0, true, false}},
      {"w_max", &P::w_max, "1", "weight full scale of every array ([-w_max, w_max])",
       "aimc (covers the float baseline's trained weights)", {0.0, 1e6, true, false}},
      {"init_scale", &P::init_scale, "1", "initial weights U(-s, s) / sqrt(fan_in + 1)", "LeCun-style uniform init",
       nonnegative()},
      {"levels", &P::levels, "1", "weight levels per synapse (pulse resolution); 0 = infinite",
       "mosfet.hpp default: 64 gate steps (6 bit)", between(0, 1 << 20)},
      {"max_pulses", &P::max_pulses, "1", "most pulses one update applies (either sign)",
       "mosfet.hpp default (1/8 of 64 steps)", between(1, 1 << 20)},
      {"rounding", &P::rounding, "", "pulse count from dw / dw_pulse: nearest | stochastic",
       "stochastic: unbiased (Gokmen and Vlasov 2016)", {}, {"nearest", "stochastic"}},
      {"t_periph_s", &P::t_periph_s, "s", "neuron, error and update-circuit settling per sample",
       "assumption (a few op-amp settling times)", nonnegative()},
  };
  return t;
}

void OnchipParams::check() const {
  if (levels == 1) throw Error("parameter 'onchip.levels' = 1: must be 0 (infinite resolution) or >= 2");
}

PulseRounding OnchipParams::rounding_mode() const {
  return rounding == "nearest" ? PulseRounding::nearest : PulseRounding::stochastic;
}

std::vector<MatrixD> onchip_init(const std::vector<int>& sizes, double init_scale, Stream& init) {
  require(sizes.size() >= 2, "onchip_init: need at least an input and an output layer");
  std::vector<MatrixD> w;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    const int r = sizes[l] + 1, c = sizes[l + 1];
    const double s = init_scale / std::sqrt(double(r));
    MatrixD m(r, c);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < c; ++j) m(i, j) = s * (2 * init.uniform() - 1);
    w.push_back(std::move(m));
  }
  return w;
}

namespace {

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

/// Activations of one sample: acts[0] = [x, 1], acts[l] = [sigma(z_l), 1] (the last without bias).
void forward_one(OnchipNet& net, const Eigen::Ref<const MatrixD>& x, std::vector<MatrixD>& acts, Stream& read) {
  const std::size_t L = net.arrays.size();
  acts.resize(L + 1);
  acts[0].resize(1, x.cols() + 1);
  acts[0].leftCols(x.cols()) = x;
  acts[0](0, x.cols()) = 1.0;
  MatrixD z;
  for (std::size_t l = 0; l < L; ++l) {
    net.arrays[l]->read(acts[l], z, read);
    const bool last = l + 1 == L;
    acts[l + 1].resize(1, z.cols() + (last ? 0 : 1));
    for (Eigen::Index j = 0; j < z.cols(); ++j) acts[l + 1](0, j) = sigmoid(z(0, j));
    if (!last) acts[l + 1](0, z.cols()) = 1.0;
  }
}

int argmax(const MatrixD& y) {
  Eigen::Index k = 0;
  y.row(0).maxCoeff(&k);
  return int(k);
}

void check_data(const OnchipNet& net, const Eigen::Ref<const MatrixD>& x, std::span<const int> y) {
  require(!net.arrays.empty() && net.sizes.size() == net.arrays.size() + 1, "onchip: network has no layers");
  require(x.cols() == net.sizes[0], "onchip: data has " + to_str(x.cols()) + " features, network " +
                                        to_str(net.sizes[0]) + " inputs");
  require(std::size_t(x.rows()) == y.size(), "onchip: features and labels differ in length");
  for (int v : y) require(v >= 0 && v < net.sizes.back(), "onchip: label " + to_str(v) + " out of range");
}

}  // namespace

MatrixD onchip_forward(OnchipNet& net, const Eigen::Ref<const MatrixD>& x, Stream& read) {
  MatrixD out(x.rows(), net.sizes.back());
  std::vector<MatrixD> acts;
  for (Eigen::Index b = 0; b < x.rows(); ++b) {
    forward_one(net, x.row(b), acts, read);
    out.row(b) = acts.back().row(0);
  }
  return out;
}

double onchip_accuracy(OnchipNet& net, const Eigen::Ref<const MatrixD>& x, std::span<const int> y, Stream& read) {
  check_data(net, x, y);
  if (y.empty()) return 0.0;
  std::vector<MatrixD> acts;
  std::size_t ok = 0;
  for (Eigen::Index b = 0; b < x.rows(); ++b) {
    forward_one(net, x.row(b), acts, read);
    ok += argmax(acts.back()) == y[std::size_t(b)];
  }
  return double(ok) / double(y.size());
}

OnchipCurve train_onchip(OnchipNet& net, const Eigen::Ref<const MatrixD>& x_train, std::span<const int> y_train,
                         const Eigen::Ref<const MatrixD>& x_test, std::span<const int> y_test, const OnchipParams& p,
                         const Stream& order, Stream& update, Stream& read,
                         const std::function<void(int)>& epoch_done) {
  validate(p, "onchip");
  check_data(net, x_train, y_train);
  check_data(net, x_test, y_test);
  const std::size_t L = net.arrays.size();
  const PulseRounding rounding = p.rounding_mode();
  OnchipCurve c;
  // Cycle time: L forward reads, L - 1 transposed reads, the peripheral circuits, and an update slot
  // of max_pulses pulse widths (every synapse's pulses in parallel, gated by its own count).
  double t_read = 0, t_pulse = 0;
  for (const auto& a : net.arrays) {
    t_read = std::max(t_read, a->read_width_s());
    t_pulse = std::max(t_pulse, a->pulse_width_s());
  }
  c.t_sample_s = t_read * double(2 * L - 1) + p.t_periph_s + p.max_pulses * t_pulse;
  if (t_read == 0) c.t_sample_s = 0;  // float baseline: no hardware
  auto energy = [&](double& r, double& w, double& n) {
    r = w = n = 0;
    for (const auto& a : net.arrays) {
      r += a->energy().read_J;
      w += a->energy().write_J;
      n += a->energy().pulses;
    }
  };

  double eval_read = 0;
  std::vector<Eigen::Index> idx(std::size_t(x_train.rows()));
  std::vector<MatrixD> acts, delta(L);
  MatrixD back, pulses;
  for (int e = 0; e < p.epochs; ++e) {
    std::iota(idx.begin(), idx.end(), Eigen::Index(0));  // epoch e's order depends on its stream only
    Stream ord = order.child("epoch", {std::uint64_t(e)});
    ord.shuffle(idx.begin(), idx.end());
    double loss = 0;
    for (Eigen::Index b : idx) {
      forward_one(net, x_train.row(b), acts, read);
      const MatrixD& y = acts[L];
      const int label = y_train[std::size_t(b)];
      delta[L - 1].resize(1, y.cols());
      for (Eigen::Index j = 0; j < y.cols(); ++j) {
        const double t = j == label ? 1.0 : 0.0;
        loss += 0.5 * (y(0, j) - t) * (y(0, j) - t);
        delta[L - 1](0, j) = (t - y(0, j)) * y(0, j) * (1 - y(0, j));
      }
      for (std::size_t l = L - 1; l-- > 0;) {
        net.arrays[l + 1]->read_transposed(delta[l + 1], back, read);
        const MatrixD& h = acts[l + 1];
        delta[l].resize(1, h.cols() - 1);
        for (Eigen::Index j = 0; j + 1 < h.cols(); ++j) delta[l](0, j) = back(0, j) * h(0, j) * (1 - h(0, j));
      }
      for (std::size_t l = 0; l < L; ++l) {
        auto& a = *net.arrays[l];
        const double step = a.weight_step();
        pulses.resize(a.rows(), a.cols());
        for (int i = 0; i < a.rows(); ++i)
          for (int j = 0; j < a.cols(); ++j)
            pulses(i, j) = devices::pulses_for(p.learning_rate * acts[l](0, i) * delta[l](0, j), step, p.max_pulses,
                                               rounding, update);
        a.apply(pulses, update);
        a.idle(c.t_sample_s);
      }
      ++c.samples;
    }
    c.train_loss.push_back(loss / double(std::max<Eigen::Index>(1, x_train.rows())));
    // evaluation reads are not training energy: count what they add and take it out
    double r0, w0, n0, r1, w1, n1;
    energy(r0, w0, n0);
    c.train_acc.push_back(onchip_accuracy(net, x_train, y_train, read));
    c.test_acc.push_back(onchip_accuracy(net, x_test, y_test, read));
    energy(r1, w1, n1);
    eval_read += r1 - r0;
    if (epoch_done) epoch_done(e);
  }
  energy(c.read_J, c.write_J, c.pulses);
  c.read_J -= eval_read;
  return c;
}

}  // namespace aimc::nets
