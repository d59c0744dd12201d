#include "experiments/snr.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/numerics.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "devices/accumulator.hpp"
#include "devices/technology.hpp"
#include "devices/variation.hpp"
#include "experiments/mpi.hpp"
#include "experiments/results_writer.hpp"
#include "experiments/run_info.hpp"
#include "experiments/sram_config.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

using namespace aimc::devices;

// ---------------------------------------------------------------------------------------------
// Parameter tables

std::span<const Param<SnrRunParams>> SnrRunParams::params() {
  using P = SnrRunParams;
  static const Param<P> t[] = {
      {"models", &P::models, "", "compute models to analyse, comma-separated subset of qs,is,qr", "aimc"},
      {"samples", &P::samples, "1", "Monte Carlo dot products per point and model (0: analytical only)",
       "aimc; 2e4 gives a standard error of about 0.05 dB on each SNR", between(0, 1e8)},
      {"seed", &P::seed, "1", "seed of all Monte Carlo streams", "aimc", between(0, 2147483647)},
      {"confidence", &P::confidence, "1", "confidence level of the Monte Carlo intervals", "aimc",
       {0.5, 1.0, false, true}},
  };
  return t;
}

std::vector<std::string> SnrRunParams::model_list() const {
  std::vector<std::string> out;
  std::stringstream ss(models);
  for (std::string m; std::getline(ss, m, ',');) {
    m.erase(0, m.find_first_not_of(' '));
    m.erase(m.find_last_not_of(' ') + 1);
    out.push_back(m);
  }
  return out;
}

void SnrRunParams::check() const {
  const auto l = model_list();
  if (l.empty() || models.empty()) throw Error("models: empty; give a subset of qs,is,qr");
  for (std::size_t i = 0; i < l.size(); ++i) {
    if (l[i] != "qs" && l[i] != "is" && l[i] != "qr")
      throw Error("models: unknown compute model '" + l[i] + "' (valid: qs, is, qr)");
    for (std::size_t j = 0; j < i; ++j)
      if (l[j] == l[i]) throw Error("models: '" + l[i] + "' listed twice");
  }
  if (samples == 1) throw Error("samples: 1 sample gives no variance; use 0 (analytical only) or >= 2");
}

std::span<const Param<AccumulationParams>> AccumulationParams::params() {
  using P = AccumulationParams;
  static const Param<P> t[] = {
      {"trials", &P::trials, "1", "independent sums per (n, mantissa) cell", "aimc", between(2, 1e8)},
      {"vrr_min", &P::vrr_min, "1", "a mantissa suffices when the variance retention ratio is at least this",
       "aimc (Sakr et al., ICLR 2019, ask for a VRR close to 1)", {0.0, 1.0, true, false}},
  };
  return t;
}

std::string SnrAxis::label(std::size_t i) const { return names.empty() ? to_str(values[i]) : names[i]; }

const std::vector<SnrAxis>& SnrConfig::own_axes(const std::string& model) const {
  if (model == "qs") return qs_axes;
  if (model == "is") return is_axes;
  return qr_axes;
}

std::vector<SnrAxis> SnrConfig::axes(const std::string& model) const {
  std::vector<SnrAxis> a = common;
  const auto& own = own_axes(model);
  a.insert(a.end(), own.begin(), own.end());
  return a;
}

std::size_t SnrConfig::points(const std::string& model) const {
  std::size_t n = 1;
  for (const auto& a : axes(model)) n *= a.size();
  return n;
}

namespace {

/// Per-axis indices of point p (last axis fastest).
std::vector<std::size_t> axis_index(const std::vector<SnrAxis>& axes, std::size_t p) {
  std::vector<std::size_t> idx(axes.size());
  for (std::size_t i = axes.size(); i-- > 0;) {
    idx[i] = p % axes[i].size();
    p /= axes[i].size();
  }
  return idx;
}

/// Applies the axes' values at point p: technology presets first (they replace the whole technology
/// table), then the numeric parameters.
template <class P>
SramModel<P> model_at(SramModel<P> m, const std::vector<SnrAxis>& axes, std::size_t p) {
  const auto idx = axis_index(axes, p);
  for (std::size_t i = 0; i < axes.size(); ++i)
    if (!axes[i].names.empty()) m.tech = technology(axes[i].names[idx[i]]);
  for (std::size_t i = 0; i < axes.size(); ++i)
    if (axes[i].names.empty()) set_param(m, axes[i].key, axes[i].values[idx[i]]);
  return m;
}

std::string point_label(const std::vector<SnrAxis>& axes, std::size_t p) {
  const auto idx = axis_index(axes, p);
  std::string s;
  for (std::size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + axes[i].key + " = " + axes[i].label(idx[i]);
  return s.empty() ? "(no sweep)" : s;
}

template <class P>
std::vector<std::string> numeric_names() {
  std::vector<std::string> all = param_names<P>();
  for (auto&& v : {param_names<Technology>(), param_names<ProcessVariation>()}) all.insert(all.end(), v.begin(), v.end());
  return all;
}

/// True if `key` is a numeric parameter of the model (string parameters such as swing_rule are not sweepable).
template <class P>
bool sweepable(const std::string& key) {
  SramModel<P> probe;
  return set_param(probe, key, 1.0);
}

SnrAxis read_axis(const std::string& key, const toml::node& v, const std::string& file, const std::string& path) {
  SnrAxis a;
  a.key = key;
  if (key == "technology") {
    const auto* arr = v.as_array();
    if (!arr && !v.is_string()) fail_at(file, path, "expected a preset name or an array of them");
    if (v.is_string()) a.names.push_back(*v.value<std::string>());
    else
      for (auto&& e : *arr) {
        if (!e.is_string()) fail_at(file, path, "expected preset name strings");
        a.names.push_back(*e.value<std::string>());
      }
    if (a.names.empty()) fail_at(file, path, "empty array: give at least one technology preset");
    for (const auto& n : a.names) {
      try {
        (void)technology(n);
      } catch (const Error& e) {
        fail_at(file, path, e.what());
      }
    }
    return a;
  }
  a.values = get_numbers(v, file, path);
  return a;
}

bool model_has(const std::string& model, const std::string& key) {
  if (key == "technology") return true;
  if (model == "qs") return sweepable<QsParams>(key);
  if (model == "is") return sweepable<IsParams>(key);
  return sweepable<QrParams>(key);
}

std::vector<std::string> model_keys(const std::string& model) {
  auto k = model == "qs" ? numeric_names<QsParams>() : model == "is" ? numeric_names<IsParams>() : numeric_names<QrParams>();
  k.push_back("technology");
  return k;
}

template <class P>
void validate_points(const SnrConfig& c, const std::string& model, const SramModel<P>& base) {
  const auto axes = c.axes(model);
  const std::size_t n = c.points(model);
  for (std::size_t p = 0; p < n; ++p) {
    try {
      (void)operating_point(model_at(base, axes, p));  // validates every table and the cross-table rules
    } catch (const Error& e) {
      throw Error(c.file.path + ": " + model + " at sweep point " + point_label(axes, p) + ": " + e.what());
    }
  }
}

}  // namespace

QsModel qs_at(const SnrConfig& c, std::size_t p) { return model_at(c.qs, c.axes("qs"), p); }
IsModel is_at(const SnrConfig& c, std::size_t p) { return model_at(c.is, c.axes("is"), p); }
QrModel qr_at(const SnrConfig& c, std::size_t p) { return model_at(c.qr, c.axes("qr"), p); }

SnrConfig parse_snr_config(const ConfigFile& f) {
  SnrConfig c;
  c.file = f;
  const std::string& file = f.path;
  const auto& root = f.root;
  check_keys(root, {"snr", "mpc", "adc_energy", "qs", "is", "qr", "sweep", "accumulation"}, file, "");
  auto sub = [&](const char* name) { return subtable(root, name, file, ""); };
  if (const auto* t = sub("snr")) c.run = read_params<SnrRunParams>(*t, file, "snr");
  if (const auto* t = sub("mpc")) c.mpc = read_params<MpcParams>(*t, file, "mpc");
  if (const auto* t = sub("adc_energy")) c.adc_energy = read_params<AdcEnergyParams>(*t, file, "adc_energy");
  if (const auto* t = sub("qs")) c.qs = read_sram_section(*t, file, "qs", c.qs);
  if (const auto* t = sub("is")) c.is = read_sram_section(*t, file, "is", c.is);
  if (const auto* t = sub("qr")) c.qr = read_sram_section(*t, file, "qr", c.qr);
  const auto models = c.run.model_list();
  if (const auto* t = sub("sweep")) {
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      if (v.is_table()) {
        if (key != "qs" && key != "is" && key != "qr")
          fail_at(file, "sweep." + key, "a sub-table of [sweep] must be [sweep.qs], [sweep.is] or [sweep.qr]");
        auto& dst = key == "qs" ? c.qs_axes : key == "is" ? c.is_axes : c.qr_axes;
        for (auto&& [mk, mv] : *v.as_table()) {
          const std::string name(mk.str()), path = "sweep." + key + "." + name;
          if (!model_has(key, name)) {
            const std::string near = nearest(name, model_keys(key));
            fail_at(file, path, "not a numeric parameter of the " + key + " model" +
                                    (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
          }
          dst.push_back(read_axis(name, mv, file, path));
        }
        continue;
      }
      const std::string path = "sweep." + key;
      for (const auto& m : models)
        if (!model_has(m, key)) {
          std::string owners;  // the models that do have it
          for (const char* o : {"qs", "is", "qr"})
            if (model_has(o, key)) owners += std::string(owners.empty() ? "" : " or ") + "[sweep." + o + "]";
          if (!owners.empty())
            fail_at(file, path, "not a parameter of the " + m + " model; put it under " + owners);
          const std::string near = nearest(key, model_keys(m));
          fail_at(file, path, "not a numeric parameter of the " + m + " model" +
                                  (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
        }
      c.common.push_back(read_axis(key, v, file, path));
    }
  }
  for (const auto& m : models) {
    std::size_t points = 1;  // saturating: a product of axis sizes could wrap around
    for (const auto& a : c.axes(m)) points = points > 100000 / a.size() ? 100001 : points * a.size();
    if (points > 100000) fail_at(file, "sweep", "more than 100,000 sweep points for " + m);
    std::vector<std::string> seen;
    for (const auto& a : c.axes(m)) {
      for (const auto& s : seen)
        if (s == a.key) fail_at(file, "sweep", "parameter '" + a.key + "' is swept twice for " + m);
      seen.push_back(a.key);
    }
  }
  for (const auto& m : models) {
    if (m == "qs") validate_points(c, m, c.qs);
    if (m == "is") validate_points(c, m, c.is);
    if (m == "qr") validate_points(c, m, c.qr);
  }
  if (const auto* t = sub("accumulation")) {
    c.accumulation = true;
    toml::table rest;
    for (auto&& [k, v] : *t)
      if (k.str() != "n" && k.str() != "mantissa_bits") rest.insert(k, v);
    c.acc = read_params<AccumulationParams>(rest, file, "accumulation", c.acc, {});
    const auto* n = t->get("n");
    const auto* m = t->get("mantissa_bits");
    if (!n) fail_at(file, "accumulation.n", "missing: the numbers of accumulated products to sweep");
    if (!m) fail_at(file, "accumulation.mantissa_bits", "missing: the accumulator mantissa bits to sweep");
    c.acc.n = get_numbers(*n, file, "accumulation.n");
    c.acc.mantissa_bits = get_numbers(*m, file, "accumulation.mantissa_bits");
    for (double v : c.acc.n)
      if (v < 1 || v > 1e9 || v != std::floor(v))
        fail_at(file, "accumulation.n", "each n must be an integer in [1, 1e9], got " + to_str(v));
    for (double v : c.acc.mantissa_bits)
      if (v < 0 || v > 52 || v != std::floor(v))
        fail_at(file, "accumulation.mantissa_bits", "each must be an integer in [0, 52], got " + to_str(v));
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// The run

namespace {

struct ModelResults {
  std::string model;
  std::vector<SnrAxis> axes;
  std::vector<ChainAnalysis> ana;
  std::vector<ChainMonteCarlo> mc;
};

struct AccResults {
  std::vector<std::vector<VrrEstimate>> cells;  // [n][m]
};

struct Column {
  const char* name;
  const char* unit;
  const char* desc;
  std::function<double(const ChainAnalysis&, const ChainMonteCarlo&)> get;
};

const std::vector<Column>& columns() {
  using A = ChainAnalysis;
  using M = ChainMonteCarlo;
  static const std::vector<Column> c = {
      {"n_rows", "1", "rows N of the dot product", [](const A& a, const M&) { return double(a.n_rows); }},
      {"b_x", "bit", "input precision B_x", [](const A& a, const M&) { return double(a.b_x); }},
      {"b_w", "bit", "weight precision B_w", [](const A& a, const M&) { return double(a.b_w); }},
      {"sqnr_qiy_db", "dB", "analytical SQNR_qiy (input and weight quantization)", [](const A& a, const M&) { return a.sqnr_qiy_db; }},
      {"snr_a_db", "dB", "analytical SNR_a (analog array noise)", [](const A& a, const M&) { return a.snr_a_db; }},
      {"snr_A_db", "dB", "analytical SNR_A (pre-ADC): 1/SNR_A = 1/SQNR_qiy + 1/SNR_a", [](const A& a, const M&) { return a.snr_A_db; }},
      {"bits_mpc", "bit", "ADC precision B_ADC by the minimum precision criterion", [](const A& a, const M&) { return double(a.bits_mpc); }},
      {"bits_lossless", "bit", "conventional lossless ADC precision B_x + B_w + ceil(log2 N)", [](const A& a, const M&) { return double(a.bits_lossless); }},
      {"sqnr_qy_mpc_db", "dB", "analytical ADC SQNR_qy at B_ADC (MPC), referred to y_o", [](const A& a, const M&) { return a.sqnr_qy_mpc_db; }},
      {"snr_T_mpc_db", "dB", "analytical SNR_T with the MPC ADC", [](const A& a, const M&) { return a.snr_T_mpc_db; }},
      {"sqnr_qy_lossless_db", "dB", "analytical ADC SQNR_qy of the lossless ADC", [](const A& a, const M&) { return a.sqnr_qy_lossless_db; }},
      {"snr_T_lossless_db", "dB", "analytical SNR_T with the lossless ADC", [](const A& a, const M&) { return a.snr_T_lossless_db; }},
      {"energy_array_J", "J", "array energy per dot product", [](const A& a, const M&) { return a.energy_array_J; }},
      {"energy_array_per_mac_J", "J", "array energy per MAC (per dot product / N)", [](const A& a, const M&) { return a.energy_array_J / a.n_rows; }},
      {"energy_adc_mpc_J", "J", "ADC energy per dot product at B_ADC (MPC)", [](const A& a, const M&) { return a.energy_adc_mpc_J; }},
      {"energy_adc_lossless_J", "J", "ADC energy per dot product at the lossless precision", [](const A& a, const M&) { return a.energy_adc_lossless_J; }},
      {"energy_per_mac_mpc_J", "J", "array + MPC ADC energy per MAC", [](const A& a, const M&) { return (a.energy_array_J + a.energy_adc_mpc_J) / a.n_rows; }},
      {"energy_per_mac_lossless_J", "J", "array + lossless ADC energy per MAC", [](const A& a, const M&) { return (a.energy_array_J + a.energy_adc_lossless_J) / a.n_rows; }},
      {"delay_s", "s", "array latency per dot product (ADC conversion time not included)", [](const A& a, const M&) { return a.delay_s; }},
  };
  return c;
}

struct McColumn {
  const char* name;
  const char* desc;
  const SnrMc ChainMonteCarlo::*field;
};
const std::vector<McColumn>& mc_columns() {
  static const std::vector<McColumn> c = {
      {"sqnr_qiy_db", "SQNR_qiy", &ChainMonteCarlo::sqnr_qiy},
      {"snr_a_db", "SNR_a", &ChainMonteCarlo::snr_a},
      {"snr_A_db", "SNR_A", &ChainMonteCarlo::snr_A},
      {"snr_T_mpc_db", "SNR_T with the MPC ADC", &ChainMonteCarlo::snr_T_mpc},
      {"snr_T_lossless_db", "SNR_T with the lossless ADC", &ChainMonteCarlo::snr_T_lossless},
  };
  return c;
}

void write_axes(H5::Group& g, const std::vector<SnrAxis>& axes, std::size_t points) {
  std::vector<std::string> names;
  for (const auto& a : axes) names.push_back(a.key);
  h5::write_strings(g, "axes", names, "swept parameters, in point order (last fastest)");
  H5::Group par = h5::group(g, "param");
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const auto& a = axes[i];
    if (!a.names.empty()) {
      std::vector<std::string> v;
      for (std::size_t p = 0; p < points; ++p) v.push_back(a.names[axis_index(axes, p)[i]]);
      h5::write_strings(par, a.key, v, "this axis' value at each point");
    } else {
      std::vector<double> v;
      for (std::size_t p = 0; p < points; ++p) v.push_back(a.values[axis_index(axes, p)[i]]);
      h5::write(par, a.key, v, "", "this axis' value at each point");
    }
  }
}


void write_snr_file(const ResultsWriter& file, const SnrConfig& c, const RunInfo& info,
                    const std::vector<ModelResults>& res, const AccResults& acc) {
  ResultsContent content;
  content.attributes = [&](H5::Group& root) {
    h5::set_attr(root, "models", c.run.models);
    h5::set_attr(root, "samples", std::int64_t(c.run.samples));
    h5::set_attr(root, "confidence", c.run.confidence);
    h5::set_attr(root, "mc_stream", "Stream(seed, \"snr.<model>\", {point}), child \"dp\" {sample} (core/random.hpp)");
  };
  content.resolved = [&](H5::Group& rs) {
    write_resolved(rs, "snr", c.run);
    write_resolved(rs, "mpc", c.mpc);
    write_resolved(rs, "adc_energy", c.adc_energy);
    write_resolved_sram(rs, "qs", c.qs);
    write_resolved_sram(rs, "is", c.is);
    write_resolved_sram(rs, "qr", c.qr);
  };
  content.groups = [&](H5::Group& root) {
    for (const auto& r : res) {
      H5::Group g = h5::group(root, r.model);
      const std::size_t P = r.ana.size();
      h5::set_attr(g, "points", std::int64_t(P));
      write_axes(g, r.axes, P);
      for (const auto& col : columns()) {
        std::vector<double> v(P);
        for (std::size_t p = 0; p < P; ++p) v[p] = col.get(r.ana[p], r.mc.empty() ? ChainMonteCarlo{} : r.mc[p]);
        h5::write(g, col.name, v, col.unit, col.desc);
      }
      std::vector<std::int64_t> capped(P);
      for (std::size_t p = 0; p < P; ++p) capped[p] = r.ana[p].mpc_at_lossless;
      h5::write(g, "mpc_at_lossless", capped, "", "1 if the MPC reached the lossless bound");
      if (r.mc.empty()) continue;
      H5::Group mg = h5::group(g, "mc");
      h5::set_attr(mg, "samples", std::int64_t(c.run.samples));
      h5::set_attr(mg, "confidence", c.run.confidence);
      for (const auto& col : mc_columns()) {
        std::vector<double> v(P), lo(P), hi(P), se(P);
        for (std::size_t p = 0; p < P; ++p) {
          const SnrMc& s = r.mc[p].*(col.field);
          v[p] = s.db;
          lo[p] = s.lo;
          hi[p] = s.hi;
          se[p] = s.se_db;
        }
        const std::string n = col.name;
        h5::write(mg, n, v, "dB", std::string("Monte Carlo ") + col.desc);
        h5::write(mg, n + "_lo", lo, "dB", std::string("lower end of the confidence interval of ") + col.desc);
        h5::write(mg, n + "_hi", hi, "dB", std::string("upper end of the confidence interval of ") + col.desc);
        h5::write(mg, n + "_se", se, "dB", std::string("standard error of ") + col.desc);
      }
      std::vector<double> sat(P);
      for (std::size_t p = 0; p < P; ++p) sat[p] = r.mc[p].adc_saturation_mpc;
      h5::write(mg, "adc_saturation_mpc", sat, "1", "fraction of MPC ADC conversions that clipped");
    }
    if (c.accumulation) {
      H5::Group g = h5::group(root, "accumulation");
      const auto& a = c.acc;
      h5::set_attr(g, "trials", std::int64_t(a.trials));
      h5::set_attr(g, "vrr_min", a.vrr_min);
      h5::set_attr(g, "stream", "Stream(seed, \"snr.accumulation\", {i_n, i_m}), child \"acc\" {trial}");
      h5::write(g, "n", a.n, "1", "numbers of accumulated products (rows of the VRR tables)");
      h5::write(g, "mantissa_bits", a.mantissa_bits, "bit", "accumulator mantissa fraction bits (columns)");
      const auto N = Eigen::Index(a.n.size()), M = Eigen::Index(a.mantissa_bits.size());
      MatrixD v(N, M), lo(N, M), hi(N, M);
      std::vector<double> mmin(a.n.size());
      for (Eigen::Index i = 0; i < N; ++i) {
        mmin[std::size_t(i)] = std::numeric_limits<double>::quiet_NaN();
        for (Eigen::Index j = 0; j < M; ++j) {
          const auto& e = acc.cells[std::size_t(i)][std::size_t(j)];
          v(i, j) = e.vrr;
          lo(i, j) = e.lo;
          hi(i, j) = e.hi;
        }
        for (Eigen::Index j = 0; j < M; ++j) {  // smallest mantissa from which every wider one also passes
          bool ok = true;
          for (Eigen::Index k = 0; k < M; ++k)
            if (a.mantissa_bits[std::size_t(k)] >= a.mantissa_bits[std::size_t(j)] && v(i, k) < a.vrr_min) ok = false;
          if (ok && (std::isnan(mmin[std::size_t(i)]) || a.mantissa_bits[std::size_t(j)] < mmin[std::size_t(i)]))
            mmin[std::size_t(i)] = a.mantissa_bits[std::size_t(j)];
        }
      }
      h5::write(g, "vrr", v, "1", "variance retention ratio E[c^2] / E[s^2] (n x mantissa_bits)");
      h5::write(g, "vrr_lo", lo, "1", "lower end of the confidence interval of the VRR");
      h5::write(g, "vrr_hi", hi, "1", "upper end of the confidence interval of the VRR");
      h5::write(g, "min_mantissa_bits", mmin, "bit",
                "per n: smallest swept mantissa with VRR >= vrr_min at it and every wider one (NaN: none)");
    }
  };
  file.write(info, content);
}

std::string fmt(double v, int prec = 2) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : "nan";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

void print_tables(const SnrConfig& c, const std::vector<ModelResults>& res, const AccResults& acc) {
  for (const auto& r : res) {
    std::printf("\n%s  (%s)\n", r.model == "qs" ? "QS (charge summing)" : r.model == "is" ? "IS (current summing)" : "QR (charge redistribution)",
                c.run.samples > 0 ? ("analytical / Monte Carlo, " + to_str(c.run.samples) + " dot products per point").c_str()
                                  : "analytical");
    std::string head;
    for (const auto& a : r.axes) head += a.key + "  ";
    std::printf("%s   N  Bx Bw  SQNR_qiy  SNR_a          SNR_A          B_mpc SNR_T(mpc)     B_L SNR_T(L)       E/MAC arr  E/MAC+ADC mpc  lossless   delay\n",
                head.c_str());
    for (std::size_t p = 0; p < r.ana.size(); ++p) {
      const auto idx = axis_index(r.axes, p);
      for (std::size_t i = 0; i < r.axes.size(); ++i)
        std::printf("%*s  ", int(r.axes[i].key.size()), r.axes[i].label(idx[i]).c_str());
      const auto& a = r.ana[p];
      auto pair = [&](double an, const SnrMc ChainMonteCarlo::*f) {
        return r.mc.empty() ? fmt(an) : fmt(an) + "/" + fmt((r.mc[p].*f).db);
      };
      std::printf("%4d %2d %2d  %-8s  %-13s  %-13s  %3d   %-13s  %3d %-13s  %.2e  %.2e      %.2e  %.2e\n", a.n_rows, a.b_x,
                  a.b_w, pair(a.sqnr_qiy_db, &ChainMonteCarlo::sqnr_qiy).c_str(), pair(a.snr_a_db, &ChainMonteCarlo::snr_a).c_str(),
                  pair(a.snr_A_db, &ChainMonteCarlo::snr_A).c_str(), a.bits_mpc,
                  pair(a.snr_T_mpc_db, &ChainMonteCarlo::snr_T_mpc).c_str(), a.bits_lossless,
                  pair(a.snr_T_lossless_db, &ChainMonteCarlo::snr_T_lossless).c_str(), a.energy_array_J / a.n_rows,
                  (a.energy_array_J + a.energy_adc_mpc_J) / a.n_rows, (a.energy_array_J + a.energy_adc_lossless_J) / a.n_rows,
                  a.delay_s);
    }
  }
  if (c.accumulation) {
    std::printf("\nAccumulation: variance retention ratio (%d trials per cell; sufficient: VRR >= %s)\n      n", c.acc.trials,
                fmt(c.acc.vrr_min, 3).c_str());
    for (double m : c.acc.mantissa_bits) std::printf("   m=%-4d", int(m));
    std::printf("\n");
    for (std::size_t i = 0; i < c.acc.n.size(); ++i) {
      std::printf("%7lld", (long long)c.acc.n[i]);
      for (std::size_t j = 0; j < c.acc.mantissa_bits.size(); ++j) std::printf("  %.4f", acc.cells[i][j].vrr);
      std::printf("\n");
    }
  }
}

template <class P>
void run_model(const SnrConfig& c, const std::string& model, const SramModel<P>& base, ModelResults& r, Progress& prog) {
  r.model = model;
  r.axes = c.axes(model);
  const std::size_t n = c.points(model);
  for (std::size_t p = 0; p < n; ++p) {
    const auto m = model_at(base, r.axes, p);
    r.ana.push_back(analyze_chain(m, c.mpc, c.adc_energy));
    if (c.run.samples > 0) {
      const Stream s(std::uint64_t(c.run.seed), "snr." + model, {std::uint64_t(p)});
      r.mc.push_back(simulate_chain(m, r.ana.back().bits_mpc, r.ana.back().bits_lossless, c.run.samples, s, c.mpc,
                                    c.run.confidence));
    }
    prog.tick();
  }
}

}  // namespace

int run_snr(const SnrOptions& o) {
  pin_numerics();
  const auto t_start = std::chrono::steady_clock::now();
  const Mpi& mpi = Mpi::world();
  if (mpi.size() > 1) throw Error("snr: runs on one process (its Monte Carlo is parallel with OpenMP); drop mpirun");
  const SnrConfig c = parse_snr_config(load_config(o.config));
  // One run per results file, claimed before anything is read or written.
  const ResultsWriter file({.command = "snr", .path = o.out, .resumable = false, .force = o.force});

  RunInfo info = begin_run("aimc-snr", c.file, c.run.seed, mpi.size());

  const auto models = c.run.model_list();
  long long total = 0;
  for (const auto& m : models) total += (long long)c.points(m);
  if (c.accumulation) total += (long long)(c.acc.n.size() * c.acc.mantissa_bits.size());
  Progress prog("snr", total, "points", o.progress);
  std::vector<ModelResults> res(models.size());
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (models[i] == "qs") run_model(c, "qs", c.qs, res[i], prog);
    if (models[i] == "is") run_model(c, "is", c.is, res[i], prog);
    if (models[i] == "qr") run_model(c, "qr", c.qr, res[i], prog);
  }
  AccResults acc;
  if (c.accumulation) {
    for (std::size_t i = 0; i < c.acc.n.size(); ++i) {
      acc.cells.emplace_back();
      for (std::size_t j = 0; j < c.acc.mantissa_bits.size(); ++j) {
        const Stream s(std::uint64_t(c.run.seed), "snr.accumulation", {i, j});
        acc.cells.back().push_back(variance_retention(std::int64_t(c.acc.n[i]), int(c.acc.mantissa_bits[j]), c.acc.trials, s,
                                                      c.run.confidence));
        prog.tick();
      }
    }
  }
  prog.finish();
  info.status = "complete";
  info.end_time = nets::utc_now();
  write_snr_file(file, c, info, res, acc);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (!o.quiet) {
    print_tables(c, res, acc);
    std::printf("results: %s (%.1f s)\n", o.out.c_str(), seconds);
  }
  return 0;
}

}  // namespace aimc::experiments
