#include "devices/xbar_cost.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace aimc::devices {

std::span<const Param<XbarCostParams>> XbarCostParams::params() {
  using P = XbarCostParams;
  static const Param<P> t[] = {
      {"xbar_rows", &P::xbar_rows, "1", "crossbar rows R (inputs per crossbar)",
       "ISAAC (Shafiee et al., ISCA 2016, Table I) 128 x 128 crossbars; DNN+NeuroSim V1.3 default sub-array 128",
       between(1, 65536)},
      {"xbar_cols", &P::xbar_cols, "1", "crossbar columns C (outputs per crossbar)",
       "ISAAC (Shafiee et al., ISCA 2016, Table I) 128 x 128 crossbars; DNN+NeuroSim V1.3 default sub-array 128",
       between(1, 65536)},
      {"weight_slices", &P::weight_slices, "1", "crossbars per weight D (bit slices or separate G+/G- arrays)",
       "1: one multi-level cell per weight, a G+/G- pair counted as one column as in [rram] cols; ISAAC uses 8 "
       "slices of 2-bit cells for 16-bit weights",
       between(1, 64)},
      {"t_read_s", &P::t_read_s, "s", "one MVM on one crossbar, all its column conversions included (the cycle)",
       "ISAAC (Shafiee et al., ISCA 2016): 100 ns crossbar read, one 1.28 GS/s ADC converts the 128 columns in it",
       positive()},
      {"e_cell_read_J", &P::e_cell_read_J, "J", "read energy of one cell in one MVM",
       "ISAAC Table I: 8 arrays of 128 x 128 draw 2.4 mW; 0.3 mW x 100 ns / 16384 cells = 1.83 fJ",
       nonnegative()},
      {"e_dac_J", &P::e_dac_J, "J", "row driver (DAC) energy per row per MVM",
       "ISAAC Table I: 8 x 128 1-bit DACs draw 4 mW; 3.9 uW x 100 ns = 0.39 fJ", nonnegative()},
      {"adc_bits", &P::adc_bits, "1", "column ADC precision, energy per conversion from [adc_energy]",
       "ISAAC Table I: 8-bit ADCs", between(1, 40)},
      {"v_dd_V", &P::v_dd_V, "V", "supply voltage of the ADC energy model E = (k1 B + k2 4^B) V_DD^2",
       "1 V nominal; with the [adc_energy] defaults 0.87 pJ per 8-bit conversion (ISAAC: 16 mW / 8 ADCs / "
       "1.28 GS/s = 1.6 pJ)",
       positive()},
      {"e_add_J", &P::e_add_J, "J", "one digital add (partial sums across crossbars, shift-and-add)",
       "Horowitz, ISSCC 2014, 45 nm: 32-bit integer add 0.1 pJ", nonnegative()},
      {"e_mult_J", &P::e_mult_J, "J", "one digital multiply by a quantized coefficient (uniform coefficients)",
       "Horowitz, ISSCC 2014, 45 nm: 8-bit integer multiply 0.2 pJ", nonnegative()},
      {"coefficients", &P::coefficients, "",
       "BasisN coefficients: pow2 combine by shift-and-add (e_add_J per op), uniform by multiply-add "
       "(e_mult_J + e_add_J per op)",
       "power-of-two coefficients as in BasisN (Eldebiky et al., arXiv:2407.03738)", {}, {"pow2", "uniform"}},
      {"digital_lanes", &P::digital_lanes, "1", "coefficient multiply-adds the digital unit does per read cycle",
       "assumption, no published value: 1024 per 100 ns cycle is about 10 G shift-adds/s (16 adders at 640 MHz); "
       "it sets BasisN's latency whenever the combination outlasts the basis reads: sweep it",
       between(1, 1e9)},
      {"digital_pipelined", &P::digital_pipelined, "",
       "the coefficient combination overlaps the basis reads (a layer takes the max of the two) or follows them "
       "(the sum)",
       "assumption: double-buffered basis responses, so the unit combines one batch while the next is read", {}},
      {"n_wv", &P::n_wv, "1", "write-and-verify iterations (write pulse + verify read) per crossbar row",
       "round figure for incremental-pulse write-verify (Wan et al., Nature 608, 2022, Extended Data Fig. 3 "
       "shows the distribution of pulses per cell); sweep it",
       between(1, 1e6)},
      {"t_write_pulse_s", &P::t_write_pulse_s, "s", "duration of one write pulse",
       "MLP+NeuroSim V3.0 Cell.cpp IdealDevice: write pulse width 10 ns", positive()},
      {"e_write_pulse_J", &P::e_write_pulse_J, "J", "energy of one write pulse on one cell",
       "V_w^2 G t_w with V_w = 2 V, t_w = 10 ns (MLP+NeuroSim IdealDevice) and G the mean of 1/6 kOhm and "
       "1/900 kOhm (DNN+NeuroSim V1.3 R_on, R_off): 3.36 pJ",
       nonnegative()},
      {"batch", &P::batch, "1", "inputs processed per programming pass of the reprogram mapping",
       "1: the per-inference case of BasisN (Eldebiky et al., arXiv:2407.03738)", between(1, 1e9)},
  };
  return t;
}

void XbarCostParams::check() const { aimc::validate(adc_energy, "adc_energy"); }

namespace {

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

/// Rejects malformed layers and n_xbar, naming the layer and the field.
void check_inputs(const std::vector<LayerWork>& net, long long n_xbar) {
  require(!net.empty(), "xbar cost: the network has no layers");
  if (n_xbar < 1) fail_param("n_xbar", static_cast<double>(n_xbar), "must be at least 1 crossbar");
  for (std::size_t i = 0; i < net.size(); ++i) {
    const LayerWork& l = net[i];
    const auto bad = [&](const char* field, long long v, const char* expected) {
      throw Error("xbar cost: layer " + std::to_string(i) + " '" + l.name + "': " + field + " = " + std::to_string(v) +
                  ": " + expected);
    };
    if (l.rows < 1) bad("rows", l.rows, "must be at least 1");
    if (l.cols < 1) bad("cols", l.cols, "must be at least 1");
    if (l.mvms < 1) bad("mvms", l.mvms, "must be at least 1");
    if (l.segments < 0) bad("segments", l.segments, "must be at least 0 (0 = standard layer)");
    if (l.coeff_macs < 0) bad("coeff_macs", l.coeff_macs, "must be at least 0");
  }
}

/// Digital partial-sum adds per input vector of a K x N matrix: (ceil(K / R) D - 1) N.
double partial_sum_adds(long long rows, long long cols, const XbarCostParams& p) {
  return static_cast<double>(ceil_div(rows, p.xbar_rows) * p.weight_slices - 1) * static_cast<double>(cols);
}

void finish(CostResult& r, const XbarCostParams& p) {
  r.latency_s = r.cycles * p.t_read_s + r.write_time_s;
  r.energy_J = r.analog_energy_J + r.digital_energy_J + r.write_energy_J;
  r.edp_Js = r.energy_J * r.latency_s;
}

}  // namespace

long long crossbars_for(long long rows, long long cols, const XbarCostParams& p) {
  if (rows < 1) fail_param("rows", static_cast<double>(rows), "must be at least 1");
  if (cols < 1) fail_param("cols", static_cast<double>(cols), "must be at least 1");
  return ceil_div(rows, p.xbar_rows) * ceil_div(cols, p.xbar_cols) * p.weight_slices;
}

long long standard_crossbars(const std::vector<LayerWork>& net, const XbarCostParams& p) {
  long long n = 0;
  for (const auto& l : net) n += crossbars_for(l.rows, l.cols, p);
  return n;
}

double xbar_read_energy_J(const XbarCostParams& p) {
  const double e_adc = adc_energy_J(p.adc_bits, p.v_dd_V, p.adc_energy);
  return p.e_cell_read_J * p.xbar_rows * p.xbar_cols + p.e_dac_J * p.xbar_rows + e_adc * p.xbar_cols;
}

double xbar_program_energy_J(const XbarCostParams& p) {
  const double e_adc = adc_energy_J(p.adc_bits, p.v_dd_V, p.adc_energy);
  const double per_iteration =
      p.xbar_cols * (p.e_write_pulse_J + p.e_cell_read_J + e_adc) + p.e_dac_J;  // one row: pulse + verify
  return static_cast<double>(p.xbar_rows) * p.n_wv * per_iteration;
}

double xbar_program_time_s(const XbarCostParams& p) {
  return static_cast<double>(p.xbar_rows) * p.n_wv * (p.t_write_pulse_s + p.t_read_s);
}

CostResult standard_cost(const std::vector<LayerWork>& net, const XbarCostParams& p, long long n_xbar) {
  aimc::validate(p, "xbar_cost");
  check_inputs(net, n_xbar);
  const long long need = standard_crossbars(net, p);
  const bool fits = n_xbar >= need;
  const double e_read = xbar_read_energy_J(p), e_prog = xbar_program_energy_J(p), t_prog = xbar_program_time_s(p);

  CostResult r;
  r.mapping = fits ? "standard" : "reprogram";
  r.n_xbar = n_xbar;
  long long widest = 0;
  for (const auto& l : net) {
    const long long tiles = crossbars_for(l.rows, l.cols, p);
    const auto mvms = static_cast<double>(l.mvms);
    widest = std::max(widest, tiles);
    r.analog_energy_J += mvms * static_cast<double>(tiles) * e_read;
    r.digital_energy_J += mvms * partial_sum_adds(l.rows, l.cols, p) * p.e_add_J;
    if (fits) {
      r.cycles += mvms;
    } else {
      const long long rounds = ceil_div(tiles, n_xbar);
      r.cycles += static_cast<double>(rounds) * mvms;
      r.write_time_s += static_cast<double>(rounds) * t_prog / p.batch;
      r.write_energy_J += static_cast<double>(tiles) * e_prog / p.batch;
    }
  }
  r.crossbars_used = fits ? need : std::min(n_xbar, widest);
  if (fits) r.one_time_write_energy_J = static_cast<double>(need) * e_prog;
  finish(r, p);
  return r;
}

CostResult basisn_cost(const std::vector<LayerWork>& net, BasisShape basis, const XbarCostParams& p,
                       long long n_xbar) {
  aimc::validate(p, "xbar_cost");
  check_inputs(net, n_xbar);
  if (basis.length < 1) fail_param("basis.length", static_cast<double>(basis.length), "must be at least 1");
  if (basis.size < 1) fail_param("basis.size", static_cast<double>(basis.size), "must be at least 1");

  CostResult r;
  r.mapping = "basisn";
  r.n_xbar = n_xbar;
  const long long t_basis = crossbars_for(basis.length, basis.size, p);
  long long t_standard = 0;
  for (const auto& l : net)
    if (l.segments == 0) t_standard += crossbars_for(l.rows, l.cols, p);
  const long long copies = n_xbar >= t_standard ? (n_xbar - t_standard) / t_basis : 0;
  if (copies < 1) {
    r.feasible = false;
    r.reason = "one basis copy needs " + std::to_string(t_basis) + " crossbars and the standard layers " +
               std::to_string(t_standard) + ", but only " + std::to_string(n_xbar) + " are available";
    return r;
  }
  r.crossbars_used = copies * t_basis + t_standard;

  const double e_read = xbar_read_energy_J(p);
  const double e_coef = p.coefficients == "pow2" ? p.e_add_J : p.e_mult_J + p.e_add_J;
  const double basis_adds = partial_sum_adds(basis.length, basis.size, p);
  for (const auto& l : net) {
    const auto mvms = static_cast<double>(l.mvms);
    if (l.segments == 0) {
      r.cycles += mvms;
      r.analog_energy_J += mvms * static_cast<double>(crossbars_for(l.rows, l.cols, p)) * e_read;
      r.digital_energy_J += mvms * partial_sum_adds(l.rows, l.cols, p) * p.e_add_J;
      continue;
    }
    const long long basis_mvms = l.mvms * l.segments;
    const auto analog = static_cast<double>(ceil_div(basis_mvms, copies));
    const auto digital = static_cast<double>(ceil_div(l.coeff_macs, p.digital_lanes));
    r.cycles += p.digital_pipelined ? std::max(analog, digital) : analog + digital;
    r.analog_energy_J += static_cast<double>(basis_mvms) * static_cast<double>(t_basis) * e_read;
    r.digital_energy_J += static_cast<double>(basis_mvms) * basis_adds * p.e_add_J +
                          static_cast<double>(l.coeff_macs) * e_coef;
  }
  r.one_time_write_energy_J = static_cast<double>(r.crossbars_used) * xbar_program_energy_J(p);
  finish(r, p);
  return r;
}

}  // namespace aimc::devices
