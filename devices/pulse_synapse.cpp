#include "devices/pulse_synapse.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "devices/variation.hpp"

namespace aimc::devices {

namespace {
constexpr std::string_view kAssume = "assumption (order of magnitude; swept in configs/onchip_iris.toml)";
}

std::span<const Param<MosfetUpdateParams>> MosfetUpdateParams::params() {
  using P = MosfetUpdateParams;
  static const Param<P> t[] = {
      {"sigma_pulse", &P::sigma_pulse, "1", "relative spread of one pulse's gate-voltage step (cycle to cycle)",
       "0: ideal charge pump; swept", between(0.0, 1.0)},
      {"tau_leak_s", &P::tau_leak_s, "s", "retention time constant of the gate charge (0: no leakage)",
       "0: ideal; Dey et al. 1907.00625 hold V_G on the gate capacitance, so it leaks; swept", nonnegative()},
      {"v_leak_V", &P::v_leak_V, "V", "voltage the gate charge leaks towards", "junction leakage to ground",
       between(-2.0, 5.0)},
      {"c_gate_F", &P::c_gate_F, "F", "gate plus storage capacitance charged by the pump",
       "C_ox W L of a 1 um x 1 um gate at ~4 nm oxide (8.6 fF), rounded up", {0.0, 1e-9, true, false}},
      {"v_dd_V", &P::v_dd_V, "V", "supply the charge packets are drawn from", "180 nm-class supply",
       {0.0, 10.0, true, false}},
      {"t_pulse_s", &P::t_pulse_s, "s", "width of one gate-update pulse", kAssume, {0.0, 1.0, true, false}},
  };
  return t;
}

std::span<const Param<RramPulseParams>> RramPulseParams::params() {
  using P = RramPulseParams;
  static const Param<P> t[] = {
      {"g_min_S", &P::g_min_S, "S", "lowest conductance (1/R_off)", "DNN+NeuroSim V1.3 RRAM default (R_off 900 kOhm)",
       positive()},
      {"g_max_S", &P::g_max_S, "S", "highest conductance (1/R_on)", "DNN+NeuroSim V1.3 RRAM default (R_on 6 kOhm)",
       positive()},
      {"nu_ltp", &P::nu_ltp, "1", "potentiation nonlinearity P_max / A (0: linear)",
       "Chen, Peng, Yu, TCAD 2018, Eq. 1 (exponential model); value an assumption in the range of their devices",
       between(0.0, 50.0)},
      {"nu_ltd", &P::nu_ltd, "1", "depression nonlinearity P_max / A (0: linear)",
       "Chen, Peng, Yu, TCAD 2018, Eq. 2; assumption: depression steeper than potentiation", between(0.0, 50.0)},
      {"sigma_c2c", &P::sigma_c2c, "1", "cycle-to-cycle conductance spread per pulse, fraction of G_max - G_min",
       "NeuroSim sigmaCtoC (0 = off); swept", between(0.0, 1.0)},
      {"sigma_d2d", &P::sigma_d2d, "1", "device-to-device relative spread of the nonlinearity nu",
       "NeuroSim sigmaDtoD (on the nonlinearity); swept", between(0.0, 1.0)},
      {"v_read_V", &P::v_read_V, "V", "read voltage", "assumption, as the MOSFET synapse", {0.0, 2.0, true, false}},
      {"t_read_s", &P::t_read_s, "s", "read pulse width of a full-scale input", "assumption (10 ns)",
       {0.0, 1.0, true, false}},
      {"v_write_V", &P::v_write_V, "V", "programming pulse amplitude", kAssume, {0.0, 10.0, true, false}},
      {"t_pulse_s", &P::t_pulse_s, "s", "programming pulse width", kAssume, {0.0, 1.0, true, false}},
      {"temperature_K", &P::temperature_K, "K", "temperature (thermal read noise)", "room temperature",
       {0.0, 1000.0, true, false}},
      {"read_noise", &P::read_noise, "", "thermal noise per read", "physical; false only for tests"},
  };
  return t;
}

void RramPulseParams::check() const {
  if (!(g_max_S > g_min_S)) {
    std::ostringstream os;
    os << "parameter 'g_max_S' = " << g_max_S << ": must exceed g_min_S = " << g_min_S;
    throw Error(os.str());
  }
}

// g_P(p) = (1 - e^{-nu p}) / (1 - e^{-nu}) = expm1(-nu p) / expm1(-nu); nu -> 0 gives p.
double rram_ltp(double p, double nu) { return nu < 1e-9 ? p : std::expm1(-nu * p) / std::expm1(-nu); }
double rram_ltp_inverse(double g, double nu) { return nu < 1e-9 ? g : -std::log1p(g * std::expm1(-nu)) / nu; }
// g_D(p) = 1 - g_P(1 - p) with nu_D.
double rram_ltd(double p, double nu) { return 1.0 - rram_ltp(1.0 - p, nu); }
double rram_ltd_inverse(double g, double nu) { return 1.0 - rram_ltp_inverse(1.0 - g, nu); }

double pulses_for(double dw, double step, int max_pulses, PulseRounding r, Stream& s) {
  if (step == 0) return dw;
  const double x = dw / step;
  double n;
  if (r == PulseRounding::nearest) {
    n = std::nearbyint(x);
  } else {
    const double f = std::floor(x);
    n = f + (s.uniform() < x - f ? 1.0 : 0.0);
  }
  return std::clamp(n, -double(max_pulses), double(max_pulses));
}

namespace {

/// Arrays whose weight is a conductance G read against a reference column at the nominal mid-range
/// G_mid: w = (G - g_mid) scale. Holds G and does the reads; subclasses own the device state.
class ConductanceArray : public PulseArray {
 public:
  ConductanceArray(const PulseArraySpec& spec, double g_lo, double g_hi, double v_read, double t_read, double temp_K,
                   bool noise)
      : spec_(spec), g_mid_(0.5 * (g_lo + g_hi)), scale_(spec.w_max / (0.5 * (g_hi - g_lo))), v_read_(v_read),
        t_read_(t_read), kt_(kT_J(temp_K)), noise_(noise), g_(spec.rows, spec.cols) {}
  int rows() const override { return spec_.rows; }
  int cols() const override { return spec_.cols; }
  MatrixD weights() const override { return ((g_.array() - g_mid_) * scale_).matrix(); }
  double weight_step() const override { return spec_.levels == 0 ? 0.0 : 2.0 * spec_.w_max / (spec_.levels - 1); }
  const PulseEnergy& energy() const override { return energy_; }
  double read_width_s() const override { return t_read_; }

  // Inputs are pulse widths |x| t_read (x_max = 1 for the forward read, whose inputs are features in
  // [0, 1] and sigmoid outputs). Var(y) = (scale / (V_read t_read))^2 sum_j 2 k T G_j |x_j| t_read
  // (devices/mosfet.hpp, file comment), for the G column and for the reference device of each row.
  void read(const Eigen::Ref<const MatrixD>& x, MatrixD& y, Stream& s) override {
    const MatrixD xc = x.cwiseMax(-1.0).cwiseMin(1.0);
    y = scale_ * (xc * (g_.array() - g_mid_).matrix());
    const MatrixD xa = xc.cwiseAbs();
    count_read(xa, g_);
    if (noise_ && kt_ > 0) add_noise(y, xa * g_, xa.rowwise().sum() * g_mid_, s);
  }
  // The error is applied to the columns as pulse widths after scaling its largest magnitude to full
  // scale (a programmable-gain driver), read on the rows, and scaled back.
  void read_transposed(const Eigen::Ref<const MatrixD>& d, MatrixD& e, Stream& s) override {
    e.setZero(d.rows(), rows());
    for (Eigen::Index b = 0; b < d.rows(); ++b) {
      const double m = d.row(b).cwiseAbs().maxCoeff();
      if (!(m > 0)) continue;
      const MatrixD dn = d.row(b) / m;
      MatrixD eb = scale_ * (dn * (g_.array() - g_mid_).matrix().transpose());
      const MatrixD da = dn.cwiseAbs();
      count_read(da, g_.transpose());
      if (noise_ && kt_ > 0) add_noise(eb, da * g_.transpose(), da.rowwise().sum() * g_mid_, s);
      e.row(b) = eb * m;
    }
  }

 protected:
  void count_read(const MatrixD& xa, const MatrixD& g) {
    energy_.read_J += v_read_ * v_read_ * t_read_ * ((xa * g).sum() + xa.sum() * g_mid_);
  }
  void add_noise(MatrixD& y, const MatrixD& xg, const VectorD& xref, Stream& s) const {
    const double k = scale_ / (v_read_ * t_read_);
    const double kappa = 2 * kt_ * t_read_ * k * k;
    for (Eigen::Index b = 0; b < y.rows(); ++b)
      for (Eigen::Index c = 0; c < y.cols(); ++c) {
        // the reference current is subtracted, its noise adds
        y(b, c) += std::sqrt(kappa * (xg(b, c) + xref(b))) * s.normal();
      }
  }
  /// Nominal pulse coordinate units: one pulse moves the normalized state by 1 / (levels - 1); in the
  /// continuous limit one "pulse" is a weight change of 1, i.e. 1 / (2 w_max) of the range.
  double unit() const { return spec_.levels == 0 ? 1.0 / (2.0 * spec_.w_max) : 1.0 / (spec_.levels - 1); }

  PulseArraySpec spec_;
  double g_mid_, scale_, v_read_, t_read_, kt_;
  bool noise_;
  MatrixD g_;
  PulseEnergy energy_;
};

class MosfetPulseArray final : public ConductanceArray {
 public:
  MosfetPulseArray(const MosfetParams& p, const MosfetUpdateParams& u, const PulseArraySpec& spec,
                   const Eigen::Ref<const MatrixD>& w0, Stream& chip)
      : ConductanceArray(spec, conductance_S(p, p.v_g_min_V), conductance_S(p, p.v_g_max_V), p.v_read_V, p.t_read_s,
                         p.temperature_K, p.read_noise),
        p_(p), u_(u), vg_(spec.rows, spec.cols), dvt_(spec.rows, spec.cols) {
    const double sigma_local = pelgrom_sigma_vt_V(p_.a_vt_Vm, p_.w_m, p_.l_m);
    const double die = p_.sigma_vt_global_V * chip.normal();
    for (int i = 0; i < spec.rows; ++i)
      for (int j = 0; j < spec.cols; ++j) dvt_(i, j) = die + sigma_local * chip.normal();
    const double range = p_.v_g_max_V - p_.v_g_min_V;
    for (int i = 0; i < spec.rows; ++i)
      for (int j = 0; j < spec.cols; ++j) {
        // the nominal gate voltage of the weight (bisection on the nominal, increasing G(V_G)) ...
        const double g_target = g_mid_ + std::clamp(w0(i, j), -spec.w_max, spec.w_max) / scale_;
        double lo = p_.v_g_min_V, hi = p_.v_g_max_V;
        for (int it = 0; it < 80; ++it) {
          const double mid = 0.5 * (lo + hi);
          (conductance_S(p_, mid) < g_target ? lo : hi) = mid;
        }
        double v = 0.5 * (lo + hi);
        // ... on the pump's grid: the programming writes whole charge packets
        if (spec.levels > 0) {
          const double step = range / (spec.levels - 1);
          v = p_.v_g_min_V + step * std::nearbyint((v - p_.v_g_min_V) / step);
        }
        vg_(i, j) = std::clamp(v, p_.v_g_min_V, p_.v_g_max_V);
      }
    refresh();
  }
  double pulse_width_s() const override { return u_.t_pulse_s; }
  void apply(const Eigen::Ref<const MatrixD>& n, Stream& s) override {
    const double dv = unit() * (p_.v_g_max_V - p_.v_g_min_V);  // V per pulse
    for (int i = 0; i < rows(); ++i)
      for (int j = 0; j < cols(); ++j) {
        const double k = n(i, j);
        if (k == 0) continue;
        double step = k;
        if (u_.sigma_pulse > 0) step += u_.sigma_pulse * std::sqrt(std::abs(k)) * s.normal();
        vg_(i, j) = std::clamp(vg_(i, j) + dv * step, p_.v_g_min_V, p_.v_g_max_V);
        if (spec_.levels > 0) energy_.pulses += std::abs(k);
        energy_.write_J += u_.c_gate_F * dv * std::abs(k) * u_.v_dd_V;
      }
    refresh();
  }
  void idle(double dt_s) override {
    if (u_.tau_leak_s <= 0 || dt_s <= 0) return;
    const double f = std::exp(-dt_s / u_.tau_leak_s);
    vg_ = (u_.v_leak_V + (vg_.array() - u_.v_leak_V) * f).matrix();
    refresh();
  }

 private:
  void refresh() {
    for (int i = 0; i < rows(); ++i)
      for (int j = 0; j < cols(); ++j) g_(i, j) = conductance_S(p_, vg_(i, j), dvt_(i, j));
  }
  MosfetParams p_;
  MosfetUpdateParams u_;
  MatrixD vg_, dvt_;
};

class RramPulseArray final : public ConductanceArray {
 public:
  RramPulseArray(const RramPulseParams& p, const PulseArraySpec& spec, const Eigen::Ref<const MatrixD>& w0,
                 Stream& chip)
      : ConductanceArray(spec, p.g_min_S, p.g_max_S, p.v_read_V, p.t_read_s, p.temperature_K, p.read_noise), p_(p),
        state_(spec.rows, spec.cols), nu_p_(spec.rows, spec.cols), nu_d_(spec.rows, spec.cols) {
    for (int i = 0; i < spec.rows; ++i)
      for (int j = 0; j < spec.cols; ++j) {
        nu_p_(i, j) = std::max(0.0, p_.nu_ltp * (1 + p_.sigma_d2d * chip.normal()));
        nu_d_(i, j) = std::max(0.0, p_.nu_ltd * (1 + p_.sigma_d2d * chip.normal()));
      }
    for (int i = 0; i < spec.rows; ++i)
      for (int j = 0; j < spec.cols; ++j) {
        const double g0 = std::clamp(0.5 * (w0(i, j) / spec.w_max + 1.0), 0.0, 1.0);
        if (spec.levels == 0) {
          state_(i, j) = g0;
        } else {  // nearest pulse count on the LTP branch (a reset to G_min, then potentiation)
          const double q = spec.levels - 1;
          state_(i, j) = rram_ltp(std::nearbyint(rram_ltp_inverse(g0, nu_p_(i, j)) * q) / q, nu_p_(i, j));
        }
      }
    refresh();
  }
  double pulse_width_s() const override { return p_.t_pulse_s; }
  void apply(const Eigen::Ref<const MatrixD>& n, Stream& s) override {
    const double range = p_.g_max_S - p_.g_min_S;
    for (int i = 0; i < rows(); ++i)
      for (int j = 0; j < cols(); ++j) {
        const double k = n(i, j);
        if (k == 0) continue;
        double& g = state_(i, j);
        if (spec_.levels > 0) {  // (continuous: no pulses, so no pulse energy either; reported as NaN)
          energy_.pulses += std::abs(k);
          energy_.write_J += std::abs(k) * p_.v_write_V * p_.v_write_V * (p_.g_min_S + g * range) * p_.t_pulse_s;
        }
        if (k > 0) {
          const double q = std::min(1.0, rram_ltp_inverse(g, nu_p_(i, j)) + k * unit());
          g = rram_ltp(q, nu_p_(i, j));
        } else {
          const double q = std::max(0.0, rram_ltd_inverse(g, nu_d_(i, j)) + k * unit());
          g = rram_ltd(q, nu_d_(i, j));
        }
        if (p_.sigma_c2c > 0) g += p_.sigma_c2c * std::sqrt(std::abs(k)) * s.normal();
        g = std::clamp(g, 0.0, 1.0);
      }
    refresh();
  }
  void idle(double) override {}

 private:
  void refresh() { g_ = (p_.g_min_S + state_.array() * (p_.g_max_S - p_.g_min_S)).matrix(); }
  RramPulseParams p_;
  MatrixD state_, nu_p_, nu_d_;  // state: normalized conductance g in [0, 1]
};

class FloatArray final : public PulseArray {
 public:
  explicit FloatArray(const Eigen::Ref<const MatrixD>& w0) : w_(w0) {}
  int rows() const override { return int(w_.rows()); }
  int cols() const override { return int(w_.cols()); }
  MatrixD weights() const override { return w_; }
  void read(const Eigen::Ref<const MatrixD>& x, MatrixD& y, Stream&) override { y = x * w_; }
  void read_transposed(const Eigen::Ref<const MatrixD>& d, MatrixD& e, Stream&) override { e = d * w_.transpose(); }
  void apply(const Eigen::Ref<const MatrixD>& n, Stream&) override { w_ += n; }
  void idle(double) override {}
  double weight_step() const override { return 0.0; }
  const PulseEnergy& energy() const override { return energy_; }
  double pulse_width_s() const override { return 0.0; }
  double read_width_s() const override { return 0.0; }

 private:
  MatrixD w_;
  PulseEnergy energy_;
};

void check_spec(const PulseArraySpec& s, const Eigen::Ref<const MatrixD>& w0) {
  require(s.rows > 0 && s.cols > 0 && w0.rows() == s.rows && w0.cols() == s.cols,
          "pulse array: initial weights do not match the array shape");
  if (!(s.w_max > 0)) fail_param("w_max", s.w_max, "must be > 0");
  if (s.levels == 1 || s.levels < 0) fail_param("levels", s.levels, "must be 0 (continuous) or >= 2");
  if (s.max_pulses < 1) fail_param("max_pulses", s.max_pulses, "must be >= 1");
}

}  // namespace

std::unique_ptr<PulseArray> make_mosfet_pulse_array(const MosfetParams& p, const MosfetUpdateParams& u,
                                                    const PulseArraySpec& spec, const Eigen::Ref<const MatrixD>& w0,
                                                    Stream& chip) {
  check_spec(spec, w0);
  validate(p, "mosfet");
  validate(u, "mosfet_update");
  return std::make_unique<MosfetPulseArray>(p, u, spec, w0, chip);
}

std::unique_ptr<PulseArray> make_rram_pulse_array(const RramPulseParams& p, const PulseArraySpec& spec,
                                                  const Eigen::Ref<const MatrixD>& w0, Stream& chip) {
  check_spec(spec, w0);
  validate(p, "rram_pulse");
  return std::make_unique<RramPulseArray>(p, spec, w0, chip);
}

std::unique_ptr<PulseArray> make_float_array(const Eigen::Ref<const MatrixD>& w0) {
  return std::make_unique<FloatArray>(w0);
}

}  // namespace aimc::devices
