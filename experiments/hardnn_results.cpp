// `aimc hardnn` results: the HDF5 file (docs/results.md, "HarDNN results files"), its reading for
// --resume, and the printed summary.
#include "experiments/hardnn_detail.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/stats.hpp"
#include "experiments/results_writer.hpp"

namespace aimc::experiments::hardnn_detail {

namespace {

void write_records(H5::Group& g, const Records& rc, const std::string& what) {
  h5::write(g, "records", rc.rec, "",
            "per job (unit-major, batch index fastest): injections, mismatches, sum of delta loss (nat), sum of "
            "delta loss^2 (nat^2) of " + what + " (NaN: not run)");
  h5::write(g, "done", rc.done, "", "1 if the job completed");
  h5::set_attr(g, "jobs_per_unit", std::int64_t(rc.per_unit));
}

void read_records(const H5::Group& g, Records& rc, const std::string& file) {
  const MatrixD rec = h5::read_matrixd(g, "records", file);
  const auto done = h5::read_ints(g, "done", file);
  if (rec.rows() != rc.rec.rows() || rec.cols() != rc.rec.cols() || done.size() != rc.done.size())
    throw Error(file + ": --resume: job tables have unexpected sizes");
  for (std::size_t j = 0; j < done.size(); ++j) {
    if (!done[j]) continue;
    rc.done[j] = 1;
    rc.rec.row(Eigen::Index(j)) = rec.row(Eigen::Index(j));
  }
}

}  // namespace

void write_results(const Run& r) {
  const HardnnConfig& c = *r.cfg;
  const auto& h = c.hardnn;
  const Summary s = summarize(r);
  const bool complete = r.campaign.complete();
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    r.write_model_attributes(root);
    h5::set_attr(root, "clean_accuracy", r.clean_accuracy);
    h5::set_attr(root, "error_model", h.error_model);
    h5::set_attr(root, "propagation", r.propagation);
    h5::set_attr(root, "propagation_injections", std::int64_t(r.propagation_stats.runs));
    h5::set_attr(root, "propagation_sparse_nodes", std::int64_t(r.propagation_stats.sparse_nodes));
    h5::set_attr(root, "propagation_dense_nodes", std::int64_t(r.propagation_stats.dense_nodes));
    h5::set_attr(root, "propagation_masked", std::int64_t(r.propagation_stats.unchanged));
    h5::set_attr(root, "propagation_near_ties", std::int64_t(r.propagation_stats.near_ties));
    h5::set_attr(root, "fmaps", std::int64_t(r.fmaps.size()));
    h5::set_attr(root, "injections_per_fmap", std::int64_t(r.injections));
    h5::set_attr(root, "inject_stream",
                 "Stream(seed, \"hardnn.inject\", {layer, fmap, injection}) (core/random.hpp); layer = network index");
    h5::set_attr(root, "verify_stream", "Stream(seed, \"hardnn.verify\", {injection}) (core/random.hpp)");
    if (r.model == fault::ErrorModel::analog) {
      h5::set_attr(root, "analog_program_stream", "Stream(seed, \"hardnn.analog.program\")");
      h5::set_attr(root, "analog_read_stream", "Stream(seed, \"hardnn.analog.read\")");
    }
  };
  content.resolved = [&](H5::Group& res) {
    write_resolved(res, "model", c.model);
    write_resolved(res, "data", c.data);
    write_resolved(res, "hardnn", h);
    write_resolved_analog(res, c.analog);
  };
  content.groups = [&](H5::Group& root) {
    {
      H5::Group g = h5::group(root, "layers");
      std::vector<std::int64_t> idx, ord, ch, pos;
      std::vector<double> macs, lo, hi, fs, sigma, snr, escale;
      std::vector<std::string> kind;
      for (const auto& L : r.layers) {
        idx.push_back(std::int64_t(L.index));
        ord.push_back(L.ordinal);
        kind.push_back(L.kind);
        ch.push_back(L.channels);
        pos.push_back(L.positions);
        macs.push_back(L.macs_per_fmap);
        lo.push_back(L.spec.lo);
        hi.push_back(L.spec.hi);
        fs.push_back(L.spec.fixed.full_scale);
        sigma.push_back(L.spec.sigma);
        snr.push_back(L.snr_db);
        escale.push_back(fault::error_scale(r.model, L.spec));
      }
      h5::write(g, "index", idx, "", "network layer index of each injected layer");
      h5::write(g, "ordinal", ord, "", "ordinal among the network's Dense/Conv2d layers");
      h5::write_strings(g, "kind", kind, "layer kind (dense, conv2d)");
      h5::write(g, "fmaps", ch, "1", "fmaps (output channels / neurons) of the layer");
      h5::write(g, "positions", pos, "1", "output positions per fmap (H_out W_out for conv2d, 1 for dense)");
      h5::write(g, "macs_per_fmap", macs, "1", "multiply-accumulates per sample of one fmap");
      h5::write(g, "range_lo", lo, "1", "smallest clean output on the subset (random_value range)");
      h5::write(g, "range_hi", hi, "1", "largest clean output on the subset");
      h5::write(g, "full_scale", fs, "1", "max |clean output| on the subset (fixed-point full scale)");
      h5::write(g, "sigma", sigma, "1", "analog error model: output-referred noise sd per element (0 otherwise)");
      h5::write(g, "snr_db", snr, "dB", "analog error model: measured output SNR of the layer (NaN otherwise)");
      h5::write(g, "error_scale", escale, "1", "E|delta| of the error model in this layer (first-order heuristics)");
    }

    {
      H5::Group g = h5::group(root, "fmaps");
      const std::size_t F = r.fmaps.size();
      std::vector<std::int64_t> layer(F), fmap(F), n(F), k(F);
      std::vector<double> p(F), plo(F), phi(F), dl(F), dlo(F), dhi(F);
      for (std::size_t i = 0; i < F; ++i) {
        layer[i] = std::int64_t(r.layers[r.fmaps[i].layer].index);
        fmap[i] = r.fmaps[i].fmap;
        n[i] = std::int64_t(s.fmap[i].n);
        k[i] = std::int64_t(s.fmap[i].k);
        p[i] = s.fmap[i].p;
        plo[i] = s.fmap[i].p_lo;
        phi[i] = s.fmap[i].p_hi;
        dl[i] = s.fmap[i].dloss;
        dlo[i] = s.fmap[i].dloss_lo;
        dhi[i] = s.fmap[i].dloss_hi;
      }
      h5::set_attr(g, "confidence", h.confidence);
      h5::write(g, "layer", layer, "", "network layer index of the fmap");
      h5::write(g, "fmap", fmap, "", "channel (conv2d) or neuron (dense) index within its layer");
      h5::write(g, "macs", r.macs, "1", "multiply-accumulates per sample computing the fmap");
      h5::write(g, "share", s.share, "1", "P(error lands in f) = macs / sum of macs over all fmaps");
      h5::write(g, "injections", n, "1", "completed injections");
      h5::write(g, "mismatches", k, "1", "injections whose top-1 differed from the fault-free run");
      h5::write(g, "mismatch_p", p, "1", "P(mismatch | error in f) = mismatches / injections");
      h5::write(g, "mismatch_ci_lo", plo, "1", "Clopper-Pearson interval of mismatch_p, lower end");
      h5::write(g, "mismatch_ci_hi", phi, "1", "Clopper-Pearson interval of mismatch_p, upper end");
      h5::write(g, "dloss_mean", dl, "nat", "mean delta cross-entropy (faulty - clean, capped at hardnn.loss_cap)");
      h5::write(g, "dloss_ci_lo", dlo, "nat", "Student-t interval of dloss_mean, lower end");
      h5::write(g, "dloss_ci_hi", dhi, "nat", "Student-t interval of dloss_mean, upper end");
      h5::write(g, "vulnerability", s.v, "1", "V_f = share x mismatch_p");
      h5::write(g, "vulnerability_ci_lo", s.v_lo, "1", "share x mismatch_ci_lo");
      h5::write(g, "vulnerability_ci_hi", s.v_hi, "1", "share x mismatch_ci_hi");
      h5::write(g, "relative_vulnerability", s.rv, "1", "V_f / sum of V (sums to 1)");
      h5::write(g, "rank", s.rank, "", "1-based rank by vulnerability (1 = most vulnerable)");
    }

    if (complete) {
      H5::Group g = h5::group(root, "heuristics");
      std::vector<std::string> names;
      std::vector<double> sp, spc, ov;
      for (const auto& hs : r.heuristics) {
        Heuristic cmp = hs;
        compare(cmp, s, h.top_k);
        names.push_back(hs.name);
        sp.push_back(cmp.spearman);
        spc.push_back(cmp.spearman_conditional);
        ov.push_back(cmp.topk_overlap);
        h5::write(g, hs.name, hs.score, "", hs.description + "; per fmap");
      }
      h5::set_attr(g, "top_k", std::int64_t(h.top_k));
      h5::write_strings(g, "names", names, "heuristics, in the order of the tables below");
      h5::write(g, "spearman", sp, "1", "Spearman rank correlation of share x score with the vulnerability V_f");
      h5::write(g, "spearman_conditional", spc, "1", "Spearman rank correlation of score with mismatch_p");
      h5::write(g, "topk_overlap", ov, "1", "|top-k by share x score  and  top-k by V_f| / k");

      H5::Group pr = h5::group(root, "protection");
      h5::set_attr(pr, "rank_by", h.rank_by);
      std::vector<std::int64_t> order, kk;
      for (auto o : s.order) order.push_back(std::int64_t(o));
      for (std::size_t k = 0; k <= s.order.size(); ++k) kk.push_back(std::int64_t(k));
      h5::write(pr, "order", order, "", "fmap ids (rows of /fmaps) in protection order");
      h5::write(pr, "k", kk, "1", "number of protected fmaps");
      h5::write(pr, "coverage", s.curve.coverage, "1", "sum of the relative vulnerability of the first k fmaps");
      h5::write(pr, "overhead", s.curve.overhead, "1", "MACs of the first k fmaps / all MACs (duplication cost)");
      h5::write(pr, "resilience", s.curve.resilience, "1", "1 / (1 - coverage): factor by which mismatches fall");
      h5::set_attr(pr, "mismatch_rate_unprotected", s.r0);

      if (h.verify_injections > 0) {
        const auto lv = levels(r, s);
        H5::Group vg = h5::group(root, "verification");
        std::vector<double> budget, cov, oh, pred, meas, lo, hi;
        std::vector<std::int64_t> k, n, m, within;
        for (std::size_t i = 0; i < lv.size(); ++i) {
          budget.push_back(lv[i].budget);
          k.push_back(std::int64_t(lv[i].k));
          cov.push_back(lv[i].coverage);
          oh.push_back(lv[i].overhead);
          pred.push_back(lv[i].predicted);
          const auto sum = r.verify.sum(i);
          n.push_back(std::int64_t(sum[0]));
          m.push_back(std::int64_t(sum[1]));
          if (sum[0] >= 1) {
            const auto ci = stats::binomial_ci(std::uint64_t(sum[1]), std::uint64_t(sum[0]), h.confidence);
            meas.push_back(sum[1] / sum[0]);
            lo.push_back(ci.lo);
            hi.push_back(ci.hi);
            within.push_back(lv[i].predicted >= ci.lo && lv[i].predicted <= ci.hi);
          } else {
            meas.push_back(kNaN);
            lo.push_back(kNaN);
            hi.push_back(kNaN);
            within.push_back(0);
          }
        }
        h5::set_attr(vg, "confidence", h.confidence);
        h5::write(vg, "overhead_budget", budget, "1", "overhead budget of the level (0: no protection)");
        h5::write(vg, "k", k, "1", "protected fmaps: the largest k with overhead <= budget");
        h5::write(vg, "coverage", cov, "1", "predicted coverage of the level");
        h5::write(vg, "overhead", oh, "1", "actual overhead of the level");
        h5::write(vg, "predicted_rate", pred, "1", "mismatch_rate_unprotected x (1 - coverage)");
        h5::write(vg, "injections", n, "1", "completed verification injections");
        h5::write(vg, "mismatches", m, "1", "of which changed the top-1");
        h5::write(vg, "measured_rate", meas, "1", "mismatches / injections");
        h5::write(vg, "measured_ci_lo", lo, "1", "Clopper-Pearson interval of measured_rate, lower end");
        h5::write(vg, "measured_ci_hi", hi, "1", "Clopper-Pearson interval of measured_rate, upper end");
        h5::write(vg, "within_ci", within, "", "1 if predicted_rate lies in the measured interval");
      }
    }

    {
      H5::Group j = h5::group(root, "jobs");
      H5::Group jc = h5::group(j, "campaign"), jv = h5::group(j, "verify");
      write_records(jc, r.campaign, "injection batch `index` of fmap `unit`");
      write_records(jv, r.verify, "verification batch `index` of protection level `unit`");
    }
    {
      H5::Group t = h5::group(root, "timing");
      std::vector<std::string> names;
      std::vector<double> secs;
      for (const auto& hs : r.heuristics) {
        names.push_back(hs.name);
        secs.push_back(hs.seconds);
      }
      h5::write_strings(t, "heuristics", names, "heuristic names");
      h5::write(t, "heuristic_seconds", secs, "s", "wall time of each heuristic over the subset (latest run)");
      h5::write(t, "campaign_seconds", std::vector<double>{r.campaign_seconds}, "s",
                "wall time of the injection campaign jobs run by the latest process (excludes earlier runs)");
      h5::write(t, "verify_seconds", std::vector<double>{r.verify_seconds}, "s",
                "wall time of the verification jobs run by the latest process");
    }
  };
  r.file->write(r.info, content);
}

void read_results(Run& r) {
  const std::string& out = r.file->path();
  r.file->read("aimc hardnn", r.info, [&](const H5::Group& root) {
    H5::Group j = h5::open_group(root, "jobs", out);
    read_records(h5::open_group(j, "campaign", out), r.campaign, out);
    read_records(h5::open_group(j, "verify", out), r.verify, out);
  });
}

void print_summary(const Run& r, double seconds) {
  const auto& h = r.cfg->hardnn;
  const Summary s = summarize(r);
  std::printf("\n%s, %s, %zu fmaps x %llu injections on %d test images (clean accuracy %.4f), seed %d\n",
              r.cfg->model.path.c_str(), h.error_model.c_str(), r.fmaps.size(), (unsigned long long)r.injections,
              r.cfg->data.subset, r.clean_accuracy, h.seed);
  std::printf("layer  kind     fmaps  MAC share  mean P(mismatch|f)  sum rel. vulnerability\n");
  for (std::size_t l = 0; l < r.layers.size(); ++l) {
    double share = 0, p = 0, rv = 0;
    int n = 0;
    for (std::size_t f = 0; f < r.fmaps.size(); ++f) {
      if (r.fmaps[f].layer != l) continue;
      share += s.share[f];
      p += s.fmap[f].p;
      rv += s.rv[f];
      ++n;
    }
    std::printf("%5zu  %-7s  %5d  %9.4f  %18.4f  %22.4f\n", r.layers[l].index, r.layers[l].kind.c_str(), n, share,
                n ? p / n : kNaN, rv);
  }
  std::printf("mismatch rate of an error landing by MAC share: %.4f\n", s.r0);
  std::printf("most vulnerable fmaps (layer:fmap relative vulnerability):");
  std::vector<std::size_t> by_rank(s.rank.size());
  for (std::size_t f = 0; f < s.rank.size(); ++f) by_rank[std::size_t(s.rank[f] - 1)] = f;
  for (std::size_t i = 0; i < std::min<std::size_t>(5, by_rank.size()); ++i) {
    const std::size_t f = by_rank[i];
    std::printf(" %zu:%d %.4f", r.layers[r.fmaps[f].layer].index, r.fmaps[f].fmap, s.rv[f]);
  }
  std::printf("\nheuristic     Spearman(V)  Spearman(P|f)  top-%d overlap  seconds\n", h.top_k);
  for (const auto& hs : r.heuristics) {
    Heuristic cmp = hs;
    compare(cmp, s, h.top_k);
    std::printf("%-12s  %11.3f  %13.3f  %13.2f  %7.3f\n", hs.name.c_str(), cmp.spearman, cmp.spearman_conditional,
                cmp.topk_overlap, hs.seconds);
  }
  std::printf("protection (%s order): overhead budget -> k, overhead, coverage, resilience\n", h.rank_by.c_str());
  for (double b : {0.1, 0.3, 0.5}) {
    const std::size_t k = k_for_overhead(s.curve, b);
    std::printf("  %.2f -> %zu, %.4f, %.4f, %.3f\n", b, k, s.curve.overhead[k], s.curve.coverage[k], s.curve.resilience[k]);
  }
  if (h.verify_injections > 0) {
    const auto lv = levels(r, s);
    std::printf("verification (%d injections per level): budget  k  predicted  measured [%2.0f%% CI]\n",
                h.verify_injections, h.confidence * 100);
    for (std::size_t i = 0; i < lv.size(); ++i) {
      const auto sum = r.verify.sum(i);
      const auto ci = stats::binomial_ci(std::uint64_t(sum[1]), std::uint64_t(std::max(1.0, sum[0])), h.confidence);
      std::printf("  %.2f  %zu  %.4f  %.4f [%.4f, %.4f]%s\n", lv[i].budget, lv[i].k, lv[i].predicted,
                  sum[0] > 0 ? sum[1] / sum[0] : kNaN, ci.lo, ci.hi,
                  lv[i].predicted >= ci.lo && lv[i].predicted <= ci.hi ? "" : "  (outside)");
    }
  }
  const auto& ps = r.propagation_stats;
  if (ps.runs > 0)
    std::printf("propagation %s: %lld injections, %lld node evaluations sparse, %lld dense, %lld faults masked "
                "before the logits, %lld near-tie decisions (top-2 margin within the rounding bound)\n",
                r.propagation.c_str(), ps.runs, ps.sparse_nodes, ps.dense_nodes, ps.unchanged, ps.near_ties);
  else
    std::printf("propagation %s\n", r.propagation.c_str());
  const double injected = double(r.injections) * double(r.fmaps.size());
  std::printf("campaign %.1f s (%.1f k injections/s), verification %.1f s; results: %s (%.1f s)\n", r.campaign_seconds,
              r.campaign_seconds > 0 ? injected / r.campaign_seconds / 1e3 : kNaN, r.verify_seconds,
              r.file->path().c_str(), seconds);
}

}  // namespace aimc::experiments::hardnn_detail
