#include "nets/mitigation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "nets/compensation.hpp"
#include "nets/denoise.hpp"
#include "nets/hwa.hpp"

namespace aimc::nets {

namespace {
bool keeps_error(const std::string& kind) {
  return kind == "batchnorm" || kind == "relu" || kind == "clip" || kind == "maxpool2d" || kind == "avgpool2d";
}
/// Nodes that read node i.
std::vector<std::size_t> readers(const Network& net, std::size_t i) {
  std::vector<std::size_t> r;
  for (std::size_t j = i + 1; j < net.size(); ++j)
    for (int in : net.inputs(j))
      if (in == int(i)) {
        r.push_back(j);
        break;
      }
  return r;
}
}  // namespace

std::vector<BlockSite> block_sites(const Network& net) {
  const auto mm = matmul_layers(net);
  std::vector<BlockSite> sites;
  for (std::size_t k = 0; k + 1 < mm.size(); ++k) {
    std::size_t end = mm[k];
    bool nonneg = false;
    for (;;) {
      const auto r = readers(net, end);
      if (r.size() != 1 || !keeps_error(net.layer(r[0]).spec().kind) || net.inputs(r[0]).size() != 1) break;
      end = r[0];
      const LayerSpec sp = net.layer(end).spec();
      if (sp.kind == "relu" || (sp.kind == "clip" && sp.has("min") && sp.get_float("min") >= 0)) nonneg = true;
      if (sp.kind == "batchnorm") nonneg = false;  // an affine map after the ReLU may go negative
    }
    sites.push_back({mm[k], net.name(end), net.layer(end).output_shape(), nonneg});
  }
  return sites;
}

long long compensation_params(const Shape& s, int rank) {
  const long long c = s.c;
  return (rank > 0 && rank < c ? 2 * c * rank : c * c) + c;
}

long long compensation_macs(const Shape& s, int rank) {
  const long long c = s.c, pos = (long long)s.h * s.w;
  return rank > 0 && rank < c ? pos * 2 * c * rank : pos * c * c;
}

namespace {
/// Inserts make(s) after every site s with placement[s] != 0 (named prefix + after); node indices.
std::vector<std::size_t> insert_blocks(Network& net, const std::vector<BlockSite>& sites,
                                       const std::vector<int>& placement, const std::string& prefix,
                                       const std::function<std::unique_ptr<Layer>(std::size_t)>& make) {
  std::vector<std::string> names;
  for (std::size_t s = 0; s < sites.size(); ++s) {
    if (placement[s] == 0) continue;
    const std::string name = prefix + sites[s].after;
    net.insert_after(sites[s].after, make(s), name);
    names.push_back(name);
  }
  std::vector<std::size_t> idx;
  for (const auto& n : names) idx.push_back(net.find(n));
  return idx;
}
void check_length(const char* what, const std::vector<BlockSite>& sites, const std::vector<int>& placement) {
  if (placement.size() != sites.size())
    throw Error(std::string(what) + ": placement has " + std::to_string(placement.size()) + " entries for " +
                std::to_string(sites.size()) + " sites");
}
int hidden_of(int c, int r) { return std::max(1, c / std::max(1, std::min(r, c))); }
}  // namespace

std::vector<std::size_t> insert_compensation(Network& net, const std::vector<BlockSite>& sites,
                                             const std::vector<int>& placement, const std::vector<int>& ranks,
                                             std::uint64_t seed) {
  check_length("insert_compensation", sites, placement);
  for (std::size_t s = 0; s < sites.size(); ++s)
    if (placement[s] < 0 || placement[s] > int(ranks.size()))
      throw Error("insert_compensation: action " + std::to_string(placement[s]) + " at site " + std::to_string(s) +
                  " is outside [0, " + std::to_string(ranks.size()) + "]");
  return insert_blocks(net, sites, placement, "comp_", [&](std::size_t s) -> std::unique_ptr<Layer> {
    const Shape& sh = sites[s].shape;
    auto block = std::make_unique<Compensation>(sh.c, sh.h, sh.w, ranks[std::size_t(placement[s] - 1)], sites[s].nonneg);
    Stream st(seed, "compensation.init", {std::uint64_t(s)});
    block->init(st);
    return block;
  });
}

std::vector<std::size_t> insert_denoise(Network& net, const std::vector<BlockSite>& sites,
                                        const std::vector<int>& placement, int r, const std::string& form,
                                        std::uint64_t seed) {
  check_length("insert_denoise", sites, placement);
  const Denoise::Form f = Denoise::parse_form(form);
  return insert_blocks(net, sites, placement, "denoise_", [&](std::size_t s) -> std::unique_ptr<Layer> {
    const Shape& sh = sites[s].shape;
    auto block = std::make_unique<Denoise>(sh.c, sh.h, sh.w, sh.c / hidden_of(sh.c, r), f);
    Stream st(seed, "denoise.init", {std::uint64_t(s)});
    block->init(st);
    return block;
  });
}

long long denoise_params(const Shape& s, int r, const std::string& form) {
  const long long c = s.c, m = hidden_of(s.c, r), o = Denoise::parse_form(form) == Denoise::Form::residual ? c : 2 * c;
  const long long k2 = s.h * s.w > 1 ? 9 : 1;
  return c * m + m + k2 * m * m + m + m * o + o;
}

long long denoise_macs(const Shape& s, int r, const std::string& form) {
  const long long c = s.c, m = hidden_of(s.c, r), o = Denoise::parse_form(form) == Denoise::Form::residual ? c : 2 * c;
  const long long k2 = s.h * s.w > 1 ? 9 : 1;
  return (long long)s.h * s.w * (c * m + k2 * m * m + m * o);
}

void freeze_except(Network& net, const std::vector<std::size_t>& trainable) {
  for (std::size_t i = 0; i < net.size(); ++i) {
    const bool on = std::find(trainable.begin(), trainable.end(), i) != trainable.end();
    for (auto* p : net.layer(i).parameters()) p->trainable = on;
  }
  // A tensor shared by a trainable block and a backbone node stays trainable (set last wins above
  // only per node): re-enable the blocks' tensors.
  for (std::size_t i : trainable)
    for (auto* p : net.layer(i).parameters()) p->trainable = true;
}

std::vector<EpochLog> train_blocks(Network& net, const std::vector<std::size_t>& blocks, const Network& clean,
                                   const std::vector<std::string>& after, const data::Dataset& train,
                                   const TrainParams& p, const BlockLoss& extra, const std::vector<StepHook*>& hooks,
                                   bool progress, const std::function<void(const EpochLog&)>& on_epoch) {
  validate(p, "train");
  if (after.size() != blocks.size())
    throw Error("train_blocks: " + std::to_string(after.size()) + " target nodes for " + std::to_string(blocks.size()) +
                " blocks");
  const double mse = extra.mse, nll = extra.nll;
  if (!(mse >= 0) || !std::isfinite(mse)) throw Error("train_blocks: mse weight " + std::to_string(mse));
  if (!(nll >= 0) || !std::isfinite(nll)) throw Error("train_blocks: nll weight " + std::to_string(nll));
  std::vector<EpochLog> logs;
  if (blocks.empty()) return logs;
  freeze_except(net, blocks);
  auto opt = make_optimizer(p.optimizer);
  auto params = net.parameters();
  for (auto* h : hooks)
    for (auto* q : h->parameters()) params.push_back(q);
  // Hooks capture the clean targets and the blocks' outputs of each batch.
  Network clean_exec = clean.share();
  const std::size_t K = blocks.size();
  std::vector<Matrix> target(K), out(K);
  std::vector<int> hook_ids;
  std::vector<Denoise*> prob(K, nullptr);  // probabilistic denoising blocks (their NLL term)
  if (nll > 0)
    for (std::size_t k = 0; k < K; ++k)
      if (auto* d = dynamic_cast<Denoise*>(&net.layer(blocks[k])); d && d->form() == Denoise::Form::probabilistic)
        prob[k] = d;
  const bool any_nll = std::any_of(prob.begin(), prob.end(), [](auto* d) { return d != nullptr; });
  const bool targets = mse > 0 || any_nll;
  if (targets)
    for (std::size_t k = 0; k < K; ++k) clean_exec.add_hook(after[k], [&target, k](std::size_t, Matrix& y) { target[k] = y; });
  if (mse > 0)
    for (std::size_t k = 0; k < K; ++k)
      hook_ids.push_back(net.add_hook(blocks[k], [&out, k](std::size_t, Matrix& y) { out[k] = y; }));
  auto restore = [&] {
    for (int id : hook_ids) net.remove_hook(id);
    for (auto* q : net.parameters()) q->trainable = true;
  };
  const std::size_t n = std::size_t(train.size()), bs = std::size_t(p.batch_size), batches = (n + bs - 1) / bs;
  std::vector<std::int64_t> order(n);
  Matrix x, dlogits, g, dx;
  VectorI y;
  try {
    for (int epoch = 0; epoch < p.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      std::iota(order.begin(), order.end(), 0);
      Stream shuffle(std::uint64_t(p.seed), "shuffle", {std::uint64_t(epoch)});
      shuffle.shuffle(order.begin(), order.end());
      double lr = p.optimizer.lr;
      if (p.schedule == "cosine") lr = 0.5 * p.optimizer.lr * (1 + std::cos(M_PI * epoch / p.epochs));
      opt->set_lr(lr);
      Progress bar("blocks epoch " + std::to_string(epoch + 1) + "/" + std::to_string(p.epochs), (long long)batches,
                   "batches", progress);
      double loss_sum = 0;
      long long correct = 0;
      for (std::size_t b = 0; b < batches; ++b) {
        const std::size_t begin = b * bs, end = std::min(n, begin + bs);
        x.resize(Eigen::Index(end - begin), train.x.cols());
        y.resize(Eigen::Index(end - begin));
        for (std::size_t i = begin; i < end; ++i) {
          x.row(Eigen::Index(i - begin)) = train.x.row(order[i]);
          y(Eigen::Index(i - begin)) = train.y(order[i]);
        }
        const std::uint64_t step = std::uint64_t(epoch) * batches + b;
        if (targets) clean_exec.forward(x, Mode::eval);
        for (auto* h : hooks) h->begin_step(step);
        net.zero_grad();
        const Matrix logits = net.forward(x, Mode::train);
        double loss = softmax_cross_entropy(logits, y, &dlogits);
        correct += count_correct(logits, y);
        for (std::size_t k = 0; k < K; ++k)
          if (prob[k]) {  // the gradient request is added by the block's next backward (the one below)
            Matrix dh;
            loss += nll * prob[k]->nll(target[k], &dh, nll);
          }
        net.backward(dlogits);
        for (std::size_t k = 0; k < K && mse > 0; ++k) {
          g = out[k] - target[k];
          loss += mse * double(g.squaredNorm()) / double(g.size());
          g *= float(2.0 * mse / double(g.size()));
          net.layer(blocks[k]).backward(g, dx);
        }
        opt->step(params);
        for (auto* h : hooks) h->end_step(step);
        loss_sum += loss * double(end - begin);
        bar.tick();
      }
      bar.finish();
      EpochLog log{epoch + 1, loss_sum / double(n), double(correct) / double(n),
                   std::numeric_limits<double>::quiet_NaN(), lr,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
      if (progress)
        std::fprintf(stderr, "blocks epoch %d/%d: loss %.4f, train accuracy %.4f (under the hooks), lr %.2e, %.1f s\n",
                     log.epoch, p.epochs, log.loss, log.train_accuracy, log.lr, log.seconds);
      logs.push_back(log);
      if (on_epoch) on_epoch(log);
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return logs;
}

long long parameter_count(const Network& net) {
  long long n = 0;
  for (const auto& p : net.parameter_store()) n += p->value.size();
  return n;
}

long long mac_count(const Network& net) {
  long long n = 0;
  for (std::size_t i = 0; i < net.size(); ++i) n += net.layer(i).macs();
  return n;
}

}  // namespace aimc::nets
