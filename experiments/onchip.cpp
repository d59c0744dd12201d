#include "experiments/onchip.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/numerics.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "data/iris.hpp"
#include "experiments/mpi.hpp"
#include "experiments/results_writer.hpp"
#include "experiments/run_info.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

using namespace aimc::devices;
using namespace aimc::stats;

std::span<const Param<OnchipStudyParams>> OnchipStudyParams::params() {
  using P = OnchipStudyParams;
  static const Param<P> t[] = {
      {"seed", &P::seed, "1", "seed of every stream of the study", "aimc", between(0, 2147483647)},
      {"chips", &P::chips, "1", "Monte Carlo chips per device and sweep point", "issue 20: >= 20", between(2, 100000)},
      {"folds", &P::folds, "1", "stratified cross-validation folds", "5-fold CV (30 test flowers per split)",
       between(2, 50)},
      {"confidence", &P::confidence, "1", "confidence level of the intervals over chips", "aimc",
       {0.5, 1.0, false, true}},
      {"iris_csv", &P::iris_csv, "", "Iris CSV (empty: $AIMC_IRIS_CSV, else python3-sklearn's copy)",
       "data/iris.hpp"},
  };
  return t;
}

namespace {

constexpr const char* kDevices[] = {"float", "mosfet", "rram"};
int device_id(const std::string& d) {
  for (int i = 0; i < 3; ++i)
    if (d == kDevices[i]) return i;
  return -1;
}

template <class S>
bool has_param(const std::string& key) {
  for (const auto& p : S::params())
    if (p.name == key && !std::holds_alternative<std::string S::*>(p.member)) return true;
  return false;
}

/// The device a section's axis applies to (-1: every device).
int axis_device(const std::string& section) {
  if (section == "mosfet" || section == "mosfet_update") return 1;
  if (section == "rram_pulse") return 2;
  return -1;
}

}  // namespace

OnchipConfig parse_onchip_config(const ConfigFile& f) {
  OnchipConfig c;
  c.file = f;
  const std::string& file = f.path;
  const toml::table& root = f.root;
  check_keys(root, {"study", "onchip", "mosfet", "mosfet_update", "rram_pulse", "sweep"}, file, "");
  auto sub = [&](const char* name) { return subtable(root, name, file, ""); };
  if (const auto* t = sub("study")) {
    c.study = read_params<OnchipStudyParams>(*t, file, "study", {}, {"hidden", "devices"});
    if (const auto* n = t->get("hidden")) {
      const auto* a = n->as_array();
      if (!a) fail_at(file, "study.hidden", "expected an array of hidden-layer sizes, got " + describe(*n));
      c.hidden.clear();
      for (const auto& e : *a) {
        const long long v = to_integer(e, file, "study.hidden");
        if (v < 1 || v > 4096) fail_at(file, "study.hidden", "layer size " + std::to_string(v) + " not in [1, 4096]");
        c.hidden.push_back(int(v));
      }
    }
    if (const auto* n = t->get("devices")) {
      const auto* a = n->as_array();
      if (!a || a->empty()) fail_at(file, "study.devices", "expected a non-empty array of device names, got " + describe(*n));
      c.devices.clear();
      for (const auto& e : *a) {
        const std::string d = to_string(e, file, "study.devices");
        if (device_id(d) < 0) fail_at(file, "study.devices", "unknown device '" + d + "' (valid: float, mosfet, rram)");
        if (std::find(c.devices.begin(), c.devices.end(), d) != c.devices.end())
          fail_at(file, "study.devices", "'" + d + "' listed twice");
        c.devices.push_back(d);
      }
    }
  }
  if (const auto* t = sub("onchip")) c.onchip = read_params<nets::OnchipParams>(*t, file, "onchip");
  if (const auto* t = sub("mosfet")) {
    for (const char* k : {"dv_g_step_V", "max_pulses"})
      if (t->contains(k))
        fail_at(file, std::string("mosfet.") + k,
                "not used by aimc onchip: the pulse resolution is onchip.levels and onchip.max_pulses");
    if (t->contains("x_max"))
      fail_at(file, "mosfet.x_max",
              "not used by aimc onchip: the read pulses are |x| t_read with inputs in [0, 1] (features scaled, "
              "sigmoid outputs)");
    c.mosfet = read_params<MosfetParams>(*t, file, "mosfet");
  }
  if (const auto* t = sub("mosfet_update")) c.mosfet_update = read_params<MosfetUpdateParams>(*t, file, "mosfet_update");
  if (const auto* t = sub("rram_pulse")) c.rram = read_params<RramPulseParams>(*t, file, "rram_pulse");
  if (const auto* t = sub("sweep")) {
    check_keys(*t, {"onchip", "mosfet", "mosfet_update", "rram_pulse"}, file, "sweep");
    for (const auto& [sk, sn] : *t) {
      const std::string section(sk.str());
      const auto* st = sn.as_table();
      if (!st) fail_at(file, "sweep." + section, "expected a table [sweep." + section + "] of key = [values]");
      for (const auto& [kk, kn] : *st) {
        const std::string key(kk.str()), path = "sweep." + section + "." + key;
        bool known = false;
        if (section == "onchip") known = has_param<nets::OnchipParams>(key);
        if (section == "mosfet") known = has_param<MosfetParams>(key) && key != "dv_g_step_V" && key != "max_pulses" && key != "x_max";
        if (section == "mosfet_update") known = has_param<MosfetUpdateParams>(key);
        if (section == "rram_pulse") known = has_param<RramPulseParams>(key);
        if (!known) fail_at(file, path, "not a numeric parameter of [" + section + "]");
        OnchipAxis a{section, key, get_numbers(kn, file, path)};
        // every value must make a valid config: check them now, not after an hour of training
        for (double v : a.values) {
          try {
            if (section == "onchip") {
              auto p = c.onchip;
              set_param(p, key, v);
              validate(p, "onchip");
            } else if (section == "mosfet") {
              auto p = c.mosfet;
              set_param(p, key, v);
              validate(p, "mosfet");
            } else if (section == "mosfet_update") {
              auto p = c.mosfet_update;
              set_param(p, key, v);
              validate(p, "mosfet_update");
            } else {
              auto p = c.rram;
              set_param(p, key, v);
              validate(p, "rram_pulse");
            }
          } catch (const Error& e) {
            fail_at(file, path, e.what());
          }
        }
        c.axes.push_back(std::move(a));
      }
    }
  }
  return c;
}

namespace {

/// One split of the data: scaled features and labels.
struct Split {
  MatrixD x_train, x_test;
  std::vector<int> y_train, y_test;
};

std::vector<int> fold_of(const data::Dataset& d, int folds, std::uint64_t seed) {
  std::vector<int> fold(std::size_t(d.size()), -1);
  for (int k = 0; k < d.classes; ++k) {
    std::vector<int> members;
    for (int i = 0; i < int(d.size()); ++i)
      if (d.y(i) == k) members.push_back(i);
    Stream s(seed, "onchip.folds", {std::uint64_t(k)});
    s.shuffle(members.begin(), members.end());
    for (std::size_t j = 0; j < members.size(); ++j) fold[std::size_t(members[j])] = int(j % std::size_t(folds));
  }
  return fold;
}

Split make_split(const data::Dataset& d, const std::vector<int>& fold, int f) {
  Split s;
  const int n = int(d.size()), m = int(d.x.cols());
  std::vector<int> tr, te;
  for (int i = 0; i < n; ++i) (fold[std::size_t(i)] == f ? te : tr).push_back(i);
  VectorD lo = VectorD::Constant(m, std::numeric_limits<double>::infinity()), hi = -lo;
  for (int i : tr)
    for (int j = 0; j < m; ++j) {
      lo(j) = std::min(lo(j), double(d.x(i, j)));
      hi(j) = std::max(hi(j), double(d.x(i, j)));
    }
  auto fill = [&](const std::vector<int>& rows, MatrixD& x, std::vector<int>& y) {
    x.resize(Eigen::Index(rows.size()), m);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (int j = 0; j < m; ++j) {
        const double span = hi(j) - lo(j);
        x(Eigen::Index(r), j) = span > 0 ? std::clamp((double(d.x(rows[r], j)) - lo(j)) / span, 0.0, 1.0) : 0.5;
      }
      y.push_back(d.y(rows[r]));
    }
  };
  fill(tr, s.x_train, s.y_train);
  fill(te, s.x_test, s.y_test);
  return s;
}

/// One trained (device, point) series entry.
struct Run {
  std::string series;  ///< "base" or "<section>.<key>"
  double value = std::numeric_limits<double>::quiet_NaN();
  int axis = -1, point = -1;
  std::string device;
  int float_run = -1;  ///< the float run at the same settings (paired comparison), -1 if none
  // config of this run
  nets::OnchipParams onchip;
  MosfetParams mosfet;
  MosfetUpdateParams mosfet_update;
  RramPulseParams rram;
  // results, per job (chip-major: job = chip * folds + fold)
  std::vector<double> test_acc, train_acc, read_J, write_J, pulses, samples;
  std::vector<std::vector<double>> curve_test, curve_train, curve_loss;
  double t_sample_s = 0;
};

std::vector<Run> plan_runs(const OnchipConfig& c) {
  std::vector<Run> runs;
  auto add = [&](const std::string& series, int axis, int point, double value, int only_device) {
    int float_run = -1;
    for (const auto& d : c.devices) {
      const int id = device_id(d);
      if (only_device >= 0 && id != only_device) continue;  // float does not depend on a device's parameters
      Run r;
      r.series = series;
      r.axis = axis;
      r.point = point;
      r.value = value;
      r.device = d;
      r.onchip = c.onchip;
      r.mosfet = c.mosfet;
      r.mosfet_update = c.mosfet_update;
      r.rram = c.rram;
      if (axis >= 0) {
        const auto& a = c.axes[std::size_t(axis)];
        if (a.section == "onchip") set_param(r.onchip, a.key, value);
        if (a.section == "mosfet") set_param(r.mosfet, a.key, value);
        if (a.section == "mosfet_update") set_param(r.mosfet_update, a.key, value);
        if (a.section == "rram_pulse") set_param(r.rram, a.key, value);
      }
      if (id == 0) float_run = int(runs.size());
      runs.push_back(std::move(r));
    }
    return float_run;
  };
  const int base_float = add("base", -1, -1, std::numeric_limits<double>::quiet_NaN(), -1);
  for (auto& r : runs) r.float_run = r.device == "float" ? -1 : base_float;
  for (std::size_t a = 0; a < c.axes.size(); ++a) {
    const auto& ax = c.axes[a];
    for (std::size_t p = 0; p < ax.values.size(); ++p) {
      const std::size_t begin = runs.size();
      int fr = add(ax.section + "." + ax.key, int(a), int(p), ax.values[p], axis_device(ax.section));
      if (fr < 0) fr = base_float;
      for (std::size_t i = begin; i < runs.size(); ++i) runs[i].float_run = runs[i].device == "float" ? -1 : fr;
    }
  }
  return runs;
}

/// Trains one chip on one split.
void train_job(const OnchipConfig& c, Run& r, const Split& s, int chip, int fold, std::size_t job) {
  const std::uint64_t seed = std::uint64_t(c.study.seed);
  const std::uint64_t dev = std::uint64_t(device_id(r.device)), ch = std::uint64_t(chip), fo = std::uint64_t(fold);
  nets::OnchipNet net;
  net.sizes.push_back(int(s.x_train.cols()));
  for (int h : c.hidden) net.sizes.push_back(h);
  net.sizes.push_back(3);
  Stream init(seed, "onchip.init", {ch, fo});
  const auto w0 = nets::onchip_init(net.sizes, r.onchip.init_scale, init);
  Stream chip_stream(seed, "onchip.chip", {dev, ch});
  for (std::size_t l = 0; l < w0.size(); ++l) {
    PulseArraySpec spec{int(w0[l].rows()), int(w0[l].cols()), r.onchip.w_max, r.onchip.levels, r.onchip.max_pulses};
    Stream layer = chip_stream.child("layer", {l});
    if (r.device == "float") net.arrays.push_back(make_float_array(w0[l]));
    else if (r.device == "mosfet") net.arrays.push_back(make_mosfet_pulse_array(r.mosfet, r.mosfet_update, spec, w0[l], layer));
    else net.arrays.push_back(make_rram_pulse_array(r.rram, spec, w0[l], layer));
  }
  const Stream order(seed, "onchip.order", {ch, fo});
  Stream update(seed, "onchip.update", {dev, ch, fo});
  Stream read(seed, "onchip.read", {dev, ch, fo});
  const auto curve = nets::train_onchip(net, s.x_train, s.y_train, s.x_test, s.y_test, r.onchip, order, update, read);
  r.test_acc[job] = curve.test_acc.back();
  r.train_acc[job] = curve.train_acc.back();
  r.read_J[job] = curve.read_J;
  r.write_J[job] = curve.write_J;
  r.pulses[job] = curve.pulses;
  r.samples[job] = double(curve.samples);
  r.curve_test[job] = curve.test_acc;
  r.curve_train[job] = curve.train_acc;
  r.curve_loss[job] = curve.train_loss;
  if (job == 0) r.t_sample_s = curve.t_sample_s;  // the same for every job; one writer (no data race)
}

/// Per-chip means over the splits of per-job values.
std::vector<double> per_chip(const std::vector<double>& v, int chips, int folds) {
  std::vector<double> out(std::size_t(chips), 0.0);
  for (int c = 0; c < chips; ++c) {
    for (int f = 0; f < folds; ++f) out[std::size_t(c)] += v[std::size_t(c * folds + f)];
    out[std::size_t(c)] /= folds;
  }
  return out;
}

struct Summary {
  double test_mean, test_lo, test_hi, train_mean, diff_mean, diff_lo, diff_hi;
  double read_per_sample_J, write_per_sample_J, pulses_per_sample, t_epoch_s;
};

Summary summarize(const OnchipConfig& c, const std::vector<Run>& runs, const Run& r) {
  const int C = c.study.chips, F = c.study.folds;
  const auto t = per_chip(r.test_acc, C, F);
  const Interval ci = mean_ci(t, c.study.confidence);
  Summary s{};
  s.test_mean = mean(t);
  s.test_lo = ci.lo;
  s.test_hi = ci.hi;
  s.train_mean = mean(per_chip(r.train_acc, C, F));
  s.diff_mean = s.diff_lo = s.diff_hi = std::numeric_limits<double>::quiet_NaN();
  if (r.float_run >= 0) {
    const auto fl = per_chip(runs[std::size_t(r.float_run)].test_acc, C, F);
    std::vector<double> d(t.size());
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = t[i] - fl[i];
    const Interval dci = mean_ci(d, c.study.confidence);
    s.diff_mean = mean(d);
    s.diff_lo = dci.lo;
    s.diff_hi = dci.hi;
  }
  double rd = 0, wr = 0, pu = 0, n = 0;
  for (std::size_t j = 0; j < r.samples.size(); ++j) {
    rd += r.read_J[j];
    wr += r.write_J[j];
    pu += r.pulses[j];
    n += r.samples[j];
  }
  s.read_per_sample_J = rd / n;
  s.write_per_sample_J = wr / n;
  s.pulses_per_sample = pu / n;
  if (r.onchip.levels == 0 && r.device != "float") {  // no pulses at infinite resolution (pulse_synapse.hpp)
    s.pulses_per_sample = std::numeric_limits<double>::quiet_NaN();
    if (r.device == "rram") s.write_per_sample_J = std::numeric_limits<double>::quiet_NaN();
  }
  // one epoch presents every training flower once
  s.t_epoch_s = r.t_sample_s * (n / double(r.samples.size()) / r.onchip.epochs);
  return s;
}

MatrixD mean_curves(const std::vector<std::vector<double>>& jobs_curves, int epochs) {
  MatrixD m = MatrixD::Zero(1, epochs);
  for (const auto& v : jobs_curves)
    for (int e = 0; e < epochs; ++e) m(0, e) += v[std::size_t(e)];
  return m / double(jobs_curves.size());
}

void write_file(const ResultsWriter& file, const OnchipConfig& c, const RunInfo& info, const std::vector<Run>& runs,
                const std::vector<Summary>& sums, const std::vector<int>& fold) {
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    h5::set_attr(root, "chips", std::int64_t(c.study.chips));
    h5::set_attr(root, "folds", std::int64_t(c.study.folds));
    h5::set_attr(root, "confidence", c.study.confidence);
    std::string topo = "4";
    for (int h : c.hidden) topo += "-" + std::to_string(h);
    h5::set_attr(root, "topology", topo + "-3");
    h5::set_attr(root, "dataset", "iris");
    h5::set_attr(root, "iris_csv", data::iris_csv_path(c.study.iris_csv));
    h5::set_attr(root, "streams",
                 "chip Stream(seed, \"onchip.chip\", {device, chip}) child \"layer\" {l}; init (\"onchip.init\", "
                 "{chip, fold}); order (\"onchip.order\", {chip, fold}) child \"epoch\" {e}; update (\"onchip.update\", "
                 "{device, chip, fold}); read (\"onchip.read\", {device, chip, fold}); folds (\"onchip.folds\", {class}); "
                 "device: float 0, mosfet 1, rram 2");
  };
  content.resolved = [&](H5::Group& rs) {
    write_resolved(rs, "study", c.study);
    write_resolved(rs, "onchip", c.onchip);
    write_resolved(rs, "mosfet", c.mosfet);
    write_resolved(rs, "mosfet_update", c.mosfet_update);
    write_resolved(rs, "rram_pulse", c.rram);
  };
  content.groups = [&](H5::Group& root) {
    H5::Group g = h5::group(root, "runs");
    const std::size_t R = runs.size();
    const int J = c.study.chips * c.study.folds;
    std::vector<std::string> series, device;
    std::vector<double> value;
    std::vector<std::int64_t> float_run, epochs;
    for (const auto& r : runs) {
      series.push_back(r.series);
      device.push_back(r.device);
      value.push_back(r.value);
      float_run.push_back(r.float_run);
      epochs.push_back(r.onchip.epochs);
    }
    h5::write_strings(g, "series", series, "\"base\" or the swept \"<section>.<key>\"");
    h5::write_strings(g, "device", device, "float | mosfet | rram");
    h5::write(g, "value", value, "", "value of the swept parameter (NaN in the base series)");
    h5::write(g, "float_run", float_run, "", "row of the float run this run is paired with (-1: none)");
    h5::write(g, "epochs", epochs, "1", "training epochs of the run");
    auto column = [&](const char* name, auto get, const char* unit, const char* desc) {
      std::vector<double> v;
      for (const auto& s : sums) v.push_back(get(s));
      h5::write(g, name, v, unit, desc);
    };
    column("test_acc_mean", [](const Summary& s) { return s.test_mean; }, "1", "test accuracy after training, mean over chips of the mean over splits");
    column("test_acc_ci_lo", [](const Summary& s) { return s.test_lo; }, "1", "Student-t interval over chips, lower end");
    column("test_acc_ci_hi", [](const Summary& s) { return s.test_hi; }, "1", "Student-t interval over chips, upper end");
    column("train_acc_mean", [](const Summary& s) { return s.train_mean; }, "1", "training accuracy after training");
    column("diff_vs_float_mean", [](const Summary& s) { return s.diff_mean; }, "1", "paired test-accuracy difference to the float run (chip means)");
    column("diff_vs_float_ci_lo", [](const Summary& s) { return s.diff_lo; }, "1", "its interval, lower end");
    column("diff_vs_float_ci_hi", [](const Summary& s) { return s.diff_hi; }, "1", "its interval, upper end");
    column("read_energy_per_sample_J", [](const Summary& s) { return s.read_per_sample_J; }, "J", "synapse read energy per training sample (forward and transposed reads)");
    column("write_energy_per_sample_J", [](const Summary& s) { return s.write_per_sample_J; }, "J", "synapse update energy per training sample");
    column("pulses_per_sample", [](const Summary& s) { return s.pulses_per_sample; }, "1", "update pulses per training sample (whole array)");
    std::vector<double> ts;
    for (const auto& r : runs) ts.push_back(r.t_sample_s);
    h5::write(g, "t_sample_s", ts, "s", "cycle time of one training sample (reads, peripheral settling, update slot)");
    column("t_epoch_s", [](const Summary& s) { return s.t_epoch_s; }, "s", "time of one training epoch");
    MatrixD test(R, J), train(R, J);
    for (std::size_t i = 0; i < R; ++i)
      for (int j = 0; j < J; ++j) {
        test(Eigen::Index(i), j) = runs[i].test_acc[std::size_t(j)];
        train(Eigen::Index(i), j) = runs[i].train_acc[std::size_t(j)];
      }
    h5::write(g, "test_acc", test, "1", "final test accuracy per run and job (job = chip * folds + fold)");
    h5::write(g, "train_acc", train, "1", "final training accuracy per run and job");
    int E = 0;
    for (const auto& r : runs) E = std::max(E, r.onchip.epochs);
    MatrixD ct = MatrixD::Constant(R, E, std::numeric_limits<double>::quiet_NaN()), ctr = ct, cl = ct;
    for (std::size_t i = 0; i < R; ++i) {
      const int e = runs[i].onchip.epochs;
      ct.row(Eigen::Index(i)).head(e) = mean_curves(runs[i].curve_test, e).row(0);
      ctr.row(Eigen::Index(i)).head(e) = mean_curves(runs[i].curve_train, e).row(0);
      cl.row(Eigen::Index(i)).head(e) = mean_curves(runs[i].curve_loss, e).row(0);
    }
    h5::write(g, "curve_test_acc", ct, "1", "test accuracy after each epoch, mean over jobs (NaN past the run's epochs)");
    h5::write(g, "curve_train_acc", ctr, "1", "training accuracy after each epoch, mean over jobs");
    h5::write(g, "curve_train_loss", cl, "1", "mean training loss 1/2 |y - t|^2 of each epoch, mean over jobs");
    std::vector<std::int64_t> fv(fold.begin(), fold.end());
    H5::Group d = h5::group(root, "data");
    h5::write(d, "fold", fv, "", "cross-validation fold of each Iris row (the test set of split f is fold f)");
  };
  file.write(info, content);
}

std::string fmt_e(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

}  // namespace

int run_onchip(const OnchipOptions& o) {
  pin_numerics();
  const auto t_start = std::chrono::steady_clock::now();
  const Mpi& mpi = Mpi::world();
  if (mpi.size() > 1) throw Error("onchip: runs on one process (its Monte Carlo is parallel with OpenMP); drop mpirun");
  const OnchipConfig c = parse_onchip_config(load_config(o.config));
  const ResultsWriter file({.command = "onchip", .path = o.out, .resumable = false, .force = o.force});
  const data::Dataset iris = data::load_iris(c.study.iris_csv);
  RunInfo info = begin_run("aimc-onchip", c.file, c.study.seed, mpi.size());

  const auto fold = fold_of(iris, c.study.folds, std::uint64_t(c.study.seed));
  std::vector<Split> splits;
  for (int f = 0; f < c.study.folds; ++f) splits.push_back(make_split(iris, fold, f));
  std::vector<Run> runs = plan_runs(c);
  const int C = c.study.chips, F = c.study.folds, J = C * F;
  for (auto& r : runs) {
    for (auto* v : {&r.test_acc, &r.train_acc, &r.read_J, &r.write_J, &r.pulses, &r.samples}) v->assign(std::size_t(J), 0.0);
    r.curve_test.assign(std::size_t(J), {});
    r.curve_train.assign(std::size_t(J), {});
    r.curve_loss.assign(std::size_t(J), {});
  }
  const long long total = (long long)runs.size() * J;
  Progress prog("onchip", total, "trainings", o.progress);
  std::string failure;
#pragma omp parallel for schedule(dynamic)
  for (long long k = 0; k < total; ++k) {
    const std::size_t ri = std::size_t(k / J), job = std::size_t(k % J);
    const int chip = int(job) / F, f = int(job) % F;
    try {
      train_job(c, runs[ri], splits[std::size_t(f)], chip, f, job);
    } catch (const std::exception& e) {
#pragma omp critical(onchip_fail)
      if (failure.empty()) failure = e.what();
    }
#pragma omp critical(onchip_progress)
    prog.tick();
  }
  prog.finish();
  if (!failure.empty()) throw Error("onchip: " + failure);
  std::vector<Summary> sums;
  for (const auto& r : runs) sums.push_back(summarize(c, runs, r));
  info.status = "complete";
  info.end_time = nets::utc_now();
  write_file(file, c, info, runs, sums, fold);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (!o.quiet) {
    std::printf("on-chip learning on Iris: %d chips x %d folds per row, test accuracy mean [%g%% CI] over chips\n", C, F,
                100 * c.study.confidence);
    std::printf("%-26s %-7s %-34s %-26s %-10s %-10s %-9s %s\n", "series", "device", "test accuracy", "vs float",
                "E_read/smp", "E_write/smp", "pulses", "t/sample");
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const auto& r = runs[i];
      const auto& s = sums[i];
      char acc[64], diff[64] = "";
      std::snprintf(acc, sizeof acc, "%.4f [%.4f, %.4f]", s.test_mean, s.test_lo, s.test_hi);
      if (r.float_run >= 0) std::snprintf(diff, sizeof diff, "%+.4f [%+.4f, %+.4f]", s.diff_mean, s.diff_lo, s.diff_hi);
      const std::string series = r.axis < 0 ? r.series : r.series + "=" + fmt_e(r.value);
      std::printf("%-26s %-7s %-34s %-26s %-10s %-10s %-9.2f %s\n", series.c_str(), r.device.c_str(), acc, diff,
                  fmt_e(s.read_per_sample_J).c_str(), fmt_e(s.write_per_sample_J).c_str(), s.pulses_per_sample,
                  fmt_e(r.t_sample_s).c_str());
    }
    std::printf("results: %s (%.1f s)\n", o.out.c_str(), seconds);
  }
  return 0;
}

}  // namespace aimc::experiments
