#include "experiments/mc.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include <omp.h>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "devices/technology.hpp"
#include "devices/variation.hpp"
#include "nets/model_io.hpp"
#include "nets/train.hpp"
#include "experiments/campaign.hpp"
#include "experiments/mpi.hpp"
#include "experiments/results_writer.hpp"
#include "experiments/run_info.hpp"
#include "experiments/sram_config.hpp"

namespace aimc::experiments {

using nets::AnalogConfig;
using nets::AnalogNetwork;

// ---------------------------------------------------------------------------------------------
// Parameter tables

std::span<const Param<McParams>> McParams::params() {
  using P = McParams;
  static const Param<P> t[] = {
      {"trials", &P::trials, "1", "device instances per sweep point (the maximum, with the stopping rule)",
       "50 trials: the 95% CI half-width of mean accuracy is ~0.3 sd of the trial spread", between(1, 1000000)},
      {"seed", &P::seed, "1", "global seed of every random stream", "any", between(0, 2147483647)},
      {"chunk", &P::chunk, "1", "images per evaluation chunk (keys the per-read streams)", "memory/speed trade-off",
       between(1, 100000)},
      {"snr_samples", &P::snr_samples, "1", "images over which the per-layer output SNR is measured",
       "500 images give SNR estimates to ~0.1 dB", between(0, 10000)},
      {"ci_half_width", &P::ci_half_width, "1",
       "stopping rule: stop a point when the CI half-width of its mean accuracy is below this (0: run all trials)",
       "sequential Monte Carlo stopping (e.g. Leveugle et al., DATE 2009 for the sample-size view)", between(0.0, 1.0)},
      {"round", &P::round, "1", "trials per point between stopping-rule checks and MPI result exchanges",
       "a round is the unit of the stopping rule", between(1, 100000)},
      {"confidence", &P::confidence, "1", "confidence level of the reported intervals", "95%",
       {0.0, 1.0, true, true}},
  };
  return t;
}

// ---------------------------------------------------------------------------------------------
// Config

std::size_t McConfig::points() const {
  // Saturating: four axes of 2^16 values must not wrap to 0 points (parse_mc_config caps the count).
  std::size_t n = 1;
  for (const auto& a : sweep) {
    const std::size_t m = a.values.size();
    if (m != 0 && n > std::numeric_limits<std::size_t>::max() / m) return std::numeric_limits<std::size_t>::max();
    n *= m;
  }
  return n;
}

std::vector<double> McConfig::values_at(std::size_t point) const {
  std::vector<double> v(sweep.size());
  for (std::size_t i = sweep.size(); i-- > 0;) {
    const std::size_t n = sweep[i].values.size();
    v[i] = sweep[i].values[point % n];
    point /= n;
  }
  return v;
}

AnalogConfig McConfig::analog_at(std::size_t point) const {
  AnalogConfig a = analog;
  const auto v = values_at(point);
  for (std::size_t i = 0; i < sweep.size(); ++i) a.set(sweep[i].key, v[i]);
  return a;
}

namespace {

template <class S>
void reject_keys(const toml::table& t, const std::string& file, const std::string& section,
                 std::initializer_list<std::pair<const char*, const char*>> keys) {
  for (auto [k, why] : keys)
    if (t.contains(k)) fail_at(file, section + "." + k, why);
}

template <class P>
devices::SramModel<P> read_sram(const toml::table& t, const std::string& file, const std::string& sec,
                                devices::SramModel<P> m) {
  return read_sram_section(t, file, sec, std::move(m),
                           {{"n_rows", "set by mapping.tile_rows (the rows of one tile)"}, {"b_x", "set by dac.bits"}});
}

void collect_sweep(const toml::table& t, const std::string& prefix, const std::string& file,
                   std::vector<SweepAxis>& out) {
  for (auto&& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (v.is_table()) collect_sweep(*v.as_table(), key, file, out);
    else out.push_back({key, get_numbers(v, file, "sweep." + key)});
  }
}

/// [layer.N.section] tables: per-layer settings (N = ordinal among the Dense/Conv2d layers).
void read_layer_overrides(const toml::table& t, const std::string& file, AnalogConfig& a) {
  const auto keys = AnalogConfig::numeric_keys();
  for (auto&& [k, v] : t) {
    const std::string n(k.str());
    char* end = nullptr;
    errno = 0;
    const long ord = std::strtol(n.c_str(), &end, 10);
    if (n.empty() || *end != '\0' || ord < 0 || errno == ERANGE || ord > std::numeric_limits<int>::max())
      fail_at(file, "layer." + n, "expected a layer ordinal (0 = first Dense/Conv2d layer), e.g. [layer.0.adc]");
    if (!v.is_table()) fail_at(file, "layer." + n, "expected section tables, e.g. [layer." + n + ".adc]");
    AnalogConfig::LayerOverride ov;
    ov.ordinal = int(ord);
    for (auto&& [sk, sv] : *v.as_table()) {
      const std::string sec(sk.str());
      if (!sv.is_table())
        fail_at(file, "layer." + n + "." + sec, "expected a section table (mapping, rram, dac, adc, sense_amp, ...)");
      for (auto&& [pk, pv] : *sv.as_table()) {
        const std::string full = sec + "." + std::string(pk.str()), path = "layer." + n + "." + full;
        AnalogConfig probe = a;
        bool ok = false;
        if (!pv.is_string() && !pv.is_number() && !pv.is_boolean())
          fail_at(file, path, "expected a number, string or boolean, got " + describe(pv));
        // to_number, not value<double>(): an integer beyond 2^53 has no exact double and value<double>() is
        // empty; it also rejects nan and inf (its message names file and key already, so it is outside the try).
        const double d = pv.is_boolean() ? double(*pv.value<bool>()) : pv.is_string() ? 0.0 : to_number(pv, file, path);
        try {
          if (pv.is_string()) {
            ok = probe.set_string(full, *pv.value<std::string>());
            if (ok) ov.strings.emplace_back(full, *pv.value<std::string>());
          } else {
            ok = probe.set(full, d);
            if (ok) ov.numbers.emplace_back(full, d);
          }
        } catch (const Error& e) {
          fail_at(file, path, e.what());
        }
        if (!ok) {
          const std::string near = nearest(full, keys);
          fail_at(file, path,
                  "not a per-layer hardware parameter" + (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
        }
      }
    }
    a.overrides.push_back(std::move(ov));
  }
}

std::string point_label(const McConfig& c, std::size_t p) {
  std::string s;
  const auto v = c.values_at(p);
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + c.sweep[i].key + " = " + to_str(v[i]);
  return s.empty() ? "(no sweep)" : s;
}

}  // namespace

const std::vector<std::string>& analog_section_names() {
  static const std::vector<std::string> names = {"mapping", "rram",    "pcm",     "dac",     "adc",    "sense_amp",
                                                 "sram_qs", "sram_is", "sram_qr", "mosfet", "layer"};
  return names;
}

void read_analog_sections(const toml::table& root, const std::string& file, AnalogConfig& a) {
  auto sub = [&](const char* name) { return subtable(root, name, file, ""); };
  if (const auto* t = sub("mapping")) a.mapping = read_params<nets::MappingParams>(*t, file, "mapping");
  if (const auto* t = sub("rram")) {
    reject_keys<devices::RramParams>(*t, file, "rram",
                                     {{"rows", "the tile size is mapping.tile_rows"}, {"cols", "the tile size is mapping.tile_cols"}});
    a.rram = read_params<devices::RramParams>(*t, file, "rram", a.rram);
  }
  if (const auto* t = sub("pcm")) {
    reject_keys<devices::PcmParams>(*t, file, "pcm",
                                    {{"rows", "the tile size is mapping.tile_rows"}, {"cols", "the tile size is mapping.tile_cols"}});
    a.pcm = read_params<devices::PcmParams>(*t, file, "pcm", a.pcm);
  }
  if (const auto* t = sub("dac")) a.dac = read_params<devices::DacParams>(*t, file, "dac");
  if (const auto* t = sub("adc")) a.adc = read_params<devices::AdcParams>(*t, file, "adc");
  if (const auto* t = sub("sense_amp")) a.sense_amp = read_params<devices::SenseAmpParams>(*t, file, "sense_amp");
  if (const auto* t = sub("sram_qs")) a.sram_qs = read_sram(*t, file, "sram_qs", a.sram_qs);
  if (const auto* t = sub("sram_is")) a.sram_is = read_sram(*t, file, "sram_is", a.sram_is);
  if (const auto* t = sub("sram_qr")) a.sram_qr = read_sram(*t, file, "sram_qr", a.sram_qr);
  if (const auto* t = sub("mosfet")) {
    reject_keys<devices::MosfetParams>(*t, file, "mosfet", {{"x_max", "set from the layer's calibrated input range"}});
    a.mosfet = read_params<devices::MosfetParams>(*t, file, "mosfet", a.mosfet);
  }
  if (const auto* t = sub("layer")) read_layer_overrides(*t, file, a);
}

McConfig parse_mc_config(const ConfigFile& f) {
  McConfig c;
  c.file = f;
  const std::string& file = f.path;
  const auto& root = f.root;
  std::vector<std::string> sections = {"model", "data", "mc", "sweep"};
  sections.insert(sections.end(), analog_section_names().begin(), analog_section_names().end());
  check_keys(root, sections, file, "");
  auto sub = [&](const char* name) { return subtable(root, name, file, ""); };
  read_model_and_data(root, file, "evaluate", c.model, c.data);
  if (const auto* t = sub("mc")) c.mc = read_params<McParams>(*t, file, "mc");
  auto& a = c.analog;
  read_analog_sections(root, file, a);
  if (const auto* t = sub("sweep")) collect_sweep(*t, "", file, c.sweep);
  const auto keys = AnalogConfig::numeric_keys();
  for (const auto& ax : c.sweep) {
    AnalogConfig probe = a;
    bool ok = false;
    try {
      ok = probe.set(ax.key, ax.values.front());
    } catch (const Error& e) {
      fail_at(file, "sweep." + ax.key, e.what());
    }
    if (!ok) {
      const std::string near = nearest(ax.key, keys);
      fail_at(file, "sweep." + ax.key,
              "not a numeric hardware parameter" + (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
    }
  }
  if (c.points() > 100000) fail_at(file, "sweep", "more than 100,000 sweep points");
  for (std::size_t p = 0; p < c.points(); ++p) {
    try {
      c.analog_at(p).validate();
    } catch (const Error& e) {
      throw Error(file + ": " + (c.sweep.empty() ? std::string() : "sweep point " + point_label(c, p) + ": ") + e.what());
    }
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Trials

namespace {
/// The two streams of trial t (the only place their keys are formed; the results file records them).
Stream program_stream(int seed, std::uint64_t trial) { return Stream(std::uint64_t(seed), "mc.program", {trial}); }
Stream read_stream(int seed, std::uint64_t trial) { return Stream(std::uint64_t(seed), "mc.read", {trial}); }
}  // namespace

TrialResult run_trial(const AnalogNetwork& an, const Matrix& x_prefix, const VectorI& labels, const McParams& mc,
                      std::uint64_t trial, std::unique_ptr<nets::AnalogInstance>* reuse) {
  std::unique_ptr<nets::AnalogInstance> own;
  std::unique_ptr<nets::AnalogInstance>& inst = reuse ? *reuse : own;
  if (inst) an.program(*inst, program_stream(mc.seed, trial));
  else inst = an.program(program_stream(mc.seed, trial));
  const auto s = inst->evaluate(x_prefix, labels, read_stream(mc.seed, trial), mc.chunk, mc.snr_samples);
  TrialResult r;
  r.accuracy = double(s.correct) / double(s.total);
  r.loss = s.loss_sum / double(s.total);
  r.adc_saturated = double(s.adc_saturated);
  r.adc_conversions = double(s.adc_conversions);
  r.snr_db = s.snr_db();
  if (mc.snr_samples == 0) std::fill(r.snr_db.begin(), r.snr_db.end(), std::numeric_limits<double>::quiet_NaN());
  return r;
}

// ---------------------------------------------------------------------------------------------
// Campaign state and the results file

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct PointState {
  std::vector<double> accuracy, loss, saturated, conversions;
  MatrixD snr;                    // trials x layers
  std::vector<std::int64_t> done;  // 0/1 per trial
  bool stopped = false;           // by the stopping rule
  PointState(int trials, int layers)
      : accuracy(trials, kNaN), loss(trials, kNaN), saturated(trials, kNaN), conversions(trials, kNaN),
        snr(MatrixD::Constant(trials, layers, kNaN)), done(trials, 0) {}
  int done_prefix() const {
    int n = 0;
    while (n < int(done.size()) && done[n]) ++n;
    return n;
  }
  int done_count() const { return int(std::count(done.begin(), done.end(), 1)); }
  /// Accuracies of trials [0, n) (all done when the stopping rule asks).
  std::vector<double> accuracies_before(int n) const { return {accuracy.begin(), accuracy.begin() + n}; }
  /// Forgets trials from `n` on: a point the rule stopped after n trials never ran them in an
  /// uninterrupted run, so a resumed run must not keep those that a killed run had started.
  void truncate(int n) {
    for (std::size_t t = std::size_t(n); t < done.size(); ++t) {
      accuracy[t] = loss[t] = saturated[t] = conversions[t] = kNaN;
      snr.row(Eigen::Index(t)).setConstant(kNaN);
      done[t] = 0;
    }
  }
  void store(int t, const TrialResult& r) {
    accuracy[t] = r.accuracy;
    loss[t] = r.loss;
    saturated[t] = r.adc_saturated;
    conversions[t] = r.adc_conversions;
    for (std::size_t l = 0; l < r.snr_db.size() && Eigen::Index(l) < snr.cols(); ++l) snr(t, Eigen::Index(l)) = r.snr_db[l];
    done[t] = 1;
  }
};

struct Summary {
  int n = 0;
  double mean = kNaN, sd = kNaN, p5 = kNaN, p50 = kNaN, p95 = kNaN, ci_lo = kNaN, ci_hi = kNaN, loss = kNaN,
         sat_rate = kNaN;
  std::vector<double> snr;
};

Summary summarize(const PointState& s, double confidence) {
  Summary m;
  std::vector<double> acc, loss;
  double sat = 0, conv = 0;
  m.snr.assign(std::size_t(s.snr.cols()), 0.0);
  for (std::size_t t = 0; t < s.done.size(); ++t) {
    if (!s.done[t]) continue;
    acc.push_back(s.accuracy[t]);
    loss.push_back(s.loss[t]);
    sat += s.saturated[t];
    conv += s.conversions[t];
    for (Eigen::Index l = 0; l < s.snr.cols(); ++l) m.snr[std::size_t(l)] += s.snr(Eigen::Index(t), l);
  }
  m.n = int(acc.size());
  for (auto& v : m.snr) v = m.n ? v / m.n : kNaN;
  if (m.n == 0) return m;
  m.mean = stats::mean(acc);
  m.sd = m.n > 1 ? stats::stddev(acc) : kNaN;
  m.p5 = stats::percentile(acc, 5);
  m.p50 = stats::percentile(acc, 50);
  m.p95 = stats::percentile(acc, 95);
  if (m.n > 1) {
    auto ci = stats::mean_ci(acc, confidence);
    m.ci_lo = ci.lo;
    m.ci_hi = ci.hi;
  }
  m.loss = stats::mean(loss);
  m.sat_rate = conv > 0 ? sat / conv : 0.0;
  return m;
}

std::string point_name(std::size_t p) {
  char b[32];
  std::snprintf(b, sizeof b, "p%04zu", p);
  return b;
}

struct Run : ModelRun<McConfig> {
  using ModelRun::ModelRun;
  int layers = 0;
  std::vector<std::size_t> analog_layer_index;
  std::vector<PointState> points;
  std::vector<std::int64_t> program_keys, read_keys;  // per trial, bit patterns of the stream keys
};

}  // namespace

void write_resolved_analog(H5::Group& res, const AnalogConfig& a) {
  write_resolved(res, "mapping", a.mapping);
  write_resolved(res, "rram", a.rram);
  write_resolved(res, "pcm", a.pcm);
  write_resolved(res, "dac", a.dac);
  write_resolved(res, "adc", a.adc);
  write_resolved(res, "sense_amp", a.sense_amp);
  write_resolved_sram(res, "sram_qs", a.sram_qs);
  write_resolved_sram(res, "sram_is", a.sram_is);
  write_resolved_sram(res, "sram_qr", a.sram_qr);
  write_resolved(res, "mosfet", a.mosfet);
  for (const auto& ov : a.overrides) {
    const std::string pre = "layer." + std::to_string(ov.ordinal) + ".";
    for (const auto& [k, v] : ov.strings) h5::set_attr(res, pre + k, v);
    for (const auto& [k, v] : ov.numbers) h5::set_attr(res, pre + k, to_str(v));
  }
}

namespace {

/// Writes the whole results file (ResultsWriter: temporary file, fsync, rename), so a reader, a crash or a
/// full disk only ever leaves a complete file.
void write_results(const Run& r) {
  const McConfig& c = *r.cfg;
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    r.write_model_attributes(root);
    h5::set_attr(root, "trials", std::int64_t(c.mc.trials));
    h5::set_attr(root, "points", std::int64_t(c.points()));
    h5::set_attr(root, "program_stream", "Stream(seed, \"mc.program\", {trial}) (core/random.hpp)");
    h5::set_attr(root, "read_stream", "Stream(seed, \"mc.read\", {trial}) (core/random.hpp)");
  };
  content.resolved = [&](H5::Group& res) {
    write_resolved(res, "model", c.model);
    write_resolved(res, "data", c.data);
    write_resolved(res, "mc", c.mc);
    write_resolved_analog(res, c.analog);
  };
  content.groups = [&](H5::Group& root) {
    {
      H5::Group keys = h5::group(root, "trial_keys");
      h5::write(keys, "program", r.program_keys, "", "64-bit key of each trial's programming stream (bit pattern as int64)");
      h5::write(keys, "read", r.read_keys, "", "64-bit key of each trial's read stream (bit pattern as int64)");
    }

    H5::Group sw = h5::group(root, "sweep");
    std::vector<std::string> names;
    for (const auto& a : c.sweep) names.push_back(a.key);
    h5::write_strings(sw, "axes", names, "swept parameters, in point order (last fastest)");
    for (const auto& a : c.sweep) h5::write(sw, a.key, a.values, "", "values of this axis");
    std::vector<std::int64_t> li(r.analog_layer_index.begin(), r.analog_layer_index.end());
    h5::write(root, "analog_layers", li, "", "network layer index of each analog layer (columns of snr_db)");

    H5::Group pts = h5::group(root, "points");
    const std::size_t P = c.points();
    std::vector<double> mean, sd, p5, p50, p95, lo, hi, loss, sat;
    std::vector<std::int64_t> n;
    MatrixD snr(Eigen::Index(P), r.layers);
    std::map<std::string, std::vector<double>> axis_vals;
    for (std::size_t p = 0; p < P; ++p) {
      const PointState& s = r.points[p];
      H5::Group g = h5::group(pts, point_name(p));
      const auto v = c.values_at(p);
      for (std::size_t i = 0; i < v.size(); ++i) {
        h5::set_attr(g, c.sweep[i].key, v[i]);
        axis_vals[c.sweep[i].key].push_back(v[i]);
      }
      h5::set_attr(g, "stopped_by_rule", std::int64_t(s.stopped));
      h5::write(g, "accuracy", s.accuracy, "1", "top-1 accuracy of each trial on the test subset (NaN: not run)");
      h5::write(g, "loss", s.loss, "nat", "mean cross-entropy of each trial");
      h5::write(g, "adc_saturated", s.saturated, "1", "saturated ADC conversions of each trial");
      h5::write(g, "adc_conversions", s.conversions, "1", "ADC conversions of each trial");
      h5::write(g, "snr_db", s.snr, "dB", "output SNR of each analog layer vs the digital product on the same inputs");
      h5::write(g, "done", s.done, "", "1 if the trial completed");
      const Summary m = summarize(s, c.mc.confidence);
      n.push_back(m.n);
      mean.push_back(m.mean);
      sd.push_back(m.sd);
      p5.push_back(m.p5);
      p50.push_back(m.p50);
      p95.push_back(m.p95);
      lo.push_back(m.ci_lo);
      hi.push_back(m.ci_hi);
      loss.push_back(m.loss);
      sat.push_back(m.sat_rate);
      for (int l = 0; l < r.layers; ++l) snr(Eigen::Index(p), l) = m.snr[std::size_t(l)];
    }
    H5::Group sm = h5::group(root, "summary");
    h5::set_attr(sm, "confidence", c.mc.confidence);
    h5::write(sm, "trials", n, "1", "completed trials per point");
    h5::write(sm, "accuracy_mean", mean, "1", "mean accuracy over trials");
    h5::write(sm, "accuracy_std", sd, "1", "sample standard deviation of accuracy over trials");
    h5::write(sm, "accuracy_p5", p5, "1", "5th percentile of accuracy");
    h5::write(sm, "accuracy_p50", p50, "1", "median accuracy");
    h5::write(sm, "accuracy_p95", p95, "1", "95th percentile of accuracy");
    h5::write(sm, "accuracy_ci_lo", lo, "1", "lower end of the Student-t confidence interval of mean accuracy");
    h5::write(sm, "accuracy_ci_hi", hi, "1", "upper end of the Student-t confidence interval of mean accuracy");
    h5::write(sm, "loss_mean", loss, "nat", "mean cross-entropy");
    h5::write(sm, "adc_saturation_rate", sat, "1", "saturated / all ADC conversions");
    h5::write(sm, "snr_db_mean", snr, "dB", "mean per-layer output SNR (points x analog layers)");
    H5::Group par = h5::group(sm, "param");
    for (const auto& a : c.sweep) h5::write(par, a.key, axis_vals[a.key], "", "this axis' value at each point");
  };
  r.file->write(r.info, content);
}

void read_results(Run& r) {
  const McConfig& c = *r.cfg;
  const std::string& out = r.file->path();
  r.file->read("aimc Monte Carlo", r.info, [&](const H5::Group& root) {
    H5::Group pts = h5::open_group(root, "points", out);
    for (std::size_t p = 0; p < c.points(); ++p) {
      H5::Group g = h5::open_group(pts, point_name(p), out);
      PointState& s = r.points[p];
      auto done = h5::read_ints(g, "done", out);
      auto acc = h5::read_doubles(g, "accuracy", out), loss = h5::read_doubles(g, "loss", out),
           sat = h5::read_doubles(g, "adc_saturated", out), conv = h5::read_doubles(g, "adc_conversions", out);
      MatrixD snr = h5::read_matrixd(g, "snr_db", out);
      const std::size_t n = s.done.size();
      if (done.size() != n || acc.size() != n || loss.size() != n || sat.size() != n || conv.size() != n ||
          std::size_t(snr.rows()) != n || snr.cols() != s.snr.cols())
        throw Error(out + ": --resume: point " + point_name(p) + " has unexpected dataset sizes");
      for (std::size_t t = 0; t < done.size(); ++t) {
        if (!done[t]) continue;
        s.done[t] = 1;
        s.accuracy[t] = acc[t];
        s.loss[t] = loss[t];
        s.saturated[t] = sat[t];
        s.conversions[t] = conv[t];
        s.snr.row(Eigen::Index(t)) = snr.row(Eigen::Index(t));
      }
      s.stopped = h5::attr_int(g, "stopped_by_rule", out) != 0;
    }
  });
}


void print_summary(const Run& r, double seconds) {
  const McConfig& c = *r.cfg;
  std::printf("\n%s on %s (%d test images, digital accuracy %.4f), %zu point(s), seed %d\n", c.model.path.c_str(),
              c.data.dataset.c_str(), c.data.subset, r.digital_accuracy, c.points(), c.mc.seed);
  std::string head;
  for (const auto& a : c.sweep) head += a.key + "  ";
  std::printf("%s trials  mean acc   std     %2.0f%% CI of mean      p5      p50     p95     SNR(dB, per analog layer)  ADC sat\n",
              head.c_str(), c.mc.confidence * 100);
  for (std::size_t p = 0; p < c.points(); ++p) {
    const Summary m = summarize(r.points[p], c.mc.confidence);
    const auto v = c.values_at(p);
    for (std::size_t i = 0; i < v.size(); ++i)
      std::printf("%*s  ", int(c.sweep[i].key.size()), to_str(v[i]).c_str());
    std::printf("%6d  %.4f   %.4f  [%.4f, %.4f]  %.4f  %.4f  %.4f  ", m.n, m.mean, m.sd, m.ci_lo, m.ci_hi, m.p5, m.p50,
                m.p95);
    std::string snr;
    for (double s : m.snr) snr += (snr.empty() ? "" : " ") + (std::isfinite(s) ? to_str(std::round(s * 10) / 10) : "inf");
    std::printf("%-26s  %.2e\n", snr.c_str(), m.sat_rate);
  }
  std::printf("results: %s (%.1f s)\n", r.file->path().c_str(), seconds);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The campaign

int run_mc(const McOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  const Mpi& mpi = Mpi::world();
  const bool lead = mpi.rank() == 0;
  const ConfigFile cf = load_config(o.config);
  const McConfig c = parse_mc_config(cf);

  // One run per results file: a second run on the same --out fails here, before it reads or writes anything.
  const ResultsWriter file({.command = "mc", .path = o.out, .resume = o.resume, .force = o.force, .lead = lead});

  // Model and data (errors here leave any existing results untouched).
  CampaignInputs inputs = load_campaign_inputs(c.file.path, c.model, c.data);
  auto& model = inputs.model;
  auto& test = inputs.test;
  auto cal = load_calibration(c.file.path, c.data);

  // Prepared points: calibrated mappings and their digital prefixes (shared when equal).
  const std::size_t P = c.points();
  std::vector<std::unique_ptr<AnalogNetwork>> an(P);
  std::map<std::size_t, Matrix> prefix;
  for (std::size_t p = 0; p < P; ++p) {
    try {
      AnalogConfig a = c.analog_at(p);
      a.input_ranges = model.meta.hwa.input_ranges;  // used with mapping.input_range = "model"
      an[p] = std::make_unique<AnalogNetwork>(model.net, a, cal.x);
    } catch (const Error& e) {
      throw Error(c.file.path + ": " + point_label(c, p) + ": " + e.what());
    }
    const std::size_t first = an[p]->first_analog();
    if (!prefix.count(first)) prefix[first] = an[p]->prefix(test.x);
  }

  Run r(c, file, model.meta, "aimc-mc", c.mc.seed, mpi.size());
  r.digital_accuracy = nets::evaluate(model.net, test).accuracy;
  r.analog_layer_index = an[0]->analog_layers();
  r.layers = int(r.analog_layer_index.size());
  for (std::size_t p = 0; p < P; ++p) r.points.emplace_back(c.mc.trials, r.layers);
  for (int t = 0; t < c.mc.trials; ++t) {  // once, not on every rewrite of the file
    r.program_keys.push_back(std::int64_t(program_stream(c.mc.seed, std::uint64_t(t)).key()));
    r.read_keys.push_back(std::int64_t(read_stream(c.mc.seed, std::uint64_t(t)).key()));
  }
  // The trial record: accuracy, loss, saturated, conversions, snr_db per analog layer.
  const std::size_t rec = 4 + std::size_t(r.layers);
  Scheduler sched(
      o.out, rec,
      [&](const Job& job, std::span<const double> d) {
        if (job.unit >= r.points.size() || job.index >= r.points[job.unit].done.size()) return;  // not this campaign's
        TrialResult res;
        res.accuracy = d[0];
        res.loss = d[1];
        res.adc_saturated = d[2];
        res.adc_conversions = d[3];
        res.snr_db.assign(d.begin() + 4, d.end());
        r.points[job.unit].store(int(job.index), res);
      },
      [&] { write_results(r); });
  if (file.resuming()) {
    read_results(r);
    sched.replay();
  }
  sched.checkpoint();

  long long remaining = 0;
  for (const auto& s : r.points) remaining += c.mc.trials - s.done_count();
  Progress progress("mc", remaining, "trials", o.progress && lead);
  // Rounds exist for the stopping rule and the MPI exchanges; without either, all trials are one
  // parallel loop, so threads do not meet at a barrier every mc.round trials (where, on a loaded
  // machine, one waits for the other to be scheduled again). Results do not depend on it.
  const int per_round = c.mc.ci_half_width > 0 || mpi.size() > 1 ? c.mc.round : c.mc.trials;
  const int rounds = (c.mc.trials + per_round - 1) / per_round;
  // One device instance per thread and point, drawn anew by each trial in place (run_trial), so the
  // trials do not allocate and free their tiles: with 2 threads that cost 450,000 page faults and
  // 0.7 s of system time per 2,000 MLP trials, as glibc returned the second thread's arena to the
  // system after every trial.
  std::vector<std::unique_ptr<nets::AnalogInstance>> instances(std::size_t(omp_get_max_threads()) * P);
  for (int round = 0; round < rounds; ++round) {
    const int t0 = round * per_round, t1 = std::min(c.mc.trials, t0 + per_round);
    std::vector<Job> jobs;
    for (std::size_t p = 0; p < P; ++p) {
      if (r.points[p].stopped) continue;
      for (int t = t0; t < t1; ++t)
        if (!r.points[p].done[std::size_t(t)]) jobs.push_back({p, std::uint64_t(t)});
    }
    sched.run(
        jobs,
        [&](const Job& job, std::span<double> d) {
          auto& inst = instances.at(std::size_t(omp_get_thread_num()) * P + job.unit);
          const TrialResult res =
              run_trial(*an[job.unit], prefix.at(an[job.unit]->first_analog()), test.y, c.mc, job.index, &inst);
          d[0] = res.accuracy;
          d[1] = res.loss;
          d[2] = res.adc_saturated;
          d[3] = res.adc_conversions;
          for (int l = 0; l < r.layers; ++l) d[4 + std::size_t(l)] = res.snr_db[std::size_t(l)];
        },
        &progress);
    // Stopping rule, checked on the trials of whole rounds [0, t1) only, so the decision depends neither
    // on scheduling nor on trials of later rounds that a killed run had finished before a --resume.
    if (c.mc.ci_half_width > 0) {
      bool changed = false;
      for (auto& s : r.points) {
        if (s.stopped || s.done_prefix() < t1 || t1 < 2) continue;
        if (stats::mean_ci(s.accuracies_before(t1), c.mc.confidence).half_width() <= c.mc.ci_half_width) {
          s.stopped = true;
          s.truncate(t1);
          changed = true;
        }
      }
      if (changed) sched.checkpoint();
    }
  }
  progress.finish();
  r.info.status = "complete";
  r.info.end_time = nets::utc_now();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  sched.finish();
  if (lead && !o.quiet) print_summary(r, seconds);
  return 0;
}

}  // namespace aimc::experiments
