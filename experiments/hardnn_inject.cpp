// `aimc hardnn` error injection: the jobs of the campaign and of the verification, and the heuristics
// (no injection) whose rankings are compared with the campaign's.
#include "experiments/hardnn_detail.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/random.hpp"

namespace aimc::experiments::hardnn_detail {

/// Top-1 and capped cross-entropy of one logits row; non-finite logits: prediction -1, loss = cap.
std::pair<int, double> judge(const float* z, Eigen::Index n, int label, double cap) {
  for (Eigen::Index i = 0; i < n; ++i)
    if (!std::isfinite(z[i])) return {-1, cap};
  Eigen::Index best = 0;
  for (Eigen::Index i = 1; i < n; ++i)
    if (z[i] > z[best]) best = i;
  double m = z[best], s = 0;
  for (Eigen::Index i = 0; i < n; ++i) s += std::exp(double(z[i]) - m);
  const double ce = m + std::log(s) - double(z[label]);
  return {int(best), std::min(ce, cap)};
}

namespace {

Stream inject_stream(int seed, std::size_t layer, int fmap, std::uint64_t i) {
  return Stream(std::uint64_t(seed), "hardnn.inject", {std::uint64_t(layer), std::uint64_t(fmap), i});
}
Stream verify_stream(int seed, std::uint64_t i) { return Stream(std::uint64_t(seed), "hardnn.verify", {i}); }

struct Site {
  std::size_t fmap = 0;  // global fmap id
  int sample = 0;
  fault::Injection inj;  // row = position in the layer's batch
};

/// Draws where injection lands inside fmap `f` and its faulty value (continuing stream s).
Site draw_site(const Run& r, std::size_t f, Stream& s) {
  const FmapId& id = r.fmaps[f];
  const LayerInfo& L = r.layers[id.layer];
  Site site;
  site.fmap = f;
  site.sample = int(s.below(std::uint64_t(L.clean().rows())));
  const int pos = int(s.below(std::uint64_t(L.positions)));
  site.inj.element = Eigen::Index(pos) * L.channels + id.fmap;
  const float clean = L.clean()(site.sample, site.inj.element);
  site.inj.value = fault::faulty_value(r.model, clean, L.spec, s);
  return site;
}

/// Runs the sites of one layer (rows of one batch) from the layer's clean outputs and adds their
/// outcomes to rec.
void run_sites(const Run& r, Worker& w, std::size_t layer, std::vector<Site>& sites, std::span<double> rec) {
  if (sites.empty()) return;
  const LayerInfo& L = r.layers[layer];
  const double cap = r.cfg->hardnn.loss_cap;
  auto score = [&](const Site& site, const float* z, Eigen::Index n) {
    const int smp = site.sample;
    const auto [pred, loss] = judge(z, n, r.labels[smp], cap);
    const double d = loss - r.loss[std::size_t(smp)];
    rec[0] += 1;
    rec[1] += pred != r.pred[std::size_t(smp)] ? 1 : 0;
    rec[2] += d;
    rec[3] += d * d;
  };
  if (w.inc) {  // only what the fault changes (nets/delta.hpp)
    std::vector<float> z(std::size_t(r.classes));
    for (const Site& site : sites) {
      w.inc->run(L.index, site.sample, site.inj.element, site.inj.value, z.data(), w.stats);
      if (nets::near_tie(z.data(), Eigen::Index(z.size()))) ++w.stats.near_ties;
      score(site, z.data(), Eigen::Index(z.size()));
    }
    return;
  }
  nets::Network& net = w.net;
  Matrix x(Eigen::Index(sites.size()), L.clean().cols());
  for (std::size_t i = 0; i < sites.size(); ++i) {
    x.row(Eigen::Index(i)) = L.clean().row(sites[i].sample);
    sites[i].inj.row = Eigen::Index(i);
  }
  std::vector<fault::Injection> inj;
  for (const auto& s : sites) inj.push_back(s.inj);
  Matrix z;
  if (net.is_cut(L.index + 1)) {
    // The layer's output carries everything later nodes read: propagate from the faulty copy only.
    fault::apply_injections(x, inj);
    z = net.forward_range(x, L.index + 1, net.size());
  } else {
    // A graph in which later nodes also read earlier ones (residual connections): run the samples from
    // the input with the faulty values put into the layer's output by a hook. Only the same clean
    // inputs are recomputed (products may differ from the cached ones in the last float bit, as the batch
    // is another).
    Matrix x0(x.rows(), r.inputs->cols());
    for (std::size_t i = 0; i < sites.size(); ++i) x0.row(Eigen::Index(i)) = r.inputs->row(sites[i].sample);
    const int hook = net.add_hook(L.index, [&](std::size_t, Matrix& y) { fault::apply_injections(y, inj); });
    z = net.forward(x0);
    net.remove_hook(hook);
  }
  for (std::size_t i = 0; i < sites.size(); ++i) score(sites[i], z.row(Eigen::Index(i)).data(), z.cols());
}

}  // namespace

void campaign_job(const Run& r, Worker& w, const Job& job, std::span<double> rec) {
  std::fill(rec.begin(), rec.end(), 0.0);
  const FmapId& id = r.fmaps[job.unit];
  const std::uint64_t b = std::uint64_t(r.cfg->hardnn.batch);
  const std::uint64_t i0 = job.index * b, i1 = std::min(r.injections, i0 + b);
  std::vector<Site> sites;
  for (std::uint64_t i = i0; i < i1; ++i) {
    Stream s = inject_stream(r.cfg->hardnn.seed, r.layers[id.layer].index, id.fmap, i);
    sites.push_back(draw_site(r, job.unit, s));
  }
  run_sites(r, w, id.layer, sites, rec);
}

/// Cumulative MAC shares of the fmaps, for drawing the fmap an error lands in.
std::vector<double> cumulative_shares(const Run& r) {
  std::vector<double> c(r.macs.size());
  std::partial_sum(r.macs.begin(), r.macs.end(), c.begin());
  for (auto& v : c) v /= c.back();
  return c;
}

void verify_job(const Run& r, const std::vector<double>& cum, const std::vector<Level>& lv, Worker& w,
                const Job& job, std::span<double> rec) {
  std::fill(rec.begin(), rec.end(), 0.0);
  const Level& level = lv[job.unit - r.fmaps.size()];
  const std::uint64_t b = std::uint64_t(r.cfg->hardnn.batch), n = std::uint64_t(r.cfg->hardnn.verify_injections);
  const std::uint64_t i0 = job.index * b, i1 = std::min(n, i0 + b);
  std::vector<std::vector<Site>> by_layer(r.layers.size());
  for (std::uint64_t i = i0; i < i1; ++i) {
    Stream s = verify_stream(r.cfg->hardnn.seed, i);
    const double u = s.uniform();
    const std::size_t f = std::min<std::size_t>(std::size_t(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin()),
                                                cum.size() - 1);
    Site site = draw_site(r, f, s);
    if (level.protect[f]) {
      rec[0] += 1;  // the duplicate detects and corrects the error: the clean inference
      continue;
    }
    by_layer[r.fmaps[f].layer].push_back(site);
  }
  for (std::size_t l = 0; l < by_layer.size(); ++l) run_sites(r, w, l, by_layer[l], rec);
}

/// Mean |y| per fmap over the subset and the fmap's positions.
Heuristic activation_heuristic(Run& r, nets::Network& net, const Matrix& x) {
  Heuristic h{"activation", "mean |y| of the fmap over the subset and its positions (clean forward)", {}, 0};
  const auto t0 = Clock::now();
  std::vector<std::vector<double>> sum(r.layers.size());
  std::vector<int> ids;
  for (std::size_t l = 0; l < r.layers.size(); ++l) {
    sum[l].assign(std::size_t(r.layers[l].channels), 0.0);
    ids.push_back(net.add_hook(r.layers[l].index, [&, l](std::size_t, Matrix& y) {
      const int C = r.layers[l].channels;
      for (Eigen::Index i = 0; i < y.rows(); ++i)
        for (Eigen::Index e = 0; e < y.cols(); ++e) sum[l][std::size_t(e % C)] += std::fabs(double(y(i, e)));
    }));
  }
  for (Eigen::Index b = 0; b < x.rows(); b += 200) net.forward(x.middleRows(b, std::min<Eigen::Index>(200, x.rows() - b)));
  for (int id : ids) net.remove_hook(id);
  for (const auto& f : r.fmaps) {
    const auto& L = r.layers[f.layer];
    h.score.push_back(sum[f.layer][std::size_t(f.fmap)] / (double(x.rows()) * L.positions));
  }
  h.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return h;
}

/// Mean |d g / d y| E|delta| per fmap, g = per-sample loss ("gradient") or logit margin z_top1 - z_top2
/// ("gain"), by back-propagation of the clean forward.
Heuristic gradient_heuristic(Run& r, nets::Network& net, const Matrix& x, bool margin) {
  Heuristic h;
  h.name = margin ? "gain" : "gradient";
  h.description = margin ? "mean |d(z_top1 - z_top2)/dy| x E|delta| (first-order change of the logit margin)"
                         : "mean |dL/dy| x E|delta| (first-order change of the cross-entropy)";
  const auto t0 = Clock::now();
  std::vector<std::vector<double>> sum(r.layers.size());
  for (std::size_t l = 0; l < r.layers.size(); ++l) sum[l].assign(std::size_t(r.layers[l].channels), 0.0);
  for (Eigen::Index b = 0; b < x.rows(); b += 200) {
    const Eigen::Index m = std::min<Eigen::Index>(200, x.rows() - b);
    const Matrix z = net.forward_range(x.middleRows(b, m), 0, net.size(), nets::Mode::train);
    Matrix d = Matrix::Zero(z.rows(), z.cols());
    for (Eigen::Index i = 0; i < m; ++i) {
      if (margin) {
        Eigen::Index t1 = 0, t2 = -1;
        for (Eigen::Index j = 1; j < z.cols(); ++j)
          if (z(i, j) > z(i, t1)) t1 = j;
        for (Eigen::Index j = 0; j < z.cols(); ++j)
          if (j != t1 && (t2 < 0 || z(i, j) > z(i, t2))) t2 = j;
        d(i, t1) = 1;
        if (t2 >= 0) d(i, t2) = -1;
      } else {  // per-sample softmax - onehot
        const float mx = z.row(i).maxCoeff();
        double s = 0;
        for (Eigen::Index j = 0; j < z.cols(); ++j) s += std::exp(double(z(i, j) - mx));
        for (Eigen::Index j = 0; j < z.cols(); ++j) d(i, j) = float(std::exp(double(z(i, j) - mx)) / s);
        d(i, r.labels[b + i]) -= 1;
      }
    }
    net.backward(d);  // dL/dy of every node, summed over the readers of each output (graphs)
    for (std::size_t l = 0; l < r.layers.size(); ++l) {
      const Matrix& g = net.output_grad(r.layers[l].index);
      const int C = r.layers[l].channels;
      for (Eigen::Index a = 0; a < g.rows(); ++a)
        for (Eigen::Index e = 0; e < g.cols(); ++e) sum[l][std::size_t(e % C)] += std::fabs(double(g(a, e)));
    }
  }
  for (const auto& f : r.fmaps) {
    const auto& L = r.layers[f.layer];
    h.score.push_back(sum[f.layer][std::size_t(f.fmap)] / (double(x.rows()) * L.positions) *
                      fault::error_scale(r.model, L.spec));
  }
  net.zero_grad();
  h.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return h;
}

}  // namespace aimc::experiments::hardnn_detail
