#include "nets/train.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "core/progress.hpp"
#include "data/augment.hpp"

namespace aimc::nets {

std::span<const Param<TrainParams>> TrainParams::params() {
  using P = TrainParams;
  static const Param<P> p[] = {
      {"epochs", &P::epochs, "1", "passes over the training set", "", between(1, 10000)},
      {"batch_size", &P::batch_size, "1", "samples per mini-batch", "", between(1, 1 << 20)},
      {"schedule", &P::schedule, "", "learning-rate schedule", "Loshchilov & Hutter 2017 (cosine)", {}, {"cosine", "constant"}},
      {"seed", &P::seed, "1", "seed of initialization, shuffling and augmentation streams", "", between(0, 2147483647)},
      {"augment", &P::augment, "", "training-image augmentation", "He et al. 2016 Sec. 4.2 (shift and flip)", {},
       {"none", "shift-flip"}},
      {"augment_shift", &P::augment_shift, "px", "largest random translation per axis", "", between(0, 64)},
  };
  return p;
}

namespace {

void gather(const data::Dataset& d, const std::vector<std::int64_t>& order, std::size_t begin, std::size_t end,
            Matrix& x, VectorI& y) {
  const auto n = static_cast<Eigen::Index>(end - begin);
  x.resize(n, d.x.cols());
  y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    auto k = order[begin + std::size_t(i)];
    x.row(i) = d.x.row(k);
    y[i] = d.y[k];
  }
}

}  // namespace

std::vector<EpochLog> train(Network& net, const data::Dataset& train_set, const data::Dataset* test_set,
                            const TrainParams& p, const std::vector<Regularizer*>& regularizers, bool progress,
                            const std::function<void(const EpochLog&)>& on_epoch, const std::vector<StepHook*>& hooks) {
  validate(p, "train");
  if (train_set.x.cols() != net.input_shape().size())
    throw Error("dataset '" + train_set.name + "' has " + std::to_string(train_set.x.cols()) +
                " features per sample, the model expects " + std::to_string(net.input_shape().size()));
  const data::AugmentParams aug{p.augment, p.augment_shift};
  data::validate_augment(aug, train_set.shape, "train");
  auto opt = make_optimizer(p.optimizer);
  const std::size_t n = static_cast<std::size_t>(train_set.size());
  const std::size_t bs = static_cast<std::size_t>(p.batch_size);
  const std::size_t batches = (n + bs - 1) / bs;
  std::vector<std::int64_t> order(n);
  std::vector<EpochLog> logs;
  Matrix x, dlogits;
  VectorI y;
  auto params = net.parameters();
  for (auto* h : hooks)
    for (auto* q : h->parameters()) params.push_back(q);
  for (int epoch = 0; epoch < p.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    std::iota(order.begin(), order.end(), 0);
    Stream shuffle(std::uint64_t(p.seed), "shuffle", {std::uint64_t(epoch)});
    shuffle.shuffle(order.begin(), order.end());
    double lr = p.optimizer.lr;
    if (p.schedule == "cosine") lr = 0.5 * p.optimizer.lr * (1 + std::cos(M_PI * epoch / p.epochs));
    opt->set_lr(lr);
    Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(p.epochs), (long long)batches, "batches",
                 progress);
    double loss_sum = 0;
    long long correct = 0;
    for (std::size_t b = 0; b < batches; ++b) {
      std::size_t begin = b * bs, end = std::min(n, begin + bs);
      gather(train_set, order, begin, end, x, y);
      data::augment(x, train_set.shape, std::span(order).subspan(begin, end - begin), aug, std::uint64_t(p.seed),
                    epoch);
      const std::uint64_t step = std::uint64_t(epoch) * batches + b;
      for (auto* h : hooks) h->begin_step(step);
      net.zero_grad();
      Matrix logits = net.forward(x, Mode::train);
      double loss = softmax_cross_entropy(logits, y, &dlogits);
      correct += count_correct(logits, y);
      net.backward(dlogits);
      for (auto* r : regularizers) loss += r->apply(net);
      opt->step(params);
      for (auto* h : hooks) h->end_step(step);
      loss_sum += loss * double(end - begin);
      bar.tick();
    }
    bar.finish();
    EpochLog log{epoch + 1, loss_sum / double(n), double(correct) / double(n),
                 std::numeric_limits<double>::quiet_NaN(), lr, 0.0};
    // at the training batch size: node workspaces keep their shape (a larger evaluation batch would grow
    // every node's buffers, e.g. 1,000 images through ResNet-8 are 1.2 GB, and reallocate them each epoch)
    if (test_set) log.test_accuracy = evaluate(net, *test_set, p.batch_size).accuracy;
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (progress)
      std::fprintf(stderr, "epoch %d/%d: loss %.4f, train accuracy %.4f, test accuracy %.4f, lr %.2e, %.1f s\n",
                   log.epoch, p.epochs, log.loss, log.train_accuracy, log.test_accuracy, log.lr, log.seconds);
    logs.push_back(log);
    if (on_epoch) on_epoch(log);
  }
  return logs;
}

EvalResult evaluate(Network& net, const data::Dataset& d, int batch) {
  if (d.x.cols() != net.input_shape().size())
    throw Error("dataset '" + d.name + "' has " + std::to_string(d.x.cols()) + " features per sample, the model expects " +
                std::to_string(net.input_shape().size()) + " " + net.input_shape().str());
  long long correct = 0;
  double loss = 0;
  for (long long b = 0; b < d.size(); b += batch) {
    long long m = std::min<long long>(batch, d.size() - b);
    Matrix logits = net.forward(d.x.middleRows(b, m), Mode::eval);
    VectorI y = d.y.segment(b, m);
    loss += softmax_cross_entropy(logits, y) * double(m);
    correct += count_correct(logits, y);
  }
  double n = double(std::max<long long>(1, d.size()));
  return {double(correct) / n, loss / n, correct, d.size()};
}

}  // namespace aimc::nets
