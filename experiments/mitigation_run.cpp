#include "experiments/mitigation_run.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"

namespace aimc::experiments {

namespace {
const double kNaN = std::numeric_limits<double>::quiet_NaN();
}

ChipRunner::ChipRunner(const std::vector<Unit>& units, const Matrix& calibration, const Matrix& test_x,
                       const std::string& file) {
  for (const Unit& u : units) {
    try {
      an_.push_back(std::make_unique<nets::AnalogNetwork>(*u.net, u.hardware, calibration));
    } catch (const Error& e) {
      throw Error(file + ": " + u.name + ": " + e.what());
    }
    net_.push_back(u.net);
    const auto key = std::make_pair(u.net, an_.back()->first_analog());
    if (!prefix_.count(key)) prefix_[key] = an_.back()->prefix(test_x);
  }
  instances_.resize(std::size_t(omp_get_max_threads()) * an_.size());
}

TrialResult ChipRunner::trial(std::size_t u, std::uint64_t chip, const VectorI& labels, const McParams& mc) {
  auto& inst = instances_.at(std::size_t(omp_get_thread_num()) * an_.size() + u);
  return run_trial(*an_[u], prefix_.at({net_[u], an_[u]->first_analog()}), labels, mc, chip, &inst);
}

PointRecords::PointRecords(int trials) : accuracy(std::size_t(trials), kNaN), loss(std::size_t(trials), kNaN), done(std::size_t(trials), 0) {}

int PointRecords::done_count() const { return int(std::count(done.begin(), done.end(), 1)); }

void PointRecords::store(std::uint64_t t, double acc, double l) {
  if (t >= done.size()) return;
  done[t] = 1;
  accuracy[t] = acc;
  loss[t] = l;
}

Summary summarize(const PointRecords& r, double confidence) {
  std::vector<double> a;
  for (std::size_t t = 0; t < r.done.size(); ++t)
    if (r.done[t]) a.push_back(r.accuracy[t]);
  Summary s{0, kNaN, kNaN, kNaN, kNaN};
  s.n = int(a.size());
  if (a.empty()) return s;
  s.mean = stats::mean(a);
  if (a.size() > 1) {
    s.sd = stats::stddev(a);
    const auto ci = stats::mean_ci(a, confidence);
    s.lo = ci.lo;
    s.hi = ci.hi;
  }
  return s;
}

void write_records(H5::Group& g, const PointRecords& r, const std::string& what) {
  h5::write(g, "accuracy", r.accuracy, "1", "top-1 accuracy of each " + what + " on the test subset (NaN: not run)");
  h5::write(g, "loss", r.loss, "nat", "mean cross-entropy of each " + what);
  h5::write(g, "done", r.done, "", "1 if the trial completed");
}

void read_records(const H5::Group& g, PointRecords& r, const std::string& file, const std::string& where) {
  const auto done = h5::read_ints(g, "done", file);
  const auto acc = h5::read_doubles(g, "accuracy", file), loss = h5::read_doubles(g, "loss", file);
  if (done.size() != r.done.size() || acc.size() != done.size() || loss.size() != done.size())
    throw Error(file + ": --resume: " + where + " has unexpected dataset sizes");
  for (std::size_t t = 0; t < done.size(); ++t)
    if (done[t]) r.store(t, acc[t], loss[t]);
}

void write_sweep_points(H5::Group& g, const McConfig& c, const std::vector<PointRecords>& points) {
  H5::Group pts = h5::group(g, "points");
  std::vector<double> mean, sd, lo, hi;
  std::vector<std::int64_t> n;
  for (std::size_t p = 0; p < points.size(); ++p) {
    H5::Group pg = h5::group(pts, point_name(p));
    const auto vals = c.values_at(p);
    for (std::size_t i = 0; i < vals.size(); ++i) h5::set_attr(pg, c.sweep[i].key, vals[i]);
    write_records(pg, points[p], "chip");
    const Summary s = summarize(points[p], c.mc.confidence);
    n.push_back(s.n);
    mean.push_back(s.mean);
    sd.push_back(s.sd);
    lo.push_back(s.lo);
    hi.push_back(s.hi);
  }
  H5::Group sm = h5::group(g, "summary");
  h5::set_attr(sm, "confidence", c.mc.confidence);
  h5::write(sm, "trials", n, "1", "completed chips per sweep point");
  h5::write(sm, "accuracy_mean", mean, "1", "mean accuracy over chips per sweep point");
  h5::write(sm, "accuracy_std", sd, "1", "sample standard deviation of accuracy over chips");
  h5::write(sm, "accuracy_ci_lo", lo, "1", "lower end of the Student-t confidence interval of the mean");
  h5::write(sm, "accuracy_ci_hi", hi, "1", "upper end of the Student-t confidence interval of the mean");
}

void read_sweep_points(const H5::Group& g, std::vector<PointRecords>& points, const std::string& file,
                       const std::string& where) {
  if (!g.nameExists("points")) return;
  H5::Group pts = h5::open_group(g, "points", file);
  for (std::size_t p = 0; p < points.size(); ++p)
    if (pts.nameExists(point_name(p)))
      read_records(h5::open_group(pts, point_name(p), file), points[p], file, where + "/" + point_name(p));
}

TrialKeys::TrialKeys(int seed, int trials) {
  for (int t = 0; t < trials; ++t) {
    program.push_back(std::int64_t(Stream(std::uint64_t(seed), "mc.program", {std::uint64_t(t)}).key()));
    read.push_back(std::int64_t(Stream(std::uint64_t(seed), "mc.read", {std::uint64_t(t)}).key()));
  }
}

void TrialKeys::write(H5::Group& root, const std::string& what) const {
  H5::Group keys = h5::group(root, "trial_keys");
  h5::write(keys, "program", program, "", "64-bit key of each " + what + "'s programming stream");
  h5::write(keys, "read", read, "", "64-bit key of each " + what + "'s read stream");
}

void write_sweep_axes(H5::Group& root, const McConfig& c) {
  H5::Group sw = h5::group(root, "sweep");
  std::vector<std::string> names;
  for (const auto& a : c.sweep) names.push_back(a.key);
  h5::write_strings(sw, "axes", names, "swept parameters, in point order (last fastest)");
  for (const auto& a : c.sweep) h5::write(sw, a.key, a.values, "", "values of this axis");
}

std::string point_name(std::size_t p) {
  char b[32];
  std::snprintf(b, sizeof b, "p%04zu", p);
  return b;
}

std::string stem_of(const std::string& out) {
  return out.size() > 3 && out.compare(out.size() - 3, 3, ".h5") == 0 ? out.substr(0, out.size() - 3) : out;
}

std::optional<nets::LoadedModel> reuse_stage(const std::string& path, const std::string& config_text, bool resume) {
  if (!resume || !std::filesystem::exists(path)) return std::nullopt;
  auto m = nets::load_model(path);
  if (m.meta.train_config != config_text) return std::nullopt;
  return m;
}

std::vector<double> parse_number_list(const std::string& s, const std::string& file, const std::string& key,
                                      double lo, double hi) {
  std::vector<double> r;
  std::size_t i = 0;
  auto bad = [&] {
    char range[96];
    std::snprintf(range, sizeof range, "%g, %g", lo, hi);
    fail_at(file, key, "\"" + s + "\": expected comma-separated numbers in [" + range + "], e.g. \"0.1, 0.2\"");
  };
  while (i <= s.size()) {
    const std::size_t j = std::min(s.find(',', i), s.size());
    std::string tok = s.substr(i, j - i);
    tok.erase(0, tok.find_first_not_of(" \t"));
    tok.erase(tok.find_last_not_of(" \t") + 1);
    char* end = nullptr;
    const double v = std::strtod(tok.c_str(), &end);
    if (tok.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) bad();
    r.push_back(v);
    i = j + 1;
  }
  return r;
}

}  // namespace aimc::experiments
