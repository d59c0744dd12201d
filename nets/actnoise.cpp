#include "nets/actnoise.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/random.hpp"
#include "nets/hwa.hpp"

namespace aimc::nets {

NoiseModel parse_noise_model(const std::string& name, const std::string& what) {
  if (name == "additive") return NoiseModel::additive;
  if (name == "multiplicative") return NoiseModel::multiplicative;
  throw Error(what + ": unknown noise model '" + name + "' (additive | multiplicative)");
}

const char* noise_model_name(NoiseModel m) { return m == NoiseModel::additive ? "additive" : "multiplicative"; }

std::vector<std::size_t> noise_layers(const Network& net, const std::string& which, const std::string& what) {
  auto mm = matmul_layers(net);
  if (which == "all") return mm;
  if (which == "hidden") {
    if (!mm.empty()) mm.pop_back();
    return mm;
  }
  throw Error(what + ": '" + which + "' is not a layer selection (all | hidden)");
}

std::vector<double> activation_ranges(Network& net, const std::vector<std::size_t>& nodes, const Matrix& x) {
  std::vector<double> r(nodes.size(), 0.0);
  std::vector<int> ids;
  for (std::size_t l = 0; l < nodes.size(); ++l)
    ids.push_back(net.add_hook(nodes[l], [&r, l](std::size_t, Matrix& y) {
      if (y.size() > 0) r[l] = std::max(r[l], double(y.cwiseAbs().maxCoeff()));
    }));
  try {
    net.forward(x, Mode::eval);
  } catch (...) {
    for (int id : ids) net.remove_hook(id);
    throw;
  }
  for (int id : ids) net.remove_hook(id);
  return r;
}

ActivationNoise::ActivationNoise(Network& net, NoiseModel model, double eta, std::vector<std::size_t> nodes,
                                 std::vector<double> ranges, std::uint64_t seed)
    : net_(net), model_(model), eta_(eta), nodes_(std::move(nodes)), ranges_(std::move(ranges)), seed_(seed) {
  if (!(eta_ >= 0) || !std::isfinite(eta_)) throw Error("activation noise: eta " + std::to_string(eta_) + " is not >= 0");
  if (ranges_.size() != nodes_.size())
    throw Error("activation noise: " + std::to_string(ranges_.size()) + " ranges for " + std::to_string(nodes_.size()) +
                " layers");
  for (std::size_t l = 0; l < nodes_.size(); ++l)
    hook_ids_.push_back(net_.add_hook(nodes_[l], [this, l](std::size_t, Matrix& y) { apply(l, y); }));
}

ActivationNoise::~ActivationNoise() {
  for (int id : hook_ids_) net_.remove_hook(id);
}

void ActivationNoise::apply(std::size_t l, Matrix& y) const {
  if (!enabled_ || eta_ == 0) return;
  const float scale = float(model_ == NoiseModel::additive ? eta_ * ranges_[l] : eta_);
  if (scale == 0.f) return;
  std::vector<float> buf(std::size_t(y.cols()));
  const Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>> z(buf.data(), y.cols());
  for (Eigen::Index i = 0; i < y.rows(); ++i) {
    Stream s(seed_, "actnoise", {instance_, std::uint64_t(l), row0_ + std::uint64_t(i)});
    s.fill_normal(std::span<float>(buf), 0.f, scale);
    if (model_ == NoiseModel::additive)
      y.row(i) += z;
    else
      y.row(i).array() *= 1.f + z.array();
  }
}

EvalResult evaluate_noisy(Network& net, ActivationNoise& noise, std::uint64_t instance, const data::Dataset& d,
                          int batch) {
  long long correct = 0;
  double loss = 0;
  for (long long b = 0; b < d.size(); b += batch) {
    const long long m = std::min<long long>(batch, d.size() - b);
    noise.set_batch(instance, std::uint64_t(b));
    const Matrix logits = net.forward(d.x.middleRows(b, m), Mode::eval);
    const VectorI y = d.y.segment(b, m);
    loss += softmax_cross_entropy(logits, y) * double(m);
    correct += count_correct(logits, y);
  }
  const double n = double(std::max<long long>(1, d.size()));
  return {double(correct) / n, loss / n, correct, d.size()};
}

std::vector<double> gradient_norms(Network& net, ActivationNoise& noise, const std::vector<std::size_t>& nodes,
                                   const data::Dataset& d, int batch) {
  std::vector<double> sum(nodes.size(), 0.0);
  Matrix dlogits;
  for (long long b = 0, k = 0; b < d.size(); b += batch, ++k) {
    const long long m = std::min<long long>(batch, d.size() - b);
    noise.set_batch(ActivationNoise::kTrainInstance - 1 - std::uint64_t(k), 0);
    const Matrix logits = net.forward(d.x.middleRows(b, m), Mode::train);
    softmax_cross_entropy(logits, d.y.segment(b, m), &dlogits);
    dlogits *= float(m);  // the batch loss is the mean: row i of m * dlogits is image i's own gradient
    net.backward(dlogits);
    for (std::size_t s = 0; s < nodes.size(); ++s) {
      const Matrix& g = net.output_grad(nodes[s]);
      if (g.size() == 0) continue;
      for (Eigen::Index i = 0; i < g.rows(); ++i) sum[s] += double(g.row(i).cast<double>().norm());
    }
  }
  net.zero_grad();
  for (auto& v : sum) v /= double(std::max<long long>(1, d.size()));
  return sum;
}

}  // namespace aimc::nets
